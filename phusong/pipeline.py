"""One pipeline: load inputs → simulate → analyse → write outputs, as stages on objects.

Every entry point calls these stages: ``phusong run`` and ``demo`` all of them,
``simulate`` the first two, ``gaps`` and ``map`` the last two (from a run folder),
and planners the same functions from Python (:mod:`phusong`). Two decisions are
made here once, for all of them:

* **Demonstration labels** (:func:`demonstration_reasons`): a DEM whose metadata
  says SYNTHETIC, a site list whose leading comment says GENERATED, or
  ``study.demonstration`` make every output say it is a demonstration; a scenario
  can add the label but never remove it.
* **Villages**: without a village layer, settlement points from the population
  raster (cells with at least ``gaps.settlement_min_people``) stand in, labelled
  as a proxy (:func:`load_gap_inputs`).
"""
from __future__ import annotations

import dataclasses
import logging
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import Transformer

from ._atomic import atomic_dir, file_sha256
from ._raster import Grid
from .coverage.cache import FootprintCache, area_mask
from .coverage.cells import simulated
from .coverage.network import Coverage, simulate_network
from .data.boundaries import (population_points, read_area, read_communes, read_points, read_population, read_priority,
                              read_zones)
from .data.msi import read_msi
from .data.targets import Target, load_targets, read_indicators
from .data.terrain import Terrain, dem_bounds_lonlat, load_terrain, resolve_crs
from .errors import InputError
from .fetch.inputs import credits_beside
from .gaps.rules import GapResult
from .gaps.rules import analyse as analyse_units
from .settings import Layer, Settings
from .sites import read_sites

log = logging.getLogger(__name__)


def demonstration_reasons(terrain: Terrain, sites, settings: Settings) -> tuple[str, ...]:
    """Why outputs on these inputs are a demonstration (empty: they are not)."""
    reasons = [f"{name}: synthetic terrain" for name in terrain.synthetic]
    if getattr(sites, "attrs", {}).get("generated"):
        reasons.append(sites.attrs["generated"])
    if settings.study.demonstration:
        reasons.append("marked a demonstration (study.demonstration)")
    if settings.model.calibration is not None:
        reasons.extend(settings.model.calibration.demonstration)
    return tuple(reasons)


def read_layer(layer: Layer, crs, kind: str) -> gpd.GeoDataFrame:
    """A vector input in the working CRS: ``kind`` is communes, points or zones."""
    reader = {"communes": read_communes, "points": read_points, "zones": read_zones}[kind]
    return reader(layer.path, crs, layer.layer, layer.id_field, layer.name_field)


def read_antenna_patterns(sites) -> dict:
    """Every MSI pattern file named by the site list, read once (the kernels and Dask workers get arrays)."""
    if "antenna_file" not in sites:
        return {}
    files = sorted({f for f in sites["antenna_file"] if isinstance(f, str) and f})
    return {f: read_msi(f) for f in files}


# ---------------------------------------------------------------------------------------------- simulate
@dataclass
class SimulationInputs:
    """Terrain on the working grid, the sites within reach, and the study area."""

    terrain: Terrain
    sites: gpd.GeoDataFrame
    area: gpd.GeoDataFrame | None
    area_mask: np.ndarray
    demonstration: tuple[str, ...]
    files: list[Path] = field(default_factory=list)
    site_list: gpd.GeoDataFrame | None = None     # every row of the site list, as read
    communes: gpd.GeoDataFrame | None = None      # the communes, when they are the study area
    landcover: np.ndarray | None = None           # land-cover class codes on the terrain's grid
    credits: tuple[str, ...] = ()                 # credit lines of inputs fetched by `phusong data fetch`


def load_simulation_inputs(settings: Settings, cache: FootprintCache | None = None) -> SimulationInputs:
    """Read the terrain around the study area and the sites that can reach it.

    The study area is ``inputs.area``, else ``inputs.communes``, else the sites'
    reach. The terrain is read for the area padded by ``model.radius_km``, so that
    sites outside the area but within reach of it count. With a ``cache``, the reprojected terrain is kept
    in its ``terrain/`` folder and read back by later runs.
    """
    ins = settings.inputs
    if not ins.terrain:
        raise InputError("[inputs] needs 'terrain' (DEM tiles)", argument="terrain")
    if ins.sites is None:
        raise InputError("[inputs] needs 'sites' (the site list)", argument="sites")
    crs = resolve_crs(settings.study.crs, list(ins.terrain))
    sites = read_sites(ins.sites, dem_bounds_lonlat(list(ins.terrain)), sheet=ins.sites_sheet)
    pad = settings.model.radius_km * 1000.0
    area_layer = ins.area or ins.communes
    area = None
    if ins.area:
        area = read_area(ins.area.path, crs, ins.area.layer)
    elif ins.communes:
        area = read_layer(ins.communes, crs, "communes")
    if area is not None:
        minx, miny, maxx, maxy = area.total_bounds
    else:
        x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(sites["lon"].to_numpy(),
                                                                               sites["lat"].to_numpy())
        minx, miny, maxx, maxy = float(np.min(x)), float(np.min(y)), float(np.max(x)), float(np.max(y))
    terrain = load_terrain(list(ins.terrain), crs, settings.study.resolution_m,
                           bounds=(minx - pad, miny - pad, maxx + pad, maxy + pad), partial=True,
                           cache_dir=cache.folder / "terrain" if cache is not None else None)
    grid = terrain.grid
    if area is not None and area_layer is not None:
        gx0, gy0, gx1, gy1 = grid.bounds
        if minx < gx0 or miny < gy0 or maxx > gx1 or maxy > gy1:
            raise InputError("the DEM does not cover the whole study area", path=area_layer.path)
        mask = cache.area_mask(area.geometry, grid) if cache is not None else area_mask(area.geometry, grid)
    else:
        mask = np.isfinite(terrain.array)
    reasons = demonstration_reasons(terrain, sites, settings)
    site_list = sites
    if area is not None:
        # the area's edge cells (evaluated too) lie up to 1.5 cells beyond it
        within_reach, _ = area.sindex.query(sites.geometry.to_crs(crs), predicate="dwithin",
                                            distance=pad + 2 * settings.study.resolution_m)
        sites = sites.iloc[np.unique(within_reach)].reset_index(drop=True)
    if len(sites) == 0:
        raise InputError("no site within reach of the study area", path=ins.sites)
    files = [*ins.terrain, ins.sites] + ([area_layer.path] if area_layer else [])
    cal = settings.model.calibration
    if cal is not None and cal.source and Path(cal.source).is_file():
        files.append(Path(cal.source))
    landcover = None
    if ins.landcover is not None:
        from .data.landcover import read_landcover
        landcover = read_landcover(ins.landcover, grid)
        files.append(ins.landcover)
    return SimulationInputs(terrain, sites, area, mask, reasons, files, site_list,
                            area if ins.area is None else None, landcover, credits_beside(files))


