"""A run folder: the rasters of every layer, the cell table and run.json.

Any folder holding ``covered_<layer>.tif`` (and optionally ``rsrp_<layer>.tif``,
``rsrp2_``, ``server_``, ``sinr_``) is a run folder for the later commands
(``gaps``, ``map``). ``<layer>`` is ``4g``, ``5g`` or ``nbiot``, or
``<technology>_<operator>`` for one operator's layer.
"""
from __future__ import annotations

import functools
import json
import platform
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import rasterio

from .. import __version__
from .._atomic import atomic_dir
from .._raster import Grid, Raster, write_geotiff
from .._tables import write_csv
from ..errors import InputError
from ..sites.schema import ANY_OPERATOR, TECH_SLUG

ANY = ANY_OPERATOR
SLUG_TECH = {slug: tech for tech, slug in TECH_SLUG.items()}
# file prefix -> (attribute of a layer, band description)
RASTERS = {
    "rsrp": ("rsrp_dbm", "best-server {sig} (dBm per resource element), {who}"),
    "rsrp2": ("rsrp2_dbm", "second-best {sig} (dBm), {who}"),
    "server": ("server", "serving cell: cell_index in cells.csv"),
    "sinr": ("sinr_db", "SINR (dB) against the serving operator's co-frequency cells"),
    "covered": ("covered", "covered at the location probability: 1 yes, 0 no, 255 outside the area"),
}
RELIEF = "hillshade.tif"
NODATA = {"rsrp": np.nan, "rsrp2": np.nan, "server": -1, "sinr": np.nan, "covered": 255}


def write_run_folder(coverage, folder, overwrite: bool = False, record=None, cache=None) -> Path:
    """Write a :class:`~phusong.coverage.network.Coverage` as a run folder, all files at once (rasters identical
    to ones a :class:`~phusong.coverage.cache.FootprintCache` ``cache`` keeps are linked from it)."""
    folder = Path(folder)
    with atomic_dir(folder, overwrite) as tmp:
        write_into(tmp, coverage, record, cache)
    return folder


def write_into(folder: Path, coverage, record=None, cache=None, run_json: bool = True) -> dict:
    """The run folder's files, written into an existing (temporary) folder (see :func:`write_run_folder`); its
    run.json record, written last unless ``run_json`` is false (a study writes more files first). A ``total_s``
    in the record's timings (the command's time before writing) grows by the time spent writing."""
    t0 = time.perf_counter()
    jobs = layer_rasters(folder, coverage.layers, coverage.grid, coverage.demonstration,
                         coverage.settings.study.name, coverage.settings.coverage.rasters)
    if coverage.relief is not None:
        jobs.append(((folder / RELIEF, coverage.relief.array, coverage.relief.grid),
                     dict(nodata=0, tags=_tags(coverage.demonstration, coverage.settings.study.name),
                          band_description="shaded relief of the terrain (1-255), the maps' offline basemap")))
    reused = _write_all(jobs, cache)
    write_cells(folder, coverage.cells, coverage.demonstration)
    record = dict(record or {})
    record["timings"] = {**record.get("timings", {}), "write_rasters_s": round(time.perf_counter() - t0, 2)}
    record["rasters_reused"] = reused
    g = coverage.grid
    full = {"settings": coverage.settings.to_dict(),
            "grid": {"crs": str(g.crs), "res_m": g.res_m, "width": g.width, "height": g.height, "bounds": g.bounds},
            "coverage_levels_dbm": coverage.coverage_levels_dbm, "simulation": coverage.stats,
            "demonstration": bool(coverage.demonstration), "demonstration_reasons": list(coverage.demonstration),
            **record}
    if run_json:
        add_seconds(full, time.perf_counter() - t0)
        write_run_json(folder, full)
    return full


def add_seconds(record: dict, seconds: float) -> None:
    """Add ``seconds`` (of writing) to the ``total_s`` of ``record``'s timings, when it has one."""
    timings = record.get("timings", {})
    if "total_s" in timings:
        timings["total_s"] = round(timings["total_s"] + seconds, 2)


def layer_rasters(folder: Path, layers, grid: Grid, demonstration=(), label: str = "", kinds=tuple(RASTERS)) -> list:
    """The :func:`write_geotiff` calls, as (args, kwargs) pairs, of one COG per raster of every layer (those of
    ``kinds``: rsrp, rsrp2, server, sinr, covered), tagged with the study and any demonstration label."""
    tags = _tags(demonstration, label)
    jobs = []
    for layer in layers:
        sig = "SS-RSRP" if layer.technology == "5G" else ("NRSRP" if layer.technology == "NB-IoT" else "RSRP")
        who = "any operator" if layer.operator == ANY else layer.operator
        for prefix, (attr, description) in RASTERS.items():
            array = getattr(layer, attr)
            if array is not None and prefix in kinds:
                jobs.append(((folder / f"{prefix}_{layer.name}.tif", array, grid),
                             dict(nodata=NODATA[prefix], tags=tags, band_description=description.format(sig=sig,
                                                                                                        who=who))))
    return jobs


