"""The plan's priority places (health facilities, schools, offices, tourist sites, transport hubs, roads...)
against coverage: points, lines and polygons of any number of named layers.

For each layer and each service — 5G, and mobile broadband (MBB: 4G or 5G):

* **points**: covered when the grid cell holding the point is (the villages' rule); the share of points;
* **lines** (roads, waterways): the length inside covered cells, measured exactly on the cells' edges
  (the line cut by the covered cells' polygons), per feature, per commune and in all;
* **polygons**: the share of the polygon's cells that are covered (cells whose centre lies inside;
  a polygon smaller than a cell takes the cell at its centroid), as for industrial zones.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from rasterio.features import shapes

from .._raster import Grid
from ..data.boundaries import GEOMETRY_KINDS
from ..errors import InputError

SERVICES = ("5g", "mbb")
def kind_of(features: gpd.GeoDataFrame, source="") -> str:
    """points, lines or polygons: the one kind of every geometry of a layer (an :class:`InputError` if mixed)."""
    kinds = set(features.geometry.dropna().geom_type.map(GEOMETRY_KINDS).fillna("other"))
    if len(kinds) != 1 or "other" in kinds:
        raise InputError(f"a priority layer holds one kind of geometry (points, lines or polygons), found "
                         f"{', '.join(sorted(kinds)) or 'none'}", path=source or None)
    return kinds.pop()


def covered_polygons(mask: np.ndarray, grid: Grid) -> np.ndarray:
    """The covered cells as polygons on the cells' exact edges (no simplification)."""
    geoms = [shapely.geometry.shape(g) for g, v in shapes(mask.astype(np.uint8), mask=mask,
                                                          transform=grid.transform) if v == 1]
    return np.array(geoms, dtype=object)


def covered_length_m(lines, polygons: np.ndarray) -> np.ndarray:
    """Length (m) of each line inside the union of disjoint ``polygons``."""
    lines = np.asarray(lines, dtype=object)
    out = np.zeros(len(lines))
    if len(lines) == 0 or len(polygons) == 0:
        return out
    tree = shapely.STRtree(polygons)
    li, pi = tree.query(lines, predicate="intersects")
    pieces = shapely.length(shapely.intersection(lines[li], polygons[pi]))
    np.add.at(out, li, pieces)
    return out


def _cells_share(geoms, mask: np.ndarray, grid: Grid) -> np.ndarray:
    """% of each polygon's cells (centres inside) covered; each polygon on its own window, so that
    overlapping polygons each keep their cells."""
    from rasterio.features import geometry_mask

    from .rules import _cell_values

    out = np.empty(len(geoms))
    t, res = grid.transform, grid.res_m
    for i, geom in enumerate(geoms):
        minx, miny, maxx, maxy = geom.bounds
        c0, c1 = max(int(np.floor((minx - t.c) / res)), 0), min(int(np.ceil((maxx - t.c) / res)), grid.width)
        r0, r1 = max(int(np.floor((t.f - maxy) / res)), 0), min(int(np.ceil((t.f - miny) / res)), grid.height)
        inside = np.zeros((0, 0), bool)
        if c1 > c0 and r1 > r0:
            inside = ~geometry_mask([geom], out_shape=(r1 - r0, c1 - c0), transform=t @ t.translation(c0, r0))
        if inside.any():
            out[i] = 100.0 * mask[r0:r1, c0:c1][inside].mean()
        else:
            out[i] = 100.0 * float(_cell_values(mask, grid, gpd.GeoSeries([geom]).centroid, False)[0])
    return out