def simulate(terrain: Terrain, sites, settings: Settings | None = None, *, area_mask: np.ndarray | None = None,
             cache: FootprintCache | None = None, progress: bool = False, dask_address: str | None = None,
             demonstration: tuple[str, ...] | None = None, landcover: np.ndarray | None = None) -> Coverage:
    """Best server, SINR and coverage of every technology (and operator) over ``terrain``.

    Parameters
    ----------
    terrain : Terrain
        Heights on the working grid, from :func:`phusong.load_terrain`.
    sites : GeoDataFrame
        A site list from :func:`phusong.read_sites` (one row per cell).
    settings : Settings, optional
        Model and coverage settings (default: :class:`Settings` defaults).
    area_mask : ndarray of bool, optional
        The study area on the grid; ``covered`` is 255 outside it, and only it (with the cells touching
        it) is evaluated (default: where terrain has data).
    cache : FootprintCache, optional
        Where terrain passes are kept for re-runs (default: none, every pass computed).
    progress : bool
        Show a progress bar over terrain passes.
    dask_address : str, optional
        Run the terrain passes on an existing Dask cluster (same result, bit for bit).
    landcover : ndarray of int, optional
        Land-cover class codes on the terrain's grid (:func:`phusong.data.landcover.read_landcover`): the
        clutter heights of model ``p1812`` (without it, bare terrain), the extra losses of a clutter table
        (``model.clutter_table``, which needs it), and a calibration's per-class offsets.

    Returns
    -------
    Coverage
        Layers on the terrain's grid, labelled as a demonstration when the inputs are synthetic.

    Examples
    --------
    >>> import phusong
    >>> from phusong.data.demo import example_inputs
    >>> paths = example_inputs()
    >>> terrain = phusong.load_terrain(paths.dem, "EPSG:32648", 250.0)
    >>> sites = phusong.read_sites(paths.sites).head(6)
    >>> cov = phusong.simulate(terrain, sites, phusong.Settings().replace(model={"radius_km": 4}))
    >>> cov.demonstration
    ('dem_demo.tif: synthetic terrain', 'sites_demo.csv: generated sites')
    >>> cov.covered["4G"].dtype.name, cov.grid == terrain.grid
    ('uint8', True)
    """
    settings = settings or Settings()
    if settings.study.crs != terrain.grid.crs.to_string():   # "auto" resolved: run.json records the CRS used
        settings = dataclasses.replace(settings, study=dataclasses.replace(settings.study,
                                                                           crs=terrain.grid.crs.to_string()))
    reasons = demonstration if demonstration is not None else demonstration_reasons(terrain, sites, settings)
    mask = area_mask if area_mask is not None else np.isfinite(terrain.array)
    if settings.model.calibration is not None:   # before any terrain pass, not at the first one
        settings.model.calibration.require_landcover(landcover)
        cal = settings.model.calibration
        others = sorted(set(sites["technology"]) & set(settings.coverage.technologies) - {cal.technology})
        if cal.technology and others:
            log.warning("the calibration %s was fitted to %s measurements; it corrects every cell of this run, "
                        "%s included (calibrate each technology and run them apart to keep them apart)",
                        cal.source or "", cal.technology, ", ".join(others))
    settings.model.require_landcover(landcover)
    if settings.model.name == "p1812" and landcover is None:
        log.warning("p1812 without land cover: the profiles are bare terrain (give --landcover for clutter)")
    t0 = time.perf_counter()
    cov = simulate_network(terrain.array, terrain.grid, sites, settings, cache=cache, area_mask=mask,
                           patterns=read_antenna_patterns(sites), progress=progress, dask_address=dask_address,
                           landcover=landcover)
    cov.stats["simulate_s"] = round(time.perf_counter() - t0, 2)
    cov.stats["terrain_voids_filled"] = terrain.void_count
    if reasons:
        log.warning("demonstration run (%s): outputs are labelled as such", "; ".join(reasons))
    return dataclasses.replace(cov, demonstration=tuple(reasons))


# ---------------------------------------------------------------------------------------------- analyse
@dataclass
class GapInputs:
    """The units and data a gap analysis measures, in the run's CRS."""

    communes: gpd.GeoDataFrame
    centres: gpd.GeoDataFrame | None = None
    villages: gpd.GeoDataFrame | None = None
    settlements: gpd.GeoDataFrame | None = None
    zones: gpd.GeoDataFrame | None = None
    sites: gpd.GeoDataFrame | None = None
    population: np.ndarray | None = None
    indicators: pd.DataFrame | None = None
    targets: list[Target] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)
    priority: dict[str, gpd.GeoDataFrame] = field(default_factory=dict)

    @property
    def credits(self) -> tuple[str, ...]:
        """Credit lines of the inputs fetched by `phusong data fetch`."""
        return credits_beside(self.files)


