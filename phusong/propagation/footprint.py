"""Path loss from one site to every cell of a terrain raster (the fast path)."""
from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass

import numpy as np
from affine import Affine

from .._raster import Grid
from ..errors import InputError
from . import _kernels
from .models import empirical_loss_db, model_info
from .clutter import WORLDCOVER, ClutterTable
from .p1812 import P1812Climate
from .p526 import DEFAULT_EARTH_RADIUS_KM
from .validity import check_range

MODES = {"delta-bullington": 0, "bullington": 1, "p1812": _kernels.P1812}  # terrain models the kernel evaluates
LOS_ONLY = 2
# Rays half a cell apart at the radius: the far part of each cell's profile lies within a quarter cell of its
# own line. On the rough stand-in this takes cells within 1 dB of the reference from 98.9 % (one cell apart)
# to 99.7 % for 7 % more time (benchmarks/RESULTS.md).
RAY_SPACING_CELLS = 0.5


@dataclass
class Footprint:
    """Loss (float32 dB, NaN beyond the radius) and LOS (uint8 1/0, 255 beyond) on a window."""

    loss_db: np.ndarray
    los: np.ndarray
    grid: Grid            # the window's grid
    row0: int             # window offset in the terrain grid
    col0: int
    distance_km: np.ndarray | None = None


@functools.lru_cache(maxsize=8)
def _to_wgs84(crs_wkt: str):
    from pyproj import CRS, Transformer

    return Transformer.from_crs(CRS.from_user_input(crs_wkt), "EPSG:4326", always_xy=True)


def latitude_deg(grid: Grid, x: float, y: float) -> float:
    """Latitude (°) of a point in the grid's CRS."""
    return float(_to_wgs84(str(grid.crs)).transform(x, y)[1])


def sample_count(radius_m: float, res_m: float, sample_step_cells: float = 1.0) -> int:
    """How many samples a pass takes along each ray (at least 2): it evaluates cells up to half a sample
    beyond the last."""
    return max(int(radius_m / (res_m * sample_step_cells)), 2)


def window_for(grid: Grid, x: float, y: float, radius_m: float) -> tuple[int, int, int, int]:
    """(row0, col0, nrow, ncol) of the cells within ``radius_m`` of (x, y), clipped to the grid."""
    r, c = grid.rowcol(x, y)
    span = radius_m / grid.res_m
    row0 = max(int(math.floor(r - span)), 0)
    col0 = max(int(math.floor(c - span)), 0)
    row1 = min(int(math.ceil(r + span)) + 1, grid.height)
    col1 = min(int(math.ceil(c + span)) + 1, grid.width)
    return row0, col0, max(row1 - row0, 0), max(col1 - col0, 0)


def kernels_compiled() -> bool:
    """Whether this machine has the sweep compiled already (Numba's cache); False on a fresh installation, whose
    first pass compiles the kernels first."""
    return _kernels.compiled_on_this_machine()


def site_footprint(heights: np.ndarray, grid: Grid, x: float, y: float, tx_height_m: float,
                   frequency_mhz: float, radius_km: float, *args, **kwargs) -> Footprint:
    """Basic transmission loss (dB) and LOS from a site at (x, y) in the grid's CRS to every cell, at one
    frequency; the other arguments are :func:`site_footprints`'."""
    return site_footprints(heights, grid, x, y, tx_height_m, (frequency_mhz,), radius_km, *args, **kwargs)[0]


