"""Plain NumPy reference for the raster kernel: slow, obvious, used by the tests.

For each requested cell it extracts the straight profile from the site to the
cell centre (samples one cell apart, heights interpolated bilinearly) and runs
the single-profile model of :mod:`phusong.propagation.p526` from scratch.
"""
from __future__ import annotations

import numpy as np

from .._raster import Grid
from .models import empirical_loss_db
from .p1812 import LANG_SON_LATITUDE_DEG, P1812Climate, ground_plus_clutter, p1812_loss
from .p525 import free_space_loss_db
from .p526 import DEFAULT_EARTH_RADIUS_KM, bullington_loss_db, delta_bullington


def bilinear(heights: np.ndarray, rows, cols) -> np.ndarray:
    """Bilinear heights at fractional (row, col), cell centres at integers, clamped at the edges."""
    nrow, ncol = heights.shape
    r = np.clip(np.asarray(rows, dtype=np.float64), 0, nrow - 1)
    c = np.clip(np.asarray(cols, dtype=np.float64), 0, ncol - 1)
    r0 = np.floor(r).astype(int)
    c0 = np.floor(c).astype(int)
    r1 = np.minimum(r0 + 1, nrow - 1)
    c1 = np.minimum(c0 + 1, ncol - 1)
    fr, fc = r - r0, c - c0
    z = heights.astype(np.float64)
    return ((z[r0, c0] * (1 - fc) + z[r0, c1] * fc) * (1 - fr)
            + (z[r1, c0] * (1 - fc) + z[r1, c1] * fc) * fr)


def _samples(grid: Grid, x0, y0, x1, y1, step_m: float | None):
    """(distance km, fractional rows, fractional cols) of a profile's sample points."""
    step_m = step_m or grid.res_m
    length = float(np.hypot(x1 - x0, y1 - y0))
    dist = np.arange(0.0, length, step_m)
    if length - dist[-1] < 0.5 * step_m and dist.size > 1:
        dist = dist[:-1]  # no sliver segment just before the end
    t = np.append(dist, length) / max(length, 1e-9)
    rows, cols = grid.rowcol(x0 + t * (x1 - x0), y0 + t * (y1 - y0))
    return t * length / 1000.0, rows, cols


def profile(heights: np.ndarray, grid: Grid, x0, y0, x1, y1, step_m: float | None = None):
    """(distance km, height m) from (x0, y0) to (x1, y1): samples every ``step_m`` (one cell) from the
    start, then the end point. The same sampling rule as the kernel's rays, on the exact straight line."""
    d_km, rows, cols = _samples(grid, x0, y0, x1, y1, step_m)
    return d_km, bilinear(heights, rows, cols)


def holding_cell(shape, rows, cols):
    """(row, col) indices of the cells holding fractional (row, col) positions, clamped to ``shape``: how
    classes are read (never interpolated), here and in the kernel's ``_clutter_at``."""
    r = np.clip(np.floor(np.asarray(rows, dtype=np.float64) + 0.5).astype(int), 0, shape[0] - 1)
    c = np.clip(np.floor(np.asarray(cols, dtype=np.float64) + 0.5).astype(int), 0, shape[1] - 1)
    return r, c


def clutter_profile(clutter_m: np.ndarray, grid: Grid, x0, y0, x1, y1, step_m: float | None = None) -> np.ndarray:
    """Clutter heights (m) at the sample points of :func:`profile`, each the value of the cell holding it
    (classes are not interpolated); 0 where the raster has none."""
    _, rows, cols = _samples(grid, x0, y0, x1, y1, step_m)
    return np.nan_to_num(clutter_m[holding_cell(clutter_m.shape, rows, cols)].astype(np.float64), nan=0.0)