def load_gap_inputs(settings: Settings, grid: Grid, *, communes=None, sites=None) -> GapInputs:
    """Read the units the targets count, on ``grid`` (the run's); settlements stand in for missing villages.

    ``communes`` and ``sites`` already read (by :func:`load_simulation_inputs`) are used instead of
    reading the same files again."""
    ins = settings.inputs
    if ins.communes is None:
        raise InputError("[inputs] needs 'communes' (commune polygons)", argument="communes")
    crs = grid.crs
    if communes is None:
        communes = read_layer(ins.communes, crs, "communes")
    out = GapInputs(communes.to_crs(crs), targets=load_targets(ins.targets))
    out.files.append(ins.communes.path)
    if ins.centres:
        out.centres = read_layer(ins.centres, crs, "points")
        out.files.append(ins.centres.path)
    if ins.villages:
        out.villages = read_layer(ins.villages, crs, "points")
        out.files.append(ins.villages.path)
    if ins.zones:
        out.zones = read_layer(ins.zones, crs, "zones")
        out.files.append(ins.zones.path)
    if ins.sites:
        out.sites = sites if sites is not None else read_sites(ins.sites, sheet=ins.sites_sheet)
        out.files.append(ins.sites)
    if ins.population:
        out.population = read_population(ins.population, grid)
        out.files.append(ins.population)
        if out.villages is None:
            out.settlements = population_points(ins.population, crs, settings.gaps.settlement_min_people)
    if ins.indicators:
        out.indicators = read_indicators(ins.indicators)
        out.files.append(ins.indicators)
    for name, layer in ins.priority.items():
        out.priority[name] = read_priority(layer.path, crs, layer.layer)   # the name is checked in settings
        out.files.append(layer.path)
    if ins.targets.endswith(".toml"):
        out.files.append(Path(ins.targets))
    return out


def analyse(coverage: Coverage, communes: gpd.GeoDataFrame, *, centres=None, villages=None, settlements=None,
            zones=None, sites=None, population=None, indicators=None, targets: list[Target] | None = None,
            settings: Settings | None = None, title: str | None = None, polygons: bool = True,
            priority: dict[str, gpd.GeoDataFrame] | None = None) -> GapResult:
    """Communes, centres, villages, industrial zones and population of ``coverage`` against the targets.

    Parameters
    ----------
    coverage : Coverage
        From :func:`simulate` or :meth:`Coverage.from_run_folder`.
    communes : GeoDataFrame
        Commune polygons with ``code`` and ``name`` (from :func:`phusong.read_boundaries`).
    centres, villages, settlements, zones, sites : GeoDataFrame, optional
        Commune centres (default: an interior point of each commune, a labelled proxy), villages
        (or population-derived ``settlements``, a labelled proxy), industrial zones, the site list.
    population : ndarray, optional
        People per cell of the coverage grid (:func:`phusong.data.boundaries.read_population`).
    indicators : DataFrame, optional
        Measured values of indicator targets (``target_id,value,source,date``).
    targets : list of Target, optional
        Default: the Lạng Sơn 2025–2030 catalogue.
    settings : Settings, optional
        The gap rules (``settings.gaps``); default: the coverage's settings.
    title : str, optional
        Heading of reports (default: from the study name).
    polygons : bool
        Also trace the covered area as polygons (the GeoPackage's ``coverage_<tech>`` layers).
    priority : dict of GeoDataFrame, optional
        The plan's priority places by name (points, lines or polygons): share covered by 5G and by
        mobile broadband, road length per road and per commune (:mod:`phusong.gaps.priority`).

    Returns
    -------
    GapResult

    Examples
    --------
    >>> import phusong
    >>> gaps = phusong.GapResult.example()       # analyse() on the example coverage
    >>> sorted(gaps.communes.columns)[:3]
    ['area_km2', 'centre_covered_5g', 'code']
    """
    settings = settings or coverage.settings
    rules = settings.gaps
    communes = communes.to_crs(coverage.grid.crs)
    result = analyse_units(coverage.covered, coverage.grid, communes,
                           targets if targets is not None else load_targets(settings.inputs.targets),
                           rsrp=coverage.rsrp_dbm, centres=centres, villages=villages, zones=zones, sites=sites,
                           population=population, indicators=indicators, zone_share_pct=rules.zone_share_pct,
                           centre_rule=rules.centre_rule, population_field=rules.population_field,
                           settlements=settlements, polygons=polygons, priority=priority)
    result.title = title or f"Coverage scorecard — {settings.study.name}"
    result.demonstration = coverage.demonstration
    result.credits = tuple(coverage.stats.get("data_credits", ()))
    return result


def analyse_inputs(coverage: Coverage, inputs: GapInputs, settings: Settings, title: str | None = None) -> GapResult:
    """:func:`analyse` with everything :func:`load_gap_inputs` read."""
    result = analyse(coverage, inputs.communes, centres=inputs.centres, villages=inputs.villages,
                     settlements=inputs.settlements, zones=inputs.zones, sites=inputs.sites,
                     population=inputs.population, indicators=inputs.indicators, targets=inputs.targets,
                     settings=settings, title=title, priority=inputs.priority)
    result.credits = tuple(sorted(set(result.credits) | set(inputs.credits)))
    return result


# ---------------------------------------------------------------------------------------------- outputs
def checksums(files) -> dict[str, str]:
    """SHA-256 of every input file, for run.json (repeatable runs)."""
    return {str(p): file_sha256(p) for p in dict.fromkeys(Path(f) for f in files) if p.is_file()}


