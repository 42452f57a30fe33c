"""Network coverage over a terrain grid: :func:`simulate_network` and the :class:`Coverage` it returns.

A layer is one technology for "any operator" (the best of all) or for one
operator. Sites stream through one terrain pass at a time (cached, see
:mod:`.cache`), folded into bounded accumulators (:mod:`.accumulate`), then
finished into best server, SINR and coverage (:mod:`.layers`).
"""
from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._raster import Grid, Raster, hillshade, huge_page_array
from ..propagation.antenna import MsiPattern
from ..propagation.footprint import kernels_compiled
from ..settings import SECTIONS, Settings
from .accumulate import ANY, fold_groups
from .cache import FootprintCache, terrain_key
from .cells import make_groups, prepare_cells
from .layers import LayerResult, finish_layers
from .state import (DAMAGED, FoldStateStore, cell_digests, cell_sites, cell_windows, context_key, expected_keys, paste,
                    reach_cells, refold_cells)

log = logging.getLogger(__name__)
# From this many terrain passes to compute, the heights are copied into huge-page memory first (_raster.huge_page_array):
# 4 % less a pass, for one copy (a few tenths of a second where the kernel compacts memory for it).
HUGE_PAGE_PASSES = 32

__all__ = ["ANY", "Coverage", "LayerResult", "simulate_network"]


