"""A rollout plan: the chosen actions in build order, the candidates, what stays unreachable, and the bound.

:func:`propose` chooses; :func:`phusong.pipeline.plan_study` also verifies the choice with a
full ``simulate`` + gap analysis of the network after the plan (the values a plan reports
are that re-run's) and writes it (:mod:`phusong.outputs.plan`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd

from .._raster import Grid
from ..coverage.cache import FootprintCache
from ..settings import Settings
from .candidates import SCHEMA, CandidateBuilder, greenfield, listed_candidates, mast_candidates, zone_high_points
from .costs import Costs
from .demand import Demand, demand_points_for_siting
from .optimise import Solution, build_order, optimise
from .reach import Instance, compute_reach

log = logging.getLogger(__name__)


@dataclass
class Plan:
    """What :func:`phusong.pipeline.plan_study` returns and ``phusong plan`` writes.

    ``actions`` (build order, marginal gains, cumulative cost), ``candidates`` (every one, with
    its score and ``selected``), ``unreachable`` (units no candidate covers, people per commune),
    ``communes`` (before/after), ``targets`` (before, after the verifying re-run, goal, status),
    ``sites_after`` (the whole site list after the plan, site-list schema), ``curve`` (cost versus
    attainment in build order). ``proposal`` holds the covering instance and the solution, for analysis.

    Examples
    --------
    :func:`phusong.plan_study` returns one (its example runs a whole plan):

    >>> import phusong
    >>> [f for f in ("actions", "candidates", "unreachable", "targets", "total_cost", "gap_pct")
    ...  if f in phusong.Plan.__dataclass_fields__]
    ['actions', 'candidates', 'unreachable', 'targets', 'total_cost', 'gap_pct']
    """

    actions: gpd.GeoDataFrame
    candidates: gpd.GeoDataFrame
    unreachable: gpd.GeoDataFrame
    communes: gpd.GeoDataFrame
    targets: pd.DataFrame
    sites_after: pd.DataFrame
    curve: pd.DataFrame
    total_cost: float
    currency: str
    method: str
    bound: float | None
    gap_pct: float | None
    budget_mode: bool = False
    notes: list[str] = field(default_factory=list)
    demonstration: tuple[str, ...] = ()
    title: str = "Rollout plan"
    costs_source: str = ""
    timings: dict = field(default_factory=dict)
    generated_sites: bool = False
    proposal: Proposal | None = field(default=None, repr=False)   # the instance and solution, for analysis


@dataclass
class Proposal:
    """The selection stage's result: candidates, the covering instance and the chosen set."""

    candidates: pd.DataFrame
    cells: pd.DataFrame
    instance: Instance
    solution: Solution
    demand: Demand


def make_candidate_table(settings: Settings, costs: Costs, sites: pd.DataFrame, heights: np.ndarray, grid: Grid,
                         demand: Demand, candidate_rows: pd.DataFrame | None = None, candidates_path=None,
                         listed_path=None, allowed: np.ndarray | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every candidate of the plan settings: mast upgrades/shares, listed rows, and greenfield sites."""
    p = settings.plan
    b = CandidateBuilder(costs, p.technology, grid)
    existing = sites[sites["status"] != "candidate"]
    mast_candidates(b, existing, p.operator)
    listed = sites[sites["status"] == "candidate"]
    if len(listed):
        listed_candidates(b, listed, existing, listed_path, p.operator)
    if candidate_rows is not None:
        listed_candidates(b, candidate_rows, existing, candidates_path, p.operator)
    if candidate_rows is None:
        op = p.operator or "new operator"
        h = costs.new_tower_height_m
        centres = demand.points[demand.points["kind"] == "centres"]
        for x, y in centres[["x", "y"]].to_numpy(float):
            b.add_xy("new", x, y, h, op, "at the commune centre")
        if demand.zones is not None and len(demand.zones):
            for x, y in zone_high_points(heights, grid, demand.zones):
                b.add_xy("new", x, y, h, op, "inside the industrial zone")
        xy, w = demand_points_for_siting(demand, grid)
        for x, y in greenfield(heights, grid, xy, w, spacing_m=p.new_site_spacing_m,
                               per_cluster=int(p.new_sites_per_cluster), search_m=p.new_site_search_km * 1000.0,
                               max_sites=int(p.max_new_sites), allowed=allowed):
            b.add_xy("new", x, y, h, op, "terrain high point")
    return b.table()


def propose(candidates: pd.DataFrame, cells: pd.DataFrame, heights: np.ndarray, grid: Grid, settings: Settings,
            demand: Demand, *, cache: FootprintCache | None, tkey: str, area_mask: np.ndarray | None = None,
            patterns=None, progress=False, cell_mask: np.ndarray | None = None) -> Proposal:
    """Which candidates cover which demand, and the best choice with its bound (see :mod:`.optimise`);
    ``cell_mask``: the cells terrain passes evaluate (``tkey`` must include it)."""
    inst = compute_reach(candidates, cells, heights, grid, settings, demand, cache=cache, tkey=tkey,
                         area_mask=area_mask, patterns=patterns, progress=progress, cell_mask=cell_mask)
    p = settings.plan
    sol = optimise(inst, budget=p.budget, max_sites=None if p.max_sites is None else int(p.max_sites),
                   milp_time_limit_s=p.milp_time_limit_s)
    return Proposal(candidates, cells, inst, sol, demand)


def sites_after(sites: pd.DataFrame, cells: pd.DataFrame, chosen_ids) -> pd.DataFrame:
    """The site list after the plan (schema columns): existing rows, unchosen candidate rows kept as
    candidates, and the chosen actions' cells as ``planned``."""
    keep = sites.copy()
    chosen_cells = cells[cells["candidate_id"].isin(set(chosen_ids))]
    listed_chosen = set(chosen_cells["cell_id"])
    keep = keep[~((keep["status"] == "candidate") & keep["cell_id"].isin(listed_chosen))]
    cols = [c for c in SCHEMA if c in keep.columns or c in chosen_cells.columns]
    out = pd.concat([pd.DataFrame(keep).reindex(columns=cols), chosen_cells.reindex(columns=cols)], ignore_index=True)
    return out


def order_actions(prop: Proposal) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The chosen actions in build order with the weight each adds per target, and the cost curve."""
    inst, cands = prop.instance, prop.candidates
    tids = inst.target_ids
    totals = prop.demand.targets.set_index("target_id")
    rows, curve = [], []
    cum = 0.0
    got = {t: float(totals.loc[t, "before"]) for t in tids}
    curve.append({"order": 0, "cumulative_cost": 0.0,
                  **{f"{t}_pct": _pct(got[t], totals.loc[t, "total"]) for t in tids}})
    for k, (j, added) in enumerate(build_order(inst, prop.solution.chosen), start=1):
        c = cands.iloc[j]
        cum += float(c["cost"])
        row = {"order": k, **{col: c[col] for col in ("candidate_id", "action", "site_id", "operator", "technology",
                                                      "sectors", "cost", "source", "lon", "lat", "x", "y")},
               "cumulative_cost": cum}
        for t, a in zip(tids, added):
            row[f"gain_{t}"] = round(float(a), 1)
            got[t] += float(a)
        rows.append(row)
        curve.append({"order": k, "cumulative_cost": cum,
                      **{f"{t}_pct": _pct(got[t], totals.loc[t, "total"]) for t in tids}})
    return pd.DataFrame(rows), pd.DataFrame(curve)


def _pct(value: float, total: float) -> float:
    return round(100.0 * value / total, 2) if total > 0 else float("nan")