def evaluate_profile(d_km, h_m, tx_height_m, rx_height_m, frequency_mhz,
                     earth_radius_km=DEFAULT_EARTH_RADIUS_KM, model="delta-bullington", *, clutter_m=None,
                     climate: P1812Climate | None = None, latitude_deg: float = LANG_SON_LATITUDE_DEG,
                     location_pct: float = 50.0, location_sigma_db: float = 0.0) -> dict:
    """Every quantity of a model on one profile (first point: transmitter ground; last: receiver ground).

    Free space uses the slant distance (as ITU-R P.1812-6 eq. 64); ``los`` is true
    when the terrain, with Earth curvature, clears the direct ray (P.526-15 eq. 52).
    Model ``p1812`` also takes the clutter heights at the profile's points, the radio climate, the
    path's latitude and the location percentage with its σL; its effective radius comes from ΔN.
    """
    d_km = np.asarray(d_km, dtype=np.float64)
    h_m = np.asarray(h_m, dtype=np.float64)
    if model == "p1812":
        climate = climate or P1812Climate()
        r = p1812_loss(d_km - d_km[0], h_m, tx_height_m, rx_height_m, frequency_mhz, clutter_m=clutter_m,
                       time_pct=climate.time_pct, delta_n=climate.delta_n, n0=climate.n0,
                       centre_latitude_deg=latitude_deg, location_pct=location_pct,
                       location_sigma_db=location_sigma_db)
        return dict(model=model, distance_km=r.distance_km, frequency_mhz=float(frequency_mhz),
                    tx_height_m=float(tx_height_m), rx_height_m=float(rx_height_m), earth_radius_km=r.ae_km,
                    los=_clears(d_km, ground_plus_clutter(h_m, clutter_m), h_m[0] + tx_height_m,
                                h_m[-1] + rx_height_m, r.ae_km), free_space_db=r.Lbfs, loss_db=r.loss_db,
                    diffraction_db=r.Ldp, time_pct=climate.time_pct, location_pct=float(location_pct),
                    **{k: v for k, v in r.as_dict().items() if k not in ("loss_db", "distance_km")})
    hts = h_m[0] + tx_height_m
    hrs = h_m[-1] + rx_height_m
    d = float(d_km[-1] - d_km[0])
    fspl = float(free_space_loss_db(np.hypot(d, (hts - hrs) / 1000.0), frequency_mhz))
    los = _clears(d_km, h_m, hts, hrs, earth_radius_km)
    out = dict(model=model, distance_km=d, frequency_mhz=float(frequency_mhz), tx_height_m=float(tx_height_m),
               rx_height_m=float(rx_height_m), earth_radius_km=float(earth_radius_km), los=los,
               free_space_db=fspl)
    if model == "delta-bullington":
        if len(d_km) < 3:
            parts = dict(bullington_actual_db=0.0, spherical_earth_db=0.0, bullington_smooth_db=0.0, diff=0.0)
        else:
            db = delta_bullington(d_km, h_m, tx_height_m, rx_height_m, frequency_mhz, earth_radius_km)
            parts = dict(bullington_actual_db=db.bullington_actual_db, spherical_earth_db=db.spherical_earth_db,
                         bullington_smooth_db=db.bullington_smooth_db, diff=db.diffraction_db)
        out.update(loss_db=fspl + parts["diff"], diffraction_db=parts.pop("diff"), **parts)
    elif model == "bullington":
        lba = bullington_loss_db(d_km, h_m, hts, hrs, frequency_mhz, earth_radius_km) if len(d_km) >= 3 else 0.0
        out.update(loss_db=fspl + lba, diffraction_db=lba, bullington_actual_db=lba)
    else:
        loss = float(empirical_loss_db(model, d, frequency_mhz, tx_height_m, rx_height_m, los))
        out.update(loss_db=loss, diffraction_db=None)
    return out


def _clears(d_km, h_m, hts, hrs, earth_radius_km) -> bool:
    """Whether the profile, with Earth curvature, clears the ray between the antennas (P.526-15 eq. (52))."""
    if len(d_km) < 3:
        return True
    d = float(d_km[-1] - d_km[0])
    di = d_km[1:-1] - d_km[0]
    stim = np.max((h_m[1:-1] + 500.0 / earth_radius_km * di * (d - di) - hts) / di)
    return bool(stim < (hrs - hts) / d)


def path_loss_db(d_km, h_m, tx_height_m, rx_height_m, frequency_mhz,
                 earth_radius_km=DEFAULT_EARTH_RADIUS_KM, model="delta-bullington") -> tuple[float, bool]:
    """(loss dB, LOS) of :func:`evaluate_profile`."""
    r = evaluate_profile(d_km, h_m, tx_height_m, rx_height_m, frequency_mhz, earth_radius_km, model)
    return r["loss_db"], r["los"]


def reference_loss(heights, grid: Grid, x, y, rows, cols, tx_height_m, frequency_mhz,
                   rx_height_m=1.5, earth_radius_km=DEFAULT_EARTH_RADIUS_KM, model="delta-bullington"):
    """Loss (dB) and LOS for the given cells (row and column indices of ``grid``)."""
    xs, ys = grid.xy(np.asarray(rows), np.asarray(cols))
    loss = np.empty(len(xs))
    los = np.empty(len(xs), dtype=bool)
    for i, (cx, cy) in enumerate(zip(xs, ys)):
        d, h = profile(heights, grid, x, y, cx, cy)
        loss[i], los[i] = path_loss_db(d, h, tx_height_m, rx_height_m, frequency_mhz, earth_radius_km, model)
    return loss, los