def write_study(out_dir, coverage: Coverage, gaps: GapResult, *, overwrite=False, record=None,
                include: dict | None = None, progress: bool = False, cache: FootprintCache | None = None) -> Path:
    """Everything a study writes, appearing in ``out_dir`` at once: the run folder's rasters, cells.csv,
    run.json, gaps.gpkg, the scorecard (md, html, csv, json) and map.html (rasters identical to ones the
    ``cache`` keeps are linked from it)."""
    from tqdm.auto import tqdm

    from .outputs.maps import write_map
    from .outputs.runfolder import add_seconds, write_into, write_run_json

    out_dir = Path(out_dir)
    steps = ["rasters", "GeoPackage", "scorecard", "map"]
    t0 = time.perf_counter()
    with atomic_dir(out_dir, overwrite) as tmp, tqdm(total=len(steps), desc="writing", unit="step",
                                                     disable=not progress or None, leave=False) as bar:
        full = write_into(tmp, coverage, record, cache, run_json=False)
        bar.update()
        gaps.to_geopackage(tmp / "gaps.gpkg", overwrite=True)
        bar.update()
        gaps.write_scorecard(tmp, overwrite=True, lang=coverage.settings.study.language)
        bar.update()
        write_map(tmp / "map.html", coverage, gaps, lang=coverage.settings.study.language)
        bar.update()
        for name, src in (include or {}).items():
            (shutil.copytree if Path(src).is_dir() else shutil.copy2)(src, tmp / name)
        seconds = time.perf_counter() - t0
        full["timings"]["write_s"] = round(seconds, 2)
        add_seconds(full, seconds)
        # inputs copied into the folder (the demo's) are recorded where they now are, not where they were staged
        moved = {str(path): str(out_dir.resolve() / name) for name, src in (include or {}).items()
                 for path in (Path(src).absolute(), Path(src).resolve())}
        write_run_json(tmp, relocated(full, moved))   # (last: its timings include the writing)
    return out_dir


def relocated(value, moved: dict[str, str]):
    """``value`` (a run.json record: dicts, lists, strings) with every path under a key of ``moved`` (an absolute
    path of a folder or file) under its value instead."""
    if isinstance(value, dict):
        return {relocated(k, moved): relocated(v, moved) for k, v in value.items()}
    if isinstance(value, list):
        return [relocated(v, moved) for v in value]
    if isinstance(value, str):
        for old, new in moved.items():
            if Path(old).is_absolute() and (value == old or value.startswith(old.rstrip("/") + "/")):
                return new + value[len(old):]
    return value


def run_study(settings: Settings, out_dir, *, overwrite: bool = False, progress: bool = False,
              cache: FootprintCache | None = None, include: dict | None = None) -> tuple[Coverage, GapResult]:
    """The whole pipeline from settings: inputs → simulate → analyse → outputs in ``out_dir``.

    What ``phusong run SCENARIO.toml`` does; returns the :class:`Coverage` and :class:`GapResult` it wrote.

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import phusong
    >>> from phusong.data.demo import example_inputs
    >>> p = example_inputs()
    >>> settings = phusong.Settings.from_dict({
    ...     "study": {"resolution_m": 250},
    ...     "inputs": {"terrain": [str(p.dem)], "sites": str(p.sites),
    ...                "communes": {"path": str(p.areas), "layer": "communes"}},
    ...     "model": {"radius_km": 3}})
    >>> out = Path(tempfile.mkdtemp()) / "study"
    >>> coverage, gaps = phusong.run_study(settings, out)
    >>> sorted(f.name for f in out.iterdir() if f.suffix != ".tif")
    ['cells.csv', 'gaps.gpkg', 'map.html', 'run.json', 'scorecard.csv', 'scorecard.html', 'scorecard.json', 'scorecard.md']
    """
    from tqdm.auto import tqdm

    t0 = time.perf_counter()
    # one line naming the step under way (each long step also has its own bar below it)
    with tqdm(total=5, unit="step", disable=not progress or None,
              bar_format="study {n}/{total}: {desc} [{elapsed}]") as steps:
        steps.set_description_str("reading the terrain and sites")
        sim = load_simulation_inputs(settings, cache)
        inputs_s = round(time.perf_counter() - t0, 2)
        steps.update()
        steps.set_description_str("terrain passes")
        coverage = simulate(sim.terrain, sim.sites, settings, area_mask=sim.area_mask, cache=cache,
                            progress=progress, demonstration=sim.demonstration, landcover=sim.landcover)
        coverage.stats["data_credits"] = list(sim.credits)
        steps.update()
        steps.set_description_str("reading communes, villages, zones and population")
        t1 = time.perf_counter()
        gap_inputs = load_gap_inputs(settings, coverage.grid, communes=sim.communes, sites=sim.site_list)
        t2 = time.perf_counter()
        steps.update()
        steps.set_description_str("gap analysis")
        gaps = analyse_inputs(coverage, gap_inputs, settings)
        steps.update()
        steps.set_description_str("writing rasters, GeoPackage, scorecard and map")
        record = {"command": "run", "inputs_sha256": checksums(sim.files + gap_inputs.files), "dask_address": None,
                  "timings": {"inputs_s": inputs_s, "gap_inputs_s": round(t2 - t1, 2),
                              "gaps_s": round(time.perf_counter() - t2, 2),
                              "total_s": round(time.perf_counter() - t0, 2)}}
        write_study(out_dir, coverage, gaps, overwrite=overwrite, record=record, include=include, progress=progress,
                    cache=cache)
        steps.update()
    return coverage, gaps


