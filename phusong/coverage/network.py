"""Network coverage: best server, second best, SINR and coverage probability per layer.

A layer is one technology for "any operator" (the best of all, as ITU's SDG 9.c.1
indicator counts coverage) or for one operator. Sites stream through in batches;
each cell's RSRP is folded into the layer accumulators (``_kernels.fold_cell``)
and dropped, so memory is bounded by the grid, not by the number of sites.

The terrain pass of a site (its loss footprint) depends only on position, antenna
height, frequency, receiver height, radius, model and terrain, and is cached on
disk under a key of exactly those; power, tilt and azimuth changes reuse it.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._raster import Grid
from ..propagation.footprint import site_footprint, window_for
from ..propagation.linkbudget import default_scs_khz, power_per_re_dbm
from ..propagation.msi import read_msi
from ..sites.schema import TECH_SLUG
from . import _kernels

log = logging.getLogger(__name__)

ANY = "*"
CACHE_VERSION = "kernel-3"  # cell-exact receivers with an exact tail

# Thresholds: outdoor signal per resource element at 1.5 m, met with the location probability below.
# −105 dBm RSRP is the level UK regulator Ofcom's coverage reporting uses for good outdoor 4G data;
# phusong applies the same level to 5G SS-RSRP (the plan's "5G coverage" means usable mobile
# broadband). Both are settable per run.
DEFAULT_THRESHOLD_DBM = {"4G": -105.0, "5G": -105.0}
# NB-IoT is judged by coupling loss: 164 dB is the maximum coupling loss NB-IoT was designed for
# (3GPP TR 45.820 §7.3 / TR 36.888).
NBIOT_MCL_DB = 164.0
# Log-normal location variability (dB) per model: 8 dB, the usual macro-cell shadow-fading
# standard deviation (3GPP TR 38.901 Table 7.4.1-1 RMa NLOS σSF = 8 dB); UMa NLOS σSF = 6 dB.
MODEL_SIGMA_DB = {"delta-bullington": 8.0, "bullington": 8.0, "free-space": 8.0, "okumura-hata": 8.0,
                  "cost231-hata": 8.0, "3gpp-rma": 8.0, "3gpp-uma": 6.0}
THERMAL_NOISE_DBM_HZ = -174.0
UE_NOISE_FIGURE_DB = 9.0      # 3GPP TR 36.942 / TR 38.802 UE noise figure
DEFAULT_LOAD = 0.5            # share of neighbour resource elements carrying power


@dataclass
class Settings:
    technologies: tuple = ("4G", "5G")
    radius_km: float = 15.0
    rx_height_m: float = 1.5
    model: str = "delta-bullington"
    earth_radius_km: float = 8500.0
    thresholds_dbm: dict = field(default_factory=dict)
    nbiot_mcl_db: float = NBIOT_MCL_DB
    location_probability: float = 0.9
    sigma_db: float | None = None
    load_factor: float = DEFAULT_LOAD
    noise_figure_db: float = UE_NOISE_FIGURE_DB
    indoor_loss_db: float = 0.0   # building entry loss for indoor coverage (0: outdoor)
    include_candidates: bool = False
    per_operator: bool = False

    @property
    def sigma(self) -> float:
        return self.sigma_db if self.sigma_db is not None else MODEL_SIGMA_DB.get(self.model, 8.0)

    @property
    def margin_db(self) -> float:
        """σ·Q⁻¹(1 − p): the median must exceed the threshold by this for probability p."""
        return self.sigma * NormalDist().inv_cdf(self.location_probability) + self.indoor_loss_db

    def threshold(self, tech: str) -> float:
        return {**DEFAULT_THRESHOLD_DBM, **self.thresholds_dbm}.get(tech, DEFAULT_THRESHOLD_DBM.get(tech, -105.0))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "unknown"


def prepare_cells(sites, heights: np.ndarray, grid: Grid, settings: Settings) -> pd.DataFrame:
    """The run's cell table: one row per cell, index = the cell index used in server rasters."""
    use = sites["technology"].isin(settings.technologies)
    if not settings.include_candidates:
        use &= sites["status"] != "candidate"
    cells = sites[use].copy()
    pts = cells.geometry.to_crs(grid.crs)
    cells["x"], cells["y"] = pts.x.to_numpy(), pts.y.to_numpy()
    r, c = grid.rowcol(cells["x"].to_numpy(), cells["y"].to_numpy())
    ground = heights[np.clip(np.round(r).astype(int), 0, grid.height - 1),
                     np.clip(np.round(c).astype(int), 0, grid.width - 1)]
    cells["ground_m"] = ground
    cells["scs_khz"] = [15 if t != "5G" else default_scs_khz(f) for t, f in
                        zip(cells["technology"], cells["frequency_mhz"])]
    cells["power_per_re_dbm"] = [power_per_re_dbm(p, t, b, f) for p, t, b, f in
                                 zip(cells["tx_power_dbm"], cells["technology"], cells["bandwidth_mhz"],
                                     cells["frequency_mhz"])]
    cells["operator_slug"] = cells["operator"].map(slug)
    cells = pd.DataFrame(cells.drop(columns="geometry")).reset_index(drop=True)
    cells.index.name = "cell_index"
    return cells


