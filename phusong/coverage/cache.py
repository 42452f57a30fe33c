"""The terrain-pass cache: a site's loss footprint, stored on disk under a key of what it depends on.

A pass depends only on the terrain, the site's position and antenna height, the
frequency, the receiver height, the radius, the model and the effective Earth
radius; power, tilt, azimuth and pattern changes reuse it. Entries are 0.01 dB
steps in uint16 ``.npy`` files, written under a temporary name and renamed, so a
reader never sees half an entry and any number of processes may share a folder (the
same holds for the last full fold kept beside them, :mod:`.state`).

Dask workers open the folder by its path: with ``--dask-address`` every worker
must be able to read and write the same path (a shared file system), or the
cache should be left out (``cache=None``), in which case every pass is computed.
"""
from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import functools
import hashlib
import json
import os
import secrets
import threading
import time
from pathlib import Path

import numpy as np

from .._atomic import atomic_path, keep_array, keep_newest, read_kept, write_text
from .._direct import write_npy
from .. import _raster
from .._raster import Grid, Raster, hillshade, relief_grid
from ..settings import Settings

CACHE_VERSION = "kernel-5"  # cell-exact receivers with a 12-sample exact tail; rays half a cell apart at the radius
KEEP_RELIEF = 4   # shaded reliefs kept (about 3 MB each for the province)
KEEP_AREAS = 4    # rasterized study areas kept (about 3 MB each for the province)
# A temporary terrain-pass entry this old is a killed writer's (writing one takes well under a second)
STALE_ENTRY_S = 3600.0
KEEP_RASTERS = 24  # run rasters kept, as hard links to the runs' own files (a run's eleven, twice over)


@functools.cache
def files_digest(*paths) -> str:
    """A digest of the files' bytes, in order (read once per process)."""
    h = hashlib.blake2b(digest_size=8)
    for path in paths:
        h.update(Path(path).read_bytes())
    return h.hexdigest()


def model_sources_digest() -> str:
    """A digest of the kernel's and P.1812's source files: a pass computed by other code never matches,
    whether or not CACHE_VERSION was bumped (read as files: no Numba import for it)."""
    folder = Path(__file__).resolve().parents[1] / "propagation"
    return files_digest(folder / "_kernels.py", folder / "p1812.py")


def default_cache_dir() -> Path:
    """``$PHUSONG_CACHE_DIR``, else ``$XDG_CACHE_HOME/phusong/footprints`` (``~/.cache/...``)."""
    env = os.environ.get("PHUSONG_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "phusong" / "footprints"


def terrain_key(heights: np.ndarray, grid: Grid, landcover: np.ndarray | None = None,
                cell_mask: np.ndarray | None = None) -> str:
    """A digest of the terrain heights and their grid (and of the land cover, for models whose terrain pass
    reads it, and of the cells evaluated, when not all are): passes on other terrain never match."""
    h = hashlib.blake2b(np.ascontiguousarray(heights).view(np.uint8).data, digest_size=16)
    h.update(repr((tuple(grid.transform)[:6], grid.height, grid.width, grid.crs.to_string())).encode())
    if landcover is not None:
        h.update(b"landcover")
        h.update(np.ascontiguousarray(landcover, dtype=np.uint8).data)
    if cell_mask is not None:
        h.update(b"cells")
        h.update(np.packbits(cell_mask).data)
    return h.hexdigest()


_WRITERS: dict[int, concurrent.futures.ThreadPoolExecutor] = {}   # by process id (a forked child makes its own)
_WRITERS_LOCK = threading.Lock()


def _writer() -> concurrent.futures.ThreadPoolExecutor:
    """The process's one cache-writing thread: one for every fold, so that ``_direct``'s staging buffer (per
    thread) is mapped once, not once a fold."""
    with _WRITERS_LOCK:
        pool = _WRITERS.get(os.getpid())
        if pool is None:
            pool = _WRITERS[os.getpid()] = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="phusong-cache")
        return pool


class BackgroundSaver:
    """Keeps new terrain passes in ``cache`` from the process's cache-writing thread, so that a pass is written while
    the next one is computed (with no cache, nothing is saved). At most ``pending`` entries wait at a time (their
    memory is bounded); leaving the ``with`` block waits for every write, and a failed write's error is raised there
    or at a later ``save``."""

    def __init__(self, cache: FootprintCache | None, pending: int = 2):
        self.cache = cache
        self.pending = pending
        self._futures: collections.deque = collections.deque()

    def save(self, path: Path, q: np.ndarray) -> None:
        """Write entry ``q`` (not to be changed afterwards) at ``path`` of the cache (see FootprintCache.save)."""
        if self.cache is None:
            return
        while len(self._futures) >= self.pending:
            self._futures.popleft().result()
        self._futures.append(_writer().submit(self.cache.save, path, q))

    def __enter__(self) -> BackgroundSaver:
        return self

    def __exit__(self, exc_type, *_) -> None:
        error = None
        while self._futures:   # every write waited for, even after an error
            try:
                self._futures.popleft().result()
            except Exception as e:
                error = error or e
        if error is not None and exc_type is None:
            raise error