# ---------------------------------------------------------------------------------------------- calibrate
def calibrate_study(settings: Settings, measurements, *, technology: str | None = None, cv: str = "route",
                    folds: int = 5, filters=None, class_regularisation: float = 10.0,
                    cache: FootprintCache | None = None, progress: bool = False):
    """Fit a calibration of ``settings.model`` to a measurement file (see :mod:`phusong.measurements.calibrate`).

    Reads ``settings.inputs`` terrain, sites and (optional) landcover; the terrain is read around the
    samples and their serving sites only. ``technology`` keeps one technology's samples. Returns a
    :class:`~phusong.measurements.calibrate.Calibration`, labelled a demonstration when the terrain,
    the sites or the measurements are synthetic.

    Examples
    --------
    >>> import pathlib, tempfile
    >>> import phusong
    >>> from phusong.data.demo import example_inputs
    >>> paths = example_inputs()
    >>> cell = phusong.read_sites(paths.sites).iloc[0]
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "drive.csv"
    >>> rows = [f"{cell.lon + 0.001 * k:.6f},{cell.lat:.6f},{-75 - k},{cell.cell_id}" for k in range(2, 40)]
    >>> _ = f.write_text("# SYNTHETIC\\nlon,lat,rsrp_dbm,cell_id\\n" + "\\n".join(rows) + "\\n")
    >>> s = phusong.Settings.from_dict({"inputs": {"terrain": [paths.dem], "sites": paths.sites},
    ...                                 "study": {"resolution_m": 100.0}, "model": {"radius_km": 6.0}})
    >>> calib = phusong.calibrate_study(s, f)
    >>> calib.counts["samples read"], calib.correction.model, calib.demonstration[-1]
    (38, 'delta-bullington', 'drive.csv: synthetic measurements')
    >>> print(calib.to_toml().splitlines()[3])
    [correction]
    """
    from .measurements import read_measurements
    from .measurements.calibrate import Filters, calibrate

    ins = settings.inputs
    if not ins.terrain or ins.sites is None:
        raise InputError("calibration needs terrain (DEM tiles) and the site list", argument="terrain")
    sites = read_sites(ins.sites, dem_bounds_lonlat(list(ins.terrain)), sheet=ins.sites_sheet)
    samples = read_measurements(measurements, sites=ins.sites)
    if technology is not None:
        samples = samples[samples["technology"] == technology]
        if len(samples) == 0:
            raise InputError(f"no {technology} sample in the measurements", path=measurements)
    crs = resolve_crs(settings.study.crs, list(ins.terrain))
    serving = sites[sites["cell_id"].astype(str).isin(set(samples["cell_id"]))]
    to_grid = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    x, y = to_grid.transform(np.concatenate([samples.geometry.x, serving["lon"]]),
                             np.concatenate([samples.geometry.y, serving["lat"]]))
    pad = 1000.0
    terrain = load_terrain(list(ins.terrain), crs, settings.study.resolution_m, partial=True,
                           bounds=(np.min(x) - pad, np.min(y) - pad, np.max(x) + pad, np.max(y) + pad))
    landcover = None
    if ins.landcover is not None:
        from .data.landcover import read_landcover
        landcover = read_landcover(ins.landcover, terrain.grid)
    reasons = demonstration_reasons(terrain, sites, settings) + \
        ((samples.attrs["synthetic"],) if samples.attrs.get("synthetic") else ())
    return calibrate(samples, sites, terrain, settings, landcover=landcover, cv=cv, folds=folds,
                     filters=filters or Filters(), class_regularisation=class_regularisation, cache=cache,
                     progress=progress, demonstration=reasons)


# ---------------------------------------------------------------------------------------------- one site
def load_site_terrain(dems, lon: float, lat: float, radius_km: float, crs, res_m: float):
    """The working-grid terrain within ``radius_km`` of a site (cut to the DEM) and the site's x, y."""
    crs = resolve_crs(crs, dems)
    x, y = Transformer.from_crs("EPSG:4326", crs, always_xy=True).transform(lon, lat)
    pad = radius_km * 1000.0 + 2 * res_m
    terrain = load_terrain(dems, crs, res_m, bounds=(x - pad, y - pad, x + pad, y + pad), partial=True)
    if not terrain.grid.contains(x, y):
        raise InputError(f"site {lon},{lat} is outside the DEM", argument="tx")
    return terrain, x, y


def read_receivers(path) -> pd.DataFrame:
    """Receivers for ``phusong path --dem``: a CSV with ``lon,lat`` (WGS 84 degrees)."""
    from ._tables import read_text_table

    path = Path(path)
    pts = read_text_table(path, what="list of receivers")
    for col in ("lon", "lat"):
        if col not in pts.columns:
            raise InputError("receivers need lon and lat columns", path=path, field=col)
        values = pd.to_numeric(pts[col], errors="coerce")
        bad = (values.isna() | ~np.isfinite(values.fillna(0)) | (values.abs() > (180 if col == "lon" else 90))).to_numpy()
        if bad.any():
            raise InputError("not a number of degrees", path=path, row=int(np.flatnonzero(bad)[0]) + 1, field=col)
        pts[col] = values
    return pts


def p1812_arguments(settings: Settings, frequency_mhz: float, location_pct: float = 50.0, clutter=None,
                    latitude_deg: float | None = None) -> dict:
    """The keyword arguments of :func:`phusong.propagation.reference.evaluate_profile` for model p1812 (none
    for the others): the climate of ``[model]``, the location percentage with σL (``coverage.sigma_db``, else
    P.1812-6 §4.10's for the grid's resolution), clutter heights, the latitude for β0 (default Lạng Sơn's)."""
    if settings.model.name != "p1812":
        return {}
    from .propagation.p1812 import LANG_SON_LATITUDE_DEG

    sigma = settings.coverage.sigma_db
    if sigma is None:
        sigma = settings.p1812_sigma_db(frequency_mhz)
    return dict(clutter_m=clutter, climate=settings.p1812_climate, location_pct=location_pct,
                location_sigma_db=float(sigma),
                latitude_deg=LANG_SON_LATITUDE_DEG if latitude_deg is None else latitude_deg)


