"""Province-scale `phusong simulate` on the Lạng Sơn stand-in terrain (SYNTHETIC) with GENERATED sites.

Usage: .venv/bin/python benchmarks/bench_simulate.py [--quick]
Each run is a separate process timed with /usr/bin/time (wall, peak memory). Needs ../shared.
Prints Markdown rows for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from make_sites import SHARED, make_sites  # noqa: E402

from phusong.sites.generate import write_sites_csv  # noqa: E402

DEM = SHARED / "data/langson/terrain_standin_3arcsec.tif"
AREA = SHARED / "data/langson/communes_2025.gpkg"
PHUSONG = str(Path(sys.executable).parent / "phusong")


def write_sites(n_sites, path, seed=1):
    df = make_sites(n_sites, seed)
    write_sites_csv(df, path)
    return df


def run(args, tmp):
    cmd = ["/usr/bin/time", "-f", "%e %M", PHUSONG, "simulate", "--dem", str(DEM), "--area", str(AREA),
           "--area-layer", "communes", *args, "-q"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    wall, kb = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kb) / 1024 / 1024


def simulate(sites, out, cache, radius=15, extra=()):
    return run(["--sites", str(sites), "--out", str(out), "--radius-km", str(radius), "--cache-dir", str(cache),
                "--overwrite", *extra], None)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 6,000-cell run and the scaling series")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        s1000 = tmp / "sites_1000.csv"
        df = write_sites(340, s1000)
        warm = tmp / "sites_warm.csv"
        write_sites_csv(df.head(6), warm)
        simulate(warm, tmp / "r0", tmp / "c0", radius=2)  # the JIT cache, so no run below pays compilation
        wall, gb = simulate(s1000, tmp / "r1", tmp / "c1")
        rows.append(("1,020 cells (340 sites), 15 km, 30 m, cold cache", wall, gb))
        passes = json.loads((tmp / "r1" / "run.json").read_text())["terrain_passes"]
        # what-if: one cell's tilt changed; every terrain pass comes from the cache
        df.loc[0, "electrical_tilt_deg"] += 4
        whatif = tmp / "sites_whatif.csv"
        write_sites_csv(df, whatif)
        wall2, gb2 = simulate(whatif, tmp / "r2", tmp / "c1")
        rows.append(("what-if re-run (one tilt changed), warm cache", wall2, gb2))
        # Dask: a local scheduler and two single-threaded workers on loopback
        sched = subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_scheduler", "--host", "127.0.0.1",
                                  "--port", "8786", "--no-dashboard"], stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        workers = [subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "tcp://127.0.0.1:8786",
                                     "--nthreads", "1", "--no-dashboard"], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL) for _ in range(2)]
        time.sleep(8)
        try:
            wall3, gb3 = simulate(s1000, tmp / "r3", tmp / "c3", extra=("--dask-address", "tcp://127.0.0.1:8786"))
            rows.append(("same 1,020 cells on Dask (2 workers × 1 thread, loopback), cold cache", wall3, gb3))
        finally:
            for p in workers + [sched]:
                p.terminate()
        if not args.quick:
            s6000 = tmp / "sites_6000.csv"
            write_sites(2000, s6000, seed=2)
            wall4, gb4 = simulate(s6000, tmp / "r4", tmp / "c4")
            rows.append(("6,000 cells (2,000 sites), 15 km, 30 m, cold cache", wall4, gb4))
            for n in (50, 150):
                p = tmp / f"s{n}.csv"
                write_sites(n, p, seed=3)
                w, g = simulate(p, tmp / f"rs{n}", tmp / f"cs{n}")
                rows.append((f"scaling: {3 * n} cells ({n} sites), 15 km", w, g))
            p = tmp / "s150.csv"
            for radius in (5, 10, 20):
                w, g = simulate(p, tmp / f"rr{radius}", tmp / f"cr{radius}", radius=radius)
                rows.append((f"scaling: 450 cells, radius {radius} km", w, g))
    print(f"terrain passes in the 1,020-cell run: {passes}\n")
    print("| run | wall | peak memory |\n|---|---|---|")
    for name, wall, gb in rows:
        print(f"| {name} | {wall:.1f} s | {gb:.2f} GB |")


if __name__ == "__main__":
    main()
