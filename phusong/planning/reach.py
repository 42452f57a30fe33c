"""Which candidate covers which demand unit: one terrain pass per candidate (cached), reduced at once.

Each candidate's best-sector signal is computed on its footprint window with the same
kernels, quantisation and coverage level as ``simulate``, compared with the demand it
reaches, and dropped: memory holds the covered demand cells' indices, not rasters.
Demand units covered by exactly the same candidates are merged (their weights summed)
before solving; populated cells no candidate reaches are counted per commune.
"""
from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse
from tqdm.auto import tqdm

from .._raster import Grid
from ..coverage.accumulate import ANY, fold_groups
from ..coverage.cache import FootprintCache
from ..coverage.cells import make_groups, prepare_cells
from ..coverage.layers import covered_mask
from ..coverage.network import heights_for_passes
from ..propagation.footprint import window_for
from ..settings import Settings
from .demand import Demand


@dataclass
class Instance:
    """A covering problem: units (rows) × candidates (columns), weights, costs and requirements."""

    units: pd.DataFrame          # target_id, weight, members, label, commune_code (one row per merged unit)
    cover: sparse.csr_matrix     # units × candidates, 1 where the candidate covers the unit
    cost: np.ndarray             # per candidate
    required: dict               # target_id -> weight the plan must add
    reachable: dict              # target_id -> weight some candidate can add
    unreachable: pd.DataFrame    # the units no candidate reaches (points, zones, people per commune)
    gains: pd.DataFrame          # per candidate and target: weight covered on its own (candidate_id index)
    notes: list

    @property
    def target_ids(self) -> list[str]:
        return list(self.required)


def compute_reach(candidates: pd.DataFrame, cand_cells: pd.DataFrame, heights: np.ndarray, grid: Grid,
                  settings: Settings, demand: Demand, *, cache: FootprintCache | None, tkey: str,
                  area_mask: np.ndarray | None = None, patterns=None, progress: bool = False,
                  cell_mask: np.ndarray | None = None) -> Instance:
    """Build the covering :class:`Instance` of ``candidates`` (rows of :func:`..candidates` tables).

    ``area_mask`` is the run's study area: outside it nothing counts as covered (as in ``simulate``);
    ``cell_mask`` the cells terrain passes evaluate (the run's, so that its cached passes serve)."""
    techs = tuple(sorted(set(settings.coverage.technologies) | set(cand_cells["technology"])))
    s = settings.replace(coverage={"technologies": techs})
    gdf = gpd.GeoDataFrame(cand_cells, geometry=gpd.points_from_xy(cand_cells["lon"], cand_cells["lat"]),
                           crs="EPSG:4326")
    cells = prepare_cells(gdf, heights, grid, s)
    by_candidate = {cid: part for cid, part in cells.groupby("candidate_id", sort=False)}
    pts = demand.points
    pr, pc = pts["row"].to_numpy(np.int64), pts["col"].to_numpy(np.int64)
    p_needs_5g = (pts["need"] == "5G").to_numpy()
    people = demand.people
    width = grid.width
    sig = np.zeros(grid.height * grid.width, np.uint64) if people is not None else None
    rng = np.random.default_rng(20251231)
    keys = rng.integers(1, 2 ** 63, size=len(candidates), dtype=np.uint64)
    point_hits: list[tuple[np.ndarray, int]] = []
    pop_cells: list[np.ndarray] = []
    radius_m = s.model.radius_km * 1000.0
    passes = make_groups(cells)
    heights = heights_for_passes(heights, len(passes) - (cache.kept(tkey, passes, s) if cache is not None else 0))
    for j, cand in enumerate(tqdm(candidates.itertuples(index=False), total=len(candidates), desc="candidates",
                                  unit="site", disable=not progress or None, leave=False)):
        sub = by_candidate.get(cand.candidate_id)
        empty = np.zeros(0, np.int32)
        if sub is None or len(sub) == 0:
            point_hits.append((empty, j))
            pop_cells.append(empty)
            continue
        window = window_for(grid, float(sub["x"].iloc[0]), float(sub["y"].iloc[0]), radius_m)
        r0, c0, nrow, ncol = window
        acc = fold_groups(make_groups(sub), cells, heights, grid, s, cache, tkey, patterns, window=window,
                          cell_mask=cell_mask)
        cov5 = np.zeros((nrow, ncol), bool)
        mbb = np.zeros((nrow, ncol), bool)
        area = area_mask[r0:r0 + nrow, c0:c0 + ncol] if area_mask is not None else True
        for (tech, op), (best, _, server) in acc.best.items():
            if op != ANY or tech not in ("4G", "5G"):
                continue
            ok = covered_mask(tech, best, server, cells, s) & area   # simulate's own rule
            mbb |= ok
            if tech == "5G":
                cov5 |= ok
        inside = (pr >= r0) & (pr < r0 + nrow) & (pc >= c0) & (pc < c0 + ncol)
        idx = np.flatnonzero(inside)
        rr, cc = pr[idx] - r0, pc[idx] - c0
        hit = np.where(p_needs_5g[idx], cov5[rr, cc], mbb[rr, cc])
        point_hits.append((idx[hit], j))
        if people is not None and sig is not None and cov5.any():
            wr, wc = np.nonzero(cov5 & (people[r0:r0 + nrow, c0:c0 + ncol] > 0))
            flat = ((wr + r0).astype(np.int64) * width + (wc + c0)).astype(np.int32)  # < 2**31 cells (terrain)
            sig[flat] ^= keys[j]
            pop_cells.append(flat)
        else:
            pop_cells.append(empty)
    return _instance(candidates, demand, grid, point_hits, pop_cells, sig)


