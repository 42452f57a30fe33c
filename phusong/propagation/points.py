"""Point-to-point use of the models on a terrain grid: profiles from a site to many receivers."""
from __future__ import annotations

import numpy as np

from .._raster import Grid
from ..errors import InputError
from .clutter import WORLDCOVER, ClutterTable
from .reference import clutter_profile, evaluate_profile, holding_cell, profile


def path_to_points(heights: np.ndarray, grid: Grid, tx_xy, rx_x, rx_y, tx_height_m, rx_height_m, frequency_mhz,
                   model, earth_radius_km, *, landcover: np.ndarray | None = None,
                   clutter_table: ClutterTable | None = None, p1812: dict | None = None) -> list[dict]:
    """The fields of ``phusong path --json`` for each receiver at (``rx_x``, ``rx_y``) in the grid's CRS.

    Each profile is sampled on the working grid (see :func:`.reference.profile`). A receiver that
    cannot be evaluated (off the grid, a profile leaving the terrain's data, closer to the
    transmitter than one grid cell) gets its reason in ``error`` and no values; the others are
    computed as usual (``error`` empty), so one bad row never loses the batch.

    ``landcover`` (class codes on the grid) gives model p1812 the clutter heights of ``clutter_table``
    (default WorldCover's) along each profile, and adds the table's extra loss of the receiver's class
    (``clutter_extra_db``); ``p1812`` holds that model's other arguments (climate, location percentage).
    """
    table = clutter_table or WORLDCOVER
    clutter_m = table.heights_m(landcover) if landcover is not None and model == "p1812" else None
    tx, ty = tx_xy
    inside = grid.contains(np.asarray(rx_x), np.asarray(rx_y))
    rows = []
    for i, (x, y) in enumerate(zip(np.atleast_1d(rx_x), np.atleast_1d(rx_y))):
        if not inside[i]:
            rows.append({"error": "receiver is outside the DEM"})
            continue
        if np.hypot(x - tx, y - ty) < grid.res_m:
            rows.append({"error": f"receiver within one grid cell ({grid.res_m:g} m) of the transmitter: no profile"})
            continue
        d, h = profile(heights, grid, tx, ty, x, y)
        if len(d) < 2 or not np.isfinite(h).all():
            rows.append({"error": "the profile leaves the DEM's data"})
            continue
        extra = dict(p1812 or {})
        if clutter_m is not None:
            extra["clutter_m"] = clutter_profile(clutter_m, grid, tx, ty, x, y)
        try:
            result = evaluate_profile(d, h, tx_height_m, rx_height_m, frequency_mhz, earth_radius_km, model, **extra)
        except (InputError, ValueError) as exc:
            rows.append({"error": str(exc)})
            continue
        if landcover is not None and clutter_table is not None and clutter_table.has_extra_loss:
            cell = holding_cell(landcover.shape, *grid.rowcol(x, y))   # the receiver's class
            result["clutter_extra_db"] = float(clutter_table.extra_loss_db(landcover[cell]))
            result["loss_db"] += result["clutter_extra_db"]
        rows.append({**result, "error": ""})
    return rows