def _write_all(jobs: list, cache=None) -> int:
    """Write rasters two at a time: GDAL compresses on every core but builds overviews on one, so two files
    in flight keep both cores busy (about 12 % less time for a run's eleven rasters on two cores). With a
    ``cache``, through :meth:`~phusong.coverage.cache.FootprintCache.write_raster`; how many it reused."""
    write: Callable = write_geotiff
    if cache is not None:   # (this run's rasters and the last run's kept, so that a what-if finds the last run's)
        write = functools.partial(cache.write_raster, keep_at_least=2 * len(jobs))
    if len(jobs) < 2:
        return sum(bool(write(*args, **kwargs)) for args, kwargs in jobs)
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = [pool.submit(write, *args, **kwargs) for args, kwargs in jobs]
        try:
            return sum(bool(done.result()) for done in futures)   # (re-raises the first error)
        except BaseException:   # (an error or Ctrl-C): start no other file
            for f in futures:
                f.cancel()
            raise


def _tags(demonstration=(), label: str = "") -> dict:
    """The rasters' metadata. A demonstration's reasons without the files they name ("synthetic terrain", not
    "dem.tif: synthetic terrain"; run.json names the files): a what-if from a renamed site list then writes the
    same files for the layers it left unchanged, which the cache links instead of encoding them again."""
    kinds = list(dict.fromkeys(reason.rsplit(": ", 1)[-1] for reason in demonstration))
    return {"DESCRIPTION": f"phusong {__version__}" + (f": {label}" if label else "")
            + (" — SYNTHETIC DEMONSTRATION (" + "; ".join(kinds) + ")" if kinds else "")}


def write_cells(folder: Path, cells, demonstration=()) -> None:
    """cells.csv: the cell table, indexed by the cell index used in server rasters (with a ``demonstration``
    column saying why, on demonstration inputs)."""
    cols = [c for c in cells.columns if c not in ("x", "y", "demonstration")] + ["x", "y"]
    table = cells[cols]
    if demonstration:
        table = table.assign(demonstration="; ".join(demonstration))
    write_csv(table, folder / "cells.csv", index=True)


def write_run_json(folder: Path, record: dict) -> None:
    """run.json: how the run was made (versions, settings, grid, checksums, timings)."""
    record = {"phusong": __version__, "python": platform.python_version(), **record}
    (folder / "run.json").write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str), encoding="utf-8")


def read_run_folder(folder, rasters=("covered", "rsrp")) -> dict:
    """The raw contents of a run folder: ``grid``, ``layers`` {(technology, operator): {prefix: array}},
    ``cells`` (or None), ``record`` (run.json, or {}), ``demonstration`` (from the rasters' tags) and
    ``relief`` (the shaded relief, or None)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise InputError("not a folder", path=folder)
    grid = None
    demonstration = False
    layers: dict = {}
    for path in sorted(folder.glob("covered_*.tif")):
        name = path.stem.removeprefix("covered_")
        slug, _, operator = name.partition("_")
        if slug not in SLUG_TECH:
            continue
        arrays = {}
        for prefix in rasters:
            rpath = folder / f"{prefix}_{name}.tif"
            if not rpath.exists():
                continue
            try:
                with rasterio.open(rpath) as src:
                    g = Grid(src.height, src.width, src.transform, src.crs)
                    if grid is None:
                        grid = g
                    elif (g.transform, g.height, g.width) != (grid.transform, grid.height, grid.width):
                        raise InputError("rasters of the run are on different grids", path=rpath)
                    arrays[prefix] = src.read(1)
                    demonstration |= "DEMONSTRATION" in src.tags().get("DESCRIPTION", "")
            except rasterio.errors.RasterioIOError as exc:
                raise InputError(f"cannot read ({exc})", path=rpath) from None
        if "covered" in arrays:
            arrays.setdefault("rsrp", np.full(arrays["covered"].shape, np.nan, np.float32))
            layers[(SLUG_TECH[slug], operator or ANY)] = arrays
    if grid is None:
        raise InputError("no covered_<tech>.tif in the run folder (4g, 5g or nbiot)", path=folder)
    cells = None
    if (folder / "cells.csv").exists():
        cells = pd.read_csv(folder / "cells.csv", index_col="cell_index",
                            encoding="utf-8-sig").drop(columns="demonstration", errors="ignore")
    record = {}
    if (folder / "run.json").exists():
        try:
            record = json.loads((folder / "run.json").read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise InputError(f"not valid JSON ({exc})", path=folder / "run.json") from None
    relief = None
    if (folder / RELIEF).exists():
        with rasterio.open(folder / RELIEF) as src:
            relief = Raster(src.read(1), Grid(src.height, src.width, src.transform, src.crs), 0)
    return {"grid": grid, "layers": layers, "cells": cells, "record": record, "demonstration": demonstration,
            "relief": relief}
