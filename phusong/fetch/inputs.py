"""A study's public inputs in one folder: terrain, land cover, population and OpenStreetMap for an area,
clipped and converted to what phusong reads, with a manifest and a scenario file."""
from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
import math
import shutil
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import rasterio
import shapely
from rasterio.merge import merge
from rasterio.windows import from_bounds

from .._atomic import atomic_dir
from .._tables import toml_text
from ..errors import InputError
from . import osm, sources
from .download import Downloader, FetchError, NotFound, sha256_of

log = logging.getLogger(__name__)
WHAT = ("dem", "landcover", "population", "osm")
VECTOR_SUFFIXES = {".gpkg", ".shp", ".geojson", ".json", ".csv", ".kml", ".fgb", ".gml", ".sqlite", ".tab", ".xlsx",
                   ".zip", ".gdb", ".txt", ".tsv"}


def _valid_raster(path) -> None:
    """Raises unless ``path`` is a raster GDAL reads to its last row (an error page or a cut file is not)."""
    with rasterio.open(path) as ds:
        ds.read(1, window=((ds.height - 1, ds.height), (0, min(ds.width, 16))))


def _valid_gzip(path) -> None:
    with gzip.open(path, "rb") as fh:
        while fh.read(1 << 20):
            pass


def _valid_overpass(answer: bytes) -> None:
    """Raises unless ``answer`` is a complete Overpass JSON answer (a timed-out query says so in a remark)."""
    data = json.loads(answer)
    if "elements" not in data:
        raise ValueError("the Overpass answer has no elements")
    remark = str(data.get("remark", ""))
    if "error" in remark.lower():
        raise ValueError(f"Overpass: {remark.strip()}")


def parse_bbox(text: str) -> tuple[float, float, float, float]:
    """``"W,S,E,N"`` in degrees → a checked (west, south, east, north)."""
    try:
        w, s, e, n = (float(v) for v in str(text).split(","))
    except ValueError:
        raise InputError(f"--bbox must be W,S,E,N in degrees, e.g. 106.1,21.3,107.4,22.4, got {text!r}",
                         argument="bbox") from None
    if not (-180 <= w < e <= 180 and -90 <= s < n <= 90):
        raise InputError(f"--bbox must have west < east and south < north within ±180°/±90°, got {text!r}",
                         argument="bbox")
    return w, s, e, n


def padded(bbox, pad_km: float):
    """``bbox`` grown by ``pad_km`` (the sites' reach beyond the area)."""
    w, s, e, n = bbox
    dlat = pad_km / 111.32
    dlon = pad_km / (111.32 * max(math.cos(math.radians(max(abs(s), abs(n)))), 0.05))
    return max(w - dlon, -180.0), max(s - dlat, -90.0), min(e + dlon, 180.0), min(n + dlat, 90.0)


def _mosaic(paths, bbox, out: Path, dtype, nodata) -> None:
    datasets = [rasterio.open(p) for p in paths]
    try:
        array, transform = merge(datasets, bounds=bbox, nodata=nodata, dtype=dtype)
        crs = datasets[0].crs
    finally:
        for ds in datasets:
            ds.close()
    profile = {"driver": "GTiff", "width": array.shape[2], "height": array.shape[1], "count": 1, "dtype": dtype,
               "crs": crs, "transform": transform, "nodata": nodata, "compress": "deflate", "tiled": True}
    with rasterio.open(out, "w", **profile) as dst:
        dst.write(array[:1].astype(dtype))


def _gunzip(path: Path) -> Path:
    plain = path.with_suffix("")           # N21E106.hgt.gz -> N21E106.hgt
    if not plain.exists():
        tmp = plain.with_name(plain.name + ".part")
        with gzip.open(path, "rb") as src, open(tmp, "wb") as dst:
            shutil.copyfileobj(src, dst)
        tmp.replace(plain)
    return plain


