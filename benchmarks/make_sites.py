"""Generate a realistic, GENERATED (not real) site list over Lạng Sơn for benchmarks.

Sites are drawn inside the real province outline with probability proportional to
WorldPop population (plus a share spread evenly, as rural coverage sites), three
operators, three sectors each. A share of sites carries 5G (n78/n41), the rest 4G
(band 3). Usage: python benchmarks/make_sites.py N_SITES OUT.csv [--seed 1]
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import rasterio
from rasterio.features import rasterize

SHARED = Path(os.environ.get("PHUSONG_SHARED", Path(__file__).resolve().parents[2] / "shared"))
OPERATORS = {"Viettel": (2600.0, 0.45), "VNPT": (3700.0, 0.33), "MobiFone": (3500.0, 0.22)}


def make_sites(n_sites: int, seed: int = 1, share_5g: float = 0.3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    province = gpd.read_file(SHARED / "data/langson/communes_2025.gpkg", layer="province")
    with rasterio.open(SHARED / "data/langson/population_worldpop_2020_1km.tif") as src:
        pop = src.read(1).astype(float)
        pop[pop < 0] = 0
        inside = rasterize(province.to_crs(src.crs).geometry, out_shape=pop.shape, transform=src.transform) > 0
        weight = np.where(inside, pop + pop[inside].mean() * 0.6, 0.0)  # 60% extra spread for rural sites
        idx = rng.choice(weight.size, n_sites, replace=n_sites > inside.sum(), p=(weight / weight.sum()).ravel())
        r, c = np.unravel_index(idx, pop.shape)
        lon, lat = rasterio.transform.xy(src.transform, r, c)
        res = src.res[0]
    lon = np.asarray(lon) + rng.uniform(-res / 2, res / 2, n_sites)
    lat = np.asarray(lat) + rng.uniform(-res / 2, res / 2, n_sites)
    names = list(OPERATORS)
    ops = rng.choice(names, n_sites, p=[OPERATORS[n][1] for n in names])
    rows = []
    for i in range(n_sites):
        five = rng.random() < share_5g
        f = OPERATORS[ops[i]][0] if five else 1800.0
        rot = rng.uniform(0, 120)
        h = float(rng.choice([25, 30, 36, 42, 45]))
        for s in range(3):
            rows.append(dict(site_id=f"G{i + 1:05d}", cell_id=f"G{i + 1:05d}-{s + 1}", lon=round(lon[i], 6),
                             lat=round(lat[i], 6), technology="5G" if five else "4G", frequency_mhz=f,
                             antenna_height_m=h, tx_power_dbm=50.0 if five else 46.0, operator=ops[i],
                             bandwidth_mhz=100.0 if five else 20.0, azimuth_deg=round((rot + 120 * s) % 360, 1),
                             mechanical_tilt_deg=0.0, electrical_tilt_deg=3.0, beamwidth_h_deg=65.0,
                             beamwidth_v_deg=10.0 if five else 8.0, antenna_gain_dbi=24.0 if five else 17.5,
                             feeder_loss_db=0.0 if five else 0.5, status="existing"))
    return pd.DataFrame(rows)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n_sites", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    df = make_sites(args.n_sites, args.seed)
    with open(args.out, "w", encoding="utf-8") as fh:
        fh.write("# GENERATED site list for benchmarks: not a real operator's sites\n")
    df.to_csv(args.out, mode="a", index=False)
    print(f"{len(df)} cells at {args.n_sites} sites -> {args.out}")


if __name__ == "__main__":
    main()