@dataclass
class Coverage:
    """A network's coverage on a grid: every layer's rasters, the cell table and how it was made.

    Attributes
    ----------
    grid : Grid
        The working grid (CRS, transform, shape) of every array.
    layers : list of LayerResult
        One per technology (and per operator with ``coverage.per_operator``): ``rsrp_dbm``,
        ``rsrp2_dbm`` (float32 dBm, NaN where no cell reaches and beyond the study area's edge), ``server`` (int32 cell index,
        -1 none), ``sinr_db`` (float32 dB), ``covered`` (uint8: 1 yes, 0 no, 255 outside the area).
    cells : pandas.DataFrame
        The cells simulated; its index is the ``server`` value.
    settings : Settings
    stats : dict
        Cells, terrain passes, cache hits, timings.
    demonstration : tuple of str
        Why the result is a demonstration (synthetic terrain, generated sites); empty for real inputs.
    relief : Raster or None
        Shaded relief of the terrain (uint8, coarser grid): the maps' offline basemap.

    Examples
    --------
    >>> import phusong
    >>> cov = phusong.Coverage.example()          # a tiny synthetic run, for trying the API
    >>> sorted(cov.covered)
    ['4G', '5G']
    >>> float(np.nanmax(cov.layer("4G").rsrp_dbm)) > -80
    True
    """

    grid: Grid
    layers: list[LayerResult]
    cells: pd.DataFrame
    settings: Settings = field(default_factory=Settings)
    stats: dict = field(default_factory=dict)
    demonstration: tuple[str, ...] = ()
    relief: Raster | None = None

    def layer(self, technology: str, operator: str = ANY) -> LayerResult:
        """The layer of one technology, for any operator (default) or one operator's slug."""
        for layer in self.layers:
            if layer.technology == technology and layer.operator == operator:
                return layer
        have = ", ".join(f"{lay.technology}/{lay.operator}" for lay in self.layers)
        raise KeyError(f"no layer {technology}/{operator} (have: {have})")

    @property
    def covered(self) -> dict[str, np.ndarray]:
        """The any-operator coverage raster of each technology (uint8 1/0/255)."""
        return {lay.technology: lay.covered for lay in self.layers if lay.operator == ANY}

    @property
    def rsrp_dbm(self) -> dict[str, np.ndarray]:
        """The any-operator best-server signal of each technology (float32 dBm)."""
        return {lay.technology: lay.rsrp_dbm for lay in self.layers if lay.operator == ANY}

    @property
    def coverage_levels_dbm(self) -> dict[str, float]:
        """The level each technology's median signal must reach to count as covered (threshold + margin);
        NB-IoT has none (its coverage is a maximum coupling loss, ``coverage.nbiot_mcl_db``)."""
        return {t: self.settings.threshold_dbm(t) + self.settings.location_margin_db for t in self.covered
                if t != "NB-IoT"}

    def to_run_folder(self, folder, overwrite: bool = False, record: Mapping | None = None,
                      cache: FootprintCache | None = None) -> Path:
        """Write the run folder (COG rasters per layer, cells.csv, run.json) atomically; see the README. With a
        ``cache``, rasters identical to ones written before (a what-if's unchanged layers) are linked from it
        (:meth:`.cache.FootprintCache.write_raster`)."""
        from ..outputs.runfolder import write_run_folder
        return write_run_folder(self, folder, overwrite=overwrite, record=record, cache=cache)

    @classmethod
    def from_run_folder(cls, folder) -> Coverage:
        """Read a run folder written by :meth:`to_run_folder` (or ``phusong simulate``/``run``)."""
        from ..outputs.runfolder import read_run_folder
        raw = read_run_folder(folder)
        layers = []
        for (tech, op), arrays in raw["layers"].items():
            layers.append(LayerResult(tech, op, arrays["rsrp"], arrays.get("rsrp2"), arrays.get("server"),
                                      arrays.get("sinr"), arrays["covered"]))
        record = raw["record"]
        settings = Settings()
        if isinstance(record.get("settings"), dict) and set(record["settings"]) <= set(SECTIONS):
            try:
                settings = Settings.from_dict({k: v for k, v in record["settings"].items() if k != "inputs"})
            except ValueError:
                pass  # a run folder of another version: its rasters still serve
        return cls(raw["grid"], layers, raw["cells"], settings, record.get("simulation", {}),
                   tuple(record.get("demonstration_reasons", ())) or (("run folder labelled a demonstration",)
                                                                      if raw["demonstration"] else ()),
                   raw["relief"])

    def to_xarray(self):
        """The layers as an ``xarray.Dataset`` with x/y coordinates (needs xarray; rioxarray adds the CRS)."""
        try:
            import xarray as xr
        except ImportError:
            raise ImportError("Coverage.to_xarray needs xarray: pip install xarray rioxarray") from None
        g = self.grid
        x, _ = g.xy(0, np.arange(g.width))
        _, y = g.xy(np.arange(g.height), 0)
        data = {}
        for lay in self.layers:
            for name in ("rsrp_dbm", "rsrp2_dbm", "server", "sinr_db", "covered"):
                arr = getattr(lay, name)
                if arr is not None:
                    data[f"{name}_{lay.name}"] = (("y", "x"), arr)
        ds = xr.Dataset(data, coords={"x": x, "y": y}, attrs={"crs": g.crs.to_string(),
                                                              "demonstration": "; ".join(self.demonstration)})
        try:
            import rioxarray  # noqa: F401  (registers the .rio accessor)
            ds = ds.rio.write_crs(g.crs.to_string())
        except ImportError:
            pass
        return ds

    @classmethod
    def example(cls) -> Coverage:
        """A tiny synthetic coverage (one omnidirectional 4G + 5G site on a hill, 6 km square), for examples."""
        import geopandas as gpd
        from affine import Affine
        from rasterio.crs import CRS

        from ..sites.read import validate_table

        n, res = 200, 30.0
        grid = Grid(n, n, Affine(res, 0, 600_000.0, 0, -res, 2_400_000.0), CRS.from_epsg(32648))
        yy, xx = np.mgrid[0:n, 0:n]
        heights = (300.0 + 150.0 * np.exp(-((xx - n / 2) ** 2 + (yy - n / 2) ** 2) / (2 * 40.0 ** 2)))
        heights = heights.astype(np.float32)
        lon, lat = _lonlat(grid, n / 2, n / 2)
        table = pd.DataFrame({"site_id": ["S1", "S1"], "cell_id": ["S1-4G", "S1-5G"], "lon": [str(lon)] * 2,
                              "lat": [str(lat)] * 2, "technology": ["4G", "5G"], "frequency_mhz": ["1800", "3500"],
                              "antenna_height_m": ["30", "30"], "tx_power_dbm": ["46", "49"]})
        typed, _ = validate_table(table, Path("example.csv"))
        sites = gpd.GeoDataFrame(typed, geometry=gpd.points_from_xy(typed["lon"], typed["lat"]), crs="EPSG:4326")
        settings = Settings().replace(model={"radius_km": 2.5})
        cov = simulate_network(heights, grid, sites, settings)
        return dataclasses.replace(cov, demonstration=("synthetic example terrain and site",))


