"""The last full fold of a network, kept beside the terrain-pass cache, so that a what-if re-run folds only
where its changed cells reach.

A run that folds every site stores its accumulators (:class:`.accumulate.Accumulators`), and for each cell a
digest of its folding parameters, its window and its site, under a key of everything else the fold reads
(terrain and evaluated cells, model settings, land cover, the code of ``propagation/`` and ``coverage/``,
NumPy's and Numba's versions). A later run with the same key and the same cell count compares digests: the
discs the changed cells reach, before and after the change, are the only part of the grid whose values can
differ. That part is folded again, in the layers of the changed cells' technologies only, from every site with
cells of those technologies that reaches it, and pasted over the stored accumulators.
Every fold is exact and order-free (max, second max, argmax with index ties, integer power sums), so the
result equals a full run bit for bit (``tests/test_fold_state.py``).

One state per key is kept (the last full run's), in ``<cache>/fold-state/``, and the three newest keys; a re-run
that reuses it does not replace it, so a series of what-ifs each starts from the same full run. Only the
evaluated cells are stored (about 0.7 GB for Lạng Sơn at 30 m with 4G and 5G of three operators).
"""
from __future__ import annotations

import functools
import hashlib
import json
import pickle
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from .._atomic import atomic_path, keep_newest
from .._direct import ALIGN, DirectReader, DirectWriter, empty_aligned
from .._raster import Grid
from ..propagation.antenna import MsiPattern
from ..propagation.footprint import sample_count, window_for
from ..settings import Settings
from . import _kernels
from .accumulate import ANY, Accumulators
from .cache import CACHE_VERSION, FootprintCache

STATE_VERSION = "fold-state-3"   # 3: each cell's technology (a what-if refolds only the changed technologies)
# A what-if whose changed windows cover more than this share of the grid folds everything again: the stored
# state would save little, and a full run refreshes it.
MAX_REFOLD_SHARE = 0.5
# Every column of the cell table the fold reads (accumulate.fold_groups, cell_params, cells.make_groups).
FOLD_COLUMNS = ("x", "y", "antenna_height_m", "frequency_mhz", "technology", "operator_slug", "ground_m",
                "azimuth_deg", "beamwidth_h_deg", "beamwidth_v_deg", "mechanical_tilt_deg", "electrical_tilt_deg",
                "antenna_gain_dbi", "power_per_re_dbm", "feeder_loss_db")
# What reading a damaged or foreign state file can raise: the run then folds everything (and replaces the state).
DAMAGED = (OSError, ValueError, KeyError, IndexError, TypeError, OverflowError)
PER_CELL = ("digests", "windows", "sites", "techs")   # the stored arrays of one row per cell (the others: per grid cell)
_EMPTY = {"best": -np.inf, "second": -np.inf, "server": -1, "power": 0}   # where no cell reaches


@functools.cache
def _sources_digest() -> str:
    """A digest of the code a fold runs (every module of ``propagation/`` and ``coverage/``) and of NumPy's and
    Numba's versions: a state made by other code is never reused."""
    import numba

    from .. import __version__

    h = hashlib.blake2b(f"{__version__} {np.__version__} {numba.__version__}".encode(), digest_size=8)
    package = Path(__file__).resolve().parents[1]
    for path in sorted([*package.glob("propagation/*.py"), *package.glob("coverage/*.py")]):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def context_key(tkey: str, settings: Settings, landcover: np.ndarray | None) -> str:
    """A digest of everything the accumulators depend on besides the cells."""
    h = hashlib.blake2b(digest_size=16)
    h.update(json.dumps([STATE_VERSION, CACHE_VERSION, _sources_digest(), tkey]).encode())
    h.update(pickle.dumps((settings.model, settings.coverage.per_operator)))
    if landcover is not None:   # a calibration's class offsets and a clutter table's extra losses read it
        h.update(np.ascontiguousarray(landcover).data)
    return h.hexdigest()


