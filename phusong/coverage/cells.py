"""The run's cell table, and cells grouped by terrain pass (same position, antenna height and frequency)."""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .._raster import Grid
from ..propagation.linkbudget import default_scs_khz, power_per_re_dbm
from ..settings import Settings


def slug(text: str) -> str:
    """An operator's name as a file-name part: ``"Viettel Group"`` → ``"viettel-group"``."""
    return re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-") or "unknown"


def simulated(sites, settings: Settings) -> pd.Series:
    """Which rows of a site list a run simulates (bool): its technologies, candidates only when asked for."""
    use = sites["technology"].isin(settings.coverage.technologies)
    if not settings.coverage.include_candidates:
        use &= sites["status"] != "candidate"
    return use


def prepare_cells(sites, heights: np.ndarray, grid: Grid, settings: Settings) -> pd.DataFrame:
    """The run's cell table: one row per cell, index = the cell index used in server rasters."""
    cells = sites[simulated(sites, settings)].copy()
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


@dataclass(frozen=True)
class Group:
    """Cells sharing one terrain pass: same position, antenna height and frequency."""

    x: float
    y: float
    height_m: float
    frequency_mhz: float
    cells: tuple[int, ...]


def make_groups(cells: pd.DataFrame) -> list[Group]:
    """One :class:`Group` per terrain pass, in spatial order (10 km bands) so that batches are compact."""
    groups = []
    for (x, y, h, f), part in cells.groupby(["x", "y", "antenna_height_m", "frequency_mhz"], sort=True):
        groups.append(Group(float(x), float(y), float(h), float(f), tuple(int(i) for i in part.index)))
    # (a mast's groups side by side: fold_groups sweeps its bands together and keeps the others' until folded)
    groups.sort(key=lambda g: (int(-g.y // 10_000), g.x, g.y, g.height_m, g.frequency_mhz))
    return groups
