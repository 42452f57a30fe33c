"""OpenStreetMap for a study: villages and hamlets, main roads, and the plan's priority places, from one
Overpass query, as GeoDataFrames ready for ``gaps --villages`` and ``--priority``."""
from __future__ import annotations

import json

import geopandas as gpd
import pandas as pd
import shapely

from ..errors import InputError

ROADS = "motorway|trunk|primary|secondary|tertiary"
# priority layer -> Overpass filters (any of them); the plan: health, public administration, historic,
# cultural and tourist sites, transport hubs, education
PRIORITY = {
    "health": ['["amenity"~"^(hospital|clinic|doctors)$"]', '["healthcare"~"^(hospital|clinic|centre|doctor)$"]'],
    "education": ['["amenity"~"^(school|college|university|kindergarten)$"]'],
    "government": ['["office"="government"]', '["amenity"="townhall"]'],
    "tourism": ['["tourism"~"^(attraction|museum|viewpoint)$"]', '["historic"~"^(monument|memorial|temple|ruins|'
                'archaeological_site|castle|fort)$"]'],
    "transport": ['["amenity"="bus_station"]', '["railway"="station"]', '["public_transport"="station"]',
                  '["aeroway"="aerodrome"]'],
}
LAYERS = ("villages", "roads", *PRIORITY)


def overpass_query(bbox, timeout_s: int = 300) -> str:
    """The Overpass QL of every layer for a (west, south, east, north) box."""
    w, s, e, n = bbox
    box = f"({s:.6f},{w:.6f},{n:.6f},{e:.6f})"
    parts = [f'node["place"~"^(village|hamlet|isolated_dwelling)$"]{box};',
             f'way["highway"~"^({ROADS})(_link)?$"]{box};']
    for filters in PRIORITY.values():
        parts += [f"nwr{f}{box};" for f in filters]
    return f"[out:json][timeout:{timeout_s}];\n(\n  " + "\n  ".join(parts) + "\n);\nout geom;\n"


def _name(tags: dict) -> str:
    return tags.get("name") or tags.get("name:vi") or tags.get("name:en") or ""


def _point(el: dict):
    if el["type"] == "node":
        return shapely.Point(el["lon"], el["lat"])
    if "geometry" in el and el["geometry"]:
        line = [(p["lon"], p["lat"]) for p in el["geometry"] if p]
        return shapely.MultiPoint(line).centroid if len(line) > 1 else shapely.Point(line[0])
    if "bounds" in el:
        b = el["bounds"]
        return shapely.Point((b["minlon"] + b["maxlon"]) / 2, (b["minlat"] + b["maxlat"]) / 2)
    if "center" in el:
        return shapely.Point(el["center"]["lon"], el["center"]["lat"])
    return None


def _matches(tags: dict, filters: list[str]) -> bool:
    import re

    for f in filters:
        key, op, value = re.fullmatch(r'\["([^"]+)"(=|~)"([^"]+)"\]', f).groups()  # type: ignore[union-attr]
        if key in tags and (tags[key] == value if op == "=" else re.search(value, tags[key])):
            return True
    return False


def parse_overpass(text: str, source="") -> dict[str, gpd.GeoDataFrame]:
    """Layers (EPSG:4326) from an Overpass JSON answer: ``villages`` (points: osm_id, name, place),
    ``roads`` (lines: osm_id, name, ref, highway) and one point layer per priority kind (osm_id, name,
    kind)."""
    try:
        elements = json.loads(text)["elements"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not an Overpass JSON answer ({exc})", path=source or None) from None
    rows: dict[str, list] = {name: [] for name in LAYERS}
    for el in elements:
        tags = el.get("tags") or {}
        osm_id = f"{el['type']}/{el['id']}"
        if el["type"] == "node" and tags.get("place") in ("village", "hamlet", "isolated_dwelling"):
            rows["villages"].append({"osm_id": osm_id, "name": _name(tags), "place": tags["place"],
                                     "geometry": _point(el)})
        if el["type"] == "way" and str(tags.get("highway", "")).removesuffix("_link") in ROADS.split("|") \
                and len(el.get("geometry") or []) > 1:
            rows["roads"].append({"osm_id": osm_id, "name": _name(tags), "ref": tags.get("ref", ""),
                                  "highway": tags["highway"],
                                  "geometry": shapely.LineString([(p["lon"], p["lat"]) for p in el["geometry"]])})
        for layer, filters in PRIORITY.items():
            if _matches(tags, filters):
                point = _point(el)
                if point is not None:
                    kind = next((tags[k] for k in ("amenity", "healthcare", "office", "tourism", "historic",
                                                   "railway", "public_transport", "aeroway") if k in tags), "")
                    rows[layer].append({"osm_id": osm_id, "name": _name(tags), "kind": kind, "geometry": point})
    out = {}
    for name, items in rows.items():
        frame = pd.DataFrame(items, columns=["osm_id", "name", "geometry"] if not items else None)
        out[name] = gpd.GeoDataFrame(frame, geometry="geometry", crs="EPSG:4326")
    return out