def _lonlat(grid: Grid, row: float, col: float) -> tuple[float, float]:
    from pyproj import Transformer
    x, y = grid.xy(row, col)
    lon, lat = Transformer.from_crs(grid.crs, "EPSG:4326", always_xy=True).transform(float(x), float(y))
    return float(lon), float(lat)


def evaluated_cells(area_mask: np.ndarray | None) -> np.ndarray | None:
    """The cells a run evaluates (bool, C-contiguous): the study area and the cells touching it (a point on the
    area's edge keeps a value); outside them no terrain pass spends time. None (every cell: the same passes
    and cache entries as without an area) when that is the whole grid or there is no area."""
    if area_mask is None:
        return None
    area = np.asarray(area_mask, bool)
    # a 3x3 dilation, as two 3-cell passes (rows, then columns): 20x faster than scipy's on a province grid
    rows = area.copy()
    rows[1:] |= area[:-1]
    rows[:-1] |= area[1:]
    kept = rows.copy()
    kept[:, 1:] |= rows[:, :-1]
    kept[:, :-1] |= rows[:, 1:]
    return None if kept.all() else kept


def heights_for_passes(heights: np.ndarray, new_passes: int) -> np.ndarray:
    """The heights as ``new_passes`` terrain passes to compute should read them: in huge-page memory from
    ``HUGE_PAGE_PASSES`` on, else as they are."""
    return huge_page_array(heights) if new_passes >= HUGE_PAGE_PASSES else heights


def _reaches(grid: Grid, g, radius_km: float, window) -> bool:
    """Whether a site's terrain pass can reach a cell of ``window`` (row0, col0, nrow, ncol): its disc
    (:func:`.state.reach_cells`), not just its window's square."""
    r, c = grid.rowcol(g.x, g.y)
    dr = max(window[0] - r, 0.0, r - (window[0] + window[2] - 1))
    dc = max(window[1] - c, 0.0, c - (window[1] + window[3] - 1))
    return bool(np.hypot(dr, dc) <= reach_cells(grid, radius_km))


def _near(grid: Grid, g, sites: np.ndarray, distance_cells: float) -> bool:
    """Whether a site lies within ``distance_cells`` of any of ``sites`` (rows of grid (row, column))."""
    r, c = grid.rowcol(g.x, g.y)
    return bool((np.hypot(sites[:, 0] - r, sites[:, 1] - c) <= distance_cells).any())


def _shaded_relief(cache: FootprintCache | None, tkey: str, heights: np.ndarray, grid: Grid) -> Raster:
    """The terrain's shaded relief, from the cache when it keeps it."""
    return cache.relief(tkey, heights, grid) if cache is not None else hillshade(heights, grid)


