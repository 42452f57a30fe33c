"""How fast this machine runs phusong's kernel: one 15 km delta-Bullington terrain pass at 30 m on the Lạng Sơn
stand-in terrain (SYNTHETIC), the best of three rounds over six fixed sites.

Usage: .venv/bin/python benchmarks/machine_check.py [--cache-dir DIR]
Machines lent for a session differ by up to 2.5x on the same code; bench_simulate.py prints this figure
beside its own, so that runs on different days can be compared (with the same code: a pass took 132-159 ms on
the fast machine of 5 December with that day's code, 276-296 ms on the slow one of 6 December; RESULTS.md).
Needs ../shared.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from pyproj import Transformer

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_sites import STANDIN_DEM as DEM  # noqa: E402

from phusong._threads import thread_count  # noqa: E402
from phusong.data.terrain import load_terrain  # noqa: E402
from phusong.propagation.footprint import site_footprint  # noqa: E402

SITES_LONLAT = [(106.76, 21.85), (106.5, 21.7), (107.0, 22.0), (106.3, 21.9), (106.9, 21.6), (106.6, 22.2)]
ROUNDS = 3


def stand_in_sites(cache_dir=None):
    """The stand-in terrain at 30 m (EPSG:32648) and the six fixed sites on it (x, y), for kernel timings."""
    terrain = load_terrain([DEM], "EPSG:32648", 30.0, cache_dir=cache_dir)
    to_grid = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)
    return terrain, [to_grid.transform(lon, lat) for lon, lat in SITES_LONLAT]


def pass_ms(cache_dir=None) -> float:
    """The best of ``ROUNDS`` rounds of a 15 km pass over the six sites, in ms a pass (the kernels compiled
    beforehand, outside the timing)."""
    terrain, sites = stand_in_sites(cache_dir)
    site_footprint(terrain.array, terrain.grid, *sites[0], 30.0, 1800.0, 2.0)
    rounds = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for x, y in sites:
            site_footprint(terrain.array, terrain.grid, x, y, 30.0, 1800.0, 15.0)
        rounds.append((time.perf_counter() - start) / len(sites))
    return 1000.0 * min(rounds)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache-dir", help="keep the reprojected terrain here (a later check skips reprojecting)")
    args = ap.parse_args()
    print(f"machine check: a 15 km stand-in pass {pass_ms(args.cache_dir):.0f} ms "
          f"(best of {ROUNDS} rounds of {len(SITES_LONLAT)} sites, {thread_count()} threads)")


if __name__ == "__main__":
    main()