def path_to_receivers(dems, tx_lonlat, receivers_csv, settings: Settings, tx_height_m: float,
                      frequency_mhz: float, *, landcover=None, location_pct: float = 50.0) -> pd.DataFrame:
    """One row per receiver of ``receivers_csv``: the fields of ``phusong path --json``, labelled as a
    demonstration on synthetic terrain. ``landcover`` (a raster of class codes) gives model p1812 its
    clutter heights (``settings.model.clutter_table``, default WorldCover's) and a clutter table's extra
    losses; ``location_pct`` is P.1812's location percentage."""
    from .propagation.points import path_to_points

    pts = read_receivers(receivers_csv)
    crs = resolve_crs(settings.study.crs, list(dems))
    to_xy = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    tx, ty = to_xy.transform(*tx_lonlat)
    rx, ry = to_xy.transform(pts["lon"].to_numpy(float), pts["lat"].to_numpy(float))
    # the terrain read reaches the farthest receiver on the DEM (one off it only gets its error)
    w, so, e, n = dem_bounds_lonlat(list(dems))
    on_dem = ((pts["lon"] >= w) & (pts["lon"] <= e) & (pts["lat"] >= so) & (pts["lat"] <= n)).to_numpy()
    dist = np.hypot(rx - tx, ry - ty)
    reach = max(float(np.max(dist[on_dem])) if on_dem.any() else 0.0, 2 * settings.study.resolution_m) / 1000.0
    terrain, _, _ = load_site_terrain(dems, tx_lonlat[0], tx_lonlat[1], reach, crs, settings.study.resolution_m)
    m = settings.model
    classes = None
    if landcover is not None:
        from .data.landcover import read_landcover
        classes = read_landcover(landcover, terrain.grid)
    try:
        rows = path_to_points(terrain.array, terrain.grid, (tx, ty), rx, ry, tx_height_m, m.rx_height_m,
                              frequency_mhz, m.name, m.earth_radius_km, landcover=classes, clutter_table=m.clutter_table,
                              p1812=p1812_arguments(settings, frequency_mhz, location_pct, latitude_deg=tx_lonlat[1]))
    except InputError as exc:
        raise InputError(str(exc), path=receivers_csv) from None
    table = pd.concat([pts[["lon", "lat"]].reset_index(drop=True), pd.DataFrame(rows)], axis=1)
    if terrain.synthetic:
        table["demonstration"] = "; ".join(f"{n}: synthetic terrain" for n in terrain.synthetic)
    return table


# ---------------------------------------------------------------------------------------------- plan
def _plain_units(gdf, keep):
    """A gap layer read back from a GeoPackage, stripped to its input fields (analyse recomputes the rest)."""
    if gdf is None:
        return None
    return gdf[[c for c in keep if c in gdf.columns] + ["geometry"]].copy()


def _same_cells_as_the_run(sites, coverage: Coverage, path) -> None:
    """An :class:`InputError` naming ``path`` when the site list is not the one the run simulated: the plan's
    "before" comes from the run and its "after" from a re-run of this list, so they must hold the same cells."""
    listed = set(sites.loc[simulated(sites, coverage.settings), "cell_id"].astype(str))
    in_run = set(coverage.cells["cell_id"].astype(str))

    def some(ids):
        ids = sorted(ids)
        return ", ".join(ids[:3]) + (", ..." if len(ids) > 3 else "")

    missing, extra = in_run - listed, listed - in_run
    parts = []
    if missing:
        parts.append(f"{len(missing)} of the run's cells are not in it ({some(missing)})")
    if extra:
        parts.append(f"{len(extra)} of its cells were not in the run ({some(extra)})")
    if parts:
        raise InputError(f"not the site list the run was made from: {' and '.join(parts)}; plan with the run's own "
                         "site list (its cells.csv lists them)", path=path)


