"""Terrain input: read DEM tiles, mosaic them, fill voids, put them on a metric grid.

Accepted: GeoTIFF / COG, SRTM ``.hgt`` and ``.hgt.zip`` (1″ and 3″), ESRI ASCII
grid (``.asc``), and anything else GDAL opens. Heights are metres above sea level.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rasterio.fill import fillnodata
from rasterio.merge import merge
from rasterio.transform import from_origin
from rasterio.warp import Resampling, reproject, transform_bounds

from .._atomic import keep_array, read_kept
from .._raster import Grid, Raster, open_input
from ..errors import InputError

log = logging.getLogger(__name__)

SRTM_VOID = -32768


@dataclass
class Terrain(Raster):
    """Heights (float32 metres) on a metric working grid, voids filled (from :func:`load_terrain`).

    ``synthetic`` names the tiles whose metadata says SYNTHETIC: results on them are demonstrations.

    Examples
    --------
    >>> import phusong
    >>> from phusong.data.demo import example_inputs
    >>> t = phusong.load_terrain(example_inputs().dem, "EPSG:32648", 500.0)
    >>> isinstance(t, phusong.Terrain), t.array.shape == (t.grid.height, t.grid.width)
    (True, True)
    """

    void_count: int = 0
    sources: tuple[str, ...] = ()
    synthetic: tuple[str, ...] = ()   # names of the tiles whose metadata says SYNTHETIC (stand-ins)


def gdal_path(path) -> str:
    """The GDAL path of a DEM file; ``.hgt.zip`` is read through /vsizip/."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path=path)
    if path.name.lower().endswith(".zip"):
        try:
            names = [n for n in zipfile.ZipFile(path).namelist() if not n.endswith("/")]
        except zipfile.BadZipFile as exc:
            raise InputError(f"not a zip file ({exc})", path=path) from None
        inner = [n for n in names if n.lower().endswith((".hgt", ".tif", ".tiff", ".asc"))] or names
        if not inner:
            raise InputError("zip archive holds no DEM", path=path)
        return f"/vsizip/{path.resolve()}/{inner[0]}"
    return str(path)


def _open(path):
    try:
        return open_input(gdal_path(path))
    except RasterioIOError as exc:
        raise InputError(f"not a DEM GDAL can read ({exc})", path=path) from None


def _open_tiles(paths) -> list:
    """Open DEM tiles that share one CRS (the caller closes them)."""
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    if not paths:
        raise InputError("no terrain file given")
    datasets = []
    try:
        for p in paths:
            datasets.append(_open(p))
            if datasets[-1].crs is None:
                raise InputError("DEM has no coordinate reference system", path=p)
            if datasets[-1].crs != datasets[0].crs:
                raise InputError(f"CRS {datasets[-1].crs} differs from the first tile's {datasets[0].crs}", path=p)
    except InputError:
        for ds in datasets:
            ds.close()
        raise
    return datasets


def dem_bounds_lonlat(paths) -> tuple[float, float, float, float]:
    """West, south, east, north (WGS 84) of the tiles' union, from their metadata alone."""
    datasets = _open_tiles(paths)
    try:
        boxes = np.array([transform_bounds(ds.crs, "EPSG:4326", *ds.bounds, densify_pts=21) for ds in datasets])
    finally:
        for ds in datasets:
            ds.close()
    return (float(boxes[:, 0].min()), float(boxes[:, 1].min()), float(boxes[:, 2].max()), float(boxes[:, 3].max()))


AUTO_CRS = "auto"
MAX_GRID_CELLS = 500_000_000   # 2 GB of float32 heights: far beyond a province at 30 m (9 M cells)


