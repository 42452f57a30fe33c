"""The signal given cells deliver at given points: the loss windows, antenna gain and link budget of
``simulate``, evaluated only where asked (measurement positions), at the grid cell holding each point."""
from __future__ import annotations

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from .._raster import Grid
from ..propagation.antenna import depression_deg
from ..settings import Settings
from .accumulate import group_loss
from .cache import FootprintCache, terrain_key
from .cells import make_groups
from .compose import antenna_gain_dbi


def signal_at(heights: np.ndarray, grid: Grid, cells: pd.DataFrame, cell_index, x, y, settings: Settings, *,
              cache: FootprintCache | None = None, landcover: np.ndarray | None = None,
              patterns: dict | None = None, progress: bool = False) -> pd.DataFrame:
    """Each point's signal from its own cell: ``rsrp_dbm`` (per resource element, float64), ``loss_db``,
    ``gain_dbi``, ``distance_km`` (site to the centre of the point's grid cell), ``row``/``col``.

    ``cells`` is a run's cell table (:func:`phusong.coverage.cells.prepare_cells`); ``cell_index`` its
    index for each point; ``x``/``y`` in the grid's CRS. NaN where the point is off the grid or
    beyond the cell's reach. The same numbers as a ``simulate`` run's layer where that cell serves.
    """
    cell_index = np.asarray(cell_index, dtype=np.int64)
    rows, cols = grid.rowcol(np.asarray(x, float), np.asarray(y, float))
    r = np.floor(rows + 0.5).astype(np.int64)
    c = np.floor(cols + 0.5).astype(np.int64)
    on_grid = (r >= 0) & (r < grid.height) & (c >= 0) & (c < grid.width)
    n = len(cell_index)
    out = {name: np.full(n, np.nan) for name in ("rsrp_dbm", "loss_db", "gain_dbi", "distance_km")}
    used = cells.loc[np.unique(cell_index)]
    tkey = terrain_key(heights, grid, landcover if settings.model.name == "p1812" else None) if cache else ""
    rx_h, ae = settings.model.rx_height_m, settings.model.earth_radius_km
    for g in tqdm(make_groups(used), desc="cells", unit="pass", disable=not progress or None, leave=False):
        mine = np.flatnonzero(np.isin(cell_index, g.cells) & on_grid)
        if len(mine) == 0:
            continue
        loss, row0, col0 = group_loss(heights, grid, g, settings, cache, tkey, landcover)
        i, j = r[mine] - row0, c[mine] - col0
        inside = (i >= 0) & (i < loss.shape[0]) & (j >= 0) & (j < loss.shape[1])
        mine, i, j = mine[inside], i[inside], j[inside]
        px, py = grid.xy(r[mine], c[mine])
        dx, dy = px - g.x, py - g.y
        dist_m = np.hypot(dx, dy)
        bearing = np.degrees(np.arctan2(dx, dy))
        out["loss_db"][mine] = loss[i, j]
        out["distance_km"][mine] = dist_m / 1000.0
        for idx in g.cells:
            k = cell_index[mine] == idx
            if not k.any():
                continue
            cell = cells.loc[idx]
            tx_asl = cell["ground_m"] + cell["antenna_height_m"]
            dep = depression_deg(dist_m[k], tx_asl, heights[r[mine][k], c[mine][k]] + rx_h, ae)
            gain = antenna_gain_dbi(cell, bearing[k], dep, patterns or {})
            out["gain_dbi"][mine[k]] = gain
            out["rsrp_dbm"][mine[k]] = cell["power_per_re_dbm"] - cell["feeder_loss_db"] + gain - loss[i[k], j[k]]
    return pd.DataFrame({**out, "row": np.where(on_grid, r, -1), "col": np.where(on_grid, c, -1)})
