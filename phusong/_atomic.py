"""Write outputs under a temporary name in the same folder, then rename.

A reader (or QGIS) never sees a half-written file, and a run killed part-way
leaves the previous output, or nothing, never a truncated one. A killed run cannot
remove its hidden temporary file or folder (``.NAME.PID.XXXX.part``): the next
write to the same output removes those whose process is gone.
"""
from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ._direct import read_npy, write_npy
from .errors import OutputExistsError


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_parts(path: Path) -> None:
    """Remove the temporary files and folders of killed writers of ``path`` (siblings ``.NAME.PID.*.part*``)."""
    for stale in path.parent.glob(f".{glob.escape(path.name)}.*.part*"):
        pid = stale.name[len(path.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            if stale.is_dir():
                shutil.rmtree(stale, ignore_errors=True)
            else:
                stale.unlink(missing_ok=True)


def check_writable(path: Path, overwrite: bool) -> None:
    """Refuse to replace an existing ``path`` unless ``overwrite`` (an :class:`OutputExistsError`, exit 2)."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError("exists and is kept; ask to overwrite it", path=path, argument="overwrite")


def check_output_dir(path, overwrite: bool) -> None:
    """Refuse a non-empty output folder without ``overwrite``, before any work is done."""
    path = Path(path)
    if path.exists() and any(path.iterdir()):
        check_writable(path, overwrite)


@contextlib.contextmanager
def atomic_path(path, overwrite: bool = True):
    """Yield a temporary path beside ``path``; rename it onto ``path`` on success."""
    path = Path(path)
    check_writable(path, overwrite)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part" + path.suffix, dir=path.parent)
    os.close(fd)
    os.unlink(name)  # writers such as GDAL want to create the file themselves
    tmp = Path(name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


@contextlib.contextmanager
def atomic_dir(path, overwrite: bool = False):
    """Yield a temporary folder beside ``path``; it replaces ``path`` on success."""
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise OutputExistsError("exists and is not empty; ask to overwrite it", path=path, argument="overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_parts(path)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".part", dir=path.parent))
    tmp.chmod(0o755)  # mkdtemp makes it private; outputs are for sharing
    try:
        yield tmp
        if path.exists():
            old = path.with_name(f".{path.name}.old")
            if old.exists():
                shutil.rmtree(old)
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def keep_newest(folder: Path, pattern: str, n: int) -> None:
    """Remove all but the ``n`` most recently written files matching ``pattern`` in ``folder`` (a bounded
    cache); hidden files (the temporaries of :func:`atomic_path`, perhaps still being written) are not
    counted, and a file another process removes meanwhile is skipped."""
    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return -1.0
    files = [p for p in Path(folder).glob(pattern) if not p.name.startswith(".")]
    for old in sorted(files, key=mtime, reverse=True)[n:]:
        try:
            old.unlink(missing_ok=True)
        except OSError:
            pass


def read_kept(path, shape: tuple[int, ...], dtype, touch: bool = False) -> np.ndarray | None:
    """An array kept by :func:`keep_array` (or any ``.npy``), or None when it is absent, damaged, empty, or of
    another shape or dtype: the caller computes it again. ``touch``: mark it used, so that
    :func:`keep_newest` keeps the most recently used rather than the most recently written. Read past the page
    cache where the file system allows it (:mod:`._direct`)."""
    try:
        array = read_npy(path, shape, dtype)
        if touch:
            os.utime(path)
        return array
    except (OSError, ValueError, EOFError):
        return None


def keep_array(path, array: np.ndarray, keep: int) -> None:
    """Write ``array`` as a ``.npy`` file atomically (past the page cache where the file system allows it,
    :mod:`._direct`), then keep the ``keep`` newest ``.npy`` files of its folder (a bounded cache). OSError (a
    read-only or full folder) is the caller's to handle."""
    path = Path(path)
    with atomic_path(path) as tmp:
        write_npy(tmp, array)
    keep_newest(path.parent, "*.npy", keep)


def write_text(path, text: str, overwrite: bool = True) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically (temporary name, then rename)."""
    with atomic_path(path, overwrite) as tmp:
        tmp.write_text(text, encoding="utf-8")


def file_sha256(path) -> str:
    """SHA-256 of a file, read in 1 MiB chunks (recorded in run.json to make runs repeatable)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
