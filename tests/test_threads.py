"""phusong._threads: kernels over chunks of a range on a pool of threads."""
import threading

import numpy as np
import pytest
from numba import njit

from phusong import _threads


@njit(nogil=True, cache=False)
def _add_squares(lo, hi, hits, out):
    for i in range(lo, hi):
        hits[i] += 1
        out[i] = i * i


@pytest.mark.parametrize("n_items", [0, 1, 2, 7, 8, 9, 1000])
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_every_item_is_computed_once(monkeypatch, n_items, threads):
    monkeypatch.setattr(_threads, "thread_count", lambda: threads)
    calls = []
    lock = threading.Lock()

    def kernel(lo, hi, hits, out):
        with lock:
            calls.append((lo, hi, threading.current_thread().name))
        _add_squares(lo, hi, hits, out)

    hits = np.zeros(n_items, np.int64)
    out = np.zeros(n_items, np.int64)
    _threads.over_chunks(kernel, n_items, hits, out)
    np.testing.assert_array_equal(hits, 1)
    np.testing.assert_array_equal(out, np.arange(n_items) ** 2)
    spans = sorted(c[:2] for c in calls)
    assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))   # consecutive chunks, none empty below
    assert all(lo < hi for lo, hi in spans) or n_items == 0
    workers = {name for *_, name in calls}
    if min(threads, n_items) <= 1:
        assert workers == {threading.current_thread().name}   # no pool for one thread or one item
    else:
        assert len(spans) == min(n_items, min(threads, n_items) * _threads.CHUNKS_PER_THREAD)
        assert all(name.startswith("phusong-kernel") for name in workers)


def test_a_failing_chunk_raises_after_every_chunk_finished(monkeypatch):
    monkeypatch.setattr(_threads, "thread_count", lambda: 2)
    done = []

    def kernel(lo, hi):
        if lo == 0:
            raise ZeroDivisionError("chunk 0")
        done.append(lo)

    with pytest.raises(ZeroDivisionError, match="chunk 0"):
        _threads.over_chunks(kernel, 100)
    assert len(done) == 2 * _threads.CHUNKS_PER_THREAD - 1   # the others ran to the end before the error


def test_a_fresh_installation_is_told_apart(tmp_path):
    """kernels_compiled() is False with an empty Numba cache (the CLI then says it compiles first), and True once a
    pass has run."""
    import os
    import subprocess
    import sys

    from affine import Affine

    from phusong._raster import Grid
    from phusong.propagation.footprint import kernels_compiled, site_footprint
    from tests.test_propagation import _rough_terrain

    code = "from phusong.propagation.footprint import kernels_compiled; print(kernels_compiled())"
    fresh = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "NUMBA_CACHE_DIR": str(tmp_path)})
    assert fresh.stdout.strip() == "False"
    grid = Grid(41, 41, Affine(30.0, 0, 500_000.0, 0, -30.0, 2_401_230.0), "EPSG:32648")
    site_footprint(_rough_terrain(41, 2), grid, 500_615.0, 2_400_615.0, 30.0, 1800.0, 0.5)
    assert kernels_compiled()


def test_chunks_run_in_the_caller_when_no_thread_can_start(monkeypatch):
    """While the interpreter shuts down a pool takes no new work: the chunks then run in the calling thread."""
    import concurrent.futures

    monkeypatch.setattr(_threads, "thread_count", lambda: 2)
    closed = concurrent.futures.ThreadPoolExecutor(2)
    closed.shutdown()
    monkeypatch.setattr(_threads, "_pool", lambda threads: closed)
    hits = np.zeros(50, np.int64)
    out = np.zeros(50, np.int64)
    _threads.over_chunks(_add_squares, 50, hits, out)
    np.testing.assert_array_equal(hits, 1)


def test_a_kernel_thread_runs_nested_chunks_itself(monkeypatch):
    """A chunk that runs chunks again (on a pool of two, eight outer chunks) finishes: the inner ones run in the
    kernel thread instead of waiting for a pool whose threads all wait."""
    monkeypatch.setattr(_threads, "thread_count", lambda: 2)
    hits = np.zeros((8, 30), np.int64)
    out = np.zeros((8, 30), np.int64)
    inner_threads = set()

    def outer(lo, hi):
        for row in range(lo, hi):
            inner_threads.add(threading.current_thread().name)
            _threads.over_chunks(_add_squares, 30, hits[row], out[row])

    _threads.over_chunks(outer, 8)
    np.testing.assert_array_equal(hits, 1)
    assert all(name.startswith(_threads.THREAD_PREFIX) for name in inner_threads)


def test_the_thread_count_is_numbas(tmp_path):
    """NUMBA_NUM_THREADS sets the pool's size."""
    import os
    import subprocess
    import sys

    code = ("from phusong import _threads\n"
            "_threads.over_chunks(lambda lo, hi: None, 100)\n"
            "print(_threads.thread_count(), sorted(p._max_workers for p in _threads._POOLS.values()))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "NUMBA_NUM_THREADS": "3"})
    assert run.stdout.split() == ["3", "[3]"]


def test_the_quantised_loss_kernels_refuse_a_copy(tmp_path):
    """quantise_loss writes into ``out`` in place: an array not in C order (whose flat view would be a copy) is
    refused, not silently left unwritten."""
    from phusong.coverage import _kernels

    loss = np.full((4, 6), 123.45, np.float32)
    out = np.zeros((6, 4), np.uint16).T
    with pytest.raises(ValueError, match="C order"):
        _kernels.quantise_loss(loss, out)
    good = np.zeros((4, 6), np.uint16)
    _kernels.quantise_loss(loss, good)
    np.testing.assert_array_equal(good, 12345)
