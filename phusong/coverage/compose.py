"""Best-server composition: stream sites, reduce into one raster per technology.

Memory is bounded by the output grid: each site's footprint lives only while
its cells are folded into the layer rasters.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
from tqdm.auto import tqdm

from .._raster import Grid
from ..propagation.antenna import depression_deg, pattern_db
from ..propagation.footprint import site_footprint
from ..propagation.linkbudget import power_per_re_dbm
from ..propagation.msi import MsiPattern, read_msi

log = logging.getLogger(__name__)

TECH_SLUG = {"4G": "4g", "5G": "5g", "NB-IoT": "nbiot"}
# Outdoor edge-of-coverage levels commonly used for mobile broadband planning (dBm per RE);
# the network-coverage issue replaces these with documented, sourced defaults.
DEFAULT_THRESHOLD_DBM = {"4G": -110.0, "5G": -110.0, "NB-IoT": -125.0}


@dataclass
class Layer:
    """Best-server result of one technology on the working grid."""

    technology: str
    rsrp_dbm: np.ndarray     # float32, NaN where no cell reaches
    server: np.ndarray       # int32 index into the run's cell table, -1 where none
    threshold_dbm: float

    def covered(self, area_mask: np.ndarray | None = None) -> np.ndarray:
        """uint8: 1 covered, 0 not, 255 outside the study area."""
        out = np.where(np.nan_to_num(self.rsrp_dbm, nan=-np.inf) >= self.threshold_dbm, 1, 0).astype(np.uint8)
        if area_mask is not None:
            out[~area_mask] = 255
        return out


def antenna_gain_dbi(cell, bearing_deg, depression_deg, patterns: dict) -> np.ndarray:
    """Gain (dBi) of a cell's antenna toward each receiver: a pattern file, or the 3GPP sector model."""
    omni = not np.isfinite(cell["azimuth_deg"])
    offset = 0.0 if omni else bearing_deg - cell["azimuth_deg"]
    path = cell.get("antenna_file")
    if isinstance(path, str) and path:
        if path not in patterns:
            patterns[path] = read_msi(path)
        return patterns[path].gain_db(offset, depression_deg, cell["mechanical_tilt_deg"])
    return cell["antenna_gain_dbi"] + pattern_db(offset, depression_deg, cell["beamwidth_h_deg"],
                                                 cell["beamwidth_v_deg"],
                                                 cell["mechanical_tilt_deg"] + cell["electrical_tilt_deg"], omni=omni)


def site_xy(sites: gpd.GeoDataFrame, crs) -> tuple[np.ndarray, np.ndarray]:
    pts = sites.geometry.to_crs(crs)
    return pts.x.to_numpy(np.float64), pts.y.to_numpy(np.float64)


def simulate(heights: np.ndarray, grid: Grid, sites: gpd.GeoDataFrame, *, technologies=("4G", "5G"),
             radius_km: float = 15.0, rx_height_m: float = 1.5, model: str = "delta-bullington",
             earth_radius_km: float = 8500.0, thresholds_dbm: dict | None = None,
             include_candidates: bool = False, progress: bool = True) -> dict[str, Layer]:
    """Best-server RSRP / SS-RSRP and serving cell per technology.

    ``sites`` is a validated site table (see :func:`phusong.sites.read_sites`);
    the server raster indexes its rows. The terrain pass runs once per
    (site, frequency, antenna height) and serves all the cells that share them.
    """
    thresholds = {**DEFAULT_THRESHOLD_DBM, **(thresholds_dbm or {})}
    sites = sites.reset_index(drop=True)
    x, y = site_xy(sites, grid.crs)
    use = sites["technology"].isin(technologies).to_numpy().copy()
    if not include_candidates:
        use &= (sites["status"] != "candidate").to_numpy()
    layers = {t: Layer(t, np.full((grid.height, grid.width), np.nan, np.float32),
                       np.full((grid.height, grid.width), -1, np.int32), thresholds[t]) for t in technologies}
    work = sites.assign(_x=x, _y=y)[use]
    patterns: dict[str, MsiPattern] = {}
    groups = list(work.groupby(["site_id", "frequency_mhz", "antenna_height_m"], sort=True))
    for (_, freq, height), cells in tqdm(groups, desc="sites", unit="site", disable=not progress or None,
                                          leave=False):
        sx, sy = float(cells["_x"].iloc[0]), float(cells["_y"].iloc[0])
        fp = site_footprint(heights, grid, sx, sy, height, freq, radius_km, rx_height_m, earth_radius_km, model)
        if fp.loss_db.size == 0:
            continue
        rows = slice(fp.row0, fp.row0 + fp.grid.height)
        cols = slice(fp.col0, fp.col0 + fp.grid.width)
        gx, gy = fp.grid.xy(np.arange(fp.grid.height)[:, None], np.arange(fp.grid.width)[None, :])
        dist_m = np.hypot(gx - sx, gy - sy)
        bearing = np.degrees(np.arctan2(gx - sx, gy - sy))
        tx_asl = float(heights[tuple(int(round(v)) for v in grid.rowcol(sx, sy))]) + height
        depression = depression_deg(dist_m, tx_asl, heights[rows, cols] + rx_height_m, earth_radius_km)
        for idx, cell in cells.iterrows():
            gain_dbi = antenna_gain_dbi(cell, bearing, depression, patterns)
            p_re = power_per_re_dbm(cell["tx_power_dbm"], cell["technology"], cell["bandwidth_mhz"], freq)
            rsrp = (p_re + gain_dbi - cell["feeder_loss_db"] - fp.loss_db).astype(np.float32)
            layer = layers[cell["technology"]]
            best = layer.rsrp_dbm[rows, cols]
            better = rsrp > np.nan_to_num(best, nan=-np.inf)  # NaN rsrp (beyond radius) never wins
            best[better] = rsrp[better]
            layer.server[rows, cols][better] = idx
    return layers
