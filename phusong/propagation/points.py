"""Point-to-point use of the models on a terrain grid: profiles from a site to many receivers."""
from __future__ import annotations

import numpy as np

from .._raster import Grid
from ..errors import InputError
from .reference import evaluate_profile, profile


def path_to_points(heights: np.ndarray, grid: Grid, tx_xy, rx_x, rx_y, tx_height_m, rx_height_m, frequency_mhz,
                   model, earth_radius_km) -> list[dict]:
    """The fields of ``phusong path --json`` for each receiver at (``rx_x``, ``rx_y``) in the grid's CRS.

    Each profile is sampled on the working grid (see :func:`.reference.profile`).
    A receiver off the grid or whose profile leaves the terrain's data raises an
    :class:`InputError` naming its (1-based) row.
    """
    tx, ty = tx_xy
    inside = grid.contains(np.asarray(rx_x), np.asarray(rx_y))
    rows = []
    for i, (x, y) in enumerate(zip(np.atleast_1d(rx_x), np.atleast_1d(rx_y))):
        if not inside[i]:
            raise InputError("receiver is outside the DEM", row=i + 1, field="lon,lat")
        d, h = profile(heights, grid, tx, ty, x, y)
        if not np.isfinite(h).all():
            raise InputError("the profile leaves the DEM's data", row=i + 1, field="lon,lat")
        rows.append(evaluate_profile(d, h, tx_height_m, rx_height_m, frequency_mhz, earth_radius_km, model))
    return rows
