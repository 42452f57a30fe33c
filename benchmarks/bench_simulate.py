"""Province-scale `phusong simulate` on the Lạng Sơn stand-in terrain (SYNTHETIC) with GENERATED sites.

Usage: .venv/bin/python benchmarks/bench_simulate.py [--quick | --named | --large | --bands | --fresh-jit]
Each run is a separate process timed with /usr/bin/time (wall, peak memory); the split of each run
comes from its run.json (inputs, terrain passes with their sweeps and folds, finishing layers, relief,
raster writing). Needs ../shared. Prints Markdown rows for benchmarks/RESULTS.md, and this machine's speed
before and after the runs (machine_check.py).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
from make_sites import SHARED, STANDIN_DEM as DEM, make_sites  # noqa: E402

from phusong.sites.generate import write_sites_csv  # noqa: E402

AREA = SHARED / "data/langson/communes_2025.gpkg"
PHUSONG = str(Path(sys.executable).parent / "phusong")


SPLIT = ("inputs_s", "passes_s", "sweeps_s", "folds_s", "finish_s", "relief_s", "write_rasters_s")
# (sweeps and folds: the parts of the terrain passes' stage in the terrain passes themselves, swept or read from
# the cache, and in folding them; the rest is writing the fold state for what-ifs)
TABLE_HEADER = ("| run | wall | peak memory | inputs | terrain passes | of which sweeps | and folds | finish layers | "
                "relief | write rasters |\n|---|---|---|---|---|---|---|---|---|---|")


def machine_check(cache_dir) -> str:
    """machine_check.py's line (this machine's speed), from a process of its own."""
    out = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "machine_check.py"), "--cache-dir", str(cache_dir)],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def write_sites(n_sites, path, seed=1, uniform=False):
    df = make_sites(n_sites, seed, uniform)
    write_sites_csv(df, path)
    return df


def timed_simulate(args, numba_cache=None):
    """`phusong simulate ARGS -q` in its own process under /usr/bin/time: (wall s, peak memory GB); with
    ``numba_cache``, compiled kernels are kept there (NUMBA_CACHE_DIR) instead of beside the package."""
    cmd = ["/usr/bin/time", "-f", "%e %M", PHUSONG, "simulate", *args, "-q"]
    env = None if numba_cache is None else {**os.environ, "NUMBA_CACHE_DIR": str(numba_cache)}
    out = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-2000:])
    wall, kb = out.stderr.strip().splitlines()[-1].split()
    return float(wall), int(kb) / 1024 / 1024


def simulate(sites, out, cache, radius=15, extra=(), numba_cache=None):
    return timed_simulate(["--dem", str(DEM), "--area", str(AREA), "--area-layer", "communes", "--sites", str(sites),
                           "--out", str(out), "--radius-km", str(radius), "--cache-dir", str(cache), "--overwrite",
                           *extra], numba_cache)


def split(out) -> str:
    """The run's own timings (run.json) in the order of SPLIT; how many rasters were linked from the cache."""
    record = json.loads((Path(out) / "run.json").read_text())
    timings = {**record.get("simulation", {}), **record.get("timings", {})}
    cells = [f"{timings[k]:.1f} s" if k in timings else "—" for k in SPLIT]
    if record.get("rasters_reused"):
        cells[-1] += f" ({record['rasters_reused']} linked)"
    return " | ".join(cells)


def named_runs(tmp, rows):
    """The issue's named province runs: 334 three-sector sites (1,002 cells), 4G and 5G mixed, spread
    uniformly (seed 7) and by population (seed 1); then what-if re-runs and fewer rasters."""
    for label, uniform, seed in (("uniform", True, 7), ("population-weighted", False, 1)):
        sites = tmp / f"named_{label}.csv"
        df = write_sites(334, sites, seed=seed, uniform=uniform)
        out, cache = tmp / f"named_{label}", tmp / f"cache_{label}"
        rows.append((f"1,002 cells {label} (seed {seed}), 15 km, 30 m, cold cache", *simulate(sites, out, cache),
                     split(out)))
        if uniform:
            df.loc[0, "electrical_tilt_deg"] += 4
            whatif = tmp / "named_whatif.csv"
            write_sites_csv(df, whatif)
            rows.append(("  what-if: one tilt changed, warm cache", *simulate(whatif, tmp / "w1", cache),
                         split(tmp / "w1")))
            rows.append(("  what-if, `--rasters covered,rsrp`", *simulate(whatif, tmp / "w2", cache,
                                                                            extra=("--rasters", "covered,rsrp")),
                         split(tmp / "w2")))


def large_run(tmp, rows):
    """6,000 cells: 2,000 population-weighted sites (seed 2), 15 km, 30 m, cold cache."""
    s6000 = tmp / "sites_6000.csv"
    write_sites(2000, s6000, seed=2)
    wall, gb = simulate(s6000, tmp / "r4", tmp / "c4")
    rows.append(("6,000 cells (2,000 sites, seed 2), 15 km, 30 m, cold cache", wall, gb, split(tmp / "r4")))


def fresh_jit_runs(tmp, rows, warm_sites):
    """What a new installation's first run pays: ``warm_sites`` (6 sites, 2 km) and the uniform named list (seed 7)
    with an empty Numba cache, the first against the same run with the kernels compiled already."""
    rows.append(("6 sites, 2 km, cold cache, kernels compiled", *simulate(warm_sites, tmp / "j0", tmp / "cj0", radius=2),
                 split(tmp / "j0")))
    rows.append(("6 sites, 2 km, cold cache, **empty Numba cache**",
                 *simulate(warm_sites, tmp / "j1", tmp / "cj1", radius=2, numba_cache=tmp / "numba1"),
                 split(tmp / "j1")))
    sites = tmp / "named_uniform.csv"
    write_sites(334, sites, seed=7, uniform=True)
    rows.append(("1,002 cells uniform (seed 7), 15 km, 30 m, cold cache, **empty Numba cache**",
                 *simulate(sites, tmp / "j2", tmp / "cj2", numba_cache=tmp / "numba2"), split(tmp / "j2")))


