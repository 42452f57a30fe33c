"""Synthetic drive tests from a known truth, for the calibration tests (labelled synthetic everywhere).

Truth: Okumura-Hata urban loss (a different model from the one calibrated) plus a per-land-cover-class
offset, log-normal shadowing correlated along each route (Gudmundson's exponential model:
ρ = exp(−Δd / d_corr)) and optionally Rayleigh fast fading, at every sample's exact position.
"""
from __future__ import annotations

import warnings

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from affine import Affine
from pyproj import Transformer

from phusong.propagation.hata import okumura_hata_db
from phusong.propagation.linkbudget import power_per_re_dbm

CRS = "EPSG:32648"
X0, Y0, RES, N = 600_000.0, 2_420_000.0, 30.0, 700          # a 21 km square at 30 m
SITES = [(0.3, 0.3), (0.7, 0.3), (0.3, 0.7), (0.7, 0.7), (0.5, 0.5)]   # fractions of the square
FREQ_MHZ, HEIGHT_M, TX_DBM, BW_MHZ, GAIN_DBI = 900.0, 30.0, 46.0, 10.0, 15.0
CLASS_OFFSETS_DB = {10: 9.0, 30: 2.0, 50: 5.0}   # tree cover, grassland, built-up


def write_flat_dem(path, height_m: float = 120.0):
    """A flat DEM (metadata SYNTHETIC) on the test grid."""
    transform = Affine(RES, 0, X0, 0, -RES, Y0)
    with rasterio.open(path, "w", driver="GTiff", width=N, height=N, count=1, dtype="float32", crs=CRS,
                       transform=transform) as ds:
        ds.write(np.full((1, N, N), height_m, np.float32))
        ds.update_tags(SYNTHETIC="yes: flat test terrain")
    return path


def class_map() -> np.ndarray:
    """Land-cover codes on the test grid: vertical stripes of 10, 30 and 50, 2.1 km wide."""
    stripe = (np.arange(N) // 70) % 3
    return np.broadcast_to(np.array([10, 30, 50])[stripe], (N, N)).astype(np.uint8).copy()


def write_class_map(path):
    with rasterio.open(path, "w", driver="GTiff", width=N, height=N, count=1, dtype="uint8", crs=CRS,
                       transform=Affine(RES, 0, X0, 0, -RES, Y0), nodata=0) as ds:
        ds.write(class_map()[None])
    return path


def site_positions():
    return [(X0 + fx * N * RES, Y0 - fy * N * RES) for fx, fy in SITES]


def write_sites(path):
    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    rows = []
    for k, (x, y) in enumerate(site_positions()):
        lon, lat = to_ll.transform(x, y)
        rows.append({"site_id": f"S{k}", "cell_id": f"S{k}-L9", "lon": f"{lon:.7f}", "lat": f"{lat:.7f}",
                     "technology": "4G", "frequency_mhz": FREQ_MHZ, "antenna_height_m": HEIGHT_M,
                     "tx_power_dbm": TX_DBM, "bandwidth_mhz": BW_MHZ, "antenna_gain_dbi": GAIN_DBI,
                     "beamwidth_v_deg": 180.0, "feeder_loss_db": 0.0})   # flat vertical pattern, no feeder
    path.write_text("# GENERATED: synthetic calibration test sites\n" + pd.DataFrame(rows).to_csv(index=False))
    return path


def drive(rng, routes: int = 24, km_per_route: float = 6.0, step_m: float = 4.0):
    """Random-walk routes (x, y, route) kept inside the square, at least 300 m from the edges."""
    xs, ys, names = [], [], []
    lo, hi = X0 + 300.0, X0 + N * RES - 300.0
    for r in range(routes):
        x, y = rng.uniform(lo, hi), rng.uniform(Y0 - N * RES + 300.0, Y0 - 300.0)
        heading = rng.uniform(0, 2 * np.pi)
        for _ in range(int(km_per_route * 1000 / step_m)):
            heading += rng.normal(0, 0.05)
            nx, ny = x + step_m * np.sin(heading), y + step_m * np.cos(heading)
            if not (lo < nx < hi and Y0 - N * RES + 300 < ny < Y0 - 300):
                heading += np.pi / 2
                continue
            x, y = nx, ny
            xs.append(x)
            ys.append(y)
            names.append(f"R{r:02d}")
    return np.array(xs), np.array(ys), np.array(names)


def true_rsrp_dbm(x, y, serving, rng=None, sigma_db=6.0, corr_m=50.0, step_m=4.0, class_offsets=CLASS_OFFSETS_DB,
                  routes=None, fading=False):
    """The truth at each position for its serving site index: Hata + class offset (with ``rng``: + shadowing,
    and Rayleigh fading with ``fading``)."""
    sx, sy = np.array(site_positions()).T
    d_km = np.hypot(x - sx[serving], y - sy[serving]) / 1000.0
    rpre = power_per_re_dbm(TX_DBM, "4G", BW_MHZ, FREQ_MHZ) + GAIN_DBI
    cls = class_map()[((Y0 - y) // RES).astype(int), ((x - X0) // RES).astype(int)]
    with warnings.catch_warnings():    # Hata below 1 km is extrapolated: still a fine truth to recover
        warnings.simplefilter("ignore")
        loss = okumura_hata_db(FREQ_MHZ, d_km, HEIGHT_M, 1.5) + np.vectorize(class_offsets.get)(cls)
    out = rpre - loss
    if rng is not None:
        rho = np.exp(-step_m / corr_m)
        shadow = np.empty(len(x))
        for name in np.unique(routes):
            idx = np.flatnonzero(routes == name)
            z = rng.normal(0, sigma_db, len(idx))
            s = np.empty(len(idx))
            s[0] = z[0]
            for i in range(1, len(idx)):
                s[i] = rho * s[i - 1] + np.sqrt(1 - rho * rho) * z[i]
            shadow[idx] = s
        out = out - shadow
        if fading:
            out = out + 10 * np.log10(rng.exponential(1.0, len(x)))
    return out


def nearest_site(x, y):
    sx, sy = np.array(site_positions()).T
    return np.argmin(np.hypot(x[:, None] - sx[None], y[:, None] - sy[None]), axis=1)


def measurements_csv(path, x, y, serving, rsrp, routes=None):
    """A generic-layout measurement file (comment: SYNTHETIC)."""
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    df = pd.DataFrame({"lon": np.round(lon, 8), "lat": np.round(lat, 8), "rsrp_dbm": np.round(rsrp, 3),
                       "cell_id": [f"S{k}-L9" for k in serving], "technology": "4G"})
    if routes is not None:
        df["route"] = routes
    path.write_text("# SYNTHETIC: generated from a known truth for tests\n" + df.to_csv(index=False))
    return path


def as_samples(x, y, serving, rsrp, routes):
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    return gpd.GeoDataFrame({"row": np.arange(1, len(x) + 1), "signal_dbm": rsrp, "metric": "rsrp",
                             "technology": "4G", "cell_id": [f"S{k}-L9" for k in serving], "time": pd.NaT,
                             "route": routes}, geometry=gpd.points_from_xy(lon, lat), crs="EPSG:4326")
