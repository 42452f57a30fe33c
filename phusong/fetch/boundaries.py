"""An administrative area named in OpenStreetMap, and its communes, as polygons.

One Overpass query finds the area's boundary relation (``boundary=administrative``, at
``admin_level`` 4 for a Vietnamese province, named "NAME", "Tỉnh NAME" or "Thành phố NAME") and the
boundary relations of the communes inside it (``commune_level``, 8 by default). Polygons are assembled
from the relations' member ways (outer rings less inner ones).

How current they are is OpenStreetMap's business: Vietnam merged its communes on 1 July 2025 (Lạng
Sơn went from 200 to 65 communes and wards), and OSM follows such changes with a delay. The manifest
records the count and the retrieval date; compare them with the official list before trusting a
commune-by-commune analysis.
"""
from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
import shapely
from shapely.ops import polygonize, unary_union

from ..errors import InputError


def boundary_query(name: str, level: int = 4, commune_level: int = 8, timeout_s: int = 300) -> str:
    """Overpass QL for the area named ``name`` at ``level`` and its communes at ``commune_level``."""
    # Overpass drops a backslash it does not know, so a regex escape must reach it doubled
    escaped = re.escape(name.strip()).replace("\\", "\\\\").replace('"', '\\"')
    pattern = "^((Tỉnh|Thành phố) )?" + escaped + "$"
    return (f"[out:json][timeout:{timeout_s}];\n"
            f'rel["boundary"="administrative"]["admin_level"="{level}"]["name"~"{pattern}",i]->.area;\n'
            ".area out geom;\n.area map_to_area->.inside;\n"
            f'rel(area.inside)["boundary"="administrative"]["admin_level"="{commune_level}"];\nout geom;\n')


def _polygon(relation: dict):
    rings: dict[str, list] = {"outer": [], "inner": []}
    for m in relation.get("members", []):
        if m.get("type") == "way" and m.get("geometry") and m.get("role", "outer") in ("outer", "inner", ""):
            line = shapely.LineString([(p["lon"], p["lat"]) for p in m["geometry"]])
            rings["inner" if m.get("role") == "inner" else "outer"].append(line)
    outer = unary_union(list(polygonize(unary_union(rings["outer"])))) if rings["outer"] else None
    if outer is None or outer.is_empty:
        return None
    if rings["inner"]:
        holes = unary_union(list(polygonize(unary_union(rings["inner"]))))
        outer = outer.difference(holes)
    return outer


def parse_boundaries(text: str, level: int = 4, source="") -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """(area, communes) from the answer to :func:`boundary_query`, in EPSG:4326; communes have ``code`` (the
    relation's ``ref``, else ``osm-<id>``), ``name``, ``osm_id``."""
    try:
        elements = json.loads(text)["elements"]
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"not an Overpass JSON answer ({exc})", path=source or None) from None
    rows: dict[str, list] = {"area": [], "communes": []}
    for el in elements:
        if el.get("type") != "relation":
            continue
        tags = el.get("tags") or {}
        geom = _polygon(el)
        if geom is None:
            continue
        kind = "area" if str(tags.get("admin_level")) == str(level) else "communes"
        rows[kind].append({"code": tags.get("ref") or f"osm-{el['id']}", "name": tags.get("name", ""),
                           "osm_id": f"relation/{el['id']}", "admin_level": str(tags.get("admin_level", "")),
                           "geometry": geom})
    area = gpd.GeoDataFrame(pd.DataFrame(rows["area"], columns=["code", "name", "osm_id", "admin_level", "geometry"]),
                            geometry="geometry", crs="EPSG:4326")
    communes = gpd.GeoDataFrame(pd.DataFrame(rows["communes"], columns=["code", "name", "osm_id", "admin_level",
                                                                        "geometry"]), geometry="geometry", crs="EPSG:4326")
    if len(area) and len(communes):    # `rel(area)` also returns neighbours sharing the border: keep those inside
        inside = communes.geometry.representative_point().within(area.union_all())
        communes = communes[inside.to_numpy()].reset_index(drop=True)
    if len(communes) and communes["code"].duplicated().any():    # a shared ref must not merge two communes
        communes["code"] = communes["code"].where(~communes["code"].duplicated(keep=False),
                                                  "osm-" + communes["osm_id"].str.split("/").str[1])
    return area, communes