def bands_run(tmp, rows):
    """Two bands a mast: the uniform list's 334 sites (seed 7) each with three 4G cells at 1,800 MHz and three 5G
    cells at its operator's band on the same mast (2,004 cells), against the 1,002 cells of one band a site."""
    import pandas as pd

    one = tmp / "bands_one.csv"
    write_sites(334, one, seed=7, uniform=True)
    rows.append(("1,002 cells uniform (seed 7), one band a site, cold cache", *simulate(one, tmp / "b1", tmp / "cb1"),
                 split(tmp / "b1")))
    # (the same draws whatever the share of 5G: the same masts, operators, azimuths and heights)
    four, five = (make_sites(334, 7, True, share_5g=share) for share in (0.0, 1.0))
    both = pd.concat([four.assign(cell_id=four["cell_id"] + "-L"), five.assign(cell_id=five["cell_id"] + "-N")])
    two = tmp / "bands_two.csv"
    write_sites_csv(both.reset_index(drop=True), two)
    rows.append(("2,004 cells: the same 334 masts with 4G 1,800 MHz and 5G each (two bands a mast), cold cache",
                 *simulate(two, tmp / "b2", tmp / "cb2"), split(tmp / "b2")))


def full_runs(tmp, rows, df, s1000, quick) -> int:
    """The 1,020-cell list (``df``, written to ``s1000``) cold, its what-if and on Dask; without ``quick`` also 6,000
    cells and the scaling series. Returns the 1,020-cell run's terrain passes."""
    wall, gb = simulate(s1000, tmp / "r1", tmp / "c1")
    rows.append(("1,020 cells (340 sites), 15 km, 30 m, cold cache", wall, gb, split(tmp / "r1")))
    passes = json.loads((tmp / "r1" / "run.json").read_text())["simulation"]["terrain_passes"]
    # what-if: one cell's tilt changed; every terrain pass comes from the cache
    df.loc[0, "electrical_tilt_deg"] += 4
    whatif = tmp / "sites_whatif.csv"
    write_sites_csv(df, whatif)
    wall2, gb2 = simulate(whatif, tmp / "r2", tmp / "c1")
    rows.append(("what-if re-run (one tilt changed), warm cache", wall2, gb2, split(tmp / "r2")))
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
        rows.append(("same 1,020 cells on Dask (2 workers × 1 thread, loopback), cold cache", wall3, gb3,
                     split(tmp / "r3")))
    finally:
        for p in workers + [sched]:
            p.terminate()
    if not quick:
        large_run(tmp, rows)
        for n in (50, 150):
            p = tmp / f"s{n}.csv"
            write_sites(n, p, seed=3)
            w, g = simulate(p, tmp / f"rs{n}", tmp / f"cs{n}")
            rows.append((f"scaling: {3 * n} cells ({n} sites), 15 km", w, g, split(tmp / f"rs{n}")))
        p = tmp / "s150.csv"
        for radius in (5, 10, 20):
            w, g = simulate(p, tmp / f"rr{radius}", tmp / f"cr{radius}", radius=radius)
            rows.append((f"scaling: 450 cells, radius {radius} km", w, g, split(tmp / f"rr{radius}")))
    return passes


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 6,000-cell run and the scaling series")
    ap.add_argument("--named", action="store_true", help="only the issue's named runs (uniform/population, what-if)")
    ap.add_argument("--large", action="store_true", help="only the 6,000-cell run (2,000 sites, seed 2)")
    ap.add_argument("--bands", action="store_true", help="only the two-bands-a-mast run and its one-band pair")
    ap.add_argument("--fresh-jit", action="store_true",
                    help="only first runs on an empty Numba cache (a new installation), 6 sites and 1,002 cells")
    args = ap.parse_args()
    rows = []
    passes = None
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        s1000 = tmp / "sites_1000.csv"
        df = write_sites(340, s1000)
        warm = tmp / "sites_warm.csv"
        write_sites_csv(df.head(6), warm)
        simulate(warm, tmp / "r0", tmp / "c0", radius=2)  # the JIT cache, so no run below pays compilation
        tilted = df.head(6).copy()
        tilted.loc[0, "electrical_tilt_deg"] += 4
        write_sites_csv(tilted, warm)
        simulate(warm, tmp / "r0", tmp / "c0", radius=2)  # ... nor a what-if (its own kernels)
        checks = [machine_check(tmp / "mc")]
        if args.large:
            large_run(tmp, rows)
        elif args.bands:
            bands_run(tmp, rows)
        elif args.fresh_jit:
            write_sites_csv(df.head(6), warm)
            fresh_jit_runs(tmp, rows, warm)
        else:
            named_runs(tmp, rows)
            if not args.named:
                passes = full_runs(tmp, rows, df, s1000, args.quick)
        checks.append(machine_check(tmp / "mc"))
    report(rows, passes, checks)


def report(rows, passes, checks):
    for when, line in zip(("before the runs", "after them"), checks):
        print(f"{line}, {when}")
    print()
    if passes is not None:
        print(f"terrain passes in the 1,020-cell run: {passes}\n")
    print(TABLE_HEADER)
    for name, wall, gb, parts in rows:
        print(f"| {name} | {wall:.1f} s | {gb:.2f} GB | {parts} |")


if __name__ == "__main__":
    main()