def simulate_network(heights: np.ndarray, grid: Grid, sites, settings: Settings, *,
                     cache: FootprintCache | None = None, area_mask: np.ndarray | None = None,
                     patterns: Mapping[str, MsiPattern] | None = None, progress: bool = False,
                     dask_address: str | None = None, batch_size: int = 24,
                     landcover: np.ndarray | None = None) -> Coverage:
    """Every layer of a site list over terrain ``heights`` (float32 m) on ``grid``.

    ``sites`` is a site table (see :func:`phusong.read_sites`); ``patterns`` maps its
    ``antenna_file`` values to patterns read beforehand; ``area_mask`` (bool) marks
    the study area: ``covered`` is 255 outside it, and only the area and the cells touching it are
    evaluated (the other cells of every layer have no value); ``landcover`` (class codes on ``grid``) gives the
    p1812 model its clutter heights, and serves a clutter table's extra losses and a calibration's
    per-class offsets. Results are the same with or
    without a ``cache``, for any thread count, and on Dask (``dask_address``). With a ``cache``, a full run keeps
    its fold, and a later run whose cells differ only in some values folds again only where those cells reach, and
    only the layers of their technologies
    (:mod:`.state`; ``stats["fold_reused"]``, ``stats["passes_folded"]``), on this machine even with a
    ``dask_address``.
    """
    cells = prepare_cells(sites, heights, grid, settings)
    groups = make_groups(cells)
    cell_mask = evaluated_cells(area_mask)
    tkey = terrain_key(heights, grid, landcover if settings.model.name == "p1812" else None, cell_mask)
    hits = cache.kept(tkey, groups, settings) if cache else 0
    # a new installation's first passes compile the kernels first: their time is in sweeps_s, and stats say so
    compiling = len(groups) > hits and not kernels_compiled()
    t0 = time.perf_counter()
    heights = heights_for_passes(heights, len(groups) - hits)
    acc, folded = None, groups
    seconds: dict = {}   # fold_groups' split of passes_s (a run on Dask has none: its workers' time is not this run's)
    if cache is not None:
        store = FoldStateStore(cache)
        context = context_key(tkey, settings, landcover)
        digests = cell_digests(cells, patterns)
        windows = cell_windows(groups, len(cells), grid, settings.model.radius_km)
        sites_rc = cell_sites(groups, len(cells), grid)
        keys = expected_keys(cells, settings.coverage.per_operator)
        techs = cells["technology"].to_numpy()
        reuse = store.plan(context, digests, windows, sites_rc, keys, (grid.height, grid.width), techs)
        if reuse is not None:
            with ThreadPoolExecutor(max_workers=1) as reader:
                stored = reader.submit(store.read_arrays, reuse)   # (the disk reads, while the changed cells fold)
                folded, part = [], None
                if reuse.window is not None:
                    # only the cells the changed cells reach (before and after) can differ, and only in the layers of
                    # their technologies: only the sites with cells of those reaching them are folded again, and only
                    # there
                    reach = reach_cells(grid, settings.model.radius_km)
                    only = refold_cells(reuse.sites, reach, reuse.window)
                    folded = [g for g in groups if any(techs[i] in reuse.technologies for i in g.cells)
                              and _reaches(grid, g, settings.model.radius_km, reuse.window)
                              and _near(grid, g, reuse.sites, 2.0 * reach)]
                    part = fold_groups(folded, cells, heights, grid, settings, cache, tkey, patterns,
                                       window=reuse.window, progress=progress, landcover=landcover,
                                       cell_mask=cell_mask, only=only, technologies=reuse.technologies)
                    seconds = part.seconds
                try:
                    arrays = stored.result()
                except DAMAGED:
                    arrays = None
            acc = store.load(reuse, (grid.height, grid.width), cell_mask, arrays) if arrays is not None else None
            if acc is None:
                folded = groups
            elif part is not None:
                paste(acc, part, only, reuse.technologies)
            del stored, arrays, part   # (acc alone holds the arrays: freed with it below)
    acc_reused = acc is not None
    with ThreadPoolExecutor(max_workers=1) as shading:
        if acc is None:
            if dask_address:
                from .distributed import run_on_dask
                acc = run_on_dask(dask_address, groups, cells, heights, grid, settings, cache, tkey, patterns,
                                  batch_size, progress, landcover, cell_mask)
            else:
                acc = fold_groups(groups, cells, heights, grid, settings, cache, tkey, patterns, progress=progress,
                                  landcover=landcover, cell_mask=cell_mask)
                seconds = acc.seconds
        # The shaded relief (NumPy on one core) is made while the fold state goes to disk, which is mostly waiting
        relief_job = shading.submit(_shaded_relief, cache, tkey, heights, grid)
        if cache is not None and not acc_reused:
            try:
                store.save(context, acc, digests, windows, sites_rc, keys, cell_mask, techs)
            except OSError as exc:   # (a full disk): the run's result stands, its what-ifs fold everything
                log.warning("could not keep this run's fold for what-ifs in %s: %s", store.folder, exc)
        t1 = time.perf_counter()
        layers = finish_layers(acc, cells, settings, area_mask)
        del acc
        t2 = time.perf_counter()
        relief = relief_job.result()   # (relief_s: the wait for it, after the rest)
    stats = {"cells": len(cells), "terrain_passes": len(groups), "cache_hits": hits, "passes_folded": len(folded),
             "fold_reused": acc_reused, "kernels_compiled_in_this_run": compiling,
             "margin_db": settings.location_margin_db, "sigma_db": settings.sigma_db,
             "passes_s": round(t1 - t0, 2), **{key: round(value, 2) for key, value in seconds.items()},
             "finish_s": round(t2 - t1, 2), "relief_s": round(time.perf_counter() - t2, 2)}
    return Coverage(grid, layers, cells, settings, stats, relief=relief)
