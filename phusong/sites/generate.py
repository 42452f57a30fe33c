"""A GENERATED (not real) site list for demonstrations, what-ifs and benchmarks.

Sites are drawn inside an area with probability proportional to a population
raster plus an even share (rural coverage sites); three-sector 4G (band 3) or
5G (each operator's mid band). Every output says it is generated.
"""
from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from rasterio.features import rasterize

from .._tables import write_csv

GENERATED_NOTE = "GENERATED site list: not a real operator's sites"
OPERATORS = {"Viettel": (2600.0, 0.45), "VNPT": (3700.0, 0.33), "MobiFone": (3500.0, 0.22)}


def generate_sites(area: gpd.GeoDataFrame, population_path, n_sites: int, seed: int = 1,
                   share_5g: float = 0.3, rural_share: float = 0.6, uniform: bool = False) -> pd.DataFrame:
    """``n_sites`` three-sector sites inside ``area`` (one row per cell, the site-list schema): placed by
    population (plus ``rural_share`` of the mean everywhere), or uniformly over the area."""
    rng = np.random.default_rng(seed)
    with rasterio.open(population_path) as src:
        pop = src.read(1).astype(float)
        pop[~np.isfinite(pop) | (pop < 0)] = 0.0
        inside = rasterize(area.to_crs(src.crs).geometry, out_shape=pop.shape, transform=src.transform) > 0
        weight = inside.astype(float) if uniform else np.where(inside, pop + pop[inside].mean() * rural_share, 0.0)
        idx = rng.choice(weight.size, n_sites, replace=n_sites > inside.sum(), p=(weight / weight.sum()).ravel())
        r, c = np.unravel_index(idx, pop.shape)
        x, y = rasterio.transform.xy(src.transform, r, c)
        x = np.asarray(x) + rng.uniform(-0.5, 0.5, n_sites) * abs(src.transform.a)
        y = np.asarray(y) + rng.uniform(-0.5, 0.5, n_sites) * abs(src.transform.e)
        lonlat = gpd.GeoSeries(gpd.points_from_xy(x, y), crs=src.crs).to_crs("EPSG:4326")
    names = list(OPERATORS)
    ops = rng.choice(names, n_sites, p=[OPERATORS[n][1] for n in names])
    rows = []
    for i in range(n_sites):
        five = rng.random() < share_5g
        rot = rng.uniform(0, 120)
        height = float(rng.choice([25, 30, 36, 42, 45]))
        for s in range(3):
            rows.append(dict(
                site_id=f"G{i + 1:05d}", cell_id=f"G{i + 1:05d}-{s + 1}", lon=round(lonlat.x.iloc[i], 6),
                lat=round(lonlat.y.iloc[i], 6), technology="5G" if five else "4G",
                frequency_mhz=OPERATORS[ops[i]][0] if five else 1800.0, antenna_height_m=height,
                tx_power_dbm=50.0 if five else 46.0, operator=ops[i], bandwidth_mhz=100.0 if five else 20.0,
                azimuth_deg=round((rot + 120 * s) % 360, 1), mechanical_tilt_deg=0.0, electrical_tilt_deg=3.0,
                beamwidth_h_deg=65.0, beamwidth_v_deg=10.0 if five else 8.0,
                antenna_gain_dbi=24.0 if five else 17.5, feeder_loss_db=0.0 if five else 0.5, status="existing"))
    return pd.DataFrame(rows)


def write_sites_csv(df: pd.DataFrame, path) -> None:
    """Write a generated site list with its leading ``# GENERATED`` comment (outputs using it are labelled)."""
    write_csv(df, path, comments=[GENERATED_NOTE])
