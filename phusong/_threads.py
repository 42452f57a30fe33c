"""Compiled kernels run over chunks of a range, on a pool of threads (private).

The kernels are plain ``@njit(nogil=True)`` functions of a chunk, ``kernel(lo, hi, *args)``, that release the GIL
while they run; this module hands the chunks to threads. Numba's own ``parallel=True`` would outline each
``prange`` loop into a second compiled function: that took about 18 of the 50 s a fresh installation spent
compiling before its first map (benchmarks/RESULTS.md). Every item of the range is computed the same way whatever
the chunking, so a kernel's result never depends on the thread count.
"""
from __future__ import annotations

import concurrent.futures
import os
import threading
from collections.abc import Callable

_POOLS: dict[tuple[int, int], concurrent.futures.ThreadPoolExecutor] = {}   # by (process id, threads)
_POOLS_LOCK = threading.Lock()
CHUNKS_PER_THREAD = 4   # chunks are taken in turn: a thread that drew cheap items takes the next one


def thread_count() -> int:
    """Threads a kernel runs on: Numba's setting (``NUMBA_NUM_THREADS``, or ``numba.set_num_threads`` in the
    calling thread), all of the machine's cores by default."""
    import numba

    return int(numba.get_num_threads())


def _pool(threads: int) -> concurrent.futures.ThreadPoolExecutor:
    key = (os.getpid(), threads)   # (a forked child starts its own threads)
    with _POOLS_LOCK:
        pool = _POOLS.get(key)
        if pool is None:
            pool = _POOLS[key] = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix="phusong-kernel")
        return pool


def over_chunks(kernel: Callable[..., None], n_items: int, *args) -> None:
    """``kernel(lo, hi, *args)`` for consecutive chunks [lo, hi) covering ``range(n_items)``, on
    :func:`thread_count` threads; returns when every chunk is done, raising the first chunk's error, if any."""
    threads = min(thread_count(), n_items)
    if threads <= 1:
        kernel(0, n_items, *args)
        return
    n_chunks = min(n_items, threads * CHUNKS_PER_THREAD)
    edges = [n_items * k // n_chunks for k in range(n_chunks + 1)]
    pool = _pool(threads)
    futures = [pool.submit(kernel, lo, hi, *args) for lo, hi in zip(edges[:-1], edges[1:])]
    concurrent.futures.wait(futures)   # (every chunk finished before an error is raised: none writes afterwards)
    for future in futures:
        future.result()
