"""Georeferenced arrays and their GeoTIFF output."""
from __future__ import annotations

import mmap
import warnings
from dataclasses import dataclass

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import Resampling
from rasterio.io import MemoryFile

from ._atomic import atomic_path
from ._direct import DirectWriter


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


COG_BLOCK = 256


def open_input(path) -> rasterio.DatasetReader:
    """``rasterio.open`` for an input raster, without rasterio's NotGeoreferencedWarning: every caller refuses
    a raster without a CRS itself, in one line naming the file."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", rasterio.errors.NotGeoreferencedWarning)
        return rasterio.open(path)


def overview_factors(shape: tuple[int, ...], block: int = COG_BLOCK) -> list[int]:
    """Overview decimation factors 2, 4, ... until the coarsest level fits in one block (as GDAL's COG driver)."""
    factors: list[int] = []
    f = 2
    while max(shape) > block and max(shape) / (f // 2) > block:
        factors.append(f)
        f *= 2
    return factors


def write_geotiff(path, array: np.ndarray, grid: Grid, nodata=None, tags: dict | None = None,
                  overwrite: bool = True, band_description: str | None = None) -> None:
    """Write a Cloud-Optimised GeoTIFF (256-cell tiles, ZSTD, overviews), atomically.

    Overviews average float rasters (NaN ignored) and take the nearest cell of integer ones. They are built
    in memory on the tiled image and copied as they are: the COG driver's own overview pass and DEFLATE's
    default level cost three times as long on a province grid, for files a few percent smaller. ZSTD at
    level 1 compresses a run's rasters 2.5 times as fast as DEFLATE at level 1, to the same size (GDAL
    reads it since 2.3, so QGIS 3 does). Tiles whose every cell is nodata (0 without one) are left out
    (``SPARSE_OK``; GDAL reads them back as nodata): about half a province grid's tiles lie outside its outline,
    and leaving them out saves a tenth of the writing.
    """
    profile = dict(driver="GTiff", height=array.shape[0], width=array.shape[1], count=1,
                   dtype=array.dtype.name, crs=grid.crs, transform=grid.transform, nodata=nodata,
                   tiled=True, blockxsize=COG_BLOCK, blockysize=COG_BLOCK, sparse_ok=True)
    resampling = Resampling.nearest if np.issubdtype(array.dtype, np.integer) else Resampling.average
    with MemoryFile() as mem:
        with mem.open(**profile) as ds:
            ds.write(array, 1)
            if tags:
                ds.update_tags(**{k: str(v) for k, v in tags.items()})
            if band_description:
                ds.set_band_description(1, band_description)
            factors = overview_factors(array.shape)
            if factors:
                ds.build_overviews(factors, resampling)
        # The COG is made in memory too, then written past the page cache (_direct): the same bytes, without
        # taking a run's 0.1-0.3 GB of rasters in fresh page cache (0.3-0.7 s less a what-if, benchmarks/RESULTS.md)
        with mem.open() as src, MemoryFile() as cog, atomic_path(path, overwrite) as tmp:
            rasterio.shutil.copy(src, cog.name, driver="COG", compress="ZSTD", level=1, num_threads="ALL_CPUS",
                                 blocksize=COG_BLOCK, overviews="FORCE_USE_EXISTING" if factors else "NONE",
                                 sparse_ok="TRUE")
            with DirectWriter(tmp) as fh:
                fh.write(cog.getbuffer())


HUGE_PAGE = 2 ** 21


def huge_page_array(a: np.ndarray) -> np.ndarray:
    """A C-contiguous copy of ``a`` in memory advised for transparent huge pages (Linux ``madvise``), whatever
    NumPy's own advice: for an array every terrain pass reads at scattered places (the heights), where 2 MB pages
    spare the TLB misses of 4 kB ones (about 4 % of a pass on a province grid, benchmarks/RESULTS.md). Elsewhere,
    or for arrays under 2 MB, a plain copy (or ``a`` itself when already contiguous)."""
    if a.nbytes < HUGE_PAGE or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.ascontiguousarray(a)
    # one huge page more than needed, so that the array can start on a 2 MB boundary
    buffer = mmap.mmap(-1, a.nbytes + HUGE_PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    try:
        buffer.madvise(mmap.MADV_HUGEPAGE)
    except OSError:   # (THP disabled, or an old kernel): plain pages
        pass
    start = -np.frombuffer(buffer, np.uint8, count=1).ctypes.data % HUGE_PAGE
    out = np.frombuffer(buffer, a.dtype, count=a.size, offset=start).reshape(a.shape)
    out[...] = a
    return out


HILLSHADE_MAX_PX = 2400   # the relief kept with a run: enough for a province map, small on disk


def hillshade(heights: np.ndarray, grid: Grid, max_px: int = HILLSHADE_MAX_PX, azimuth_deg: float = 315.0,
              altitude_deg: float = 45.0) -> Raster:
    """Shaded relief (uint8 1–255, 0 where there is no terrain) of ``heights`` on ``grid``, averaged down
    to at most ``max_px`` cells a side: the offline basemap of the HTML maps.

    Lambertian shading of the surface normal from central differences, lit from ``azimuth_deg``
    (clockwise from north) at ``altitude_deg`` above the horizon (the usual cartographic 315°/45°,
    as GDAL's ``gdaldem hillshade``), scaled to 1 + 254·cos(angle to the light): flat ground reads
    1 + 254·sin(altitude). Cells next to missing terrain have no slope and read as missing.
    """
    factor = _relief_factor(heights.shape, max_px)
    rows, cols = heights.shape[0] // factor * factor, heights.shape[1] // factor * factor
    z = heights[:rows, :cols].astype(np.float64)
    if factor > 1:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks stay NaN
            z = np.nanmean(z.reshape(rows // factor, factor, cols // factor, factor), axis=(1, 3))
    step = grid.res_m * factor
    dz_dy, dz_dx = np.gradient(z, step) if min(z.shape) > 1 else (np.zeros_like(z), np.zeros_like(z))
    # rows grow southwards: the northward slope is -dz/drow
    slope = np.arctan(np.hypot(dz_dx, dz_dy))
    aspect = np.arctan2(-dz_dx, dz_dy)           # direction the slope faces, clockwise from north
    zen, az = np.radians(90.0 - altitude_deg), np.radians(azimuth_deg)
    shade = np.cos(zen) * np.cos(slope) + np.sin(zen) * np.sin(slope) * np.cos(az - aspect)
    out = np.where(np.isfinite(shade), np.clip(np.round(1 + 254 * np.clip(shade, 0, 1)), 1, 255), 0)
    return Raster(out.astype(np.uint8), relief_grid(heights.shape, grid, max_px), 0)


def _relief_factor(shape: tuple[int, int], max_px: int) -> int:
    return max(1, int(np.ceil(max(shape) / max_px)))


def relief_grid(shape: tuple[int, int], grid: Grid, max_px: int = HILLSHADE_MAX_PX) -> Grid:
    """The grid of :func:`hillshade`'s relief of a ``shape`` array on ``grid``."""
    factor = _relief_factor(shape, max_px)
    t = grid.transform
    return Grid(shape[0] // factor, shape[1] // factor, Affine(t.a * factor, 0, t.c, 0, t.e * factor, t.f), grid.crs)