def fetch_inputs(out_dir, *, bbox=None, area=None, area_layer=None, what=WHAT, downloader: Downloader | None = None,
                 dem: str = "glo30", population: str = "1km", country: str = "VNM", pad_km: float = 20.0,
                 overwrite: bool = False, name: str | None = None, admin_level: int = 4,
                 commune_level: int = 8, id_field: str = "code", name_field: str = "name") -> dict:
    """Fetch the public inputs of an area into ``out_dir`` (atomically) and return the manifest.

    The area is ``bbox`` (west, south, east, north in degrees), or ``area``: a boundary file of commune
    polygons (``code``/``name`` fields), or the name of an administrative area in OpenStreetMap (at
    ``admin_level``), whose communes (at ``commune_level``) are fetched too
    (:mod:`phusong.fetch.boundaries`). Rasters are clipped to the area grown by ``pad_km`` (sites beyond
    it still reach in).
    """
    downloader = downloader or Downloader()
    unknown = [w for w in what if w not in WHAT]
    if unknown or not what:
        raise InputError(f"--what takes {', '.join(WHAT)}, got {', '.join(unknown) or 'nothing'}", argument="what")
    if not (len(country) == 3 and country.isalpha()):
        raise InputError(f"--country is an ISO 3166 alpha-3 code such as VNM, got {country!r}", argument="country")
    if (bbox is None) == (area is None):
        raise InputError("give the area as --area FILE_OR_NAME or as --bbox W,S,E,N (one of them)", argument="area")
    communes_layer = None
    named = None
    if area is not None and (Path(area).exists() or Path(str(area)).suffix.lower() in VECTOR_SUFFIXES):
        from ..data.boundaries import read_communes
        area = Path(area)
        if not area.exists():
            raise InputError("no such file", path=area)
        units = read_communes(area, "EPSG:4326", layer=area_layer, id_field=id_field, name_field=name_field)
        bbox = tuple(float(v) for v in units.total_bounds)
        communes_layer = {"path": str(area.resolve()), **({"layer": area_layer} if area_layer else {}),
                          "id_field": id_field, "name_field": name_field}
    elif area is not None:
        from .boundaries import boundary_query, parse_boundaries
        query = boundary_query(str(area), admin_level, commune_level)
        answer = downloader.post(sources.OVERPASS_URL, _form(query), "boundaries", _valid_overpass)
        region, units = parse_boundaries(answer.read_text(encoding="utf-8"), admin_level, answer)
        if len(region) == 0:
            raise InputError(f"no administrative area named {str(area)!r} at admin_level {admin_level} in "
                             "OpenStreetMap (check the spelling, or give a boundary file or --bbox)", argument="area")
        bbox = tuple(float(v) for v in region.total_bounds)
        named = (str(area), region, units, query, answer)
    outer = padded(bbox, pad_km)
    today = dt.datetime.now(dt.UTC).date().isoformat()
    manifest: dict = {"made_by": "phusong data fetch", "retrieved": today, "bbox": list(bbox), "pad_km": pad_km,
                      "mirror": downloader.mirror, "files": [], "notes": []}

    def record(file, keys, fetched, out_path):
        manifest["files"].append({
            "file": file, "sources": [sources.SOURCES[k].name for k in keys],
            "versions": [sources.SOURCES[k].version for k in keys],
            "licences": [sources.SOURCES[k].licence for k in keys],
            "credits": [sources.SOURCES[k].credit for k in keys],
            "downloads": [{"url": u, "sha256": sha256_of(p)} for u, p in fetched],
            "retrieved": today, "sha256": sha256_of(out_path)})

    scenario_inputs: dict = {}
    priority: dict = {}
    with atomic_dir(out_dir, overwrite) as tmp:
        if "dem" in what:
            glo = {"glo30": 30, "glo90": 90}[dem]
            fetched, keys = [], set()
            for lat, lon in sources.degree_cells(outer):
                try:
                    url = sources.copernicus_url(lat, lon, glo)
                    fetched.append((url, downloader.fetch(url, validate=_valid_raster)))
                    keys.add(f"copernicus-{dem}")
                except NotFound:
                    try:
                        url = sources.srtm_url(lat, lon)
                        fetched.append((url, _gunzip(downloader.fetch(url, validate=_valid_gzip))))
                        keys.add("srtm")
                        manifest["notes"].append(f"DEM tile {lat},{lon}: no Copernicus {dem.upper()} tile; SRTM used")
                    except NotFound:
                        manifest["notes"].append(f"DEM tile {lat},{lon}: no tile in either source (sea?)")
            if not fetched:
                raise FetchError(f"no terrain tile of the area at {downloader.mirror or 'the publishers'} (neither "
                                 "Copernicus nor SRTM): is the area at sea, or the mirror incomplete?")
            _mosaic([p for _, p in fetched], outer, tmp / "dem.tif", "float32", -32767.0)
            record("dem.tif", sorted(keys), [(u, p) for u, p in fetched], tmp / "dem.tif")
            scenario_inputs["terrain"] = ["dem.tif"]
        if "landcover" in what:
            fetched = []
            for lat, lon in sources.degree_cells(outer, 3):
                url = sources.worldcover_url(lat, lon)
                try:
                    fetched.append((url, downloader.fetch(url, validate=_valid_raster)))
                except NotFound:
                    manifest["notes"].append(f"WorldCover tile {lat},{lon}: none (sea?)")
            if not fetched:
                raise FetchError(f"no WorldCover tile of the area at {downloader.mirror or 'the publishers'}: is the "
                                 "area at sea, or the mirror incomplete?")
            if fetched:
                _mosaic([p for _, p in fetched], outer, tmp / "landcover.tif", "uint8", 0)
                record("landcover.tif", ["worldcover"], fetched, tmp / "landcover.tif")
                scenario_inputs["landcover"] = "landcover.tif"
        if "population" in what:
            url = sources.worldpop_url(country, population)
            path = downloader.fetch(url, validate=_valid_raster)
            with rasterio.open(path) as src:
                window = from_bounds(*outer, transform=src.transform).round_offsets().round_lengths()
                data = src.read(1, window=window, boundless=True, fill_value=src.nodata if src.nodata is not None else 0)
                profile = {"driver": "GTiff", "width": data.shape[1], "height": data.shape[0], "count": 1,
                           "dtype": "float32", "crs": src.crs, "transform": src.window_transform(window),
                           "nodata": src.nodata, "compress": "deflate"}
            with rasterio.open(tmp / "population.tif", "w", **profile) as dst:
                dst.write(data.astype(np.float32)[None])
            record("population.tif", ["worldpop"], [(url, path)], tmp / "population.tif")
            scenario_inputs["population"] = "population.tif"
        if "osm" in what:
            query = osm.overpass_query(bbox)
            answer = downloader.post(sources.OVERPASS_URL, _form(query), "overpass", _valid_overpass)
            layers = osm.parse_overpass(answer.read_text(encoding="utf-8"), answer)
            written: list[str] = []
            for layer_name, gdf in layers.items():
                if len(gdf) == 0:
                    manifest["notes"].append(f"OpenStreetMap: no {layer_name} in the area")
                    continue
                pyogrio.write_dataframe(gdf, tmp / "osm.gpkg", layer=layer_name, driver="GPKG",
                                        append=bool(written))
                written.append(layer_name)
            if written:
                manifest["files"].append({"file": "osm.gpkg", "layers": {n: len(layers[n]) for n in written},
                                          "sources": [sources.SOURCES["osm"].name], "licences": ["ODbL 1.0"],
                                          "credits": [sources.SOURCES["osm"].credit],
                                          "downloads": [{"url": sources.OVERPASS_URL, "query": query,
                                                         "sha256": sha256_of(answer)}],
                                          "retrieved": today, "sha256": sha256_of(tmp / "osm.gpkg")})
                if "villages" in written:
                    scenario_inputs["villages"] = {"path": "osm.gpkg", "layer": "villages", "id_field": "osm_id",
                                                   "name_field": "name"}
                priority = {n: f"osm.gpkg:{n}" for n in written if n != "villages"}
        if named is not None:
            area_name, region, units, query, answer = named
            layer = "communes" if len(units) else "area"
            pyogrio.write_dataframe(region, tmp / "boundaries.gpkg", layer="area", driver="GPKG")
            if len(units):
                pyogrio.write_dataframe(units, tmp / "boundaries.gpkg", layer="communes", driver="GPKG", append=True)
            manifest["files"].append({
                "file": "boundaries.gpkg", "layers": {"area": len(region), "communes": len(units)},
                "sources": [sources.SOURCES["osm"].name], "licences": ["ODbL 1.0"],
                "credits": [sources.SOURCES["osm"].credit],
                "downloads": [{"url": sources.OVERPASS_URL, "query": query, "sha256": sha256_of(answer)}],
                "retrieved": today, "sha256": sha256_of(tmp / "boundaries.gpkg")})
            manifest["notes"].append(
                f"{area_name}: {len(units)} communes at admin_level {commune_level} from OpenStreetMap as of {today}. "
                "Vietnam merged its communes on 1 July 2025 (Lạng Sơn: 65 communes and wards since); check that "
                "OpenStreetMap has caught up before a commune-by-commune analysis"
                + ("" if len(units) else "; none found, so the whole area is the one unit"))
            communes_layer = {"path": "boundaries.gpkg", "layer": layer}
            name = name or area_name
        if communes_layer is None:
            box = gpd.GeoDataFrame({"code": ["AREA"], "name": [f"{bbox[0]:g},{bbox[1]:g},{bbox[2]:g},{bbox[3]:g}"]},
                                   geometry=[shapely.box(*bbox)], crs="EPSG:4326")
            pyogrio.write_dataframe(box, tmp / "area.gpkg", layer="area", driver="GPKG")
            communes_layer = {"path": "area.gpkg", "layer": "area"}
            manifest["notes"].append("No boundary file: the box is the study's one unit (area.gpkg); give --area "
                                     "with commune polygons for a commune-by-commune analysis")
        scenario_inputs["communes"] = communes_layer
        manifest["downloads"] = downloader.log
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False), encoding="utf-8")
        (tmp / "scenario.toml").write_text(_scenario(scenario_inputs, priority, manifest, name), encoding="utf-8")
        (tmp / "CREDITS.txt").write_text(credits_text(manifest), encoding="utf-8")
    return manifest


