"""Numba kernels for composing cells into layer rasters (private).

``fold_cells`` computes each cell's RSRP over its footprint window (antenna
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
from numba import njit

from .._jit import forget_stale_compilations
from .._threads import over_chunks
from ..propagation import _kernels as _sweep
from ..propagation._kernels import FASTMATH, _atan2_near, _interleave

# The fold compiles in the sweep module's _atan2_near and _interleave; Numba checks only this file's timestamp.
forget_stale_compilations(__file__, [_sweep.__file__])

POWER_QUANTUM_MW = 1e-19   # −190 dBm: 65 dB below thermal noise in one 15 kHz subcarrier
QUANTA_PER_MW = 1.0 / POWER_QUANTUM_MW   # 1e19, exact in float64
POWER_CLAMP_Q = 2 ** 53    # one term at most ≈ −30 dBm per RE; 1,000 such terms still fit in int64
AM_DB = 30.0
SLAV_DB = 30.0
FOLD_BLOCKS = 16


LN10_OVER_10 = math.log(10.0) / 10.0


@njit(cache=True, inline="always")
def quantise_dbm(v):
    """A power in dBm as an integer count of ``POWER_QUANTUM_MW`` (exact, order-free sums)."""
    # (a multiplication, not a division that fast math would turn into one; fold_cells and sinr_of_key both
    # compile it with FASTMATH, so that SINR takes off exactly what the fold added)
    q = math.floor(math.exp(v * LN10_OVER_10) * QUANTA_PER_MW + 0.5)
    return np.int64(min(q, POWER_CLAMP_Q))


@njit(cache=True, inline="always")
def _table(t, angle):
    a = angle % 360.0
    if a < 0.0:
        a += 360.0
    i0 = int(a) % 360
    f = a - math.floor(a)
    return t[i0] * (1.0 - f) + t[(i0 + 1) % 360] * f


@njit(cache=True, inline="always")
def _geometry(i, j, height_m, g_row0, g_col0, r_tx, c_tx, res_m, tx_asl_m, rx_height_m, two_re, with_bearing):
    """Bearing (degrees from north; 0 unless ``with_bearing``: omnidirectional cells do not read it) and
    depression below the antenna's horizontal (degrees, with Earth curvature) of window cell (i, j) seen from
    a site, as float32 (shared by the site's sectors)."""
    dy = -((g_row0 + i) - r_tx) * res_m
    dx = ((g_col0 + j) - c_tx) * res_m
    d = max(math.sqrt(dx * dx + dy * dy), 1.0)
    drop = tx_asl_m - (height_m + rx_height_m) + d * d / two_re
    # (the sweep's polynomial atan2, within 1e-7 rad: libm's took a sixth of the fold)
    bearing = np.float32(math.degrees(_atan2_near(dx, dy))) if with_bearing else np.float32(0.0)
    return bearing, np.float32(math.degrees(_atan2_near(drop, d)))


@njit(cache=True, inline="always")
def _fold_value(b, sec, s, v, idx):
    """Fold a value v of cell idx into (best, second, server); ties go to the lower cell index."""
    if s < 0 or v > b or (v == b and idx < s):
        if s >= 0:
            sec = b
        return v, sec, idx
    if v > sec:
        sec = v
    return b, sec, s


@njit(cache=True, inline="always")
def _gain(bearing, dep, az, omni, inv_bw_h, inv_bw_v, tilt, mech, use_table, h_table, v_table, floor, gain_dbi):
    if use_table:
        off = 0.0 if omni else bearing - az
        att = _table(h_table, off) + _table(v_table, dep - mech)
        return gain_dbi - min(att, floor)
    t = (dep - tilt) * inv_bw_v
    a_v = -min(12.0 * t * t, SLAV_DB)
    if omni:
        return gain_dbi + max(a_v, -AM_DB)
    off = bearing - az          # bearing in [-180, 180], azimuth in [0, 360]
    if off < -180.0:
        off += 360.0
    elif off > 180.0:
        off -= 360.0
    u = off * inv_bw_h
    a_h = -min(12.0 * u * u, AM_DB)
    return gain_dbi - min(-(a_h + a_v), AM_DB)


def fold_cells(loss, heights, g_row0, g_col0, r_tx, c_tx, res_m, tx_asl_m, rx_height_m, ae_km, row0, col0,
               azimuth_deg, omni, bw_h, bw_v, tilt_deg, mech_tilt_deg, use_table, h_tables, v_tables, gain_dbi,
               base_dbm, cell_index, best, second, server, psum, op_best, op_second, op_server, with_operator):
    """Fold the cells of one site (arrays of per-cell parameters, one entry per cell).

    ``loss`` is the site's window (NaN beyond reach) at (``g_row0``, ``g_col0``) of the grid and at
    (``row0``, ``col0``) of the accumulators; ``heights`` the terrain on that window. The site stands at
    fractional grid cell (``r_tx``, ``c_tx``), its antenna at ``tx_asl_m``; each cell's bearing and
    depression (:func:`_geometry`) are computed once for all sectors. ``base_dbm`` = power per RE − feeder
    loss; ``gain_dbi`` the boresight gain; tables are [cell, 360] MSI attenuations used where
    ``use_table``. The cells' power is added to ``psum``. With ``with_operator``, the same values are also folded
    into ``op_best``/``op_second``/``op_server`` (the cells' operator's own layer): one pass computes each cell's
    geometry and gains for both layers.
    """
    floors = np.maximum(h_tables.max(axis=1), v_tables.max(axis=1))
    # Rows taken from FOLD_BLOCKS blocks in turn, so that a window half outside the study area (NaN there) still
    # splits evenly between threads
    block = (loss.shape[0] + FOLD_BLOCKS - 1) // FOLD_BLOCKS
    over_chunks(_fold_rows, FOLD_BLOCKS * block, block, loss, heights, g_row0, g_col0, r_tx, c_tx, res_m, tx_asl_m,
                rx_height_m, 2.0 * ae_km * 1000.0, row0, col0, azimuth_deg, omni, 1.0 / bw_h, 1.0 / bw_v, tilt_deg,
                mech_tilt_deg, use_table, h_tables, v_tables, floors, gain_dbi, base_dbm, cell_index, best, second,
                server, psum, op_best, op_second, op_server, with_operator, not np.all(omni))


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _fold_rows(lo, hi, block, loss, heights, g_row0, g_col0, r_tx, c_tx, res_m, tx_asl_m, rx_height_m, two_re, row0,
               col0, azimuth_deg, omni, inv_h, inv_v, tilt_deg, mech_tilt_deg, use_table, h_tables, v_tables, floors,
               gain_dbi, base_dbm, cell_index, best, second, server, psum, op_best, op_second, op_server,
               with_operator, with_bearing):
    """fold_cells' steps lo..hi-1 (each a row of the window, ``block`` rows a block)."""
    nrow, ncol = loss.shape
    n_cells = azimuth_deg.shape[0]
    bearings = np.empty(ncol, np.float32)
    depressions = np.empty(ncol, np.float32)
    for t in range(lo, hi):
        i = _interleave(t, FOLD_BLOCKS, block)
        if i >= nrow:
            continue
        # The row's angles first, in a loop of their own: the cells' chains of arithmetic are independent there,
        # so the CPU overlaps them (beside the sectors' work, each cell waited for its own)
        for j in range(ncol):
            if not math.isnan(loss[i, j]):
                bearings[j], depressions[j] = _geometry(i, j, heights[i, j], g_row0, g_col0, r_tx, c_tx, res_m,
                                                        tx_asl_m, rx_height_m, two_re, with_bearing)
        for j in range(ncol):
            pl = loss[i, j]
            if math.isnan(pl):
                continue
            bearing = bearings[j]
            depression = depressions[j]
            r = row0 + i
            c = col0 + j
            b = best[r, c]
            sec = second[r, c]
            s = server[r, c]
            ob = op_best[r, c] if with_operator else b
            osec = op_second[r, c] if with_operator else sec
            os_ = op_server[r, c] if with_operator else s
            q = np.int64(0)
            for k in range(n_cells):
                g = _gain(bearing, depression, azimuth_deg[k], omni[k], inv_h[k], inv_v[k], tilt_deg[k],
                          mech_tilt_deg[k], use_table[k], h_tables[k], v_tables[k], floors[k], gain_dbi[k])
                v = np.float32(base_dbm[k] + g - pl)
                b, sec, s = _fold_value(b, sec, s, v, cell_index[k])
                if with_operator:
                    ob, osec, os_ = _fold_value(ob, osec, os_, v, cell_index[k])
                q += quantise_dbm(v)
            best[r, c] = b
            second[r, c] = sec
            server[r, c] = s
            if with_operator:
                op_best[r, c] = ob
                op_second[r, c] = osec
                op_server[r, c] = os_
            psum[r, c] += q


def _flat(a):
    """``a`` as a flat view in C order (a kernel writing it must write the caller's array, not a copy)."""
    if not a.flags.c_contiguous:
        raise ValueError("the quantised loss kernels take arrays in C order")
    return a.reshape(-1)


def quantise_loss(loss, out):
    """``out`` (uint16, same shape, C order) = ``loss`` (float32 dB, C order) in 0.01 dB steps, NaN as 65535,
    clipped to 0-65535, in one pass: the same values, rounded half to even in float32, as NumPy's
    ``np.clip(np.round(np.nan_to_num(loss, nan=655.35) * 100.0), 0, 65535).astype(np.uint16)``."""
    over_chunks(_quantise_loss, loss.size, _flat(loss), _flat(out))


@njit(cache=True, nogil=True)
def _quantise_loss(lo, hi, flat, q):
    nan_as = np.float32(655.35)
    scale = np.float32(100.0)
    for i in range(lo, hi):
        v = flat[i]
        if math.isnan(v):
            v = nan_as
        r = np.rint(v * scale)
        q[i] = np.uint16(min(max(r, np.float32(0.0)), np.float32(65535.0)))


def dequantise_loss(q, out):
    """``out`` (float32, same shape, C order) = the losses ``q`` (uint16 in 0.01 dB steps, 65535 = NaN, C order)
    of :func:`quantise_loss`, in one pass: the same values as NumPy's
    ``np.where(q == 65535, np.nan, q.astype(np.float32) / np.float32(100.0))``."""
    over_chunks(_dequantise_loss, q.size, _flat(q), _flat(out))


@njit(cache=True, nogil=True)
def _dequantise_loss(lo, hi, flat, values):
    scale = np.float32(100.0)
    nan = np.float32(np.nan)
    for i in range(lo, hi):
        v = flat[i]
        values[i] = nan if v == 65535 else np.float32(v) / scale


def merge_best(best, second, server, p_best, p_second, p_server, row0, col0):
    """Merge a partial (best, second, server) window at (row0, col0) into full accumulators."""
    over_chunks(_merge_best, p_best.shape[0], best, second, server, p_best, p_second, p_server, row0, col0)


@njit(cache=True, nogil=True)
def _merge_best(lo, hi, best, second, server, p_best, p_second, p_server, row0, col0):
    ncol = p_best.shape[1]
    for i in range(lo, hi):
        for j in range(ncol):
            ps = p_server[i, j]
            if ps < 0:
                continue
            r = row0 + i
            c = col0 + j
            # a partial's best (with its cell) then its second best, by the same rule as fold_cells
            b, sec, s = _fold_value(best[r, c], second[r, c], server[r, c], p_best[i, j], ps)
            best[r, c] = b
            second[r, c] = max(sec, p_second[i, j])
            server[r, c] = s


def sinr_of_key(best, server, key_of_cell, key, psum, packed, mask, starts, noise_mw_of_cell, load_quantum, sinr):
    """SINR (dB) of the cells served on one key (an operator on one frequency): the key's power sum less
    the serving cell's own share, at the load factor (``load_quantum`` = load × ``POWER_QUANTUM_MW``), plus
    the serving cell's noise (mW). Writes ``sinr`` only where the serving cell's key is ``key``. ``psum`` is
    flat: the grid's cells row by row, or, ``packed``, only the set cells of ``mask``, each row's from ``starts``
    (:func:`mask_row_starts`); the others have no server."""
    over_chunks(_sinr_of_key, best.shape[0], best, server, key_of_cell, key, psum, packed, mask, starts,
                noise_mw_of_cell, load_quantum, sinr)


@njit(cache=True, fastmath=FASTMATH, nogil=True)
def _sinr_of_key(lo, hi, best, server, key_of_cell, key, psum, packed, mask, starts, noise_mw_of_cell, load_quantum,
                 sinr):
    ncol = best.shape[1]
    for i in range(lo, hi):
        k = starts[i] if packed else i * ncol
        for j in range(ncol):
            at = k
            if packed:
                if not mask[i, j]:
                    continue
            k += 1
            s = server[i, j]
            if s < 0 or key_of_cell[s] != key:
                continue
            b = best[i, j]
            interference = (psum[at] - quantise_dbm(b)) * load_quantum + noise_mw_of_cell[s]
            sinr[i, j] = np.float32(b - 10.0 * math.log10(interference))


def mask_row_starts(mask):
    """Where each row's set cells start in the C-order list of ``mask``'s set cells (int64, nrow + 1 entries):
    the offsets that let :func:`pack_masked` and :func:`unpack_masked` run their rows in parallel."""
    starts = np.zeros(mask.shape[0] + 1, np.int64)
    over_chunks(_count_rows, mask.shape[0], mask, starts)
    np.cumsum(starts, out=starts)
    return starts


@njit(cache=True, nogil=True)
def _count_rows(lo, hi, mask, starts):
    ncol = mask.shape[1]
    for i in range(lo, hi):
        count = 0
        for j in range(ncol):
            if mask[i, j]:
                count += 1
        starts[i + 1] = count


def pack_masked(values, mask, starts, out):
    """``out`` = ``values[mask]`` (NumPy's boolean indexing, the reference), on every thread."""
    over_chunks(_pack_masked, mask.shape[0], values, mask, starts, out)


@njit(cache=True, nogil=True)
def _pack_masked(lo, hi, values, mask, starts, out):
    ncol = mask.shape[1]
    for i in range(lo, hi):
        k = starts[i]
        for j in range(ncol):
            if mask[i, j]:
                out[k] = values[i, j]
                k += 1


def unpack_masked(packed, mask, starts, fill, out):
    """``out[mask] = packed`` and ``out[~mask] = fill`` in one pass over ``out``, on every thread."""
    over_chunks(_unpack_masked, mask.shape[0], packed, mask, starts, fill, out)


@njit(cache=True, nogil=True)
def _unpack_masked(lo, hi, packed, mask, starts, fill, out):
    ncol = mask.shape[1]
    for i in range(lo, hi):
        k = starts[i]
        for j in range(ncol):
            if mask[i, j]:
                out[i, j] = packed[k]
                k += 1
            else:
                out[i, j] = fill


def finish_layer(best, second, server, nbiot, indoor, level_dbm, loss_of_cell, power_of_cell, margin_db, mcl_db,
                 with_area, area, covered):
    """Finish one layer's accumulators in one pass, in place: ``best`` becomes the RSRP and ``second`` the second
    best (NaN where no cell, or no second cell, reaches); ``covered`` gets 1/0, and, ``with_area``, 255 where
    ``area`` (bool) is not set. The rule and its arithmetic are those of the NumPy reference,
    :func:`phusong.coverage.layers.covered_mask`: NB-IoT by coupling loss against ``mcl_db``; else the RSRP
    less the serving cell's building entry loss (``loss_of_cell``) against ``level_dbm`` (threshold plus
    margin), compared in float32 outdoors as NumPy compares a float32 array with a Python float."""
    over_chunks(_finish_layer, best.shape[0], best, second, server, nbiot, indoor, level_dbm, loss_of_cell,
                power_of_cell, margin_db, mcl_db, with_area, area, covered)


@njit(cache=True, nogil=True)
def _finish_layer(lo, hi, best, second, server, nbiot, indoor, level_dbm, loss_of_cell, power_of_cell, margin_db,
                  mcl_db, with_area, area, covered):
    ncol = best.shape[1]
    level_f32 = np.float32(level_dbm)
    nan = np.float32(np.nan)
    for i in range(lo, hi):
        for j in range(ncol):
            s = server[i, j]
            ok = False
            if s < 0:
                best[i, j] = nan
                second[i, j] = nan
            else:
                b = best[i, j]
                if not math.isfinite(second[i, j]):
                    second[i, j] = nan
                if nbiot:
                    ok = (power_of_cell[s] - b) + loss_of_cell[s] + margin_db <= mcl_db
                elif indoor:
                    ok = b - loss_of_cell[s] >= level_dbm
                else:
                    ok = b >= level_f32
            if with_area and not area[i, j]:
                covered[i, j] = 255
            else:
                covered[i, j] = 1 if ok else 0


def paste_masked(packed, mask, starts, window, row0, col0, everywhere, select):
    """Set the values of ``packed`` (the set cells of ``mask``, in C order) that lie in a window at (``row0``,
    ``col0``) of the mask to ``window``'s there: ``everywhere``, or where ``select`` (bool, window-shaped) is
    set; the reference is ``full[r0:r1, c0:c1][select] = window[select]`` on the unpacked array, packed again."""
    over_chunks(_paste_masked, window.shape[0], packed, mask, starts, window, row0, col0, everywhere, select)


@njit(cache=True, nogil=True)
def _paste_masked(lo, hi, packed, mask, starts, window, row0, col0, everywhere, select):
    ncol = window.shape[1]
    for i in range(lo, hi):
        r = row0 + i
        k = starts[r]
        for c in range(col0):   # the row's set cells left of the window
            if mask[r, c]:
                k += 1
        for j in range(ncol):
            if mask[r, col0 + j]:
                if everywhere or select[i, j]:
                    packed[k] = window[i, j]
                k += 1
