"""Where public data lives: URL templates, licences and credits of each source.

Each template follows its publisher's documented layout (checked against their pages on the dates
given; a mirror keeps the same paths under the host name, see :mod:`.download`):

- Copernicus DEM GLO-30 / GLO-90, 2021 release, Cloud-Optimised GeoTIFF, 1°×1° tiles named by their
  south-west corner: ``https://copernicus-dem-30m.s3.amazonaws.com/Copernicus_DSM_COG_10_N21_00_E106_00_DEM/
  Copernicus_DSM_COG_10_N21_00_E106_00_DEM.tif`` (``-90m`` and ``_COG_30_`` for GLO-90). Source: the
  bucket's readme.html linked from the AWS Open Data registry entry "copernicus-dem" (2024). Ocean
  tiles do not exist (404) and some countries' GLO-30 tiles are not public: those fall back to SRTM.
- SRTM (NASA/USGS, public domain) as 1°×1° gzipped .hgt files in the "skadi" layout of the AWS
  Terrain Tiles open dataset: ``https://elevation-tiles-prod.s3.amazonaws.com/skadi/N21/N21E106.hgt.gz``
  (registry entry "terrain-tiles", 2024).
- ESA WorldCover 10 m 2021 v200, 3°×3° tiles named by their south-west corner (latitude and
  longitude multiples of 3): ``https://esa-worldcover.s3.eu-central-1.amazonaws.com/v200/2021/map/
  ESA_WorldCover_10m_2021_v200_N21E105_Map.tif`` (the WorldCover product user manual v2.0 and the
  ESA-WorldCover/esa-worldcover-datasets repository, 2024).
- WorldPop 2020 UN-adjusted population counts per country: 1 km ``https://data.worldpop.org/GIS/
  Population/Global_2000_2020_1km_UNadj/2020/VNM/vnm_ppp_2020_1km_Aggregated_UNadj.tif`` and 100 m
  ``https://data.worldpop.org/GIS/Population/Global_2000_2020/2020/VNM/vnm_ppp_2020_UNadj.tif``
  (WorldPop data portal, "Population Counts / Unconstrained individual countries", 2024).
- OpenStreetMap through the Overpass API, ``https://overpass-api.de/api/interpreter`` (POST ``data=``).

None of these publishers gives per-file checksums; the manifest records the SHA-256 of every file as
downloaded, so that a run can say exactly which data it used.
"""
from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Source:
    """A public dataset: its name, version, licence and the credit line outputs carry."""

    key: str
    name: str
    version: str
    licence: str
    credit: str


SOURCES = {s.key: s for s in (
    Source("copernicus-glo30", "Copernicus DEM GLO-30", "2021 release",
           "Copernicus DEM licence (free use with attribution)",
           "Copernicus DEM GLO-30 © DLR e.V. 2010-2014 and © Airbus Defence and Space GmbH 2014-2018, provided "
           "under COPERNICUS by the European Union and ESA"),
    Source("copernicus-glo90", "Copernicus DEM GLO-90", "2021 release",
           "Copernicus DEM licence (free use with attribution)",
           "Copernicus DEM GLO-90 © DLR e.V. 2010-2014 and © Airbus Defence and Space GmbH 2014-2018, provided "
           "under COPERNICUS by the European Union and ESA"),
    Source("srtm", "SRTM 1 arc-second (AWS Terrain Tiles, skadi)", "v3", "public domain (NASA/USGS)",
           "SRTM: NASA/USGS"),
    Source("worldcover", "ESA WorldCover 10 m", "2021 v200", "CC BY 4.0",
           "© ESA WorldCover project 2021 / Contains modified Copernicus Sentinel data (2021) processed by ESA "
           "WorldCover consortium"),
    Source("worldpop", "WorldPop population counts, UN-adjusted", "2020", "CC BY 4.0",
           "WorldPop (www.worldpop.org), University of Southampton, 2020 population counts, UN-adjusted"),
    Source("osm", "OpenStreetMap (Overpass API)", "retrieval date", "ODbL 1.0", "© OpenStreetMap contributors"),
)}

OVERPASS_URL = "https://overpass-api.de/api/interpreter"


def _lat(v: int) -> str:
    return f"{'N' if v >= 0 else 'S'}{abs(v):02d}"


def _lon(v: int) -> str:
    return f"{'E' if v >= 0 else 'W'}{abs(v):03d}"


def degree_cells(bbox, step: int = 1) -> list[tuple[int, int]]:
    """(south, west) corners of the ``step``°×``step``° cells (on multiples of ``step``) a box touches."""
    w, s, e, n = bbox
    lats = range(math.floor(s / step) * step, math.ceil(n / step) * step, step)
    lons = range(math.floor(w / step) * step, math.ceil(e / step) * step, step)
    return [(lat, lon) for lat in lats for lon in lons]


def copernicus_url(lat: int, lon: int, glo: int = 30) -> str:
    """The Copernicus DEM tile whose south-west corner is (lat, lon)."""
    arc = {30: "10", 90: "30"}[glo]
    name = f"Copernicus_DSM_COG_{arc}_{_lat(lat)}_00_{_lon(lon)}_00_DEM"
    return f"https://copernicus-dem-{glo}m.s3.amazonaws.com/{name}/{name}.tif"


def srtm_url(lat: int, lon: int) -> str:
    """The SRTM tile (AWS Terrain Tiles, skadi) whose south-west corner is (lat, lon)."""
    return f"https://elevation-tiles-prod.s3.amazonaws.com/skadi/{_lat(lat)}/{_lat(lat)}{_lon(lon)}.hgt.gz"


def worldcover_url(lat: int, lon: int) -> str:
    """The WorldCover 2021 v200 tile whose south-west corner is (lat, lon), both multiples of 3."""
    return ("https://esa-worldcover.s3.eu-central-1.amazonaws.com/v200/2021/map/"
            f"ESA_WorldCover_10m_2021_v200_{_lat(lat)}{_lon(lon)}_Map.tif")


def worldpop_url(iso3: str, resolution: str = "1km") -> str:
    """A country's WorldPop 2020 UN-adjusted population counts at ``1km`` or ``100m``."""
    iso = iso3.upper()
    if resolution == "1km":
        return (f"https://data.worldpop.org/GIS/Population/Global_2000_2020_1km_UNadj/2020/{iso}/"
                f"{iso.lower()}_ppp_2020_1km_Aggregated_UNadj.tif")
    if resolution == "100m":
        return f"https://data.worldpop.org/GIS/Population/Global_2000_2020/2020/{iso}/{iso.lower()}_ppp_2020_UNadj.tif"
    raise ValueError(f"WorldPop resolution is 1km or 100m, got {resolution!r}")
