"""A run folder: the rasters of every layer, the cell table and run.json.

Any folder holding ``covered_<tech>.tif`` (and optionally ``rsrp_<tech>.tif``) is
a run folder for the later commands (``gaps``, ``map``).
"""
from __future__ import annotations

import json
import platform
from pathlib import Path

import numpy as np

from .. import __version__
from .._raster import Grid, write_geotiff
from .network import LayerResult


def write_layers(folder: Path, layers: list[LayerResult], grid: Grid, demonstration: bool = False, label: str = ""):
    tags = {"DESCRIPTION": f"phusong {__version__}" + (f": {label}" if label else "")
            + (" — SYNTHETIC DEMONSTRATION" if demonstration else "")}
    for layer in layers:
        n = layer.name
        sig = "SS-RSRP" if layer.technology == "5G" else ("NRSRP" if layer.technology == "NB-IoT" else "RSRP")
        who = "any operator" if layer.operator == "*" else layer.operator
        write_geotiff(folder / f"rsrp_{n}.tif", layer.rsrp_dbm, grid, nodata=np.nan, tags=tags,
                      band_description=f"best-server {sig} (dBm per resource element), {who}")
        write_geotiff(folder / f"rsrp2_{n}.tif", layer.rsrp2_dbm, grid, nodata=np.nan, tags=tags,
                      band_description=f"second-best {sig} (dBm), {who}")
        write_geotiff(folder / f"server_{n}.tif", layer.server, grid, nodata=-1, tags=tags,
                      band_description="serving cell: cell_index in cells.csv")
        write_geotiff(folder / f"sinr_{n}.tif", layer.sinr_db, grid, nodata=np.nan, tags=tags,
                      band_description="SINR (dB) against the serving operator's co-frequency cells")
        write_geotiff(folder / f"covered_{n}.tif", layer.covered, grid, nodata=255, tags=tags,
                      band_description="covered at the location probability: 1 yes, 0 no, 255 outside the area")


def write_cells(folder: Path, cells):
    cols = [c for c in cells.columns if c not in ("x", "y")] + ["x", "y"]
    cells[cols].to_csv(folder / "cells.csv", index=True)


def write_run_json(folder: Path, record: dict):
    record = {"phusong": __version__, "python": platform.python_version(), **record}
    (folder / "run.json").write_text(json.dumps(record, indent=2, ensure_ascii=False, default=str), encoding="utf-8")
