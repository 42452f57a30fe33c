"""Kernel against the NumPy reference: agreement and speed for each length of the exact tail.

Usage:  .venv/bin/python benchmarks/bench_accuracy.py [--cells 1000] [--tails 0 4 8 16 32] [--spacings 1 0.5]
Needs ../shared. Three sites on the Lạng Sơn synthetic stand-in DEM and three on the real
N44W072 tile, 20 km radius at 30 m, 1,800 MHz, Tx 30 m, Rx 1.5 m, delta-Bullington. For each
site, ``--cells`` random cells of the map are compared with the reference's straight profile to
the cell centre, for each exact tail and ray spacing (cells between neighbouring rays at the radius).
Prints a Markdown table for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PHUSONG_SHARED", ROOT.parent / "shared"))
CASES = {
    "Lạng Sơn stand-in (synthetic)": (SHARED / "data" / "langson" / "terrain_standin_3arcsec.tif", "EPSG:32648",
                                      [(106.76, 21.85), (106.5, 21.7), (107.0, 22.0)]),
    "N44W072 (real SRTM)": (SHARED / "data" / "terrain" / "N44W072.hgt", "EPSG:32619",
                            [(-71.4, 44.45), (-71.55, 44.3), (-71.5, 44.6)]),
}
RADIUS_KM, RES_M, FREQ_MHZ, TX_H = 20.0, 30.0, 1800.0, 30.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=1000)
    ap.add_argument("--tails", type=int, nargs="+", default=[0, 4, 8, 16, 32])
    ap.add_argument("--spacings", type=float, nargs="+", default=[1.0, 0.5])
    args = ap.parse_args()
    from phusong.data.terrain import load_terrain
    from phusong.propagation.footprint import site_footprint
    from phusong.propagation.reference import reference_loss

    print("| terrain | exact tail | ray spacing | median abs. diff. | within 1 dB | 99th pct. | inner half: within 1 dB "
          "| inner half: 99th pct. | LOS agrees | map time |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    runs = [(t, s) for t in args.tails for s in args.spacings]
    for name, (dem, crs, sites) in CASES.items():
        if not dem.exists():
            sys.exit(f"needs {dem}")
        diffs = {r: [] for r in runs}
        inner = []   # cells within half the radius, where the tail is shorter (in proportion to distance)
        los = {r: [] for r in runs}
        times = {r: [] for r in runs}
        for lon, lat in sites:
            x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
            span = RADIUS_KM * 1000 + 1000
            terrain = load_terrain(dem, crs, RES_M, bounds=(x - span, y - span, x + span, y + span))
            maps = {}
            for tail, spacing in runs:
                kw = dict(exact_tail=tail, ray_spacing_cells=spacing)
                site_footprint(terrain.array, terrain.grid, x, y, TX_H, FREQ_MHZ, RADIUS_KM, **kw)
                for _ in range(3):
                    t = time.perf_counter()
                    maps[tail, spacing] = site_footprint(terrain.array, terrain.grid, x, y, TX_H, FREQ_MHZ,
                                                         RADIUS_KM, **kw)
                    times[tail, spacing].append(time.perf_counter() - t)
            fp = maps[runs[0]]
            valid = np.argwhere(np.isfinite(fp.loss_db))
            sel = valid[np.random.default_rng(0).choice(len(valid), args.cells, replace=False)]
            ref, ref_los = reference_loss(terrain.array, terrain.grid, x, y, sel[:, 0] + fp.row0,
                                          sel[:, 1] + fp.col0, TX_H, FREQ_MHZ)
            dist_cells = np.hypot(sel[:, 0] + fp.row0 - terrain.grid.rowcol(x, y)[0],
                                  sel[:, 1] + fp.col0 - terrain.grid.rowcol(x, y)[1])
            inner.append(dist_cells * RES_M < RADIUS_KM * 500.0)
            for run, m in maps.items():
                diffs[run].append(np.abs(m.loss_db[sel[:, 0], sel[:, 1]] - ref))
                los[run].append((m.los[sel[:, 0], sel[:, 1]] == 1) == ref_los)
        near = np.concatenate(inner)
        for run in runs:
            d = np.concatenate(diffs[run])
            print(f"| {name} | {run[0]} | {run[1]:g} | {np.median(d):.3f} dB | {100 * np.mean(d <= 1.0):.1f}% | "
                  f"{np.quantile(d, 0.99):.2f} dB | {100 * np.mean(d[near] <= 1.0):.1f}% ({near.sum()} cells) | "
                  f"{np.quantile(d[near], 0.99):.2f} dB | {100 * np.mean(np.concatenate(los[run])):.2f}% | "
                  f"{statistics.median(times[run]):.2f} s |")


if __name__ == "__main__":
    main()