def plan_study(settings: Settings, run_dir, gaps_gpkg, dems, sites_path, out_dir=None, *, population=None,
               cache: FootprintCache | None = None, overwrite: bool = False, progress: bool = False):
    """Plan the rollout that reaches ``settings.plan``'s targets, verified by a re-run; write it to ``out_dir``.

    Reads the run folder (its coverage and settings), the gap analysis's units (``gaps_gpkg``), the
    DEM (re-read on the run's grid, so that terrain passes come from the cache) and the site list
    (rows of status ``candidate`` become candidates). Proposes candidates, chooses with
    :func:`phusong.planning.optimise.optimise`, then simulates the network with the chosen sites
    and analyses its gaps again: the plan's "after" values are that re-run's. Returns the
    :class:`~phusong.planning.Plan` (and writes ``plan.gpkg``, ``sites_after.csv``, ``plan.md``,
    ``plan.html``, ``plan.json`` when ``out_dir`` is given).

    Examples
    --------
    >>> import tempfile
    >>> from pathlib import Path
    >>> import phusong
    >>> from phusong.data.demo import example_inputs
    >>> p = example_inputs()
    >>> settings = phusong.Settings.from_dict({
    ...     "study": {"resolution_m": 400},
    ...     "inputs": {"terrain": [str(p.dem)], "sites": str(p.sites),
    ...                "communes": {"path": str(p.areas), "layer": "communes"},
    ...                "centres": {"path": str(p.areas), "layer": "commune_centres"}},
    ...     "model": {"radius_km": 4},
    ...     "plan": {"target_ids": ["T25-5G-CENTRES"], "milp_time_limit_s": 5}})
    >>> out = Path(tempfile.mkdtemp())
    >>> _ = phusong.run_study(settings, out / "run")
    >>> plan = phusong.plan_study(settings, out / "run", out / "run" / "gaps.gpkg", [p.dem], p.sites, out / "plan")
    >>> centres = plan.targets.set_index("target_id").loc["T25-5G-CENTRES"]
    >>> bool(centres["after"] > centres["before"]), bool(plan.total_cost == plan.actions["cost"].sum())
    (True, True)
    >>> 0 <= plan.gap_pct <= 100, set(plan.unreachable["target_id"]) <= {"T25-5G-CENTRES"}
    (True, True)
    """
    from .data.boundaries import read_population as read_pop
    from .gaps.rules import polygon_ids, spread_counts
    from .planning import plan as planning
    from .planning.costs import load_costs
    from .planning.demand import build_demand
    from .sites.read import read_sites as read_site_list

    t0 = time.perf_counter()
    if out_dir is not None:
        from ._atomic import check_output_dir
        check_output_dir(out_dir, overwrite)
    coverage = Coverage.from_run_folder(run_dir)
    grid = coverage.grid
    settings = dataclasses.replace(settings, study=dataclasses.replace(settings.study, crs=grid.crs.to_string(),
                                                                       resolution_m=grid.res_m),
                                   model=coverage.settings.model, coverage=coverage.settings.coverage)
    model = settings.model
    if ((model.name == "p1812" and coverage.settings.inputs.landcover is not None) or model.clutter_table is not None
            or (model.calibration is not None and model.calibration.needs_landcover)):
        # its candidate passes and its verification run would be on bare terrain: refuse before any work
        raise InputError("plan does not read land cover yet: this run used it (p1812 clutter, a clutter table or a "
                         "calibration's class offsets); plan a run made without land cover", argument="run")
    costs = load_costs(settings.plan.costs)
    gaps_file = GapResult.from_geopackage(gaps_gpkg)
    communes = _plain_units(gaps_file.communes, ["code", "name", "population"])
    centres = _plain_units(gaps_file.centres, ["code", "name"])
    zones = _plain_units(gaps_file.zones, ["code", "name", "approximate"])
    villages = settlements = None
    if gaps_file.villages is not None:
        if gaps_file.villages_are_proxy:
            settlements = _plain_units(gaps_file.villages, ["code", "name", "people"])
        else:
            villages = _plain_units(gaps_file.villages, ["code", "name", "has_power", "commune_code"])
    terrain = load_terrain(list(dems), grid.crs, grid.res_m, bounds=grid.bounds, partial=True)
    if terrain.grid.transform != grid.transform or (terrain.grid.height, terrain.grid.width) != (grid.height,
                                                                                                grid.width):
        raise InputError("the DEM does not give the run's grid (another DEM, or one smaller than the run's area)",
                         argument="dems")
    sites = read_site_list(sites_path)
    _same_cells_as_the_run(sites, coverage, sites_path)
    existing = sites[sites["status"] != "candidate"].reset_index(drop=True)
    commune_ids = polygon_ids(communes.geometry, grid)
    notes = []
    if population is not None:
        people = read_pop(population, grid)
    elif "population" in communes.columns:
        people = spread_counts(communes, "population", commune_ids)
        notes.append("Population: the communes' population counts spread evenly over each commune (give "
                     "--population for the raster the gap analysis used).")
    else:
        people = None
    rules = dataclasses.replace(settings.gaps, population_field=None)
    settings = dataclasses.replace(settings, gaps=rules)
    targets = load_targets(settings.inputs.targets)

    def gaps_of(cov, site_table):
        return analyse(cov, communes, centres=centres, villages=villages, settlements=settlements, zones=zones,
                       sites=site_table, population=people, targets=targets, settings=settings, polygons=False)

    before = gaps_of(coverage, existing)
    demand = build_demand(before, coverage.covered, grid, targets, settings.plan.target_ids, people, commune_ids)
    # only the study area and the labels of the run are needed from here: free its rasters (~1 GB a province)
    area_mask = next(iter(coverage.covered.values())) != 255
    demonstration = coverage.demonstration
    del coverage
    listed_rows = None
    plan_s = settings.plan
    if plan_s.candidates != "auto":
        listed_rows = read_site_list(plan_s.candidates)
    allowed = None
    if plan_s.new_site_mask is not None:
        allowed = read_pop(plan_s.new_site_mask, grid) > 0
    candidates, cells = planning.make_candidate_table(settings, costs, sites, terrain.array, grid, demand,
                                                      listed_rows, plan_s.candidates if listed_rows is not None
                                                      else None, sites_path, allowed)
    if len(candidates) == 0:
        raise InputError("no candidate: every mast already carries the technology and no other was proposed",
                         argument="candidates")
    from .coverage.cache import terrain_key
    from .coverage.network import evaluated_cells
    t_sel = time.perf_counter()
    kept = evaluated_cells(area_mask)   # the run's own cells: its cached passes serve
    proposal = planning.propose(candidates, cells, terrain.array, grid, settings, demand, cache=cache,
                                tkey=terrain_key(terrain.array, grid, None, kept), area_mask=area_mask,
                                patterns=read_antenna_patterns(cells), progress=progress, cell_mask=kept)
    timings = {"selection_s": round(time.perf_counter() - t_sel, 2), **proposal.solution.timings}
    chosen_ids = candidates["candidate_id"].iloc[proposal.solution.chosen].tolist()
    after_table = planning.sites_after(sites, cells, chosen_ids)
    # verification: the network after the plan, simulated and analysed like any run
    t_ver = time.perf_counter()
    after_sites = _as_sites(after_table)
    after_cov = simulate(terrain, after_sites, settings, area_mask=area_mask, cache=cache, progress=progress,
                         demonstration=demonstration)
    after = gaps_of(after_cov, after_sites[after_sites["status"] != "candidate"])
    # every pass of the network after the plan was made by the run or by the selection: all from the cache
    timings["verification_passes"] = after_cov.stats["terrain_passes"]
    timings["verification_cache_hits"] = after_cov.stats["cache_hits"]
    del after_cov
    disagreements = _verification_notes(proposal, before, after)
    timings["verification_s"] = round(time.perf_counter() - t_ver, 2)
    result = _assemble_plan(proposal, before, after, after_table, costs, settings, demonstration,
                            notes + demand.notes + proposal.instance.notes + proposal.solution.notes + disagreements,
                            bool(getattr(sites, "attrs", {}).get("generated")))
    result.timings = {**timings, "total_s": round(time.perf_counter() - t0, 2)}
    result.proposal = proposal
    if out_dir is not None:
        from .outputs.plan import write_plan
        write_plan(out_dir, result, overwrite=overwrite)
    return result


