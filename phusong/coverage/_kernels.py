"""Numba kernels for composing cells into layer rasters (private).

``fold_cell`` computes one cell's RSRP over its footprint window (antenna
pattern + link budget) and folds it into the accumulators:

* ``best``/``second`` (float32 dBm) and ``server`` (int32 cell index): ties go to
  the lower cell index, so the result does not depend on the order cells arrive;
* ``psum`` (int64): linear power in units of ``POWER_QUANTUM_MW``. Integer sums
  are exactly associative, so partial results merged in any order or tree (Dask)
  equal the single-machine fold bit for bit.

The plain NumPy reference is :func:`phusong.coverage.compose.reference_layers`.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

POWER_QUANTUM_MW = 1e-19   # −190 dBm: 65 dB below thermal noise in one 15 kHz subcarrier
POWER_CLAMP_Q = 2 ** 53    # one term at most ≈ −30 dBm per RE; 1,000 such terms still fit in int64
AM_DB = 30.0
SLAV_DB = 30.0


@njit(cache=True, inline="always")
def quantise_dbm(v):
    q = math.floor(10.0 ** (v / 10.0) / POWER_QUANTUM_MW + 0.5)
    return np.int64(min(q, POWER_CLAMP_Q))


@njit(cache=True, inline="always")
def _table(t, angle):
    a = angle % 360.0
    if a < 0.0:
        a += 360.0
    i0 = int(a) % 360
    f = a - math.floor(a)
    return t[i0] * (1.0 - f) + t[(i0 + 1) % 360] * f


@njit(cache=True, parallel=True)
def fold_cell(loss, heights, row0, col0, r_tx, c_tx, res_m, tx_asl_m, rx_height_m, ae_km,
              azimuth_deg, omni, bw_h, bw_v, tilt_deg, mech_tilt_deg, use_table, h_table, v_table, gain_dbi,
              base_dbm, cell_index, best, second, server, psum, add_power):
    """Fold one cell. ``base_dbm`` = power per RE − feeder loss; ``gain_dbi`` the boresight gain.

    ``loss`` is the footprint window (NaN beyond reach) at (row0, col0) of the layer grid;
    ``heights`` is the terrain of the same window. ``add_power``: also add the cell's power to
    ``psum`` (once per cell, not again for its per-operator layer).
    """
    nrow, ncol = loss.shape
    two_re = 2.0 * ae_km * 1000.0
    for i in prange(nrow):
        dy = -((row0 + i) - r_tx) * res_m
        for j in range(ncol):
            pl = loss[i, j]
            if math.isnan(pl):
                continue
            dx = ((col0 + j) - c_tx) * res_m
            d = max(math.sqrt(dx * dx + dy * dy), 1.0)
            drop = tx_asl_m - (heights[i, j] + rx_height_m) + d * d / two_re
            depression = math.degrees(math.atan2(drop, d))
            if use_table:
                off = 0.0 if omni else math.degrees(math.atan2(dx, dy)) - azimuth_deg
                att = _table(h_table, off) + _table(v_table, depression - mech_tilt_deg)
                floor = max(h_table.max(), v_table.max())
                g = gain_dbi - min(att, floor)
            else:
                a_v = -min(12.0 * ((depression - tilt_deg) / bw_v) ** 2, SLAV_DB)
                if omni:
                    g = gain_dbi + max(a_v, -AM_DB)
                else:
                    off = (math.degrees(math.atan2(dx, dy)) - azimuth_deg + 180.0) % 360.0 - 180.0
                    a_h = -min(12.0 * (off / bw_h) ** 2, AM_DB)
                    g = gain_dbi - min(-(a_h + a_v), AM_DB)
            v = np.float32(base_dbm + g - pl)
            r = row0 + i
            c = col0 + j
            s = server[r, c]
            b = best[r, c]
            if s < 0 or v > b or (v == b and cell_index < s):
                if s >= 0:
                    second[r, c] = b
                best[r, c] = v
                server[r, c] = cell_index
            elif v > second[r, c]:
                second[r, c] = v
            if add_power:
                psum[r, c] += quantise_dbm(v)


@njit(cache=True, parallel=True)
def merge_best(best, second, server, p_best, p_second, p_server, row0, col0):
    """Merge a partial (best, second, server) window at (row0, col0) into full accumulators."""
    nrow, ncol = p_best.shape
    for i in prange(nrow):
        for j in range(ncol):
            ps = p_server[i, j]
            if ps < 0:
                continue
            r = row0 + i
            c = col0 + j
            s = server[r, c]
            pb = p_best[i, j]
            b = best[r, c]
            if s < 0:
                best[r, c] = pb
                second[r, c] = p_second[i, j]
                server[r, c] = ps
            elif pb > b or (pb == b and ps < s):
                second[r, c] = max(b, p_second[i, j])
                best[r, c] = pb
                server[r, c] = ps
            else:
                second[r, c] = max(second[r, c], pb)