class FootprintCache:
    """Terrain passes in ``folder`` (created on first use).

    Examples
    --------
    >>> import tempfile
    >>> from phusong.coverage.cache import FootprintCache
    >>> cache = FootprintCache(tempfile.mkdtemp())
    >>> cache.folder.is_dir()
    True
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self._swept = False

    def __repr__(self) -> str:
        return f"FootprintCache({str(self.folder)!r})"

    def path(self, tkey: str, x: float, y: float, height_m: float, frequency_mhz: float, s: Settings) -> Path:
        """The entry's file: a digest of everything the terrain pass depends on (see the module notes)."""
        parts = [CACHE_VERSION, model_sources_digest(), tkey, round(x, 3), round(y, 3), height_m, frequency_mhz,
                 s.model.rx_height_m, s.model.radius_km, s.model.name, s.model.earth_radius_km]
        if s.model.name == "p1812":   # what else its pass reads (the land cover is in tkey)
            table = s.model.clutter_table
            parts += [s.model.time_pct, s.model.delta_n, s.model.n0,
                      table.heights_m(np.arange(256)).tolist() if table is not None else "worldcover"]
        key = json.dumps(parts)
        return self.folder / f"{hashlib.blake2b(key.encode(), digest_size=16).hexdigest()}.npy"

    def kept(self, tkey: str, groups, s: Settings) -> int:
        """How many of the terrain passes of ``groups`` (:class:`.cells.Group`) the cache holds."""
        return sum(self.path(tkey, g.x, g.y, g.height_m, g.frequency_mhz, s).exists() for g in groups)

    def load(self, path: Path, shape: tuple[int, int]) -> np.ndarray | None:
        """The quantised loss window (see :func:`quantise`), or None when absent, damaged or of another shape."""
        return read_kept(path, shape, np.uint16)   # (a damaged or empty entry is recomputed)

    def save(self, path: Path, q: np.ndarray) -> None:
        """Store a quantised loss window (see :func:`quantise`), written past the page cache where the file system
        allows it (:mod:`phusong._direct`) under a name of its own (the process id and a random part: threads of
        one process, and hosts sharing the folder, never write one file), then renamed."""
        if not self._swept:   # once a run (a Dask task): what killed writers left
            self._swept = True
            self._sweep()
        tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}.part")
        try:
            write_npy(tmp, q)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)   # (when writing failed)

    def _sweep(self) -> None:
        """Remove the temporary entries killed writers left: those older than ``STALE_ENTRY_S`` (by age, not by
        process id: writers on other hosts sharing the folder have ids of their own). Also the ``<key>.<pid>.tmp``
        of earlier versions."""
        now = time.time()
        for stale in [*self.folder.glob(".*.part"), *self.folder.glob("*.tmp")]:
            with contextlib.suppress(OSError):   # (removed meanwhile, or another user's)
                if now - stale.stat().st_mtime > STALE_ENTRY_S:
                    stale.unlink()

    def area_mask(self, geometries, grid: Grid) -> np.ndarray:
        """The study area on the grid (:func:`area_mask`), kept in ``area/`` (the most recently used few, as
        bits): a re-run over the same polygons and grid reads it back instead of rasterizing them again (0.2-0.45
        s for Lạng Sơn's communes at 30 m)."""
        import rasterio
        import shapely

        h = hashlib.blake2b(digest_size=16)
        h.update(json.dumps([grid.height, grid.width, list(grid.transform)[:6], str(grid.crs),
                             rasterio.__gdal_version__, files_digest(__file__)]).encode())   # (the rule is here)
        for wkb in shapely.to_wkb(np.asarray(geometries, dtype=object)):
            h.update(b"\0null" if wkb is None else wkb)   # (a feature without geometry: rasterio skips it)
        path = self.folder / "area" / f"{h.hexdigest()}.npy"
        size = grid.height * grid.width
        bits = read_kept(path, (-(-size // 8),), np.uint8, touch=True)   # (kept by use)
        if bits is not None:
            return np.unpackbits(bits, count=size).reshape(grid.height, grid.width).view(np.bool_)
        mask = area_mask(geometries, grid)
        try:
            keep_array(path, np.packbits(mask), KEEP_AREAS)
        except OSError:   # (a read-only or full cache): the run goes on without keeping it
            pass
        return mask

    def write_raster(self, path, array: np.ndarray, grid: Grid, *, keep_at_least: int = 0, **kwargs) -> bool:
        """:func:`~phusong._raster.write_geotiff` (``kwargs`` are its own), or a hard link to the file an earlier
        run wrote for the same cells and metadata, kept in ``rasters/``: a what-if's unchanged layers (one
        technology's, when another's cell changed) are not encoded again (0.4-2.3 s a province raster, against
        0.1 s to hash it). What is written is kept there as a hard link to it (no extra disk space while the run
        folder exists), the ``KEEP_RASTERS`` (or ``keep_at_least``) most recently used. True when reused. A kept
        file changed in place (its size or time) is not reused; where the cache and ``path`` are on different
        file systems nothing is kept."""
        folder = self.folder / "rasters"
        try:
            if os.stat(self.folder).st_dev != os.stat(Path(path).parent).st_dev:
                folder = None   # (no hard links across file systems)
        except OSError:
            folder = None
        if folder is None:
            _raster.write_geotiff(path, array, grid, **kwargs)
            return False
        kept = folder / f"{raster_key(array, grid, kwargs)}.tif"
        stamp = kept.with_suffix(".json")
        try:
            st = kept.stat()
            if json.loads(stamp.read_text()) == [st.st_size, st.st_mtime_ns]:
                with atomic_path(path, kwargs.get("overwrite", True)) as tmp:
                    os.link(kept, tmp)
                with contextlib.suppress(OSError):   # (removed meanwhile by another run: the link stands)
                    os.utime(stamp)   # (kept by use)
                return True
        except (OSError, ValueError):   # (none, or damaged): written
            pass
        _raster.write_geotiff(path, array, grid, **kwargs)
        try:
            st = os.stat(path)
            write_text(stamp, json.dumps([st.st_size, st.st_mtime_ns]))   # (first: a file is never kept unstamped)
            try:
                with atomic_path(kept) as tmp:
                    os.link(path, tmp)
            except OSError:   # (a file system without hard links): no stamp without its file
                stamp.unlink(missing_ok=True)
                raise
        except OSError:   # (a read-only or full cache): the run's own file stands
            pass
        finally:
            with contextlib.suppress(OSError):
                keep_newest(folder, "*.json", max(KEEP_RASTERS, keep_at_least))
                for tif in folder.glob("*.tif"):   # those whose stamp went
                    if not tif.name.startswith(".") and not tif.with_suffix(".json").exists():
                        tif.unlink(missing_ok=True)
        return False

    def relief(self, tkey: str, heights: np.ndarray, grid: Grid) -> Raster:
        """The terrain's shaded relief (:func:`~phusong._raster.hillshade`, the maps' basemap), kept in
        ``relief/`` (the newest few): a re-run on the same terrain reads it back instead of shading the whole
        grid again (0.7-0.9 s for the province at 30 m, a tenth of a what-if)."""
        rgrid = relief_grid(heights.shape, grid)
        path = self.folder / "relief" / f"{tkey}-{files_digest(_raster.__file__)}.npy"
        array = read_kept(path, (rgrid.height, rgrid.width), np.uint8, touch=True)   # (kept by use)
        if array is not None:
            return Raster(array, rgrid, 0)
        relief = hillshade(heights, grid)   # (absent, damaged or empty: shaded again)
        try:
            keep_array(path, relief.array, KEEP_RELIEF)
        except OSError:   # (a read-only or full cache): the run goes on without keeping it
            pass
        return relief


def raster_key(array: np.ndarray, grid: Grid, kwargs: dict) -> str:
    """A digest of everything :func:`~phusong._raster.write_geotiff` writes: the cells, the grid, the options
    (nodata, tags, band description), the writing code and GDAL's version."""
    import rasterio
    from rasterio.crs import CRS

    options = {k: v for k, v in kwargs.items() if k != "overwrite"}
    crs = CRS.from_user_input(grid.crs).to_wkt()   # (str() names an EPSG code for CRSs that only resemble it)
    h = hashlib.sha256(json.dumps([array.dtype.str, list(array.shape), list(grid.transform)[:6], crs, options,
                                   rasterio.__version__, rasterio.__gdal_version__, files_digest(_raster.__file__)],
                                  sort_keys=True, default=str).encode())
    h.update(np.ascontiguousarray(array).data)   # (sha256 releases the GIL: writer threads hash in parallel)
    return h.hexdigest()[:32]


def quantise(loss: np.ndarray) -> np.ndarray:
    """0.01 dB steps in uint16 (65535 = no value): half the bytes of float32 (one Numba pass; the NumPy
    expression it equals is in :func:`phusong.coverage._kernels.quantise_loss`)."""
    from ._kernels import quantise_loss   # (Numba stays out of `import phusong`)

    loss = np.ascontiguousarray(loss, dtype=np.float32)
    out = np.empty(loss.shape, np.uint16)
    quantise_loss(loss, out)
    return out


def dequantise(q: np.ndarray) -> np.ndarray:
    """Loss windows back from :func:`quantise` (float32 dB, NaN for no value; one Numba pass, see
    :func:`phusong.coverage._kernels.dequantise_loss`)."""
    from ._kernels import dequantise_loss

    q = np.ascontiguousarray(q, dtype=np.uint16)
    out = np.empty(q.shape, np.float32)
    dequantise_loss(q, out)
    return out


def area_mask(geometries, grid: Grid) -> np.ndarray:
    """The cells of ``grid`` whose centre lies in one of ``geometries`` (bool, rasterio's default rule)."""
    from rasterio.features import rasterize

    return rasterize(geometries, out_shape=(grid.height, grid.width), transform=grid.transform,
                     dtype=np.uint8).astype(bool)