def cell_digests(cells: pd.DataFrame, patterns: Mapping[str, MsiPattern] | None) -> np.ndarray:
    """One uint64 per cell of everything its fold reads, its antenna pattern's values included."""
    table = pd.DataFrame({c: cells[c] for c in FOLD_COLUMNS})
    if "antenna_file" in cells:
        def pattern_digest(path):
            if not isinstance(path, str) or not path:
                return ""
            pat = (patterns or {})[path]
            h = hashlib.blake2b(digest_size=8)
            for arr in (pat.horizontal_db, pat.vertical_db, np.float64(pat.gain_dbi)):
                h.update(np.ascontiguousarray(arr, np.float64).data)
            return h.hexdigest()
        table["pattern"] = cells["antenna_file"].map(pattern_digest)
    return pd.util.hash_pandas_object(table, index=False).to_numpy(np.uint64)


def cell_windows(groups, n_cells: int, grid: Grid, radius_km: float) -> np.ndarray:
    """(row0, col0, nrow, ncol) of the window each cell's terrain pass covers, one row per cell."""
    out = np.zeros((n_cells, 4), np.int64)
    for g in groups:
        out[list(g.cells)] = window_for(grid, g.x, g.y, radius_km * 1000.0)
    return out


def cell_sites(groups, n_cells: int, grid: Grid) -> np.ndarray:
    """(row, column) of each cell's site on the grid (fractional, as the terrain passes place it), float64."""
    out = np.zeros((n_cells, 2))
    for g in groups:
        out[list(g.cells)] = grid.rowcol(g.x, g.y)
    return out


def reach_cells(grid: Grid, radius_km: float) -> float:
    """How far (cells) a terrain pass reaches from its site, with a cell's margin: a pass of n samples a cell
    apart (:func:`..propagation.footprint.sample_count`) evaluates the cells within n + 0.5 of its site."""
    return sample_count(radius_km * 1000.0, grid.res_m) + 1.5


def refold_cells(sites: np.ndarray, reach: float, window: tuple[int, int, int, int]) -> np.ndarray:
    """The cells of ``window`` within ``reach`` of any of ``sites`` (rows of (row, column)): bool, window-shaped."""
    row0, col0, nrow, ncol = window
    out = np.zeros((nrow, ncol), np.bool_)
    for r, c in sites:   # each disc on its own bounding box
        top, bottom = max(int(np.floor(r - reach)), row0), min(int(np.ceil(r + reach)) + 1, row0 + nrow)
        left, right = max(int(np.floor(c - reach)), col0), min(int(np.ceil(c + reach)) + 1, col0 + ncol)
        if bottom <= top or right <= left:
            continue
        rows = np.arange(top, bottom, dtype=np.float64)[:, None]
        cols = np.arange(left, right, dtype=np.float64)[None, :]
        out[top - row0:bottom - row0, left - col0:right - col0] |= (rows - r) ** 2 + (cols - c) ** 2 <= reach * reach
    return out


def expected_keys(cells: pd.DataFrame, per_operator: bool) -> tuple[list, list]:
    """The layer keys and power keys a full fold of ``cells`` creates (sorted, as JSON-able lists)."""
    layers, powers = set(), set()
    for tech, op, f in zip(cells["technology"], cells["operator_slug"], cells["frequency_mhz"]):
        layers.add((tech, ANY))
        if per_operator:
            layers.add((tech, op))
        powers.add((tech, op, float(f)))
    return sorted([list(k) for k in layers]), sorted([list(k) for k in powers])


@dataclass
class Reuse:
    """What a run can take from a stored state: ``window`` (row0, col0, nrow, ncol) to fold again, or None
    when nothing changed."""

    window: tuple[int, int, int, int] | None
    changed_cells: int
    meta: dict
    file: _StateFile   # the state as it was when planned (``read_arrays`` closes it)
    sites: np.ndarray = field(default_factory=lambda: np.zeros((0, 2)))   # the changed cells' sites, before and after
    technologies: frozenset = frozenset()   # the changed cells' technologies, before and after: the layers that change