def _instance(candidates, demand: Demand, grid: Grid, point_hits, pop_cells, sig) -> Instance:
    n_c = len(candidates)
    unit_frames, blocks, unreachable, notes = [], [], [], list(demand.notes)
    gains = pd.DataFrame(index=candidates["candidate_id"].to_numpy())
    start = 0

    def add_units(target_id, weights, labels, communes, rows, cols, merged=False):
        """Merge units with identical covering sets (``merged``: they are already); return the units
        no candidate reaches."""
        nonlocal start
        m = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(weights), n_c))
        m.sum_duplicates()
        m.data[:] = 1.0
        reach = np.diff(m.indptr) > 0
        gains[target_id] = np.asarray(m.T @ np.asarray(weights, float)).ravel()
        if merged:
            keep = np.flatnonzero(reach)
            unit_frames.append(pd.DataFrame({"weight": np.asarray(weights)[keep], "members": 1,
                                             "label": np.asarray(labels)[keep],
                                             "commune_code": np.asarray(communes)[keep], "target_id": target_id}))
            blocks.append(m[keep])
            start += len(keep)
            return pd.DataFrame(index=np.flatnonzero(~reach))
        keys = [m.indices[m.indptr[i]:m.indptr[i + 1]].tobytes() for i in range(m.shape[0])]
        frame = pd.DataFrame({"key": keys, "weight": weights, "label": labels, "commune_code": communes,
                              "reach": reach})
        grouped = frame[frame["reach"]].groupby("key", sort=False)
        merged = grouped.agg(weight=("weight", "sum"), members=("weight", "size"), label=("label", "first"),
                             commune_code=("commune_code", "first")).reset_index()
        first_row = grouped.head(1).index.to_numpy()
        unit_frames.append(merged.drop(columns="key").assign(target_id=target_id))
        blocks.append(m[first_row])
        start += len(merged)
        return frame[~frame["reach"]]

    pts = demand.points
    for tid, part in pts.groupby("target_id", sort=False):
        idx = part.index.to_numpy()
        local = {g: k for k, g in enumerate(idx)}
        rows: list[int] = []
        cols: list[int] = []
        for hits, j in point_hits:
            sel = hits[np.isin(hits, idx)]
            rows.extend(local[h] for h in sel)
            cols.extend([j] * len(sel))
        labels = (part["unit_id"].astype(str) + " " + part["name"].astype(str)).to_numpy()
        lost = add_units(tid, np.ones(len(part)), labels, part["commune_code"].to_numpy(), np.array(rows, int),
                         np.array(cols, int))
        for k in lost.index:
            p = part.iloc[k]
            unreachable.append(dict(target_id=tid, kind=p["kind"], unit_id=p["unit_id"], name=p["name"],
                                    commune_code=p["commune_code"], people=np.nan, x=p["x"], y=p["y"]))

    if demand.zone_target is not None and demand.zones is not None and len(demand.zones):
        z = demand.zones
        fives = candidates[candidates["technology"] == "5G"]
        pts_gdf = gpd.GeoDataFrame({"j": fives.index.to_numpy()}, geometry=gpd.points_from_xy(fives["x"], fives["y"]),
                                   crs=z.crs)
        joined = gpd.sjoin(pts_gdf, z[["geometry"]], predicate="within", how="inner")
        labels = (z["code"].astype(str) + " " + z["name"].astype(str)).to_numpy()
        communes = z["commune_code"].to_numpy() if "commune_code" in z.columns else np.array([""] * len(z), object)
        lost = add_units(demand.zone_target, np.ones(len(z)), labels, communes,
                         joined["index_right"].to_numpy(int), joined["j"].to_numpy(int))
        for k in lost.index:
            c = z.geometry.iloc[k].centroid
            unreachable.append(dict(target_id=demand.zone_target, kind="zones", unit_id=z["code"].iloc[k],
                                    name=z["name"].iloc[k], commune_code=communes[k], people=np.nan, x=c.x, y=c.y))

    if demand.population_target is not None and sig is not None and demand.people is not None:
        people = demand.people.ravel()
        populated = people > 0
        reach = populated & (sig != 0)
        uniq, inv = np.unique(sig[reach], return_inverse=True)
        unit_of_cell = np.full(people.size, -1, np.int64)
        unit_of_cell[np.flatnonzero(reach)] = inv
        weights = np.bincount(inv, weights=people[reach], minlength=len(uniq))
        pop_rows: list[np.ndarray] = []
        pop_cols: list[np.ndarray] = []
        for j, flat in enumerate(pop_cells):
            if len(flat):
                u = np.unique(unit_of_cell[flat])
                pop_rows.append(u.astype(np.int32))
                pop_cols.append(np.full(len(u), j, np.int32))
        rows_a = np.concatenate(pop_rows) if pop_rows else np.zeros(0, int)
        cols_a = np.concatenate(pop_cols) if pop_cols else np.zeros(0, int)
        cid = demand.commune_ids.ravel()
        rep_cell = np.zeros(len(uniq), np.int64)
        rep_cell[inv[::-1]] = np.flatnonzero(reach)[::-1]
        code_of = np.concatenate([[""], demand.communes["code"].astype(str).to_numpy()])
        del pop_cells[:]
        add_units(demand.population_target, weights, np.array([f"{m:.0f} people" for m in weights], object),
                  code_of[cid[rep_cell]], rows_a, cols_a, merged=True)
        lost_people = np.bincount(cid[populated & (sig == 0)], weights=people[populated & (sig == 0)],
                                  minlength=len(code_of))
        for k in np.flatnonzero(lost_people[1:] >= 0.5) + 1:
            c = demand.communes.geometry.iloc[k - 1].representative_point()
            unreachable.append(dict(target_id=demand.population_target, kind="people", unit_id=code_of[k],
                                    name=str(demand.communes["name"].iloc[k - 1]), commune_code=code_of[k],
                                    people=round(float(lost_people[k])), x=c.x, y=c.y))

    units = pd.concat(unit_frames, ignore_index=True) if unit_frames else pd.DataFrame(
        columns=["weight", "members", "label", "commune_code", "target_id"])
    cover = sparse.vstack(blocks).tocsr() if blocks else sparse.csr_matrix((0, n_c))
    required, reachable = {}, {}
    for t in demand.targets.itertuples(index=False):
        reach_w = float(units.loc[units["target_id"] == t.target_id, "weight"].sum())
        need = reach_w if t.full else max(0.0, t.goal_weight - t.before)
        if need > reach_w + 1e-9:
            notes.append(f"{t.target_id}: the candidates can add {reach_w:,.0f} {t.unit} of the {need:,.0f} needed; "
                         "the plan goes as far as they reach.")
            need = reach_w
        required[t.target_id], reachable[t.target_id] = need, reach_w
    return Instance(units, cover, candidates["cost"].to_numpy(float), required, reachable,
                    pd.DataFrame(unreachable, columns=["target_id", "kind", "unit_id", "name", "commune_code",
                                                       "people", "x", "y"]), gains.fillna(0.0), notes)
