"""Point-to-point use of the models on a DEM: terrain around a site, profiles to receivers."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from pyproj import Transformer

from ..data.terrain import Terrain, load_terrain
from ..errors import InputError
from .reference import evaluate_profile, profile


def site_terrain(dems, lon: float, lat: float, radius_km: float, crs, res_m: float) -> tuple[Terrain, float, float]:
    """The working-grid terrain within ``radius_km`` of a site (cut to the DEM) and the site's x, y."""
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    pad = radius_km * 1000.0 + 2 * res_m
    terrain = load_terrain(dems, crs, res_m, bounds=(x - pad, y - pad, x + pad, y + pad), partial=True)
    if not terrain.grid.contains(x, y):
        raise InputError(f"site {lon},{lat} is outside the DEM")
    return terrain, x, y


def path_to_points(dems, tx_lonlat, points_csv: Path, tx_height_m, rx_height_m, frequency_mhz, model,
                   earth_radius_km, crs, res_m) -> pd.DataFrame:
    """One row per receiver of ``points_csv`` (lon,lat): the fields of ``phusong path --json``."""
    points_csv = Path(points_csv)
    if not points_csv.exists():
        raise InputError("no such file", path=points_csv)
    pts = pd.read_csv(points_csv, encoding="utf-8-sig")
    for col in ("lon", "lat"):
        if col not in pts.columns:
            raise InputError("receivers need lon and lat columns", path=points_csv, field=col)
        bad = pd.to_numeric(pts[col], errors="coerce").isna().to_numpy()
        if bad.any():
            raise InputError("not a number", path=points_csv, row=int(np.flatnonzero(bad)[0]) + 1, field=col)
    to_xy = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    tx, ty = to_xy.transform(*tx_lonlat)
    rx, ry = to_xy.transform(pts["lon"].to_numpy(float), pts["lat"].to_numpy(float))
    reach = float(np.max(np.hypot(rx - tx, ry - ty))) / 1000.0
    terrain, _, _ = site_terrain(dems, tx_lonlat[0], tx_lonlat[1], reach, crs, res_m)
    inside = terrain.grid.contains(rx, ry)
    rows = []
    for i in range(len(pts)):
        if not inside[i]:
            raise InputError("receiver is outside the DEM", path=points_csv, row=i + 1, field="lon,lat")
        d, h = profile(terrain.array, terrain.grid, tx, ty, rx[i], ry[i])
        if not np.isfinite(h).all():
            raise InputError("the profile leaves the DEM's data", path=points_csv, row=i + 1, field="lon,lat")
        rows.append({"lon": pts["lon"].iloc[i], "lat": pts["lat"].iloc[i],
                     **evaluate_profile(d, h, tx_height_m, rx_height_m, frequency_mhz, earth_radius_km, model)})
    return pd.DataFrame(rows)
