"""A study: one TOML file naming inputs, grid, model, thresholds and outputs.

``phusong run SCENARIO.toml`` runs it; ``phusong demo`` writes one for the
built-in demonstration region and runs it. Relative paths are relative to the
scenario file, so a study folder can be moved and re-run exactly.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from rasterio.features import rasterize

from ._atomic import atomic_dir, file_sha256
from .coverage.gaps import DEFAULT_ZONE_SHARE_PCT, analyse
from .coverage.network import ANY, DEFAULT_THRESHOLD_DBM, Settings, simulate_network
from .coverage.runfolder import write_cells, write_layers, write_run_json
from .coverage.maps import write_map
from .coverage.report import write_gpkg, write_report
from .data.boundaries import read_communes, read_points, read_population, read_zones
from .data.targets import DEFAULT_CATALOGUE, load_targets
from .data.terrain import DEFAULT_CRS, DEFAULT_RES_M, load_terrain
from .errors import InputError
from .sites import read_sites

log = logging.getLogger(__name__)


@dataclass
class Layer:
    path: str
    layer: str | None = None
    id_field: str = "code"
    name_field: str = "name"


@dataclass
class Scenario:
    """Everything a study needs; see the README for the TOML form."""

    name: str
    terrain: list[str]
    sites: str
    communes: Layer
    centres: Layer | None = None
    villages: Layer | None = None
    zones: Layer | None = None
    population: str | None = None
    indicators: str | None = None
    targets: str = DEFAULT_CATALOGUE
    crs: str = DEFAULT_CRS
    resolution_m: float = DEFAULT_RES_M
    model: str = "delta-bullington"
    radius_km: float = 15.0
    rx_height_m: float = 1.5
    earth_radius_km: float = 8500.0
    technologies: list[str] = field(default_factory=lambda: ["4G", "5G"])
    thresholds_dbm: dict[str, float] = field(default_factory=dict)
    location_probability: float = 0.9
    sigma_db: float | None = None
    load_factor: float = 0.5
    indoor_loss_db: float = 0.0
    per_operator: bool = False
    zone_share_pct: float = DEFAULT_ZONE_SHARE_PCT
    include_candidates: bool = False
    demonstration: bool = False
    base: Path = Path(".")

    def resolve(self, p: str | None) -> Path | None:
        return None if p is None else (self.base / p)


def _layer(value, where) -> Layer | None:
    if value is None:
        return None
    if isinstance(value, str):
        return Layer(value)
    try:
        return Layer(**value)
    except TypeError as exc:
        raise InputError(f"[{where}]: {exc}") from None


def load_scenario(path) -> Scenario:
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path=path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", path=path) from None
    study = data.get("study", {})
    inputs = data.get("inputs", {})
    model = data.get("model", {})
    cov = data.get("coverage", {})
    for key in ("terrain", "sites", "communes"):
        if key not in inputs:
            raise InputError(f"[inputs] needs {key!r}", path=path, field=key)
    terrain = inputs["terrain"]
    try:
        return Scenario(
            name=study.get("name", path.stem), demonstration=bool(study.get("demonstration", False)),
            crs=study.get("crs", DEFAULT_CRS), resolution_m=float(study.get("resolution_m", DEFAULT_RES_M)),
            terrain=[terrain] if isinstance(terrain, str) else list(terrain), sites=inputs["sites"],
            communes=_layer(inputs["communes"], "inputs.communes"), centres=_layer(inputs.get("centres"), "inputs.centres"),
            villages=_layer(inputs.get("villages"), "inputs.villages"), zones=_layer(inputs.get("zones"), "inputs.zones"),
            population=inputs.get("population"), indicators=inputs.get("indicators"),
            targets=inputs.get("targets", DEFAULT_CATALOGUE),
            model=model.get("name", "delta-bullington"), radius_km=float(model.get("radius_km", 15.0)),
            rx_height_m=float(model.get("rx_height_m", 1.5)),
            earth_radius_km=float(model.get("earth_radius_km", 8500.0)),
            technologies=list(cov.get("technologies", ["4G", "5G"])),
            thresholds_dbm={k: float(v) for k, v in cov.get("thresholds_dbm", {}).items()},
            location_probability=float(cov.get("location_probability", 0.9)),
            sigma_db=None if cov.get("sigma_db") is None else float(cov["sigma_db"]),
            load_factor=float(cov.get("load_factor", 0.5)), indoor_loss_db=float(cov.get("indoor_loss_db", 0.0)),
            per_operator=bool(cov.get("per_operator", False)),
            zone_share_pct=float(cov.get("zone_share_pct", DEFAULT_ZONE_SHARE_PCT)),
            include_candidates=bool(cov.get("include_candidates", False)), base=path.parent)
    except (TypeError, ValueError) as exc:
        raise InputError(f"bad value ({exc})", path=path) from None


def settings_for(sc: Scenario) -> Settings:
    return Settings(technologies=tuple(sc.technologies), radius_km=sc.radius_km, rx_height_m=sc.rx_height_m,
                    model=sc.model, earth_radius_km=sc.earth_radius_km, thresholds_dbm=sc.thresholds_dbm,
                    location_probability=sc.location_probability, sigma_db=sc.sigma_db,
                    load_factor=sc.load_factor, indoor_loss_db=sc.indoor_loss_db,
                    include_candidates=sc.include_candidates, per_operator=sc.per_operator)


def default_cache_dir() -> Path:
    """Where terrain passes are cached: $PHUSONG_CACHE_DIR, else the user's cache folder."""
    env = os.environ.get("PHUSONG_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "phusong" / "footprints"


def run_study(sc: Scenario, out_dir, overwrite: bool = False, progress: bool = True,
              include: dict[str, Path] | None = None, cache_dir=None) -> Path:
    """Run a study; outputs appear in ``out_dir`` all at once (written to a temporary folder first).

    ``include`` maps names inside ``out_dir`` to files or folders copied along (the demo's inputs).
    """
    timings = {}
    t0 = time.perf_counter()
    cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
    crs = sc.crs
    communes = read_communes(sc.resolve(sc.communes.path), crs, sc.communes.layer, sc.communes.id_field,
                             sc.communes.name_field)
    pad = sc.radius_km * 1000.0
    minx, miny, maxx, maxy = communes.total_bounds
    terrain_paths = [sc.resolve(p) for p in sc.terrain]
    # The part of the DEM that sites within reach of the study area can touch.
    terrain = load_terrain(terrain_paths, crs, sc.resolution_m,
                           bounds=(minx - pad, miny - pad, maxx + pad, maxy + pad), partial=True)
    grid = terrain.grid
    gx0, gy0, gx1, gy1 = grid.bounds
    if minx < gx0 or miny < gy0 or maxx > gx1 or maxy > gy1:
        raise InputError("the DEM does not cover the communes (study area)", path=terrain_paths[0])
    timings["terrain_s"] = time.perf_counter() - t0
    sites = read_sites(sc.resolve(sc.sites))
    sx = sites.geometry.to_crs(crs)
    outside = ~grid.contains(sx.x.to_numpy(), sx.y.to_numpy())
    if outside.any():
        i = int(np.flatnonzero(outside)[0])
        raise InputError("site is outside the terrain", path=sc.resolve(sc.sites), row=i + 1, field="lon,lat")
    near = sx.within(communes.union_all().buffer(pad)).to_numpy()
    sites = sites[near].reset_index(drop=True)

    t1 = time.perf_counter()
    area = rasterize(communes.geometry, out_shape=(grid.height, grid.width), transform=grid.transform,
                     dtype=np.uint8).astype(bool)
    settings = settings_for(sc)
    layers, cells, stats = simulate_network(terrain.array, grid, sites, settings, cache_dir=cache_dir,
                                            area_mask=area, progress=progress)
    timings["simulate_s"] = time.perf_counter() - t1
    anyop = {layer.technology: layer for layer in layers if layer.operator == ANY}
    covered = {t: layer.covered for t, layer in anyop.items()}
    rsrp = {t: layer.rsrp_dbm for t, layer in anyop.items()}

    population = read_population(sc.resolve(sc.population), grid) if sc.population else None
    centres = villages = zones = None
    if sc.centres:
        centres = read_points(sc.resolve(sc.centres.path), crs, sc.centres.layer, sc.centres.id_field,
                              sc.centres.name_field)
    if sc.villages:
        villages = read_points(sc.resolve(sc.villages.path), crs, sc.villages.layer, sc.villages.id_field,
                               sc.villages.name_field)
    if sc.zones:
        zones = read_zones(sc.resolve(sc.zones.path), crs, sc.zones.layer, sc.zones.id_field, sc.zones.name_field)
    indicators = pd.read_csv(sc.resolve(sc.indicators)) if sc.indicators else None
    result = analyse(covered, grid, communes, load_targets(sc.targets if not sc.targets.endswith(".toml")
                                                           else str(sc.resolve(sc.targets))),
                     rsrp=rsrp, centres=centres, villages=villages, zones=zones, sites=sites,
                     population=population, indicators=indicators, zone_share_pct=sc.zone_share_pct)
    thresholds = {t: settings.threshold(t) + settings.margin_db for t in anyop}

    out_dir = Path(out_dir)
    with atomic_dir(out_dir, overwrite) as tmp:
        write_layers(tmp, layers, grid, sc.demonstration, sc.name)
        write_cells(tmp, cells)
        write_gpkg(tmp / "gaps.gpkg", result, demonstration=sc.demonstration)
        write_report(tmp, result, f"Coverage scorecard — {sc.name}", sc.demonstration)
        write_map(tmp / "map.html", tmp, tmp / "gaps.gpkg")
        timings["total_s"] = time.perf_counter() - t0
        inputs = {str(p): file_sha256(p) for p in terrain_paths + [sc.resolve(sc.sites), sc.resolve(sc.communes.path)]}
        write_run_json(tmp, {
            "scenario": {k: v for k, v in asdict(sc).items() if k != "base"}, "inputs_sha256": inputs,
            "grid": {"crs": str(grid.crs), "res_m": grid.res_m, "width": grid.width, "height": grid.height,
                     "bounds": grid.bounds},
            "terrain_voids_filled": terrain.void_count, "simulation": stats,
            "coverage_levels_dbm": thresholds, "timings": {k: round(v, 2) for k, v in timings.items()},
            "demonstration": sc.demonstration})
        for name, src in (include or {}).items():
            (shutil.copytree if Path(src).is_dir() else shutil.copy2)(src, tmp / name)
    return out_dir


def demo_scenario_toml(inputs_rel: str = "inputs") -> str:
    thresholds = "\n".join(f'"{k}" = {v}' for k, v in DEFAULT_THRESHOLD_DBM.items())
    return f'''# phusong demonstration study: SYNTHETIC terrain, boundaries, population and generated sites.
[study]
name = "Demonstration region (synthetic)"
demonstration = true
crs = "EPSG:32648"
resolution_m = 50

[inputs]
terrain = ["{inputs_rel}/dem_demo.tif"]
sites = "{inputs_rel}/sites_demo.csv"
population = "{inputs_rel}/population_demo.tif"
targets = "{DEFAULT_CATALOGUE}"
communes = {{ path = "{inputs_rel}/areas_demo.gpkg", layer = "communes" }}
centres = {{ path = "{inputs_rel}/areas_demo.gpkg", layer = "commune_centres" }}
villages = {{ path = "{inputs_rel}/areas_demo.gpkg", layer = "villages" }}
zones = {{ path = "{inputs_rel}/areas_demo.gpkg", layer = "industrial_zones" }}

[model]
name = "delta-bullington"
radius_km = 10
rx_height_m = 1.5
earth_radius_km = 8500

[coverage]
technologies = ["4G", "5G"]
location_probability = 0.9
load_factor = 0.5
zone_share_pct = 90

[coverage.thresholds_dbm]
{thresholds}
'''