def _as_sites(table: pd.DataFrame) -> gpd.GeoDataFrame:
    """A site-list table (schema columns) as the GeoDataFrame :func:`read_sites` returns."""
    from .sites.read import sites_from_table

    return sites_from_table(table.astype(object).where(table.notna(), ""), Path("sites_after.csv"))


def _verification_notes(proposal, before: GapResult, after: GapResult) -> list[str]:
    """Say where the verifying re-run disagrees with what the selection claimed (units it claimed covered)."""
    out = []
    claimed = {t: a for t, a in proposal.solution.attainment.items()}
    status = after.targets.set_index("target_id")
    for t in proposal.instance.target_ids:
        need = proposal.instance.required[t]
        if need > 0 and claimed.get(t, 0) >= 1.0 - 1e-9 and t in status.index:
            reach = proposal.instance.reachable[t]
            totals = proposal.demand.targets.set_index("target_id").loc[t]
            expect = 100.0 * (totals["before"] + min(need, reach)) / totals["total"] if totals["total"] else np.nan
            value = status.loc[t, "value"]
            if np.isfinite(expect) and np.isfinite(value) and value < expect - 0.01:
                out.append(f"{t}: the re-run reaches {value:.2f}% where the selection expected {expect:.2f}% "
                           "(the gap rules count differently from the selection model: check the centre rule).")
    return out


def _assemble_plan(proposal, before: GapResult, after: GapResult, after_table, costs, settings: Settings,
                   demonstration, notes, generated: bool):
    """The :class:`~phusong.planning.Plan` of a verified proposal."""
    from .planning.plan import Plan, order_actions

    inst, sol, cands = proposal.instance, proposal.solution, proposal.candidates
    crs = before.communes.crs
    actions, curve = order_actions(proposal)
    communes = before.communes[["code", "name", "geometry"]].copy()
    if len(actions):
        pts = gpd.GeoDataFrame(actions, geometry=gpd.points_from_xy(actions["x"], actions["y"]), crs=crs)
        j = gpd.sjoin(pts, communes.rename(columns={"code": "commune_code", "name": "commune_name"}),
                      predicate="within", how="left")
        actions = pts.assign(commune_code=j.groupby(level=0)["commune_code"].first(),
                             commune_name=j.groupby(level=0)["commune_name"].first())
    else:
        actions = gpd.GeoDataFrame(actions, geometry=gpd.GeoSeries([], crs=crs), crs=crs)
    actions = actions.drop(columns=["x", "y"], errors="ignore")
    gains = inst.gains.reindex(cands["candidate_id"]).fillna(0.0)
    norm = sum(gains[t].to_numpy() / inst.required[t] for t in inst.target_ids if inst.required.get(t, 0) > 0)
    cand = gpd.GeoDataFrame(cands.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(cands["x"], cands["y"]),
                            crs=crs)
    for t in inst.target_ids:
        cand[f"alone_{t}"] = gains[t].round(1).to_numpy()
    cand["score"] = np.round(np.asarray(norm, float) / np.maximum(cand["cost"].to_numpy(float), 1e-9) * 1e6, 4) \
        if len(cand) else []
    cand["selected"] = False
    cand.loc[cand.index[sol.chosen], "selected"] = True
    un = inst.unreachable
    unreachable = gpd.GeoDataFrame(un.drop(columns=["x", "y"]), geometry=gpd.points_from_xy(un["x"], un["y"]),
                                   crs=crs)
    for name, res in (("before", before), ("after", after)):
        c = res.communes.set_index("code")
        for col in ("centre_covered_5g", "covered_area_pct_5g", "covered_pop_pct_5g", "covered_area_pct_4g"):
            if col in c.columns:
                communes[f"{col}_{name}"] = communes["code"].map(c[col])
    per_commune = un.groupby("commune_code").agg(unreachable_units=("unit_id", "size"),
                                                 unreachable_people=("people", "sum"))
    communes["unreachable_people"] = communes["code"].map(per_commune["unreachable_people"]).fillna(0).round(0)
    tb, ta = before.targets.set_index("target_id"), after.targets.set_index("target_id")
    kinds = dict(zip(proposal.demand.targets["target_id"], proposal.demand.targets["unit"]))
    rows = []
    for t in inst.target_ids:
        rows.append({"target_id": t, "text_en": tb.loc[t, "text_en"], "text_vi": tb.loc[t, "text_vi"],
                     "unit": tb.loc[t, "unit"], "goal": tb.loc[t, "goal"], "before": tb.loc[t, "value"],
                     "after": ta.loc[t, "value"], "status_before": tb.loc[t, "status"],
                     "status_after": ta.loc[t, "status"], "required": round(inst.required[t], 1),
                     "reachable": round(inst.reachable[t], 1), "counted_in": kinds.get(t, ""), "selection_attainment_pct":
                         round(100.0 * sol.attainment.get(t, 1.0), 2), "failing_after": ta.loc[t, "failing_units"]})
    budget_mode = settings.plan.budget is not None or settings.plan.max_sites is not None
    return Plan(actions, cand, unreachable, communes, pd.DataFrame(rows), after_table, curve, sol.cost,
                costs.currency, sol.method, sol.bound, sol.gap_pct, budget_mode, notes, tuple(demonstration),
                f"Rollout plan — {settings.study.name}", costs.source, generated_sites=generated)
