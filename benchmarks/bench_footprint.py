"""Single-site path-loss maps: phusong's kernel against SPLAT! 1.4.2 and gdal_viewshed.

Usage:  .venv/bin/python benchmarks/bench_footprint.py [--sites 100] [--splat-hd-sites 3]
Needs ../shared (N44W072.hgt). SPLAT! (Debian `splat`) and GDAL (`gdal-bin`) are timed when present.
Prints a Markdown table for benchmarks/RESULTS.md. Speed is measured here, never in the tests.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from pyproj import Transformer

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PHUSONG_SHARED", ROOT.parent / "shared"))
TILE = SHARED / "data" / "terrain" / "N44W072.hgt"
CRS = "EPSG:32619"
RADIUS_KM, RES_M, FREQ_MHZ, TX_H, RX_H = 20.0, 30.0, 1800.0, 30.0, 1.5
SITE = (-71.4, 44.45)


def _timed(cmd, cwd=None):
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def sites_in_tile(n, seed=1):
    rng = np.random.default_rng(seed)
    return list(zip(rng.uniform(-71.72, -71.28, n), rng.uniform(44.22, 44.78, n)))


def bench_phusong(n_sites):
    from phusong.data.terrain import load_terrain
    from phusong.propagation.footprint import site_footprint

    t = time.perf_counter()
    terrain = load_terrain(TILE, CRS, RES_M)
    load_s = time.perf_counter() - t
    to_xy = Transformer.from_crs(4326, CRS, always_xy=True)
    x, y = to_xy.transform(*SITE)
    t = time.perf_counter()
    fp = site_footprint(terrain.array, terrain.grid, x, y, TX_H, FREQ_MHZ, RADIUS_KM, RX_H)
    first_s = time.perf_counter() - t
    cells = int(np.isfinite(fp.loss_db).sum())
    per_site = []
    t_all = time.perf_counter()
    for lon, lat in sites_in_tile(n_sites):
        sx, sy = to_xy.transform(lon, lat)
        t = time.perf_counter()
        site_footprint(terrain.array, terrain.grid, sx, sy, TX_H, FREQ_MHZ, RADIUS_KM, RX_H)
        per_site.append(time.perf_counter() - t)
    total_s = time.perf_counter() - t_all
    los_times = []
    for lon, lat in sites_in_tile(6)[1:]:  # the first warms the LOS-only kernel
        sx, sy = to_xy.transform(lon, lat)
        t = time.perf_counter()
        site_footprint(terrain.array, terrain.grid, sx, sy, TX_H, FREQ_MHZ, RADIUS_KM, RX_H, los_only=True)
        los_times.append(time.perf_counter() - t)
    los_s = statistics.median(los_times)
    return dict(load_s=load_s, first_s=first_s, cells=cells, median_site_s=statistics.median(per_site),
                total_s=total_s, n_sites=n_sites, los_s=los_s, terrain=terrain, x=x, y=y)


def bench_process(tmp):
    cmd = [str(Path(sys.executable).parent / "phusong"), "footprint", "--dem", str(TILE), "--lon", str(SITE[0]),
           "--lat", str(SITE[1]), "--tx-height-m", str(TX_H), "--freq-mhz", str(FREQ_MHZ), "--radius-km",
           str(RADIUS_KM), "--res-m", str(RES_M), "--crs", CRS, "--out", str(tmp / "loss.tif"), "--overwrite", "-q"]
    _timed(cmd)  # warm the JIT cache and the OS file cache
    return statistics.median(_timed(cmd) for _ in range(3))


def bench_splat(tmp, hd: bool, n_sites: int):
    exe = "splat-hd" if hd else "splat"
    if shutil.which(exe) is None or shutil.which("srtm2sdf") is None:
        return None
    work = tmp / exe
    work.mkdir()
    if hd:  # SPLAT-HD needs 1-arc-second data: resample the 3″ tile (timing does not depend on relief)
        if shutil.which("gdal_translate") is None:
            return None
        subprocess.run(["gdal_translate", "-q", "-of", "SRTMHGT", "-outsize", "3601", "3601", "-r", "bilinear",
                        str(TILE), str(work / TILE.name)], check=True)
        subprocess.run(["srtm2sdf-hd", TILE.name], cwd=work, check=True, stdout=subprocess.DEVNULL)
    else:
        shutil.copy(TILE, work / TILE.name)
        subprocess.run(["srtm2sdf", TILE.name], cwd=work, check=True, stdout=subprocess.DEVNULL)
    (work / "tx.lrp").write_text(f"15.0\n0.005\n301.0\n{FREQ_MHZ}\n5\n1\n0.5\n0.5\n")
    times = []
    for i, (lon, lat) in enumerate(sites_in_tile(n_sites)):
        (work / "tx.qth").write_text(f"TX\n{lat}\n{-lon}\n{TX_H} meters\n")
        times.append(_timed([exe, "-metric", "-t", "tx.qth", "-L", str(RX_H), "-R", str(RADIUS_KM), "-olditm",
                             "-ngs", "-d", str(work), "-o", f"map{i}.ppm"], cwd=work))
    return statistics.median(times) if times else None


def bench_viewshed(tmp, ph):
    if shutil.which("gdal_viewshed") is None:
        return None
    from phusong._raster import write_geotiff

    dem = tmp / "dem.tif"
    write_geotiff(dem, ph["terrain"].array, ph["terrain"].grid)
    cmd = ["gdal_viewshed", "-q", "-ox", str(ph["x"]), "-oy", str(ph["y"]), "-oz", str(TX_H), "-tz", str(RX_H),
           "-md", str(RADIUS_KM * 1000), "-cc", str(6378.137 / 8500.0), str(dem), str(tmp / "vs.tif")]
    _timed(cmd)
    return statistics.median(_timed(cmd) for _ in range(3))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sites", type=int, default=100)
    ap.add_argument("--splat-sites", type=int, default=10)
    ap.add_argument("--splat-hd-sites", type=int, default=3)
    args = ap.parse_args()
    if not TILE.exists():
        sys.exit(f"needs {TILE}")
    import numba

    threads = numba.get_num_threads()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ph = bench_phusong(args.sites)
        proc_s = bench_process(tmp)
        splat_s = bench_splat(tmp, False, args.splat_sites)
        splat_hd_s = bench_splat(tmp, True, args.splat_hd_sites)
        vs_s = bench_viewshed(tmp, ph)
    n = ph["n_sites"]
    rate = ph["cells"] / ph["median_site_s"]
    print(f"machine: {os.cpu_count()} cores, numba threads {threads}; tile {TILE.name}, {RES_M:g} m, "
          f"{RADIUS_KM:g} km, {FREQ_MHZ:g} MHz, delta-Bullington\n")
    print("| measure | value |\n|---|---|")
    print(f"| cells per site map | {ph['cells']:,} |")
    print(f"| terrain load + reproject (once) | {ph['load_s']:.2f} s |")
    print(f"| first site in a new process (JIT from cache) | {ph['first_s']:.2f} s |")
    print(f"| kernel per site (median of {n}) | {ph['median_site_s']:.3f} s |")
    print(f"| cells per second per core | {rate / threads / 1e6:.2f} M |")
    print(f"| {n} sites, one process | {ph['total_s']:.1f} s |")
    print(f"| whole process `phusong footprint` (one site) | {proc_s:.2f} s |")
    print(f"| LOS-only map per site (median of 5) | {ph['los_s']:.3f} s |")
    if splat_s:
        print(f"| SPLAT! 3″ `splat -olditm` per site (median of {args.splat_sites}) | {splat_s:.2f} s |")
    if splat_hd_s:
        print(f"| SPLAT-HD 1″ `splat-hd -olditm` per site (median of {args.splat_hd_sites}) | {splat_hd_s:.2f} s |")
        ours = ph["load_s"] + ph["total_s"] * 100 / n
        print(f"| 100 sites: phusong (incl. terrain load) vs SPLAT-HD single-threaded | {ours:.1f} s vs "
              f"{100 * splat_hd_s:.0f} s = **{100 * splat_hd_s / ours:.0f}×** |")
        print(f"| 100 sites: vs SPLAT-HD run as {threads} parallel processes | "
              f"**{100 * splat_hd_s / threads / ours:.0f}×** |")
    if vs_s:
        print(f"| gdal_viewshed per site (same grid) | {vs_s:.3f} s |")
        print(f"| LOS-only: phusong vs gdal_viewshed | {vs_s / ph['los_s']:.1f}× |")


if __name__ == "__main__":
    main()