def site_footprints(heights: np.ndarray, grid: Grid, x: float, y: float, tx_height_m: float,
                    frequencies_mhz, radius_km: float, rx_height_m: float = 1.5,
                    earth_radius_km: float = DEFAULT_EARTH_RADIUS_KM,
                    model: str = "delta-bullington", ray_spacing_cells: float = RAY_SPACING_CELLS,
                    sample_step_cells: float = 1.0, los_only: bool = False,
                    exact_tail: int | None = None, landcover: np.ndarray | None = None,
                    clutter_table: ClutterTable | None = None, climate: P1812Climate | None = None,
                    cell_mask: np.ndarray | None = None) -> list[Footprint]:
    """Basic transmission loss (dB) and LOS from a site at (x, y) in the grid's CRS to every cell, one
    :class:`Footprint` per frequency of ``frequencies_mhz`` (MHz; the bands of one mast at one antenna height).

    The terrain models other than P.1812 take every band in one sweep: the rays, the profiles' tails and their
    hull queries do not depend on the frequency, so a second band costs a fraction of a second sweep. Each
    band's loss is the one a sweep of its own gives (bit for bit in the tests; the kernels' fused multiply-adds
    could in principle round a double's last place differently in the one- and several-band variants, below
    what float32 keeps).

    Rays are spaced so that neighbouring rays are at most ``ray_spacing_cells``
    apart at the radius, with samples ``sample_step_cells`` apart along each. Each
    cell is evaluated once, on its nearest ray's profile with the last
    ``exact_tail`` samples and the receiver on its own straight line (see
    :mod:`phusong.propagation._kernels`), so the result is the same for any thread
    count; ``exact_tail`` larger than the radius in samples gives the reference's
    exact profiles (default: ``EXACT_TAIL`` for loss, ``LOS_TAIL`` where only the
    LOS flag is computed). Distance-based models take LOS from the sweep.
    With ``los_only`` only the line-of-sight flag is computed (loss is free space).

    Model ``p1812`` (ITU-R P.1812-6) takes ``landcover``, class codes (uint8) on the terrain's grid
    whose clutter heights ``clutter_table`` gives (default: ESA WorldCover's; no land cover: bare
    terrain), and ``climate`` (time percentage, ΔN, N0; default Lạng Sơn's at 50 %); its effective
    Earth radius comes from ΔN, not ``earth_radius_km``.

    ``cell_mask`` (bool on the terrain's grid) limits the cells evaluated: elsewhere the result is NaN/255 and
    each ray stops at its last cell to evaluate (a study area computes only its own cells; the terrain outside
    it still shapes their profiles). Every evaluated cell has exactly the value it has without a mask.
    """
    model_info(model)  # a clear error for an unknown name
    freqs = np.atleast_1d(np.asarray(frequencies_mhz, dtype=np.float64))
    if freqs.ndim != 1 or freqs.size == 0:
        raise ValueError("frequencies_mhz: one frequency or more, in MHz")
    if model in MODES:
        for frequency_mhz in freqs:
            check_range(model, "frequency", frequency_mhz, 30.0, 50_000.0, "MHz")  # P.526-15 diffraction
    if not grid.contains(x, y):
        raise InputError(f"site at ({x:.0f}, {y:.0f}) is outside the terrain")
    res = grid.res_m
    radius_m = radius_km * 1000.0
    n = sample_count(radius_m, res, sample_step_cells)
    n_rays = int(math.ceil(2.0 * math.pi * radius_m / (res * ray_spacing_cells)))
    n_rays = _kernels.RAY_MULTIPLE * max(math.ceil(n_rays / _kernels.RAY_MULTIPLE), 1)
    r_tx, c_tx = (float(v) for v in grid.rowcol(x, y))
    heights = np.ascontiguousarray(heights, dtype=np.float32)
    near = heights[int(np.clip(round(r_tx), 0, grid.height - 1)), int(np.clip(round(c_tx), 0, grid.width - 1))]
    if not np.isfinite(near):
        raise InputError(f"site at ({x:.0f}, {y:.0f}) is outside the terrain's data")
    row0, col0, nrow, ncol = window_for(grid, x, y, radius_m)
    mode = LOS_ONLY if los_only or model not in MODES else MODES[model]
    if exact_tail is None:
        exact_tail = _kernels.LOS_TAIL if mode == LOS_ONLY else _kernels.EXACT_TAIL
    climate = climate or P1812Climate()
    lat = 0.0   # only P.1812 reads it (β0)
    if mode == _kernels.P1812:
        for frequency_mhz in freqs:
            climate.check(frequency_mhz, tx_height_m, rx_height_m)
        earth_radius_km = climate.ae_km
        if landcover is not None and landcover.size and (landcover.min() < 0 or landcover.max() > 255):
            raise InputError("land-cover class codes must lie in 0–255 for clutter (a WorldCover-like class raster)")
        classes = np.zeros((1, 1), np.uint8) if landcover is None else np.ascontiguousarray(landcover, np.uint8)
        if classes.shape not in ((1, 1), heights.shape):
            raise ValueError("the land cover must lie on the terrain's grid")
        class_height = (clutter_table or WORLDCOVER).heights_m(np.arange(256))
        lat = latitude_deg(grid, x, y)
    else:
        classes, class_height = np.zeros((1, 1), np.uint8), np.zeros(256, np.float32)
    if cell_mask is None:
        mask = np.ones((1, 1), np.uint8)
    elif cell_mask.shape != heights.shape:
        raise ValueError("the cell mask must lie on the terrain's grid")
    elif cell_mask.dtype == np.bool_ and cell_mask.flags.c_contiguous:
        mask = cell_mask.view(np.uint8)   # no copy: a province grid's mask is 25 MB, read by every pass
    else:
        mask = np.ascontiguousarray(cell_mask != 0, np.uint8)

    def sweep(f_mhz):
        kernel = (_kernels.sweep_cells if mode == _kernels.P1812 else _kernels.sweep_cells_bare_one
                  if f_mhz.size == 1 else _kernels.sweep_cells_bare)
        return kernel(heights, classes, class_height, mask, r_tx, c_tx, row0, col0, nrow, ncol, n_rays, n,
                      sample_step_cells, res, float(tx_height_m), float(rx_height_m), f_mhz, float(earth_radius_km),
                      mode, int(exact_tail), float(climate.time_pct), float(climate.n0), lat)

    empirical = model not in MODES and not los_only   # distance-based models: only LOS from the sweep
    if mode == _kernels.P1812:   # (its equations depend on the frequency throughout: a sweep per band)
        swept = [sweep(freqs[b:b + 1]) for b in range(freqs.size)]
        losses, los = [loss[0] for loss, _ in swept], swept[0][1]
    else:
        loss, los = sweep(freqs[:1] if empirical else freqs)   # (one band's free space is enough for LOS)
        losses = list(loss)
    t = grid.transform
    wgrid = Grid(nrow, ncol, t @ Affine.translation(col0, row0), grid.crs)
    if empirical:   # LOS from the terrain sweep where they need it
        gx, gy = wgrid.xy(np.arange(nrow)[:, None], np.arange(ncol)[None, :])
        d_km = np.hypot(gx - x, gy - y) / 1000.0
        losses = [np.where(los == 255, np.nan, empirical_loss_db(model, d_km, f, tx_height_m, rx_height_m, los == 1))
                  .astype(np.float32) for f in freqs]
    return [Footprint(loss, los, wgrid, row0, col0) for loss in losses]


def _one_band_signature() -> inspect.Signature:
    """site_footprints' signature with one ``frequency_mhz`` (float) for its frequencies: what help() and
    notebooks show for site_footprint, which passes its other arguments on."""
    sig = inspect.signature(site_footprints)
    params = [p.replace(name="frequency_mhz", annotation="float") if p.name == "frequencies_mhz" else p
              for p in sig.parameters.values()]
    return sig.replace(parameters=params, return_annotation="Footprint")


site_footprint.__signature__ = _one_band_signature()  # type: ignore[attr-defined]
