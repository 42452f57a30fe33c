"""Coverage against the plan's targets: communes, centres, villages, zones, population.

Rules (documented in the README and settable where noted):

* A raster cell belongs to the commune that contains its centre.
* A commune centre, village or settlement is covered when the cell that contains
  it is covered (``point rule: cell``).
* Mobile broadband (MBB) = 4G or 5G coverage. IoT-grade = NB-IoT, 4G or 5G
  coverage (LTE-M and NB-IoT ride on 4G/5G carriers).
* An industrial zone counts as covered by a service when at least
  ``zone_share_pct`` (default 90%) of its cells are; a zone smaller than a cell
  uses the cell at its centroid. "5G site in the zone" counts 5G sites inside it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
from rasterio.features import rasterize

from .._raster import Grid
from ..data.targets import Target

DEFAULT_ZONE_SHARE_PCT = 90.0


@dataclass
class GapResult:
    communes: gpd.GeoDataFrame
    centres: gpd.GeoDataFrame
    villages: gpd.GeoDataFrame | None
    zones: gpd.GeoDataFrame | None
    sites: gpd.GeoDataFrame | None
    targets: pd.DataFrame
    villages_are_proxy: bool = False
    notes: list[str] = field(default_factory=list)


def _cell_values(raster: np.ndarray, grid: Grid, points: gpd.GeoSeries, fill):
    r, c = grid.rowcol(points.x.to_numpy(), points.y.to_numpy())
    r = np.floor(r + 0.5).astype(int)
    c = np.floor(c + 0.5).astype(int)
    inside = (r >= 0) & (r < grid.height) & (c >= 0) & (c < grid.width)
    out = np.full(len(points), fill, dtype=raster.dtype)
    out[inside] = raster[r[inside], c[inside]]
    return out


def _zone_ids(geoms, grid: Grid) -> np.ndarray:
    return rasterize(((g, i + 1) for i, g in enumerate(geoms)), out_shape=(grid.height, grid.width),
                     transform=grid.transform, dtype=np.int32, fill=0)


def derive_settlements(population: np.ndarray, grid: Grid, communes: gpd.GeoDataFrame,
                       min_people: float = 50.0) -> gpd.GeoDataFrame:
    """Settlement points (a proxy for villages): populated cells with at least ``min_people``."""
    rows, cols = np.nonzero(population >= min_people)
    x, y = grid.xy(rows, cols)
    pts = gpd.GeoDataFrame({"code": [f"S{i + 1:05d}" for i in range(len(x))],
                            "people": population[rows, cols]},
                           geometry=gpd.points_from_xy(x, y), crs=grid.crs)
    pts = gpd.sjoin(pts, communes[["code", "geometry"]].rename(columns={"code": "commune_code"}),
                    predicate="within", how="inner").drop(columns="index_right")
    pts["name"] = "settlement " + pts["code"] + " (proxy)"
    return pts.reset_index(drop=True)


def analyse(covered: dict[str, np.ndarray], grid: Grid, communes: gpd.GeoDataFrame, targets: list[Target], *,
            rsrp: dict[str, np.ndarray] | None = None, centres: gpd.GeoDataFrame | None = None,
            villages: gpd.GeoDataFrame | None = None, zones: gpd.GeoDataFrame | None = None,
            sites: gpd.GeoDataFrame | None = None, population: np.ndarray | None = None,
            indicators: pd.DataFrame | None = None, zone_share_pct: float = DEFAULT_ZONE_SHARE_PCT,
            settlement_min_people: float = 50.0) -> GapResult:
    """Measure every unit and every target. ``covered`` maps technology to a uint8 raster (1/0/255)."""
    rsrp = rsrp or {}
    techs = [t for t in ("4G", "5G", "NB-IoT") if t in covered]
    cov = {t: covered[t] == 1 for t in techs}
    none = np.zeros((grid.height, grid.width), dtype=bool)
    mbb = cov.get("4G", none) | cov.get("5G", none)
    iot = mbb | cov.get("NB-IoT", none)
    notes = []

    communes = communes.copy()
    ids = _zone_ids(communes.geometry, grid)
    n = len(communes)
    cells = np.bincount(ids.ravel(), minlength=n + 1)[1:]
    cell_km2 = grid.res_m ** 2 / 1e6
    communes["area_km2"] = communes.geometry.area / 1e6
    if population is not None:
        people = np.bincount(ids.ravel(), weights=population.ravel(), minlength=n + 1)[1:]
        communes["population"] = people.round(0)
    for t in techs:
        slug = t.lower().replace("-", "")
        hit = np.bincount(ids.ravel(), weights=cov[t].ravel(), minlength=n + 1)[1:]
        communes[f"covered_area_pct_{slug}"] = np.where(cells > 0, 100.0 * hit / np.maximum(cells, 1), np.nan).round(2)
        communes[f"covered_area_km2_{slug}"] = (hit * cell_km2).round(3)
        if population is not None:
            pc = np.bincount(ids.ravel(), weights=(population * cov[t]).ravel(), minlength=n + 1)[1:]
            communes[f"covered_pop_pct_{slug}"] = np.where(people > 0, 100.0 * pc / np.maximum(people, 1e-9),
                                                           np.nan).round(2)
    if sites is not None and len(sites):
        s = sites.to_crs(grid.crs)
        joined = gpd.sjoin(s[["site_id", "technology", "geometry"]], communes[["code", "geometry"]],
                           predicate="within", how="inner")
        for t in techs:
            slug = t.lower().replace("-", "")
            count = joined[joined["technology"] == t].groupby("code")["site_id"].nunique()
            communes[f"sites_{slug}"] = communes["code"].map(count).fillna(0).astype(int)

    # Commune centres
    if centres is None:
        centres = gpd.GeoDataFrame({"code": communes["code"], "name": communes["name"]},
                                   geometry=communes.geometry.representative_point(), crs=communes.crs)
        notes.append("No commune-centre layer: an interior point of each commune stands in (proxy).")
    centres = centres.copy()
    if "5G" in cov:
        centres["covered_5g"] = _cell_values(cov["5G"], grid, centres.geometry, False)
        if "5G" in rsrp:
            centres["rsrp_5g_dbm"] = _cell_values(rsrp["5G"], grid, centres.geometry, np.nan).round(1)
    else:
        centres["covered_5g"] = False
    centres["covered_mbb"] = _cell_values(mbb, grid, centres.geometry, False)
    communes["centre_covered_5g"] = communes["code"].map(dict(zip(centres["code"], centres["covered_5g"])))

    # Villages, or settlements derived from population (a labelled proxy)
    villages_are_proxy = False
    if villages is None and population is not None:
        villages = derive_settlements(population, grid, communes, settlement_min_people)
        villages_are_proxy = True
        notes.append(f"No village layer: settlement points are populated cells with ≥ {settlement_min_people:g} "
                     "people (a proxy for thôn/bản).")
    if villages is not None:
        villages = villages.copy()
        villages["covered_mbb"] = _cell_values(mbb, grid, villages.geometry, False)
        if "has_power" in villages.columns:
            villages["has_power"] = villages["has_power"].astype(bool)
            counted = villages["has_power"]
        else:
            counted = pd.Series(True, index=villages.index)
        villages["counted"] = counted
        if "commune_code" not in villages.columns:
            j = gpd.sjoin(villages[["geometry"]], communes[["code", "geometry"]], predicate="within", how="left")
            villages["commune_code"] = j.groupby(level=0)["code"].first()

    # Industrial zones
    if zones is not None and len(zones):
        zones = zones.copy()
        zid = _zone_ids(zones.geometry, grid)
        zcells = np.bincount(zid.ravel(), minlength=len(zones) + 1)[1:]
        centroid_cells = {name: _cell_values(arr, grid, zones.geometry.centroid, False)
                          for name, arr in (("5g", cov.get("5G", none)), ("iot", iot))}
        for name, arr in (("5g", cov.get("5G", none)), ("iot", iot)):
            hit = np.bincount(zid.ravel(), weights=arr.ravel(), minlength=len(zones) + 1)[1:]
            pct = np.where(zcells > 0, 100.0 * hit / np.maximum(zcells, 1), 100.0 * centroid_cells[name])
            zones[f"covered_area_pct_{name}"] = pct.round(2)
        zones["covered_5g"] = zones["covered_area_pct_5g"] >= zone_share_pct
        zones["covered_iot"] = zones["covered_area_pct_iot"] >= zone_share_pct
        if sites is not None and len(sites):
            s5 = sites[sites["technology"] == "5G"].to_crs(grid.crs)
            j = gpd.sjoin(s5[["site_id", "geometry"]], zones[["code", "geometry"]], predicate="within")
            zones["sites_5g"] = zones["code"].map(j.groupby("code")["site_id"].nunique()).fillna(0).astype(int)
        else:
            zones["sites_5g"] = 0
        zones["has_5g_site"] = zones["sites_5g"] > 0

    target_rows = _evaluate_targets(targets, communes, centres, villages, zones, population, cov, indicators)
    missed = {code: [] for code in communes["code"]}
    for row in target_rows:
        for code in row.pop("_failing_communes"):
            missed.setdefault(code, []).append(row["target_id"])
    communes["missed_targets"] = communes["code"].map(lambda c: ", ".join(missed.get(c, [])))
    if sites is not None:
        sites = sites.to_crs(grid.crs)
    return GapResult(communes, centres, villages, zones, sites, pd.DataFrame(target_rows), villages_are_proxy, notes)


def _label(df) -> list[str]:
    return [f"{c} {n}" for c, n in zip(df["code"], df["name"])]


def _evaluate_targets(targets, communes, centres, villages, zones, population, cov, indicators):
    rows = []
    ind = {}
    if indicators is not None:
        ind = {str(r["target_id"]): r for _, r in indicators.iterrows()}
    for t in targets:
        row = dict(target_id=t.id, deadline=t.deadline, text_vi=t.text_vi, text_en=t.text_en, unit=t.unit,
                   value=np.nan, goal=t.goal, gap=np.nan, gap_unit="", met=None, failing_units="",
                   status="no data", _failing_communes=[])
        failing = None
        if t.measure == "centres_5g" and "5G" in cov:
            ok = centres["covered_5g"].astype(bool)
            failing = centres[~ok]
            row.update(value=100.0 * ok.mean(), gap_unit="centres")
            row["_failing_communes"] = list(failing["code"])
        elif t.measure == "villages_mbb" and villages is not None:
            v = villages[villages["counted"]]
            ok = v["covered_mbb"].astype(bool)
            failing = v[~ok]
            row.update(value=100.0 * ok.mean() if len(v) else np.nan, gap_unit="villages")
            row["_failing_communes"] = sorted(set(failing.get("commune_code", pd.Series(dtype=str)).dropna()))
        elif t.measure in ("zones_5g_site", "zones_iot", "zones_5g_iot") and zones is not None and len(zones):
            ok = {"zones_5g_site": zones["has_5g_site"], "zones_iot": zones["covered_iot"],
                  "zones_5g_iot": zones["covered_5g"] & zones["covered_iot"]}[t.measure]
            failing = zones[~ok]
            row.update(value=100.0 * ok.mean(), gap_unit="zones")
            needed = math.ceil(t.goal / 100.0 * len(zones) - 1e-9)
            row["gap"] = max(needed - int(ok.sum()), 0)
        elif t.measure == "population_5g" and population is not None and "5G" in cov:
            total = float(communes["population"].sum())
            covered = float((communes["population"] * communes["covered_pop_pct_5g"].fillna(0) / 100.0).sum())
            row.update(value=100.0 * covered / total if total else np.nan, gap_unit="people",
                       gap=round(max(t.goal / 100.0 * total - covered, 0.0)))
            failing = communes[communes["covered_pop_pct_5g"].fillna(0) < t.goal]
            row["_failing_communes"] = list(failing["code"])
        elif t.measure == "indicator" and t.id in ind:
            r = ind[t.id]
            value = float(r["value"])
            row.update(value=value, gap=max(t.goal - value, 0.0), gap_unit=t.unit,
                       failing_units=f"source: {r.get('source', '')} ({r.get('date', '')})")
        if np.isfinite(row["value"]):
            row["met"] = bool(row["value"] >= t.goal - 1e-9)
            row["status"] = "met" if row["met"] else "not met"
            row["value"] = round(float(row["value"]), 2)
            if failing is not None:
                if not np.isfinite(row["gap"]):
                    row["gap"] = len(failing)
                row["failing_units"] = "; ".join(_label(failing)) if "name" in failing.columns else \
                    "; ".join(failing["code"])
        rows.append(row)
    return rows
