"""Plain NumPy reference for the composition kernel: slow, obvious, used by the tests.

Every cell's RSRP raster is computed whole (the 3GPP or MSI antenna pattern and
the link budget, with NumPy), the rasters are stacked, and best, second best,
serving cell and power sums come from sorting the stack. The fast path is
:func:`phusong.coverage.accumulate.fold_groups` with ``_kernels.fold_cells``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .._raster import Grid
from ..propagation.antenna import depression_deg, pattern_db
from ..propagation.footprint import site_footprint
from ..settings import ModelSettings

_MODEL = ModelSettings()  # the defaults, as `simulate` uses them


def antenna_gain_dbi(cell, bearing_deg, depression, patterns: dict) -> np.ndarray:
    """Gain (dBi) of a cell's antenna toward each receiver: its pattern (``patterns[antenna_file]``, read
    beforehand), or the 3GPP sector model."""
    omni = not np.isfinite(cell["azimuth_deg"])
    offset = 0.0 if omni else bearing_deg - cell["azimuth_deg"]
    path = cell.get("antenna_file")
    if isinstance(path, str) and path:
        return patterns[path].gain_db(offset, depression, cell["mechanical_tilt_deg"])
    return cell["antenna_gain_dbi"] + pattern_db(offset, depression, cell["beamwidth_h_deg"],
                                                 cell["beamwidth_v_deg"],
                                                 cell["mechanical_tilt_deg"] + cell["electrical_tilt_deg"], omni=omni)


def cell_rsrp_dbm(heights, grid: Grid, cell, loss_db, row0, col0, rx_height_m, earth_radius_km, patterns):
    """One cell's RSRP over the whole grid (NaN beyond its footprint)."""
    out = np.full((grid.height, grid.width), np.nan)
    nrow, ncol = loss_db.shape
    gx, gy = np.meshgrid(grid.xy(0, np.arange(col0, col0 + ncol))[0], grid.xy(np.arange(row0, row0 + nrow), 0)[1])
    dist = np.hypot(gx - cell["x"], gy - cell["y"])
    bearing = np.degrees(np.arctan2(gx - cell["x"], gy - cell["y"]))
    tx_asl = cell["ground_m"] + cell["antenna_height_m"]
    dep = depression_deg(dist, tx_asl, heights[row0:row0 + nrow, col0:col0 + ncol] + rx_height_m, earth_radius_km)
    gain = antenna_gain_dbi(cell, bearing, dep, patterns)
    out[row0:row0 + nrow, col0:col0 + ncol] = cell["power_per_re_dbm"] - cell["feeder_loss_db"] + gain - loss_db
    return out


def reference_layers(heights, grid: Grid, cells: pd.DataFrame, rx_height_m=_MODEL.rx_height_m,
                     earth_radius_km=_MODEL.earth_radius_km, radius_km=_MODEL.radius_km, model=_MODEL.name,
                     losses=None, patterns=None):
    """{technology: (best, second, server, {(operator, frequency): power sum mW})} by brute force."""
    patterns = patterns or {}
    out = {}
    for tech, part in cells.groupby("technology"):
        stack = []
        for idx, cell in part.iterrows():
            if losses is not None:
                loss, row0, col0 = losses[idx]
            else:
                fp = site_footprint(heights, grid, cell["x"], cell["y"], cell["antenna_height_m"],
                                    cell["frequency_mhz"], radius_km, rx_height_m, earth_radius_km, model)
                loss, row0, col0 = fp.loss_db, fp.row0, fp.col0
            stack.append(cell_rsrp_dbm(heights, grid, cell, loss, row0, col0, rx_height_m, earth_radius_km,
                                       patterns).astype(np.float32))
        cube = np.array(stack)                        # [cell, row, col]
        filled = np.where(np.isnan(cube), -np.inf, cube)
        order = np.argsort(-filled, axis=0, kind="stable")   # stable: ties keep the lower cell index
        ids = part.index.to_numpy()
        best = np.take_along_axis(filled, order[:1], 0)[0]
        second = np.take_along_axis(filled, order[1:2], 0)[0] if len(ids) > 1 else np.full(best.shape, -np.inf)
        server = np.where(np.isfinite(best), ids[order[0]], -1)
        psum = {}
        for (op, f), grp in part.groupby(["operator_slug", "frequency_mhz"]):
            rows = np.searchsorted(ids, grp.index.to_numpy())
            psum[(op, f)] = np.nansum(10.0 ** (cube[rows].astype(np.float64) / 10.0), axis=0)
        out[tech] = (best, second, server, psum)
    return out