def _form(query: str) -> bytes:
    """The POST body Overpass expects: ``data=`` and the URL-encoded query."""
    from urllib.parse import urlencode
    return urlencode({"data": query}).encode("ascii")


def credits_beside(paths) -> tuple[str, ...]:
    """The credit lines of the files among ``paths`` that ``phusong data fetch`` made (their folder's
    manifest.json says where each came from); () for files from elsewhere."""
    out: set[str] = set()
    for path in paths or ():
        path = Path(path)
        manifest = path.parent / "manifest.json"
        if not manifest.is_file():
            continue
        try:
            data = json.loads(manifest.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError):
            continue
        if data.get("made_by") != "phusong data fetch":
            continue
        for entry in data.get("files", []):
            if entry.get("file") == path.name:
                out.update(entry.get("credits", []))
    return tuple(sorted(out))


def credits_text(manifest: dict) -> str:
    """One line per source the folder's files rest on (for maps, reports and publications)."""
    lines = sorted({c for f in manifest["files"] for c in f.get("credits", [])})
    return "Data credits:\n" + "".join(f"- {line}\n" for line in lines)


def _scenario(inputs: dict, priority: dict, manifest: dict, name: str | None) -> str:
    bbox = ",".join(f"{v:g}" for v in manifest["bbox"])
    tables: dict = {"study": {"name": name or f"Study of {bbox}"}, "inputs": dict(inputs)}
    if priority:
        tables["inputs"]["priority"] = priority
    text = toml_text(tables, [f"Made by `phusong data fetch` on {manifest['retrieved']} for {bbox} "
                              "(sources and licences: manifest.json, CREDITS.txt).",
                              "Add the operators' site list below [inputs] (uncomment `sites`), then:",
                              "  phusong run scenario.toml --out RUN"])
    return text.replace("[inputs]\n", '[inputs]\n# sites = "sites.csv"\n', 1)
