"""Write a GENERATED (not real) site list over Lạng Sơn for the benchmarks.

Usage: python benchmarks/make_sites.py N_SITES OUT.csv [--seed 1] [--uniform]
(see phusong.sites.generate: population-weighted or uniform, three operators, three sectors).
"""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import pyogrio

from phusong.sites.generate import generate_sites, write_sites_csv

SHARED = Path(os.environ.get("PHUSONG_SHARED", Path(__file__).resolve().parents[2] / "shared"))
STANDIN_DEM = SHARED / "data/langson/terrain_standin_3arcsec.tif"   # the Lạng Sơn stand-in terrain (SYNTHETIC)


def make_sites(n_sites: int, seed: int = 1, uniform: bool = False, share_5g: float = 0.3):
    province = pyogrio.read_dataframe(SHARED / "data/langson/communes_2025.gpkg", layer="province")
    return generate_sites(province, SHARED / "data/langson/population_worldpop_2020_1km.tif", n_sites, seed,
                          share_5g=share_5g, uniform=uniform)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("n_sites", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--uniform", action="store_true", help="spread sites uniformly (default: by population)")
    args = ap.parse_args()
    df = make_sites(args.n_sites, args.seed, args.uniform)
    write_sites_csv(df, args.out)
    print(f"{len(df)} cells at {args.n_sites} sites -> {args.out}")


if __name__ == "__main__":
    main()
