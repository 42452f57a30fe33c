"""ITU-R P.1812 maps with land cover: time against the bare delta-Bullington map, agreement with per-profile
P.1812, and the cost of evaluating one full profile per cell (what Py1812 or crc-covlib do for an area).

Usage:  .venv/bin/python benchmarks/bench_p1812.py [--cells 300] [--repeats 6]
Needs ../shared. Three sites on the Lạng Sơn synthetic stand-in DEM and three on the real N44W072 tile,
20 km radius at 30 m, 1,800 MHz, Tx 30 m, Rx 1.5 m. The land cover is ``synthetic_landcover`` (a
DEMONSTRATION class map made from the terrain, WorldCover codes; no real WorldCover tile is available
offline) with the built-in WorldCover clutter table. The three maps of a site run in turn,
``--repeats`` rounds after one warm-up round (compilation excluded); the fastest of each is reported.
``--cells`` random cells of each site's map are compared with phusong's per-profile P.1812
(``p1812_loss`` on the straight profile with the clutter heights of the cells it crosses), whose time per
profile gives the per-profile map estimate.
Prints Markdown tables for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings

import numpy as np
from pyproj import Transformer

# the same six sites as the delta-Bullington agreement benchmark (run as a script: its folder is on sys.path)
from bench_accuracy import CASES  # noqa: E402

RADIUS_KM, RES_M, FREQ_MHZ, TX_H, RX_H = 20.0, 30.0, 1800.0, 30.0, 1.5


def timed(runs: dict, repeats: int):
    """({label: result}, {label: fastest time}): the maps run in turn, round after round, so that a drift in the
    machine's speed (large on shared machines) falls on all of them alike; the minimum is the least disturbed."""
    out = {label: fn() for label, fn in runs.items()}   # warm-up: compilation and caches
    times = {label: [] for label in runs}
    for _ in range(repeats):
        for label, fn in runs.items():
            t = time.perf_counter()
            out[label] = fn()
            times[label].append(time.perf_counter() - t)
    return out, {label: min(v) for label, v in times.items()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cells", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=6)
    args = ap.parse_args()
    from phusong.data.landcover import synthetic_landcover
    from phusong.data.terrain import load_terrain
    from phusong.propagation.clutter import WORLDCOVER
    from phusong.propagation.footprint import latitude_deg, site_footprint
    from phusong.propagation.p1812 import P1812Climate
    from phusong.propagation.reference import clutter_profile, evaluate_profile, profile

    warnings.simplefilter("ignore")   # paths under 0.25 km are outside P.1812's range; that is expected here
    timing, agreement = [], []
    for name, (dem, crs, sites) in CASES.items():
        if not dem.exists():
            sys.exit(f"needs {dem}")
        for lon, lat in sites:
            x, y = Transformer.from_crs(4326, crs, always_xy=True).transform(lon, lat)
            span = RADIUS_KM * 1000 + 1000
            terrain = load_terrain(dem, crs, RES_M, bounds=(x - span, y - span, x + span, y + span))
            classes = synthetic_landcover(terrain.array, RES_M, seed=1)
            run = {
                "delta-Bullington, bare": lambda: site_footprint(terrain.array, terrain.grid, x, y, TX_H, FREQ_MHZ,
                                                                 RADIUS_KM),
                "P.1812, land cover, 50 %": lambda: site_footprint(terrain.array, terrain.grid, x, y, TX_H, FREQ_MHZ,
                                                                   RADIUS_KM, model="p1812", landcover=classes),
                "P.1812, land cover, 1 %": lambda: site_footprint(terrain.array, terrain.grid, x, y, TX_H, FREQ_MHZ,
                                                                  RADIUS_KM, model="p1812", landcover=classes,
                                                                  climate=P1812Climate(time_pct=1.0)),
            }
            maps, secs = timed(run, args.repeats)
            fp = maps["P.1812, land cover, 50 %"]
            valid = np.argwhere(np.isfinite(fp.loss_db))
            sel = valid[np.random.default_rng(0).choice(len(valid), args.cells, replace=False)]
            clutter_m = WORLDCOVER.heights_m(classes)
            site_lat = latitude_deg(terrain.grid, x, y)
            cx, cy = terrain.grid.xy(sel[:, 0] + fp.row0, sel[:, 1] + fp.col0)
            ref = np.empty(args.cells)
            t = time.perf_counter()
            for i in range(args.cells):
                d, h = profile(terrain.array, terrain.grid, x, y, cx[i], cy[i])
                r = clutter_profile(clutter_m, terrain.grid, x, y, cx[i], cy[i])
                ref[i] = evaluate_profile(d, h, TX_H, RX_H, FREQ_MHZ, model="p1812", clutter_m=r,
                                          latitude_deg=site_lat)["loss_db"]
            per_profile_s = (time.perf_counter() - t) / args.cells
            n_cells = int(np.isfinite(fp.loss_db).sum())
            diff = np.abs(fp.loss_db[sel[:, 0], sel[:, 1]] - ref)
            timing.append((name, lon, lat, secs, n_cells, per_profile_s))
            agreement.append((name, diff))
    labels = list(timing[0][3])
    print("| terrain | site | cells | " + " | ".join(labels) + " | P.1812 / bare | per-profile P.1812 (ms) | "
          "per-profile map estimate |")
    print("|---|---|---|" + "---|" * len(labels) + "---|---|---|")
    for name, lon, lat, secs, n_cells, per_profile_s in timing:
        ratio = secs["P.1812, land cover, 50 %"] / secs["delta-Bullington, bare"]
        print(f"| {name} | {lon},{lat} | {n_cells:,} | " + " | ".join(f"{secs[k]:.2f} s" for k in labels)
              + f" | {ratio:.2f}× | {1000 * per_profile_s:.2f} | {n_cells * per_profile_s / 60:.0f} min |")
    print()
    print("| terrain | cells compared | median abs. diff. | within 1 dB | 99th pct. | max |")
    print("|---|---|---|---|---|---|")
    for name in CASES:
        d = np.concatenate([diff for n, diff in agreement if n == name])
        print(f"| {name} | {d.size} | {np.median(d):.3f} dB | {100 * np.mean(d <= 1.0):.1f}% | "
              f"{np.quantile(d, 0.99):.2f} dB | {d.max():.2f} dB |")


if __name__ == "__main__":
    main()
