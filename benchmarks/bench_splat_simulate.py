"""`phusong simulate` with 100 omnidirectional 4G sites on real SRTM (N44W072) against SPLAT!-HD, same run.

Usage: .venv/bin/python benchmarks/bench_splat_simulate.py [--sites 100] [--splat-hd-sites 3] [--seed 1]

The whole command users run, `phusong simulate` with a cold terrain-pass cache (terrain load, every terrain
pass, folding, SINR, raster writing), in a separate process under /usr/bin/time, against one SPLAT!-HD run of
the same radius per site (median of ``--splat-hd-sites``, times the site count:
SPLAT!-HD maps one site per run and is single-threaded).
Sites: seeded uniform positions inside the tile (``bench_footprint.sites_in_tile``), 30 m tower, 1.8 GHz,
omnidirectional, 20 km, 30 m grid, EPSG:32619. The site list is GENERATED (not real); the terrain is real.
Needs ../shared, /usr/bin/time and, for the ratio, Debian's `splat` and `gdal-bin`. Prints Markdown rows.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_footprint import FREQ_MHZ, RADIUS_KM, RES_M, RX_H, TILE, TX_H, CRS, bench_splat, sites_in_tile  # noqa: E402
from bench_simulate import TABLE_HEADER, split, timed_simulate  # noqa: E402


def write_sites(path: Path, n_sites: int, seed: int) -> None:
    rows = [{"site_id": f"S{i:03d}", "cell_id": f"S{i:03d}-4G", "operator": "Demo", "lon": round(lon, 6),
             "lat": round(lat, 6), "technology": "4G", "frequency_mhz": FREQ_MHZ, "bandwidth_mhz": 20,
             "antenna_height_m": TX_H, "tx_power_dbm": 46, "azimuth_deg": "", "antenna_gain_dbi": 11}
            for i, (lon, lat) in enumerate(sites_in_tile(n_sites, seed))]
    pd.DataFrame(rows).to_csv(path, index=False)


def simulate(sites: Path, out: Path) -> tuple[float, float]:
    return timed_simulate(["--dem", str(TILE), "--sites", str(sites), "--out", str(out), "--radius-km", str(RADIUS_KM),
                           "--res-m", str(RES_M), "--crs", CRS, "--rx-height-m", str(RX_H), "--tech", "4G",
                           "--cache-dir", str(out.parent / f"cache_{out.name}"), "--overwrite"])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--splat-hd-sites", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        sites = tmp / "sites.csv"
        write_sites(sites, args.sites, args.seed)
        warm = tmp / "warm.csv"
        write_sites(warm, 2, args.seed + 1)
        simulate(warm, tmp / "warm")          # the Numba cache, so the timed run pays no compilation
        wall, gb = simulate(sites, tmp / "run")
        parts = split(tmp / "run")
        splat_s = bench_splat(tmp, True, args.splat_hd_sites)
    print(TABLE_HEADER)
    print(f"| `phusong simulate`, {args.sites} omni 4G sites (seed {args.seed}), N44W072, 20 km, 30 m | {wall:.1f} s | "
          f"{gb:.2f} GB | {parts} |")
    if splat_s:
        total = splat_s * args.sites
        print(f"\nSPLAT!-HD 1″ `splat-hd -olditm`, one site: {splat_s:.2f} s (median of {args.splat_hd_sites}); "
              f"{args.sites} sites: {total:.0f} s; phusong simulate: {wall:.1f} s = **{total / wall:.1f}×**")
    else:
        print("\nSPLAT!-HD not timed (needs Debian's `splat` and `gdal-bin`)")


if __name__ == "__main__":
    main()
