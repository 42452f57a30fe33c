"""Fold cells into layer accumulators, one terrain pass at a time, and merge partial results exactly.

Each cell's RSRP is folded into the accumulators (``_kernels.fold_cells``) and
dropped, so memory is bounded by the grid, not by the number of sites.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._raster import Grid
from ..propagation.antenna import MsiPattern
from ..propagation.footprint import kernels_compiled, site_footprints, window_for
from ..propagation.p2108 import MIN_DISTANCE_KM, terrestrial_clutter_loss_db
from ..settings import Settings
from ..sites.schema import ANY_OPERATOR
from . import _kernels
from .cache import BackgroundSaver, FootprintCache, dequantise, quantise
from .cells import Group

ANY = ANY_OPERATOR


def group_loss(heights, grid: Grid, g: Group, s: Settings, cache: FootprintCache | None, tkey: str,
               landcover: np.ndarray | None = None, cell_mask: np.ndarray | None = None, window=None,
               save: Callable[[Path, np.ndarray], None] | None = None, mast: Sequence[Group] = (),
               kept: dict[Group, np.ndarray] | None = None):
    """Loss window of a group (float32 dB), from the cache when present, plus what is never cached (the
    terrain pass is the same without it): clutter loss at the receiver (``model.clutter``), the clutter
    table's extra loss of the receiver's land-cover class, and a calibration (``model.calibration``, its
    class offsets read from ``landcover``); (loss, row0, col0). Model p1812 also reads ``landcover`` in
    its terrain pass (clutter heights on the profile). Only cells where ``cell_mask`` is set are evaluated
    (``tkey`` must then include it, see :func:`.cache.terrain_key`); only its part inside ``window`` (row0, col0,
    nrow, ncol of the grid) when given. A new pass is kept with ``save`` (its path and quantised loss; default
    ``cache.save``). ``mast``: groups on g's mast (position and antenna height) still to come; when g's pass is
    not cached, theirs that are not either are swept with it (one sweep for the bands) and put in ``kept``, where
    their own call takes them from."""
    loss, row0, col0 = _terrain_loss(heights, grid, g, s, cache, tkey, landcover, cell_mask, window, save, mast,
                                     kept)
    cal = s.model.calibration
    table = s.model.clutter_table
    class_loss = table is not None and table.has_extra_loss and landcover is not None
    if loss.size and (s.model.clutter == "p2108" or cal is not None or class_loss):
        d_km = _distance_km(grid, g, row0, col0, loss.shape)
        extra = np.zeros(loss.shape)
        if table is not None and class_loss and landcover is not None:   # (the last two for mypy)
            extra += table.extra_loss_db(landcover[row0:row0 + loss.shape[0], col0:col0 + loss.shape[1]])
        if s.model.clutter == "p2108":
            # ITU-R P.2108-1 §3.2 median clutter loss, at least the Recommendation's 0.25 km
            extra += terrestrial_clutter_loss_db(g.frequency_mhz / 1000.0, np.maximum(d_km, MIN_DISTANCE_KM), 50.0)
        if cal is not None:
            classes = None
            cal.require_landcover(landcover)
            if landcover is not None and cal.needs_landcover:
                classes = landcover[row0:row0 + loss.shape[0], col0:col0 + loss.shape[1]]
            extra += cal.loss_db(d_km, classes)
        loss = (loss + extra).astype(np.float32)
    return loss, row0, col0


def _distance_km(grid: Grid, g: Group, row0: int, col0: int, shape) -> np.ndarray:
    """Horizontal distance (km) from the site to the centre of each window cell."""
    r_tx, c_tx = grid.rowcol(g.x, g.y)
    dr = (np.arange(shape[0]) + row0 - r_tx) * grid.res_m
    dc = (np.arange(shape[1]) + col0 - c_tx) * grid.res_m
    return np.hypot(dr[:, None], dc[None, :]) / 1000.0


def _terrain_loss(heights, grid: Grid, g: Group, s: Settings, cache: FootprintCache | None, tkey: str,
                  landcover: np.ndarray | None = None, cell_mask: np.ndarray | None = None, window=None,
                  save: Callable[[Path, np.ndarray], None] | None = None, mast: Sequence[Group] = (),
                  kept: dict[Group, np.ndarray] | None = None):
    row0, col0, nrow, ncol = window_for(grid, g.x, g.y, s.model.radius_km * 1000.0)

    def path_of(group):
        return cache.path(tkey, group.x, group.y, group.height_m, group.frequency_mhz, s) if cache is not None else None

    q = kept.pop(g, None) if kept is not None else None
    path = path_of(g)
    if q is None and cache is not None and path is not None:
        q = cache.load(path, (nrow, ncol))
    if q is None:
        paths = {g: path} | {o: path_of(o) for o in mast if kept is not None and o not in kept}
        # (a sibling whose file is there but damaged is swept again on its own turn)
        todo = [o for o, po in paths.items() if o is g or not (po is not None and po.exists())]
        fps = site_footprints(heights, grid, g.x, g.y, g.height_m, [o.frequency_mhz for o in todo],
                              s.model.radius_km, s.model.rx_height_m, s.model.earth_radius_km, s.model.name,
                              landcover=landcover, clutter_table=s.model.clutter_table, climate=s.p1812_climate,
                              cell_mask=cell_mask)
        # cached or not, the same 0.01 dB steps: results never depend on the cache
        swept = {o: quantise(fp.loss_db) for o, fp in zip(todo, fps)}
        for o, qo in swept.items():
            if cache is not None and (po := paths[o]) is not None:
                (save or cache.save)(po, qo)
        q = swept.pop(g)
        if kept is not None:
            kept.update(swept)
    if window is not None:
        q, row0, col0 = _crop(q, row0, col0, window)
    return dequantise(q), row0, col0


@dataclass
class Accumulators:
    """Layer accumulators on a window (row0, col0, shape) of the grid.

    The power sums are arrays of ``shape``, or, when ``packed`` is (mask, row starts) of
    :func:`._kernels.mask_row_starts`, flat arrays of the mask's set cells in C order (a what-if's sums as
    stored: SINR reads them at the served cells only, so they are never spread over the whole grid)."""

    row0: int
    col0: int
    shape: tuple[int, int]
    best: dict = field(default_factory=dict)     # (tech, operator|ANY) -> (best, second, server)
    psum: dict = field(default_factory=dict)     # (tech, operator, frequency) -> int64 power sum
    packed: tuple[np.ndarray, np.ndarray] | None = None
    # fold_groups' wall time (s) in its terrain passes (swept, or read from the cache) and in folding them
    seconds: dict = field(default_factory=dict)

    def layer(self, key):
        """(best, second, server) arrays of a layer key, created on first use."""
        if key not in self.best:
            self.best[key] = (np.full(self.shape, -np.inf, np.float32), np.full(self.shape, -np.inf, np.float32),
                              np.full(self.shape, -1, np.int32))
        return self.best[key]

    def power(self, key):
        """The int64 power-sum array of a (technology, operator, frequency) key, created on first use."""
        if key not in self.psum:
            self.psum[key] = np.zeros(self.shape if self.packed is None else self.packed[1][-1], np.int64)
        return self.psum[key]

    def power_cells(self) -> tuple[bool, np.ndarray, np.ndarray]:
        """(packed, mask, row starts) saying where the power sums' values lie, for the kernels; mask and starts
        are placeholders when the sums cover ``shape`` (read flat, row by row)."""
        if self.packed is not None:
            return (True, *self.packed)
        return False, np.ones((1, 1), np.bool_), np.zeros(1, np.int64)


def fold_groups(groups, cells: pd.DataFrame, heights, grid: Grid, s: Settings, cache: FootprintCache | None,
                tkey: str, patterns: Mapping[str, MsiPattern] | None = None, window=None,
                progress=False, landcover: np.ndarray | None = None,
                cell_mask: np.ndarray | None = None, only: np.ndarray | None = None,
                technologies=None) -> Accumulators:
    """Fold the cells of ``groups`` into accumulators on ``window`` (default: the whole grid).

    ``patterns`` maps each ``antenna_file`` of the cell table to its pattern (read beforehand);
    ``landcover`` holds class codes on the grid (for a calibration's per-class offsets); ``cell_mask``
    (bool on the grid) limits the cells evaluated; ``only`` (bool, window-shaped) the cells folded, the others
    keep no value (the terrain passes, and so their cache entries, are the same); with ``technologies`` only the cells
    of those are folded (the others make no layer).
    """
    if window is None:
        window = (0, 0, grid.height, grid.width)
    row0, col0, nrow, ncol = window
    acc = Accumulators(row0, col0, (nrow, ncol))
    used = cells.loc[sorted({i for g in groups for i in g.cells})]
    params_all = cell_params(used, patterns or {})   # once, not per site: pandas costs more than a fold
    tech_all, op_all = used["technology"].to_numpy(), used["operator_slug"].to_numpy()
    ground_all = used["ground_m"].to_numpy(np.float64)
    per_operator = s.coverage.per_operator
    to_come: dict[tuple, list[Group]] = {}   # by mast: its groups not folded yet
    for g in groups:
        to_come.setdefault((g.x, g.y, g.height_m), []).append(g)
    kept: dict[Group, np.ndarray] = {}        # passes swept with an earlier band of their mast
    if progress and groups and not kernels_compiled():
        tqdm.write("phusong: compiling the kernels for this machine first (once per installation; about half a "
                   "minute on 2 cores)")
    sweeps_s = folds_s = 0.0
    with BackgroundSaver(cache) as saver:   # a pass is written while the next one is computed
        for g in tqdm(groups, desc="sites", unit="pass", disable=not progress or None, leave=False):
            mast = to_come[(g.x, g.y, g.height_m)]
            mast.remove(g)
            start = time.perf_counter()
            loss, r0, c0 = group_loss(heights, grid, g, s, cache, tkey, landcover, cell_mask, window,
                                      saver.save, mast, kept)
            sweeps_s += time.perf_counter() - start
            if loss.size == 0:
                continue
            if only is not None:   # (loss is this pass's own array)
                loss[~only[r0 - row0:r0 - row0 + loss.shape[0], c0 - col0:c0 - col0 + loss.shape[1]]] = np.nan
            h_win = heights[r0:r0 + loss.shape[0], c0:c0 + loss.shape[1]]
            r_tx, c_tx = (float(v) for v in grid.rowcol(g.x, g.y))
            at = used.index.get_indexer(list(g.cells))
            tx_asl = float(ground_all[at[0]] + g.height_m)
            site = (r0, c0, r_tx, c_tx, grid.res_m, tx_asl, s.model.rx_height_m, s.model.earth_radius_km)
            start = time.perf_counter()
            for tech, op in sorted(set(zip(tech_all[at], op_all[at]))):
                if technologies is not None and tech not in technologies:
                    continue
                sel = np.sort(at[(tech_all[at] == tech) & (op_all[at] == op)])
                params = tuple(p[sel] for p in params_all)
                own = acc.layer((tech, op)) if per_operator else no_layer()
                _kernels.fold_cells(loss, h_win, *site, r0 - row0, c0 - col0, *params,  # type: ignore[call-arg]
                                    *acc.layer((tech, ANY)), acc.power((tech, op, g.frequency_mhz)), *own, per_operator)
            folds_s += time.perf_counter() - start
    acc.seconds = {"sweeps_s": sweeps_s, "folds_s": folds_s}
    return acc


def no_layer() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Stands in for a per-operator layer in ``fold_cells`` when there is none (never written)."""
    return np.empty((1, 1), np.float32), np.empty((1, 1), np.float32), np.empty((1, 1), np.int32)


def _crop(a: np.ndarray, r0: int, c0: int, window) -> tuple[np.ndarray, int, int]:
    """The part of a window ``a`` at (r0, c0) of the grid that lies inside ``window`` (row0, col0, nrow, ncol)."""
    top, left = max(r0, window[0]), max(c0, window[1])
    bottom = min(r0 + a.shape[0], window[0] + window[2])
    right = min(c0 + a.shape[1], window[1] + window[3])
    if bottom <= top or right <= left:
        return a[:0, :0], r0, c0
    return np.ascontiguousarray(a[top - r0:bottom - r0, left - c0:right - c0]), top, left


def cell_params(sub: pd.DataFrame, patterns: Mapping[str, MsiPattern]) -> tuple:
    """Per-cell arrays for ``_kernels.fold_cells`` (in cell-index order)."""
    n = len(sub)
    h_tables = np.zeros((n, 360))
    v_tables = np.zeros((n, 360))
    use_table = np.zeros(n, np.bool_)
    gain = sub["antenna_gain_dbi"].to_numpy(np.float64).copy()
    files = sub["antenna_file"] if "antenna_file" in sub else pd.Series([None] * n, index=sub.index)
    for k, path in enumerate(files):
        if isinstance(path, str) and path:
            pat = patterns[path]
            h_tables[k], v_tables[k], gain[k], use_table[k] = pat.horizontal_db, pat.vertical_db, pat.gain_dbi, True
    azimuth = sub["azimuth_deg"].to_numpy(np.float64)
    omni = ~np.isfinite(azimuth)
    mech = sub["mechanical_tilt_deg"].to_numpy(np.float64)
    return (np.where(omni, 0.0, azimuth), omni, sub["beamwidth_h_deg"].to_numpy(np.float64),
            sub["beamwidth_v_deg"].to_numpy(np.float64), mech + sub["electrical_tilt_deg"].to_numpy(np.float64),
            mech, use_table, h_tables, v_tables, gain,
            (sub["power_per_re_dbm"] - sub["feeder_loss_db"]).to_numpy(np.float64), sub.index.to_numpy(np.int64))


def merge_accumulators(a: Accumulators, b: Accumulators) -> Accumulators:
    """Merge two partial results (exact: max, second max, argmax with index ties, integer sums)."""
    r0 = min(a.row0, b.row0)
    c0 = min(a.col0, b.col0)
    r1 = max(a.row0 + a.shape[0], b.row0 + b.shape[0])
    c1 = max(a.col0 + a.shape[1], b.col0 + b.shape[1])
    out = Accumulators(r0, c0, (r1 - r0, c1 - c0))
    for part in (a, b):
        dr, dc = part.row0 - r0, part.col0 - c0
        for key, (pb, ps, pv) in part.best.items():
            best, second, server = out.layer(key)
            _kernels.merge_best(best, second, server, pb, ps, pv, dr, dc)
        for key, arr in part.psum.items():
            out.power(key)[dr:dr + arr.shape[0], dc:dc + arr.shape[1]] += arr
    return out
