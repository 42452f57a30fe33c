"""Land-cover classes on the working grid (ESA WorldCover codes, or any integer class raster).

Real data: ESA WorldCover 10 m v200 (2021), CC BY 4.0, 3°×3° tiles named
``ESA_WorldCover_10m_2021_v200_N21E105_Map.tif``; pass one or more tiles (mosaicked in order). The
codes are 10 tree cover, 20 shrubland, 30 grassland, 40 cropland, 50 built-up, 60 bare/sparse, 70
snow and ice, 80 permanent water, 90 herbaceous wetland, 95 mangroves, 100 moss and lichen; 0 is no
data (WorldCover's product user manual, v2.0, Table 1).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
from rasterio.errors import RasterioIOError
from rasterio.warp import Resampling, reproject

from .._raster import Grid, open_input
from ..errors import InputError

NO_CLASS = 0
WORLDCOVER_CLASSES = {10: "tree cover", 20: "shrubland", 30: "grassland", 40: "cropland", 50: "built-up",
                      60: "bare / sparse vegetation", 70: "snow and ice", 80: "permanent water bodies",
                      90: "herbaceous wetland", 95: "mangroves", 100: "moss and lichen"}


def read_landcover(paths, grid: Grid) -> np.ndarray:
    """Class codes (int32, 0 where unknown) on ``grid``: the most common class of the source pixels in each
    working cell (majority resampling), so that 10 m classes keep their mix at 30 m. Tiles are warped one
    by one (GDAL reads only the blocks the grid needs: a 3°×3° WorldCover tile is never read whole);
    where tiles overlap, the first wins."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    out = np.zeros((grid.height, grid.width), np.int32)
    for p in paths:
        if not p.is_file():
            raise InputError("no such file", path=p)
        try:
            ds = open_input(p)
        except RasterioIOError as exc:
            raise InputError(f"not a raster GDAL can read ({exc})", path=p) from None
        with ds:
            if ds.crs is None:
                raise InputError("the land-cover raster has no CRS", path=p)
            if not np.issubdtype(np.dtype(ds.dtypes[0]), np.integer):
                raise InputError(f"land cover must hold integer class codes, found {ds.dtypes[0]}", path=p)
            tile = np.zeros_like(out)
            try:
                reproject(rasterio.band(ds, 1), tile, src_nodata=ds.nodata if ds.nodata is not None else NO_CLASS,
                          dst_transform=grid.transform, dst_crs=grid.crs, dst_nodata=NO_CLASS,
                          resampling=Resampling.mode)
            except RasterioIOError as exc:
                raise InputError(f"cannot read the classes: the file is truncated or damaged ({exc})", path=p) from None
        out = np.where(out == NO_CLASS, tile, out)
    return out


def synthetic_landcover(heights: np.ndarray, res_m: float, seed: int = 0) -> np.ndarray:
    """A DEMONSTRATION land-cover map (WorldCover codes, uint8) made from terrain alone, for benchmarks and
    demos where real WorldCover tiles are not at hand: tree cover (10) on hills and slopes, cropland (40) on
    valley floors with villages (50) in clusters, grass and shrub (30, 20) patches, water (80) in the lowest
    hollows. It resembles Lạng Sơn's forested hills with villages in the valleys; it is not land cover data."""
    from scipy.ndimage import gaussian_filter, uniform_filter

    rng = np.random.default_rng(seed)
    z = np.nan_to_num(np.asarray(heights, dtype=np.float64), nan=float(np.nanmean(heights)))
    relative = z - uniform_filter(z, size=max(int(1500.0 / res_m), 3))      # below the surrounding 1.5 km
    gy, gx = np.gradient(z, res_m)
    slope_deg = np.degrees(np.arctan(np.hypot(gx, gy)))

    def blobs(scale_m):
        noise = gaussian_filter(rng.standard_normal(z.shape), max(scale_m / res_m, 1.0))
        return noise / max(float(noise.std()), 1e-12)

    classes = np.full(z.shape, 10, np.uint8)
    valley = (relative < -15.0) & (slope_deg < 12.0)
    classes[valley] = 40
    classes[valley & (blobs(300.0) > 1.2)] = 50
    classes[~valley & (blobs(500.0) > 1.0)] = 30
    classes[~valley & (blobs(400.0) > 1.5)] = 20
    classes[relative < np.quantile(relative, 0.003)] = 80
    return classes