class _StateFile:
    """An open state file: a JSON header, then raw arrays, each read with plain reads (past the page cache where
    the file system allows it, :mod:`.._direct`) through this one open file, so a state replaced meanwhile by
    another process is never mixed in. (Faulting in a memory map of a province's 0.7 GB took 1.9 s on one machine,
    reading it 0.3 s.) OSError/ValueError when unreadable."""

    def __init__(self, path: Path, magic: bytes):
        self.fh = DirectReader(path)   # past the page cache where the file system allows it (see _direct)
        try:
            if self.fh.read(0, len(magic)) != magic:
                raise ValueError("not a fold state")
            size = int.from_bytes(self.fh.read(len(magic), 8), "little")
            header = json.loads(self.fh.read(len(magic) + 8, size))
            self.meta: dict = header["meta"]
            self.start = len(magic) + 8 + size   # the header is padded to where the arrays start
            total = self.fh.size
            self.index = {name: (np.dtype(dtype), tuple(shape), offset)
                          for name, (dtype, shape, offset) in header["arrays"].items()}
            for dtype, shape, offset in self.index.values():
                if self.start + offset + int(np.prod(shape)) * dtype.itemsize > total:
                    raise ValueError("truncated fold state")
        except BaseException:
            self.fh.close()
            raise

    def read(self, name: str) -> np.ndarray:
        """Array ``name``, in page-aligned memory (O_DIRECT reads it there without a copy)."""
        dtype, shape, offset = self.index[name]
        array = empty_aligned(shape, dtype)
        if self.fh.readinto(self.start + offset, array.reshape(-1).view(np.uint8).data) != array.nbytes:
            raise ValueError("truncated fold state")
        return array

    def close(self) -> None:
        self.fh.close()