def terrain_key(heights: np.ndarray, grid: Grid) -> str:
    h = hashlib.blake2b(np.ascontiguousarray(heights).view(np.uint8), digest_size=16)
    h.update(repr((tuple(grid.transform)[:6], grid.height, grid.width, grid.crs.to_string())).encode())
    return h.hexdigest()


@dataclass(frozen=True)
class Group:
    """Cells sharing one terrain pass: same position, antenna height and frequency."""

    x: float
    y: float
    height_m: float
    frequency_mhz: float
    cells: tuple[int, ...]


def make_groups(cells: pd.DataFrame) -> list[Group]:
    groups = []
    for (x, y, h, f), part in cells.groupby(["x", "y", "antenna_height_m", "frequency_mhz"], sort=True):
        groups.append(Group(float(x), float(y), float(h), float(f), tuple(int(i) for i in part.index)))
    # spatial order (rows of 10 km bands), so that batches are compact windows
    groups.sort(key=lambda g: (int(-g.y // 10_000), g.x, g.frequency_mhz))
    return groups


def _cache_file(cache_dir: Path, tkey: str, g: Group, s: Settings) -> Path:
    key = json.dumps([CACHE_VERSION, tkey, round(g.x, 3), round(g.y, 3), g.height_m, g.frequency_mhz,
                      s.rx_height_m, s.radius_km, s.model, s.earth_radius_km])
    return cache_dir / f"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}.npy"


def group_loss(heights, grid, g: Group, s: Settings, cache_dir: Path | None, tkey: str):
    """Loss window of a group (float32 dB), from the cache when present; (loss, row0, col0)."""
    row0, col0, nrow, ncol = window_for(grid, g.x, g.y, s.radius_km * 1000.0)
    path = _cache_file(cache_dir, tkey, g, s) if cache_dir else None
    if path is not None and path.exists():
        try:
            q = np.load(path)
            if q.shape == (nrow, ncol):
                return _dequantise(q), row0, col0
        except (OSError, ValueError):
            pass  # a damaged entry is recomputed
    fp = site_footprint(heights, grid, g.x, g.y, g.height_m, g.frequency_mhz, s.radius_km, s.rx_height_m,
                        s.earth_radius_km, s.model)
    q = _quantise(fp.loss_db)
    if path is not None:
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.save(fh, q)
        os.replace(tmp, path)
    return _dequantise(q), row0, col0


def _quantise(loss: np.ndarray) -> np.ndarray:
    """0.01 dB steps in uint16 (65535 = no value): the cache stores half the bytes of float32."""
    q = np.round(np.nan_to_num(loss, nan=655.35) * 100.0)
    return np.clip(q, 0, 65535).astype(np.uint16)


def _dequantise(q: np.ndarray) -> np.ndarray:
    out = q.astype(np.float32) / np.float32(100.0)
    out[q == 65535] = np.nan
    return out


@dataclass
class Accumulators:
    """Layer accumulators on a window (row0, col0, shape) of the grid."""

    row0: int
    col0: int
    shape: tuple[int, int]
    best: dict = field(default_factory=dict)     # (tech, operator|ANY) -> (best, second, server)
    psum: dict = field(default_factory=dict)     # (tech, operator, frequency) -> int64 power sum

    def layer(self, key):
        if key not in self.best:
            self.best[key] = (np.full(self.shape, -np.inf, np.float32), np.full(self.shape, -np.inf, np.float32),
                              np.full(self.shape, -1, np.int32))
        return self.best[key]

    def power(self, key):
        if key not in self.psum:
            self.psum[key] = np.zeros(self.shape, np.int64)
        return self.psum[key]


def fold_groups(groups, cells: pd.DataFrame, heights, grid: Grid, s: Settings, cache_dir, tkey,
                window=None, progress=False) -> Accumulators:
    """Fold the cells of ``groups`` into accumulators on ``window`` (default: the whole grid)."""
    if window is None:
        window = (0, 0, grid.height, grid.width)
    row0, col0, nrow, ncol = window
    cache_dir = Path(cache_dir) if cache_dir else None
    acc = Accumulators(row0, col0, (nrow, ncol))
    patterns = {}
    for g in tqdm(groups, desc="sites", unit="pass", disable=not progress or None, leave=False):
        loss, r0, c0 = group_loss(heights, grid, g, s, cache_dir, tkey)
        if loss.size == 0:
            continue
        h_win = heights[r0:r0 + loss.shape[0], c0:c0 + loss.shape[1]]
        r_tx, c_tx = (float(v) for v in grid.rowcol(g.x, g.y))
        tx_asl = float(cells.loc[g.cells[0], "ground_m"] + g.height_m)
        bearing, depression = _kernels.site_geometry(loss, h_win, r0, c0, r_tx, c_tx, grid.res_m, tx_asl,
                                                     s.rx_height_m, s.earth_radius_km)
        part = cells.loc[list(g.cells)]
        for (tech, op), sub in part.groupby(["technology", "operator_slug"], sort=True):
            params = _cell_params(sub, patterns)
            psum = acc.power((tech, op, g.frequency_mhz))
            keys = [(tech, ANY)] + ([(tech, op)] if s.per_operator else [])
            for n, key in enumerate(keys):
                best, second, server = acc.layer(key)
                _kernels.fold_cells(loss, bearing, depression, r0 - row0, c0 - col0, *params,
                                    best, second, server, psum, n == 0)
    return acc


def _cell_params(sub: pd.DataFrame, patterns: dict) -> tuple:
    """Per-cell arrays for ``_kernels.fold_cells`` (in cell-index order)."""
    n = len(sub)
    h_tables = np.zeros((n, 360))
    v_tables = np.zeros((n, 360))
    use_table = np.zeros(n, np.bool_)
    gain = sub["antenna_gain_dbi"].to_numpy(np.float64).copy()
    files = sub["antenna_file"] if "antenna_file" in sub else pd.Series([None] * n, index=sub.index)
    for k, path in enumerate(files):
        if isinstance(path, str) and path:
            if path not in patterns:
                patterns[path] = read_msi(path)
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


@dataclass
class LayerResult:
    technology: str
    operator: str               # ANY for the any-operator layer
    rsrp_dbm: np.ndarray        # float32, NaN where no cell reaches
    rsrp2_dbm: np.ndarray       # second best, float32
    server: np.ndarray          # int32 cell index, -1 none
    sinr_db: np.ndarray         # float32
    covered: np.ndarray         # uint8 1/0, 255 outside the area

    @property
    def name(self) -> str:
        t = TECH_SLUG[self.technology]
        return t if self.operator == ANY else f"{t}_{self.operator}"


def finish_layers(acc: Accumulators, cells: pd.DataFrame, s: Settings, area_mask: np.ndarray | None,
                  technologies=None):
    """SINR and coverage for every layer of full-grid accumulators (optionally only some technologies)."""
    results = []
    quantum = _kernels.POWER_QUANTUM_MW
    cell_op = cells["operator_slug"].to_numpy()
    cell_f = cells["frequency_mhz"].to_numpy()
    noise_per_cell = (THERMAL_NOISE_DBM_HZ + 10.0 * np.log10(cells["scs_khz"].to_numpy() * 1e3)
                      + s.noise_figure_db)
    for (tech, op), (best, second, server) in sorted(acc.best.items()):
        if technologies is not None and tech not in technologies:
            continue
        has = server >= 0
        safe = np.where(has, server, 0)
        rsrp = np.where(has, best, np.float32(np.nan))
        rsrp2 = np.where(has & np.isfinite(second), second, np.float32(np.nan))
        # interference: the serving cell's operator on the same frequency, at the load factor
        keys = [k for k in acc.psum if k[0] == tech]
        key_of_cell = np.full(len(cells), -1, np.int64)
        for n, (_, o, f) in enumerate(keys):
            key_of_cell[(cell_op == o) & (cell_f == f)] = n
        serving_key = key_of_cell[safe]
        interference = np.zeros(best.shape, np.float64)
        for n, key in enumerate(keys):
            mine = has & (serving_key == n)
            interference[mine] = (acc.psum[key][mine] - quantise_dbm(best[mine])) * (s.load_factor * quantum)
        del serving_key
        noise_mw = 10.0 ** (noise_per_cell[safe] / 10.0)
        interference += noise_mw
        del noise_mw
        with np.errstate(divide="ignore", invalid="ignore"):
            sinr = (best - 10.0 * np.log10(interference)).astype(np.float32)
        del interference
        sinr[~has] = np.nan
        if tech == "NB-IoT":
            coupling = cells["power_per_re_dbm"].to_numpy()[safe] - best
            ok = has & (coupling + s.margin_db <= s.nbiot_mcl_db)
        else:
            ok = has & (best >= s.threshold(tech) + s.margin_db)
        covered = ok.astype(np.uint8)
        if area_mask is not None:
            covered[~area_mask] = 255
        results.append(LayerResult(tech, op, rsrp, rsrp2, server, sinr, covered))
    return results


def quantise_dbm(dbm: np.ndarray) -> np.ndarray:
    """NumPy twin of ``_kernels.quantise_dbm`` (the serving cell's own share of ``psum``)."""
    q = np.floor(np.exp(dbm.astype(np.float64) * _kernels.LN10_OVER_10) / _kernels.POWER_QUANTUM_MW + 0.5)
    return np.minimum(q, _kernels.POWER_CLAMP_Q).astype(np.int64)


def simulate_network(heights: np.ndarray, grid: Grid, sites, settings: Settings, *, cache_dir=None,
                     area_mask=None, progress=True, dask_address=None, batch_size=24):
    """Run every layer; returns (layers, cells table, stats)."""
    cells = prepare_cells(sites, heights, grid, settings)
    groups = make_groups(cells)
    tkey = terrain_key(heights, grid)
    cache_dir = Path(cache_dir) if cache_dir else None
    if cache_dir:
        cache_dir.mkdir(parents=True, exist_ok=True)
    hits = sum(_cache_file(cache_dir, tkey, g, settings).exists() for g in groups) if cache_dir else 0
    if dask_address:
        from .distributed import run_on_dask
        acc = run_on_dask(dask_address, groups, cells, heights, grid, settings, cache_dir, tkey, batch_size,
                          progress)
    else:
        acc = fold_groups(groups, cells, heights, grid, settings, cache_dir, tkey, progress=progress)
    layers = finish_layers(acc, cells, settings, area_mask)
    stats = {"cells": len(cells), "terrain_passes": len(groups), "cache_hits": hits,
             "settings": {**asdict(settings), "margin_db": settings.margin_db, "sigma_db": settings.sigma}}
    return layers, cells, stats
