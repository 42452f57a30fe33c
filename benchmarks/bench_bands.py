"""A mast's bands in one sweep against a sweep per band, on the Lạng Sơn stand-in terrain (SYNTHETIC).

Usage: .venv/bin/python benchmarks/bench_bands.py [--rounds 3] [--radius-km 15]
Six masts at 30 m; each round times, in turn, three sweeps of one band (700, 1,800 and 3,500 MHz) and one sweep
of the three (``site_footprints``), and checks that the losses are the same bit for bit. Needs ../shared.
Prints a Markdown table for benchmarks/RESULTS.md; speed is measured here, never in the tests.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine_check import stand_in_sites  # noqa: E402

from phusong.propagation.footprint import site_footprint, site_footprints  # noqa: E402

BANDS_MHZ = (700.0, 1800.0, 3500.0)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--radius-km", type=float, default=15.0)
    args = ap.parse_args()
    terrain, masts = stand_in_sites()   # (the machine check's six sites)
    h, grid = terrain.array, terrain.grid
    site_footprints(h, grid, *masts[0], 30.0, BANDS_MHZ, 2.0)   # compiled before timing
    apart, together = [], []
    for _ in range(args.rounds):
        t = time.perf_counter()
        one = [[site_footprint(h, grid, x, y, 30.0, f, args.radius_km) for f in BANDS_MHZ] for x, y in masts]
        apart.append((time.perf_counter() - t) / len(masts))
        t = time.perf_counter()
        three = [site_footprints(h, grid, x, y, 30.0, BANDS_MHZ, args.radius_km) for x, y in masts]
        together.append((time.perf_counter() - t) / len(masts))
        for a, b in zip(one, three):
            for fa, fb in zip(a, b):
                assert np.array_equal(fa.loss_db, fb.loss_db, equal_nan=True)
    a, b = min(apart), min(together)
    print("| a mast, three bands (700, 1,800, 3,500 MHz), delta-Bullington, "
          f"{args.radius_km:g} km at 30 m | a sweep per band | one sweep for the three | ratio |\n|---|---|---|---|")
    print(f"| best of {args.rounds} rounds of {len(masts)} masts (stand-in terrain) | {1000 * a:.0f} ms | "
          f"{1000 * b:.0f} ms | {a / b:.2f}× |")


if __name__ == "__main__":
    main()
