"""Demand: the units each chosen target counts that the existing network leaves uncovered.

=====================  ==================================  ======================================
measure                unit (weight)                       a candidate covers it when
=====================  ==================================  ======================================
``centres_5g``         a commune centre (1)                its 5G signal covers the centre's cell
``villages_mbb``       a counted village/settlement (1)    its signal covers the village's cell
``zones_5g_site``      an industrial zone (1)              it is a 5G site inside the zone
``population_5g``      a populated grid cell (people)      its 5G signal covers the cell
=====================  ==================================  ======================================

"Covers" is the coverage rule of ``simulate``: the median signal of the candidate's best
sector reaches the technology's level plus the location margin (see
:attr:`phusong.Coverage.coverage_levels_dbm`). A target with a goal of 100% must reach every
unit some candidate can reach (the others are listed as unreachable); a lower goal needs its
share of the whole, less what is covered already.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from .._raster import Grid
from ..data.targets import Target
from ..errors import InputError

SUPPORTED = {"centres_5g": "centres", "villages_mbb": "villages", "zones_5g_site": "zones",
             "population_5g": "people"}


@dataclass
class Demand:
    """Uncovered units of the chosen targets, and what each target requires."""

    points: pd.DataFrame                  # target_id, kind, unit_id, name, commune_code, row, col, need, x, y
    zones: gpd.GeoDataFrame | None        # zones without a 5G site (the zone target's units)
    zone_target: str | None
    people: np.ndarray | None             # people in cells without 5G coverage (float32), for population_target
    population_target: str | None
    targets: pd.DataFrame                 # target_id, measure, unit, goal, total, before, goal_weight, full
    commune_ids: np.ndarray               # commune index + 1 per cell (0 outside), for listing by commune
    communes: gpd.GeoDataFrame
    notes: list[str] = field(default_factory=list)


def _cell(grid: Grid, pts: gpd.GeoSeries) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    t = grid.transform
    c = np.floor((pts.x.to_numpy() - t.c) / t.a).astype(np.int64)
    r = np.floor((pts.y.to_numpy() - t.f) / t.e).astype(np.int64)
    inside = (r >= 0) & (r < grid.height) & (c >= 0) & (c < grid.width)
    return r, c, inside


def build_demand(gaps, covered: dict[str, np.ndarray], grid: Grid, targets: list[Target], target_ids,
                 people: np.ndarray | None, commune_ids: np.ndarray) -> Demand:
    """The uncovered demand of ``target_ids`` in a gap analysis ``gaps`` of the coverage ``covered``."""
    by_id = {t.id: t for t in targets}
    unknown = [t for t in target_ids if t not in by_id]
    if unknown:
        raise InputError(f"unknown target id {unknown[0]!r}; the catalogue has: {', '.join(by_id)}",
                         argument="target_ids")
    none = np.zeros((grid.height, grid.width), bool)
    cov5 = covered.get("5G", none) == 1
    mbb = cov5 | (covered.get("4G", none) == 1)
    points, rows, notes = [], [], []
    zones, zone_target, pop, pop_target = None, None, None, None
    for tid in target_ids:
        t = by_id[tid]
        if t.measure not in SUPPORTED:
            raise InputError(f"target {tid} ({t.measure}) is not one a plan of sites can reach; plannable: "
                             + ", ".join(k for k, v in by_id.items() if v.measure in SUPPORTED), argument="target_ids")
        row = dict(target_id=tid, measure=t.measure, unit=SUPPORTED[t.measure], goal=float(t.goal),
                   full=t.goal >= 100.0 - 1e-9, total=0.0, before=0.0, goal_weight=0.0)
        if t.measure in ("centres_5g", "villages_mbb"):
            layer = gaps.centres if t.measure == "centres_5g" else gaps.villages
            if layer is None or len(layer) == 0:
                notes.append(f"{tid}: no {SUPPORTED[t.measure]} in the gap analysis; skipped.")
                continue
            if t.measure == "villages_mbb" and "counted" in layer.columns:
                layer = layer[layer["counted"].astype(bool)]
            r, c, inside = _cell(grid, layer.geometry)
            ok = np.zeros(len(layer), bool)
            grid_ok = cov5 if t.measure == "centres_5g" else mbb
            ok[inside] = grid_ok[r[inside], c[inside]]
            row.update(total=float(len(layer)), before=float(ok.sum()))
            code = layer["commune_code"] if "commune_code" in layer.columns else layer.get("code")
            miss = ~ok & inside
            points.append(pd.DataFrame({
                "target_id": tid, "kind": SUPPORTED[t.measure], "unit_id": layer["code"].astype(str).to_numpy()[miss],
                "name": layer["name"].astype(str).to_numpy()[miss] if "name" in layer.columns else "",
                "commune_code": np.asarray(code, dtype=object)[miss] if code is not None else "",
                "row": r[miss], "col": c[miss], "need": "5G" if t.measure == "centres_5g" else "MBB",
                "x": layer.geometry.x.to_numpy()[miss], "y": layer.geometry.y.to_numpy()[miss]}))
        elif t.measure == "zones_5g_site":
            if gaps.zones is None or len(gaps.zones) == 0:
                notes.append(f"{tid}: no industrial zones in the gap analysis; skipped.")
                continue
            has = gaps.zones["has_5g_site"].astype(bool).to_numpy()
            row.update(total=float(len(has)), before=float(has.sum()))
            zones, zone_target = gaps.zones[~has].reset_index(drop=True), tid
        else:
            if people is None:
                notes.append(f"{tid}: no population (give a population raster); skipped.")
                continue
            pop = np.where(cov5, 0.0, people).astype(np.float32)
            pop[commune_ids == 0] = 0.0
            pop_target = tid
            inside = commune_ids > 0
            row.update(total=float(people[inside].sum()), before=float(people[inside & cov5].sum()))
        if row["full"]:
            row["goal_weight"] = row["total"]
        elif row["unit"] == "people":
            row["goal_weight"] = row["goal"] / 100.0 * row["total"]
        else:
            row["goal_weight"] = float(math.ceil(row["goal"] / 100.0 * row["total"] - 1e-9))
        rows.append(row)
    pts = pd.concat(points, ignore_index=True) if points else pd.DataFrame(
        columns=["target_id", "kind", "unit_id", "name", "commune_code", "row", "col", "need", "x", "y"])
    return Demand(pts, zones, zone_target, pop, pop_target, pd.DataFrame(rows), commune_ids, gaps.communes, notes)


def demand_points_for_siting(demand: Demand, grid: Grid, block_m: float = 1000.0) -> tuple[np.ndarray, np.ndarray]:
    """Where greenfield sites should look: uncovered points (weight 1) and blocks of uncovered people
    (``block_m`` squares, weight = people), as x, y."""
    xy = [demand.points[["x", "y"]].to_numpy(float)]
    w = [np.ones(len(demand.points))]
    if demand.people is not None:
        k = max(1, int(round(block_m / grid.res_m)))
        h, wd = demand.people.shape
        hp, wp = -(-h // k) * k, -(-wd // k) * k
        padded = np.zeros((hp, wp), np.float64)
        padded[:h, :wd] = demand.people
        blocks = padded.reshape(hp // k, k, wp // k, k).sum(axis=(1, 3))
        br, bc = np.nonzero(blocks >= 1.0)
        x, y = grid.xy(br * k + (k - 1) / 2, bc * k + (k - 1) / 2)
        xy.append(np.column_stack([x, y]))
        w.append(blocks[br, bc])
    return np.concatenate(xy).reshape(-1, 2), np.concatenate(w)
