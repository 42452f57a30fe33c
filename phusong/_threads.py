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
THREAD_PREFIX = "phusong-kernel"


def _after_fork() -> None:
    global _POOLS_LOCK
    _POOLS_LOCK = threading.Lock()   # (a fork while another thread held it would leave it held in the child)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)


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
            pool = _POOLS[key] = concurrent.futures.ThreadPoolExecutor(threads, thread_name_prefix=THREAD_PREFIX)
        return pool


def over_chunks(kernel: Callable[..., None], n_items: int, *args) -> None:
    """``kernel(lo, hi, *args)`` for consecutive chunks [lo, hi) covering ``range(n_items)``, on
    :func:`thread_count` threads; returns when every chunk is done, raising the first chunk's error, if any.

    In the calling thread when there is one thread or one item, when called from a kernel thread itself (no
    thread waits for the pool it runs in), and while the interpreter shuts down (no new threads then)."""
    threads = thread_count()
    if threads <= 1 or n_items <= 1 or threading.current_thread().name.startswith(THREAD_PREFIX):
        kernel(0, n_items, *args)
        return
    n_chunks = min(n_items, threads * CHUNKS_PER_THREAD)
    edges = [n_items * k // n_chunks for k in range(n_chunks + 1)]
    chunks = list(zip(edges[:-1], edges[1:]))
    futures = []
    try:
        pool = _pool(threads)
        for lo, hi in chunks:
            futures.append(pool.submit(kernel, lo, hi, *args))
    except RuntimeError:   # "cannot schedule new futures after interpreter shutdown"
        for lo, hi in chunks[len(futures):]:
            kernel(lo, hi, *args)
    try:
        concurrent.futures.wait(futures)
    except BaseException:   # (Ctrl-C): no chunk may write into the caller's arrays after this returns
        for future in futures:
            future.cancel()
        concurrent.futures.wait(futures)
        raise
    for future in futures:
        future.result()