def analyse_priority(name: str, features: gpd.GeoDataFrame, masks: dict[str, np.ndarray], grid: Grid,
                     communes: gpd.GeoDataFrame) -> tuple[gpd.GeoDataFrame, pd.DataFrame, pd.DataFrame | None]:
    """(features, summary rows, lines per commune): one priority layer measured against ``masks`` (service →
    covered bool raster: "5g", "mbb")."""
    from .rules import _cell_values

    kind = kind_of(features)
    f = features.to_crs(grid.crs).reset_index(drop=True)
    study = communes.union_all()
    # only what lies in the study area counts (a road beyond it could never be covered by the run)
    if kind == "points":
        f = f[f.geometry.intersects(study)]
    else:
        f = f.assign(geometry=f.geometry.intersection(study))
    f = f[f.geometry.notna() & ~f.geometry.is_empty].reset_index(drop=True)
    if len(f) == 0:
        raise InputError(f"priority layer {name!r} has nothing inside the communes", argument="priority")
    if "name" not in f.columns:
        f["name"] = ""
    f["name"] = f["name"].fillna("").astype(str)
    f.insert(0, "feature_id", np.arange(1, len(f) + 1))
    zones = communes[["code", "geometry"]].rename(columns={"code": "commune_code"})
    by_commune = None
    rows = []
    if kind == "points":
        f = f.explode(index_parts=False).reset_index(drop=True) if (f.geom_type == "MultiPoint").any() else f
        j = gpd.sjoin(f[["geometry"]], zones, predicate="intersects", how="left")   # a point on a border too
        f["commune_code"] = j.groupby(level=0)["commune_code"].first()
        for svc in SERVICES:
            f[f"covered_{svc}"] = _cell_values(masks[svc], grid, f.geometry, False).astype(bool)
        total = float(len(f))
        for svc in SERVICES:
            rows.append((svc, total, float(f[f"covered_{svc}"].sum())))
        unit = "points"
    elif kind == "lines":
        f["length_m"] = f.geometry.length
        pieces = gpd.overlay(f[["feature_id", "geometry"]], zones, how="intersection", keep_geom_type=True)
        # a stretch along a commune border lies in both: it counts once, for the first commune
        pieces = pieces[~pd.Series(shapely.to_wkb(shapely.normalize(pieces.geometry.to_numpy())), index=pieces.index)
                        .duplicated()].reset_index(drop=True)
        pieces["length_m"] = pieces.geometry.length
        for svc in SERVICES:
            polys = covered_polygons(masks[svc], grid)
            f[f"covered_m_{svc}"] = covered_length_m(f.geometry.to_numpy(), polys)
            f[f"covered_pct_{svc}"] = np.where(f["length_m"] > 0, 100.0 * f[f"covered_m_{svc}"]
                                               / np.maximum(f["length_m"], 1e-9), np.nan).round(2)
            pieces[f"covered_m_{svc}"] = covered_length_m(pieces.geometry.to_numpy(), polys)
            rows.append((svc, float(f["length_m"].sum()) / 1000.0, float(f[f"covered_m_{svc}"].sum()) / 1000.0))
        agg = {"length_m": "sum", **{f"covered_m_{svc}": "sum" for svc in SERVICES}}
        by_commune = pieces.groupby("commune_code", sort=True).agg(agg).reset_index()
        for svc in SERVICES:
            by_commune[f"covered_pct_{svc}"] = (100.0 * by_commune[f"covered_m_{svc}"]
                                                / by_commune["length_m"].where(by_commune["length_m"] > 0)).round(2)
        by_commune.insert(0, "layer", name)
        longest = pieces.sort_values("length_m", ascending=False).drop_duplicates("feature_id")
        f["commune_code"] = f["feature_id"].map(longest.set_index("feature_id")["commune_code"])   # most of it lies there
        unit = "km"
    else:
        f["area_km2"] = f.geometry.area / 1e6
        j = gpd.sjoin(f[["geometry"]].set_geometry(f.geometry.representative_point()), zones, predicate="within",
                      how="left")
        f["commune_code"] = j.groupby(level=0)["commune_code"].first()
        for svc in SERVICES:
            f[f"covered_area_pct_{svc}"] = _cells_share(f.geometry.to_numpy(), masks[svc], grid).round(2)
            rows.append((svc, float(f["area_km2"].sum()),
                         float((f["area_km2"] * f[f"covered_area_pct_{svc}"] / 100.0).sum())))
        unit = "km²"
    summary = pd.DataFrame([{"layer": name, "kind": kind, "features": len(f), "service": svc.upper(), "unit": unit,
                             "total": round(total, 3), "covered": round(covered, 3),
                             "covered_pct": round(100.0 * covered / total, 2) if total > 0 else np.nan}
                            for svc, total, covered in rows])
    return gpd.GeoDataFrame(f, geometry="geometry", crs=grid.crs), summary, by_commune
