"""Georeferenced arrays and their GeoTIFF output."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS
from rasterio.io import MemoryFile

from ._atomic import atomic_path


@dataclass
class Grid:
    """A north-up raster grid: shape, affine transform and CRS."""

    height: int
    width: int
    transform: Affine
    crs: CRS

    @property
    def res_m(self) -> float:
        """Cell size in CRS units (metres on the working grid)."""
        return float(self.transform.a)

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(left, bottom, right, top) in the grid's CRS."""
        t = self.transform
        return (t.c, t.f + t.e * self.height, t.c + t.a * self.width, t.f)

    def xy(self, rows, cols):
        """Cell-centre coordinates (float64) of the given rows and columns."""
        t = self.transform
        return t.c + (np.asarray(cols) + 0.5) * t.a, t.f + (np.asarray(rows) + 0.5) * t.e

    def rowcol(self, x, y):
        """Fractional (row, col) of coordinates, cell centres at integer values."""
        t = self.transform
        return (np.asarray(y) - t.f) / t.e - 0.5, (np.asarray(x) - t.c) / t.a - 0.5

    def contains(self, x, y):
        """Whether each (x, y) lies on the grid (cell edges included)."""
        r, c = self.rowcol(x, y)
        return (r >= -0.5) & (r <= self.height - 0.5) & (c >= -0.5) & (c <= self.width - 0.5)


@dataclass
class Raster:
    """An array on a :class:`Grid` (row 0 at the north edge)."""

    array: np.ndarray
    grid: Grid
    nodata: float | int | None = None


def write_geotiff(path, array: np.ndarray, grid: Grid, nodata=None, tags: dict | None = None,
                  overwrite: bool = True, band_description: str | None = None) -> None:
    """Write a Cloud-Optimised GeoTIFF (tiled, deflate, overviews), atomically."""
    profile = dict(driver="GTiff", height=array.shape[0], width=array.shape[1], count=1,
                   dtype=array.dtype.name, crs=grid.crs, transform=grid.transform, nodata=nodata)
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(array, 1)
            if tags:
                ds.update_tags(**{k: str(v) for k, v in tags.items()})
            if band_description:
                ds.set_band_description(1, band_description)
        resampling = "NEAREST" if np.issubdtype(array.dtype, np.integer) else "AVERAGE"
        with mem.open() as src, atomic_path(path, overwrite) as tmp:
            rasterio.shutil.copy(src, tmp, driver="COG", compress="DEFLATE", num_threads="ALL_CPUS",
                                 overview_resampling=resampling, blocksize=256)