def utm_crs(lon: float, lat: float) -> str:
    """The WGS 84 / UTM zone holding (lon, lat): ``EPSG:326zz`` north of the equator, ``EPSG:327zz`` south."""
    zone = min(int((lon + 180.0) // 6.0) + 1, 60)
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


def resolve_crs(crs, paths) -> CRS:
    """The working CRS: ``crs`` itself, or for ``"auto"`` the UTM zone of the DEM tiles' centre."""
    if str(crs).strip().lower() == AUTO_CRS:
        w, s, e, n = dem_bounds_lonlat([Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)])
        return CRS.from_user_input(utm_crs((w + e) / 2.0, (s + n) / 2.0))
    try:
        return CRS.from_user_input(crs)
    except Exception as exc:  # pyproj/rasterio raise several types for unknown CRS strings
        raise InputError(f"not a coordinate reference system: {crs!r} ({exc})", argument="crs") from None


def synthetic_dem_names(paths) -> list[str]:
    """Names of the DEMs whose metadata says SYNTHETIC (stand-ins): outputs on them are demonstrations."""
    names = []
    for path in paths:
        with rasterio.open(gdal_path(path)) as src:
            if any("SYNTHETIC" in str(v).upper() for v in src.tags().values()):
                names.append(Path(path).name)
    return names


def read_mosaic(paths) -> tuple[np.ndarray, Grid, int]:
    """Mosaic DEM tiles on their own (common) grid.

    Returns heights as float32 with voids (``nodata`` or −32768) set to NaN, the
    grid, and the void count. Tiles must share a CRS and resolution; where they
    overlap (SRTM tiles share their edge rows) the first tile wins, so a tile
    cut into pieces mosaics back to the original exactly.
    """
    datasets = _open_tiles(paths)
    try:
        crs = datasets[0].crs
        nodata = datasets[0].nodata if datasets[0].nodata is not None else SRTM_VOID
        try:
            if len(datasets) == 1:
                arr = datasets[0].read(1)
                transform = datasets[0].transform
            else:
                stack, transform = merge(datasets, nodata=nodata, method="first")
                arr = stack[0]
        except RasterioIOError as exc:  # a truncated or damaged file opens, then fails to read
            names = ", ".join(Path(ds.name).name for ds in datasets)
            raise InputError(f"cannot read the heights: the file is truncated or damaged ({exc})",
                             path=names) from None
    finally:
        for ds in datasets:
            ds.close()
    void = (arr == nodata) | (arr == SRTM_VOID)
    if np.issubdtype(arr.dtype, np.floating):
        void |= ~np.isfinite(arr)
    heights = arr.astype(np.float32)
    heights[void] = np.nan
    grid = Grid(arr.shape[0], arr.shape[1], transform, CRS.from_user_input(crs))
    return heights, grid, int(void.sum())


def fill_voids(heights: np.ndarray) -> np.ndarray:
    """Fill NaN voids by inverse-distance interpolation from their edges (GDAL FillNodata)."""
    void = ~np.isfinite(heights)
    if not void.any():
        return heights
    if void.all():
        raise InputError("DEM holds no valid heights")
    filled = fillnodata(np.where(void, 0, heights).astype(np.float32), mask=(~void).astype(np.uint8),
                        max_search_distance=max(heights.shape), smoothing_iterations=0)
    still = void & ~np.isfinite(filled)
    if still.any():  # cannot happen with an unlimited search, but never leave NaN behind
        filled[still] = np.nanmean(heights)
    return filled.astype(np.float32)


def working_grid(src_grid: Grid, crs, res_m: float, bounds=None) -> Grid:
    """The metric grid of ``res_m`` cells in ``crs`` covering ``bounds`` (working CRS) or the DEM."""
    crs = CRS.from_user_input(crs)
    if not crs.is_projected:
        raise InputError(f"working CRS {crs} is not projected (metric); use e.g. EPSG:32648")
    if bounds is None:
        bounds = transform_bounds(src_grid.crs, crs, *src_grid.bounds, densify_pts=21)
    left, bottom, right, top = bounds
    left = np.floor(left / res_m) * res_m
    top = np.ceil(top / res_m) * res_m
    width = int(np.ceil((right - left) / res_m))
    height = int(np.ceil((top - bottom) / res_m))
    if width * height > MAX_GRID_CELLS:
        raise InputError(f"the working grid would be {width:,} x {height:,} cells of {res_m:g} m "
                         f"({width * height * 4 / 2**30:,.0f} GiB of heights) in {crs.to_string()}: the terrain is "
                         "far from that CRS's zone or very large; use --crs auto (the terrain's UTM zone) or a "
                         "coarser --resolution-m", argument="crs")
    return Grid(height, width, from_origin(left, top, res_m, res_m), crs)


def _same_grid(a: Grid, crs: CRS, res_m: float) -> bool:
    t = a.transform
    return (a.crs == crs and abs(t.a - res_m) < 1e-9 and abs(-t.e - res_m) < 1e-9
            and t.b == 0 and t.d == 0)


def _usable_cores() -> int:
    """CPU cores this process may run on (affinity and cgroup-aware where the OS says)."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return os.cpu_count() or 1


def load_terrain(paths, crs, res_m: float, bounds=None, partial: bool = False, cache_dir=None) -> Terrain:
    """Read, mosaic, void-fill and reproject DEM tiles to a metric working grid.

    ``crs`` is the working (projected) CRS, or ``"auto"`` for the UTM zone of the tiles' centre, and
    ``res_m`` its cell size in metres; a study's are ``settings.study.crs`` and
    ``settings.study.resolution_m`` ("auto" and 30 m by default).

    Cells of the working grid outside the DEM are NaN (only possible without ``bounds``,
    or with ``partial``).

    ``bounds`` (left, bottom, right, top in the working CRS) crops to a study area
    and must lie inside the DEM. When the DEM already is in ``crs`` at ``res_m``,
    its own grid is used unchanged (cropped to ``bounds`` on whole cells).
    Heights are resampled bilinearly. With ``partial``, ``bounds`` is cut to the
    DEM's extent and cells without data stay NaN (kernels end their rays there).
    With ``cache_dir``, a reprojected grid is kept there (one ``.npy`` per tiles, grid and GDAL version, the
    tiles known by path, size and modification time) and read back by a later call instead of reprojecting.

    Examples
    --------
    >>> import phusong
    >>> from phusong.data.demo import example_inputs
    >>> terrain = phusong.load_terrain(example_inputs().dem, "EPSG:32648", 200.0)
    >>> terrain.grid.res_m, terrain.array.dtype.name, terrain.synthetic
    (200.0, 'float32', ('dem_demo.tif',))
    """
    paths = [Path(p) for p in ([paths] if isinstance(paths, (str, Path)) else paths)]
    crs = resolve_crs(crs, paths)
    heights, src_grid, voids = read_mosaic(paths)
    names = ", ".join(p.name for p in paths)
    if voids:
        log.warning("%s: %d void cells (%.2f%%) filled by interpolation", names, voids,
                    100.0 * voids / heights.size)
        heights = fill_voids(heights)
    crs = CRS.from_user_input(crs)
    if bounds is not None:
        dem_bounds = transform_bounds(src_grid.crs, crs, *src_grid.bounds, densify_pts=21)
        if partial:
            bounds = (max(bounds[0], dem_bounds[0]), max(bounds[1], dem_bounds[1]),
                      min(bounds[2], dem_bounds[2]), min(bounds[3], dem_bounds[3]))
            if bounds[0] >= bounds[2] or bounds[1] >= bounds[3]:
                raise InputError(f"DEM ({names}) does not cover the requested area")
        elif not _inside(bounds, dem_bounds):
            raise InputError(f"DEM ({names}) does not cover the study area {tuple(round(b) for b in bounds)} "
                             f"in {crs.to_string()}; it covers {tuple(round(b) for b in dem_bounds)}")
    if _same_grid(src_grid, crs, res_m):
        grid, arr = src_grid, heights
        if bounds is not None:
            r0, c0 = (int(np.floor(v + 0.5)) for v in src_grid.rowcol(bounds[0], bounds[3]))
            r1, c1 = (int(np.ceil(v + 0.5)) for v in src_grid.rowcol(bounds[2], bounds[1]))
            r0, c0 = max(r0, 0), max(c0, 0)
            arr = heights[r0:r1, c0:c1]
            t = src_grid.transform
            grid = Grid(arr.shape[0], arr.shape[1], t @ t.translation(c0, r0), crs)
        return Terrain(np.ascontiguousarray(arr, dtype=np.float32), grid, None, voids, tuple(map(str, paths)),
                       tuple(synthetic_dem_names(paths)))
    grid = working_grid(src_grid, crs, res_m, bounds)
    kept = _reprojected_path(cache_dir, paths, grid) if cache_dir is not None else None
    out = read_kept(kept, (grid.height, grid.width), np.float32) if kept is not None else None
    if out is None:
        out = np.full((grid.height, grid.width), np.nan, dtype=np.float32)
        reproject(heights, out, src_transform=src_grid.transform, src_crs=src_grid.crs,
                  dst_transform=grid.transform, dst_crs=grid.crs, src_nodata=np.nan, dst_nodata=np.nan,
                  resampling=Resampling.bilinear, num_threads=_usable_cores())
        if kept is not None:
            _write_reprojected(kept, out)
    # Without bounds the grid is the DEM's reprojected bounding box, whose corners lie outside the
    # (rotated) DEM: they stay NaN, and the kernels end their rays there.
    if bounds is not None and np.isnan(out).any() and not partial:
        raise InputError(f"DEM ({names}) does not cover the whole study area")
    return Terrain(out, grid, None, voids, tuple(map(str, paths)), tuple(synthetic_dem_names(paths)))


KEEP_REPROJECTED = 4   # reprojected terrains kept in a cache folder: the newest


def _reprojected_path(folder, paths, grid: Grid) -> Path:
    """Where the reprojection of ``paths`` onto ``grid`` is kept: a digest of the tiles (path, size, modification
    time), the grid, the resampling and GDAL's version."""
    parts = [str(rasterio.__gdal_version__), "bilinear", tuple(grid.transform)[:6], grid.height, grid.width,
             grid.crs.to_wkt()]
    for p in paths:
        st = Path(p).stat()
        parts.append([str(Path(p).resolve()), st.st_size, st.st_mtime_ns])
    digest = hashlib.blake2b(json.dumps(parts).encode(), digest_size=16).hexdigest()
    return Path(folder) / f"{digest}.npy"


def _write_reprojected(path: Path, out: np.ndarray) -> None:
    """Keep a reprojection (temporary name, then rename); a folder that cannot be written is not an error."""
    try:
        keep_array(path, out, KEEP_REPROJECTED)   # (a province at 30 m is about 100 MB)
    except OSError as exc:
        log.warning("could not keep the reprojected terrain in %s: %s", path.parent, exc)


def _inside(inner, outer, tol=1e-6) -> bool:
    return (inner[0] >= outer[0] - tol and inner[1] >= outer[1] - tol
            and inner[2] <= outer[2] + tol and inner[3] <= outer[3] + tol)