class FoldStateStore:
    """The stored states in ``<cache>/fold-state``: one file each, a JSON header then raw arrays, written under
    a temporary name and renamed."""

    MAGIC = b"PHUSONG-FOLD-STATE\n"
    KEEP = 3   # states kept (other terrains, areas or model settings): the newest

    def __init__(self, cache: FootprintCache):
        self.folder = cache.folder / "fold-state"

    def path(self, context: str) -> Path:
        return self.folder / f"{context}.state"

    def plan(self, context: str, digests: np.ndarray, windows: np.ndarray, sites: np.ndarray,
             keys: tuple[list, list], shape: tuple[int, int], technologies: np.ndarray) -> Reuse | None:
        """How much of the stored state a run with these cells can reuse; None: fold everything."""
        path = self.path(context)
        if not path.exists():
            return None
        reuse = None
        try:
            state = _StateFile(path, self.MAGIC)
        except DAMAGED:
            return None   # a damaged state is replaced by the next full run
        try:
            reuse = _plan(state, digests, windows, sites, keys, shape, technologies)
        except DAMAGED:
            pass
        finally:
            if reuse is None:
                state.close()
        return reuse

    @staticmethod
    def read_arrays(reuse: Reuse) -> dict[str, np.ndarray]:
        """The stored accumulators' arrays as they are in the file (the power sums and layers packed where there was
        a study area), into page-aligned memory: only disk reads, so a what-if runs them in a thread while it folds
        its changed cells (:func:`.network.simulate_network`). Closes the file; OSError/ValueError when unreadable."""
        state = reuse.file
        try:
            return {name: state.read(name) for name in _accumulator_names(reuse.meta)}
        finally:
            state.close()

    def load(self, reuse: Reuse, shape: tuple[int, int], cell_mask: np.ndarray | None,
             stored: dict[str, np.ndarray] | None = None) -> Accumulators | None:
        """The stored accumulators on the whole grid, their power sums packed as stored when there is a
        ``cell_mask`` (:attr:`.accumulate.Accumulators.packed`); None when the file cannot be read or does not fit
        the grid and mask (a full run then replaces it). ``stored``: what :meth:`read_arrays` returned (else read
        here)."""
        arrays = {}
        try:
            if stored is None:
                stored = self.read_arrays(reuse)
            if cell_mask is None:
                for name in _accumulator_names(reuse.meta):
                    if stored[name].shape != tuple(shape):
                        raise ValueError(f"fold state array {name} does not fit the grid")
                    arrays[name] = stored[name]
            else:
                # The layers unpacked (and the cells around filled) in one pass; the power sums stay packed (SINR reads
                # them at the served cells): a third of the memory they would fill.
                starts = _kernels.mask_row_starts(cell_mask)
                for name, kind in _accumulator_names(reuse.meta).items():
                    packed = stored.pop(name)
                    if packed.shape != (int(starts[-1]),):   # the kernels index by the mask: no less
                        raise ValueError(f"fold state array {name} does not fit the evaluated cells")
                    if kind == "power":
                        arrays[name] = packed
                        continue
                    out = arrays[name] = np.empty(shape, packed.dtype)
                    _kernels.unpack_masked(packed, cell_mask, starts, out.dtype.type(_EMPTY[kind]), out)
                    del packed   # (released now, not held until the last layer)
        except DAMAGED:
            return None
        acc = Accumulators(0, 0, shape, packed=None if cell_mask is None else (cell_mask, starts))
        for n, key in enumerate(reuse.meta["layers"]):
            acc.best[tuple(key)] = tuple(arrays[f"{name}{n}"] for name in ("best", "second", "server"))
        for n, key in enumerate(reuse.meta["powers"]):
            acc.psum[tuple(key)] = arrays[f"power{n}"]
        return acc

    def save(self, context: str, acc: Accumulators, digests: np.ndarray, windows: np.ndarray, sites: np.ndarray,
             keys: tuple[list, list], cell_mask: np.ndarray | None, technologies: np.ndarray) -> None:
        """Store a full run's accumulators (only the evaluated cells) and each cell's technology."""
        layers, powers = keys
        if (sorted(list(k) for k in acc.best) != layers or sorted(list(k) for k in acc.psum) != powers
                or (acc.row0, acc.col0) != (0, 0) or acc.packed is not None):
            return   # (a site that reached no cell, or a what-if's accumulators): such a run is not kept
        names, techs = np.unique(np.asarray(technologies, str), return_inverse=True)
        arrays = {"digests": digests, "windows": windows, "sites": sites, "techs": techs.astype(np.int32)}
        for n, key in enumerate(layers):
            arrays.update({f"{name}{n}": arr for name, arr in zip(("best", "second", "server"), acc.best[tuple(key)])})
        arrays.update({f"power{n}": acc.psum[tuple(key)] for n, key in enumerate(powers)})
        # the accumulators keep their evaluated cells only
        packed = {name: cell_mask is not None and name not in PER_CELL for name in arrays}
        kept = int(cell_mask.sum()) if cell_mask is not None else 0
        index, offset = {}, 0
        for name, arr in arrays.items():
            shape = [kept] if packed[name] else list(arr.shape)
            index[name] = (arr.dtype.str, shape, offset)
            # page-aligned, so that O_DIRECT moves them straight between the disk and page-aligned arrays
            offset += -(-int(np.prod(shape)) * arr.dtype.itemsize // ALIGN) * ALIGN
        meta = {"version": STATE_VERSION, "shape": list(acc.shape), "layers": layers, "powers": powers,
                "technologies": names.tolist()}
        header = json.dumps({"meta": meta, "arrays": index}).encode()
        start = -(-(len(self.MAGIC) + 8 + len(header)) // ALIGN) * ALIGN
        header = header.ljust(start - len(self.MAGIC) - 8)
        if cell_mask is not None:   # each packed array through one reused buffer, as wide as the widest dtype
            starts = _kernels.mask_row_starts(cell_mask)
            buffer = empty_aligned(kept * max(arr.dtype.itemsize for arr in arrays.values()), np.uint8)
        # past the page cache where the file system allows it (a province's state is 0.6 GB; _direct says why)
        with atomic_path(self.path(context)) as tmp, DirectWriter(tmp) as fh:
            fh.write(self.MAGIC + len(header).to_bytes(8, "little") + header)
            for name, arr in arrays.items():
                fh.pad_to(start + index[name][2])
                if packed[name]:
                    out = buffer[:kept * arr.dtype.itemsize].view(arr.dtype)
                    _kernels.pack_masked(arr, cell_mask, starts, out)
                    fh.write(out.data)
                else:
                    fh.write(np.ascontiguousarray(arr).reshape(-1).view(np.uint8).data)
        keep_newest(self.folder, "*.state", self.KEEP)   # a province's state is several hundred MB


def _accumulator_names(meta: dict) -> dict[str, str]:
    """The stored accumulators' array names, each with its kind ("best", "second", "server", "power")."""
    names = {f"{name}{n}": name for n in range(len(meta["layers"])) for name in ("best", "second", "server")}
    names.update({f"power{n}": "power" for n in range(len(meta["powers"]))})
    return names


def _plan(state: _StateFile, digests: np.ndarray, windows: np.ndarray, sites: np.ndarray, keys: tuple[list, list],
          shape: tuple[int, int], technologies: np.ndarray) -> Reuse | None:
    meta = state.meta
    if (meta.get("shape") != list(shape) or state.index["digests"][1] != digests.shape
            or state.index["windows"][1] != windows.shape or state.index["sites"][1] != sites.shape
            or state.index["techs"][1] != digests.shape or [meta.get("layers"), meta.get("powers")] != list(keys)):
        return None
    old_digests, old_windows, old_sites = state.read("digests"), state.read("windows"), state.read("sites")
    names, codes = np.asarray(meta["technologies"], str), state.read("techs")
    if codes.size and (codes.min() < 0 or codes.max() >= len(names)):
        raise ValueError("damaged fold state: a technology code out of range")
    old_techs = names[codes]
    changed = np.flatnonzero(old_digests != digests)
    if changed.size == 0:
        return Reuse(None, 0, meta, state)
    if (windows[changed, 2:] <= 0).any():
        return None   # a changed cell reaches no cell (a full run says why)
    wins = np.concatenate([old_windows[changed], windows[changed]])
    r0, c0 = int(wins[:, 0].min()), int(wins[:, 1].min())
    r1, c1 = int((wins[:, 0] + wins[:, 2]).max()), int((wins[:, 1] + wins[:, 3]).max())
    if (r1 - r0) * (c1 - c0) > MAX_REFOLD_SHARE * shape[0] * shape[1]:
        return None
    return Reuse((r0, c0, r1 - r0, c1 - c0), int(changed.size), meta, state,
                 np.unique(np.concatenate([old_sites[changed], sites[changed]]), axis=0),
                 frozenset(old_techs[changed].tolist()) | frozenset(np.asarray(technologies, str)[changed].tolist()))


def paste(acc: Accumulators, part: Accumulators, only: np.ndarray | None = None, technologies=None) -> None:
    """Replace ``acc``'s values on ``part``'s window, or on its cells set in ``only`` (bool, window-shaped), by
    ``part``'s (keys ``part`` lacks: no value there); only the keys of ``technologies`` when given (the others
    keep their values)."""
    win = (slice(part.row0 - acc.row0, part.row0 - acc.row0 + part.shape[0]),
           slice(part.col0 - acc.col0, part.col0 - acc.col0 + part.shape[1]))
    def put(arr, new):
        arr[win][... if only is None else only] = new if np.isscalar(new) or only is None else new[only]

    def pasted(keys):
        return [k for k in keys if technologies is None or k[0] in technologies]

    for key in pasted(set(acc.best) | set(part.best)):
        for name, arr, new in zip(("best", "second", "server"), acc.layer(key), part.best.get(key, (None,) * 3)):
            put(arr, _EMPTY[name] if new is None else new)
    for key in pasted(set(acc.psum) | set(part.psum)):
        new = part.psum.get(key)
        if acc.packed is None:
            put(acc.power(key), 0 if new is None else new)
        else:
            mask, starts = acc.packed
            _kernels.paste_masked(acc.power(key), mask, starts, np.zeros(part.shape, np.int64) if new is None else new,
                                  part.row0 - acc.row0, part.col0 - acc.col0, only is None,
                                  np.ones((1, 1), np.bool_) if only is None else only)
