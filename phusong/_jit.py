"""Numba cache housekeeping shared by the kernel modules."""
from __future__ import annotations

import hashlib
import os
from pathlib import Path


def forget_stale_compilations(module_file: str, dependencies: list[str]) -> None:
    """Drop ``module_file``'s compiled Numba cache when one of ``dependencies`` changed since it was built.

    Numba checks only the source file of each compiled function, not the files of the plain functions it
    compiles in (``register_jitable``): without this, an edit to those would keep running the old code.
    Applies to the default cache folder (``__pycache__`` beside the module); a ``NUMBA_CACHE_DIR`` is its
    owner's to clear, and a read-only installation keeps its cache (built with its own files)."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    module = Path(module_file)
    folder = module.with_name("__pycache__")
    digest = hashlib.sha256(b"".join(Path(f).read_bytes() for f in dependencies)).hexdigest()
    marker = folder / f"{module.stem}.dependencies.sha256"
    try:
        if marker.exists() and marker.read_text() == digest:
            return
        for stale in folder.glob(f"{module.stem}.*.nb[ic]"):
            stale.unlink()
        folder.mkdir(exist_ok=True)
        marker.write_text(digest)
    except OSError:
        pass
