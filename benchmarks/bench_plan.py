"""The rollout planner on the province: time, memory, cost, optimality gap, and two naive strategies.

Usage:  .venv/bin/python benchmarks/bench_plan.py [--resolution-m 30] [--radius-km 10] [--sites 150]
                                                  [--max-new-sites 1500] [--targets IDS] [--out DIR]
        .venv/bin/python benchmarks/bench_plan.py --stage plan --out DIR --targets IDS   # again, warm cache
Needs ../shared (or PHUSONG_SHARED). DEMONSTRATION: the real 65 Lạng Sơn communes, their centres,
the approximate industrial zones and WorldPop settlements, on the SYNTHETIC stand-in terrain with a
GENERATED 4G-heavy site list. Two processes, each timed and measured (peak RSS) on its own:
``run`` (simulate + gaps of the existing network) and ``plan`` (candidates, their terrain passes,
selection, bound, verifying re-run). The naive strategies are costed and scored on the plan's own
covering instance. Prints Markdown for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("PHUSONG_SHARED", ROOT.parent / "shared"))
LS = SHARED / "data" / "langson"


def settings_dict(a) -> dict:
    return {"study": {"name": "Lạng Sơn rollout benchmark (demonstration)", "resolution_m": a.resolution_m},
            "inputs": {"terrain": [str(LS / "terrain_standin_3arcsec.tif")], "sites": str(Path(a.out) / "sites.csv"),
                       "population": str(LS / "population_worldpop_2020_1km.tif"),
                       "communes": {"path": str(LS / "communes_2025.gpkg"), "layer": "communes"},
                       "centres": {"path": str(LS / "communes_2025.gpkg"), "layer": "commune_centres"},
                       "zones": {"path": str(LS / "industrial_zones_approx.csv"), "id_field": "code"}},
            "model": {"radius_km": a.radius_km},
            "gaps": {"settlement_min_people": 50},
            "plan": {"max_new_sites": a.max_new_sites, "new_site_spacing_m": 1200, "new_sites_per_cluster": 8,
                     "new_site_search_km": 5, "milp_time_limit_s": a.milp_s,
                     **({"target_ids": a.targets.split(",")} if a.targets else {})}}


def stage_run(a):
    import geopandas as gpd

    from phusong import FootprintCache, Settings, run_study
    from phusong.sites.generate import generate_sites, write_sites_csv

    province = gpd.read_file(LS / "communes_2025.gpkg", layer="province")
    write_sites_csv(generate_sites(province, LS / "population_worldpop_2020_1km.tif", a.sites, seed=11,
                                   share_5g=0.15), Path(a.out) / "sites.csv")
    settings = Settings.from_dict(settings_dict(a))
    t0 = time.perf_counter()
    run_study(settings, Path(a.out) / "run", overwrite=True, cache=FootprintCache(Path(a.out) / "cache"))
    return {"run_s": round(time.perf_counter() - t0, 1)}


def stage_plan(a):
    import numpy as np

    from phusong import FootprintCache, Settings
    from phusong.pipeline import plan_study
    from phusong.planning.optimise import evaluate, greedy

    settings = Settings.from_dict(settings_dict(a))
    out = Path(a.out)
    t0 = time.perf_counter()
    plan = plan_study(settings, out / "run", out / "run" / "gaps.gpkg", settings.inputs.terrain, out / "sites.csv",
                      out / "plan", population=settings.inputs.population, cache=FootprintCache(out / "cache"),
                      overwrite=True)
    wall = time.perf_counter() - t0
    prop = plan.proposal
    inst, cands = prop.instance, prop.candidates
    # naive 1: upgrade every mast without 5G (every upgrade candidate of the site list)
    upgrades = np.flatnonzero((cands["action"] == "upgrade").to_numpy())
    # naive 2: upgrade the nearest mast to each uncovered commune centre
    centres = prop.demand.points[prop.demand.points["kind"] == "centres"]
    ux, uy = cands["x"].to_numpy()[upgrades], cands["y"].to_numpy()[upgrades]
    nearest = sorted({int(upgrades[np.argmin(np.hypot(ux - x, uy - y))]) for x, y in centres[["x", "y"]].to_numpy()})
    strategies = {"plan": plan.proposal.solution.chosen, "upgrade every 4G-only mast": list(upgrades),
                  "upgrade the nearest mast to each uncovered centre": nearest}
    scored = {}
    for name, chosen in strategies.items():
        cost, att = evaluate(inst, chosen)
        scored[name] = {"actions": len(chosen), "cost": cost, "attainment": {k: round(100 * v, 1) for k, v in att.items()}}
        if name != "plan":   # what the planner's heuristic reaches with the same money
            same = greedy(inst, budget=cost)
            scored[name]["plan_with_the_same_budget"] = {
                "actions": len(same.chosen), "cost": same.cost,
                "attainment": {k: round(100 * v, 1) for k, v in same.attainment.items()}}
    return {"plan_s": round(wall, 1), "timings": plan.timings, "candidates": len(cands),
            "candidates_by_action": cands["action"].value_counts().to_dict(), "units": int(inst.cover.shape[0]),
            "pairs": int(inst.cover.nnz), "actions": len(plan.actions), "cost": plan.total_cost,
            "bound": plan.bound, "gap_pct": plan.gap_pct, "method": plan.method,
            "targets": plan.targets[["target_id", "before", "after", "status_after", "reachable"]].to_dict("records"),
            "unreachable": len(plan.unreachable), "strategies": scored}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--resolution-m", type=float, default=30.0)
    ap.add_argument("--radius-km", type=float, default=10.0)
    ap.add_argument("--sites", type=int, default=150)
    ap.add_argument("--max-new-sites", type=int, default=1500)
    ap.add_argument("--milp-s", type=float, default=60.0)
    ap.add_argument("--targets", help="Target ids (default: the planner's four).")
    ap.add_argument("--out", default="/tmp/phusong-bench-plan")
    ap.add_argument("--stage", choices=["run", "plan"], help=argparse.SUPPRESS)
    a = ap.parse_args()
    if not LS.exists():
        sys.exit(f"needs {LS}")
    Path(a.out).mkdir(parents=True, exist_ok=True)
    if a.stage:
        result = {"run": stage_run, "plan": stage_plan}[a.stage](a)
        result["peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)
        print(json.dumps(result, default=float))
        return
    results = {}
    for stage in ("run", "plan"):
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, __file__, "--stage", stage, *sys.argv[1:]], capture_output=True,
                              text=True, check=True)
        results[stage] = json.loads(proc.stdout.strip().splitlines()[-1])
        results[stage]["process_s"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(results, indent=1, default=float, ensure_ascii=False))


if __name__ == "__main__":
    main()
