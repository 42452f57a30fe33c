"""phusong: 4G/5G radio coverage planning against a province's coverage targets.

The public API, for planners in notebooks::

    import phusong

    settings = phusong.Settings.from_toml("study.toml")          # or phusong.Settings(), .replace(...)
    terrain = phusong.load_terrain(["N21E106.hgt"], "EPSG:32648", 30.0)
    sites = phusong.read_sites("sites.csv")
    communes = phusong.read_boundaries("communes.gpkg", terrain.grid.crs, layer="communes")

    coverage = phusong.simulate(terrain, sites, settings)        # a Coverage: arrays per layer + grid
    gaps = phusong.analyse(coverage, communes)                   # a GapResult: units and targets
    phusong.coverage_map(coverage, gaps).save("map.html")       # a folium.Map

    coverage.to_run_folder("run")                                # what `phusong simulate` writes
    gaps.to_geopackage("gaps.gpkg"); gaps.write_scorecard("report")

    plan = phusong.plan_study(settings, "run", "gaps.gpkg", ["N21E106.hgt"], "sites.csv", "plan")
    plan.actions, plan.total_cost, plan.gap_pct                  # what to build, for how much, how close to optimal

    calib = phusong.calibrate_study(settings, "drive.csv")       # fit the model to measurements
    open("CALIB.toml", "w").write(calib.to_toml())               # then Settings().replace(model={"calibration": ...})

Names are imported on first use, so that ``import phusong`` (and ``phusong --help``) stay fast.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

__version__ = "0.1.0"

# public name -> (module, attribute)
_API = {
    "Settings": ("phusong.settings", "Settings"),
    "Layer": ("phusong.settings", "Layer"),
    "InputError": ("phusong.errors", "InputError"),
    "PhusongError": ("phusong.errors", "PhusongError"),
    "load_terrain": ("phusong.data.terrain", "load_terrain"),
    "Terrain": ("phusong.data.terrain", "Terrain"),
    "read_sites": ("phusong.sites", "read_sites"),
    "validate_sites": ("phusong.sites", "validate_sites"),
    "read_boundaries": ("phusong.data.boundaries", "read_communes"),
    "read_points": ("phusong.data.boundaries", "read_points"),
    "read_zones": ("phusong.data.boundaries", "read_zones"),
    "read_population": ("phusong.data.boundaries", "read_population"),
    "load_targets": ("phusong.data.targets", "load_targets"),
    "simulate": ("phusong.pipeline", "simulate"),
    "analyse": ("phusong.pipeline", "analyse"),
    "run_study": ("phusong.pipeline", "run_study"),
    "plan_study": ("phusong.pipeline", "plan_study"),
    "calibrate_study": ("phusong.pipeline", "calibrate_study"),
    "read_measurements": ("phusong.measurements", "read_measurements"),
    "Plan": ("phusong.planning.plan", "Plan"),
    "Coverage": ("phusong.coverage.network", "Coverage"),
    "FootprintCache": ("phusong.coverage.cache", "FootprintCache"),
    "GapResult": ("phusong.gaps.rules", "GapResult"),
    "coverage_map": ("phusong.outputs.maps", "build_map"),
}
__all__ = ["__version__", "Settings", "Layer", "InputError", "PhusongError", "load_terrain", "Terrain", "read_sites",
           "validate_sites", "read_boundaries", "read_points", "read_zones", "read_population", "load_targets",
           "simulate", "analyse", "run_study", "plan_study", "calibrate_study", "read_measurements", "Plan", "Coverage",
           "FootprintCache", "GapResult", "coverage_map"]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time names load lazily
    from .coverage.cache import FootprintCache
    from .coverage.network import Coverage
    from .data.boundaries import read_communes as read_boundaries
    from .data.boundaries import read_points, read_population, read_zones
    from .data.targets import load_targets
    from .data.terrain import Terrain, load_terrain
    from .errors import InputError, PhusongError
    from .gaps.rules import GapResult
    from .outputs.maps import build_map as coverage_map
    from .measurements import read_measurements
    from .pipeline import analyse, calibrate_study, plan_study, run_study, simulate
    from .planning.plan import Plan
    from .settings import Layer, Settings
    from .sites import read_sites, validate_sites


def __getattr__(name: str):
    if name in _API:
        module, attr = _API[name]
        value = getattr(importlib.import_module(module), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'phusong' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))
