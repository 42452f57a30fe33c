"""Batches of terrain passes on an existing Dask distributed cluster.

Each batch folds its cells into accumulators on its own window; partial results
merge pairwise in a tree on the workers. Every merge is exact (max, second max,
argmax with index ties, integer power sums), so the result equals the
single-machine run bit for bit.
"""
from __future__ import annotations

import logging

from ..errors import PhusongError
from ..propagation.footprint import window_for
from .accumulate import Accumulators, fold_groups, merge_accumulators

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = "20s"   # how long to wait for the scheduler before saying it cannot be reached


def _batch_window(batch, grid, radius_km):
    wins = [window_for(grid, g.x, g.y, radius_km * 1000.0) for g in batch]
    r0 = min(w[0] for w in wins)
    c0 = min(w[1] for w in wins)
    r1 = max(w[0] + w[2] for w in wins)
    c1 = max(w[1] + w[3] for w in wins)
    return r0, c0, r1 - r0, c1 - c0


def _fold_batch(batch, cells, heights, grid, settings, cache, tkey, patterns, landcover=None, cell_mask=None):
    return fold_groups(batch, cells, heights, grid, settings, cache, tkey, patterns,
                       window=_batch_window(batch, grid, settings.model.radius_km), landcover=landcover,
                       cell_mask=cell_mask)


def run_on_dask(address, groups, cells, heights, grid, settings, cache, tkey, patterns, batch_size, progress,
                landcover=None, cell_mask=None):
    """Fold ``groups`` in batches on the cluster at ``address``.

    The terrain, the cell table and the antenna patterns travel to the workers; the
    terrain-pass cache is opened by its path on each worker (a shared folder), so
    give none (``cache=None``) when the workers cannot reach that path."""
    try:
        from dask.distributed import Client, as_completed
    except ImportError:
        raise PhusongError("a Dask address needs dask.distributed: pip install 'phusong[dask]'") from None
    from tqdm.auto import tqdm

    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except OSError as exc:
        raise PhusongError(f"cannot reach the Dask scheduler at {address} ({exc})") from None
    try:
        [h_fut] = client.scatter([heights], broadcast=True)
        [c_fut] = client.scatter([cells], broadcast=True)
        [l_fut] = client.scatter([landcover], broadcast=True) if landcover is not None else [None]
        [m_fut] = client.scatter([cell_mask], broadcast=True) if cell_mask is not None else [None]
        batches = [groups[i:i + batch_size] for i in range(0, len(groups), batch_size)]
        level = [client.submit(_fold_batch, b, c_fut, h_fut, grid, settings, cache, tkey, patterns, l_fut, m_fut,
                               pure=False)
                 for b in batches]
        if progress:
            for _ in tqdm(as_completed(level), total=len(level), desc="batches", unit="batch", leave=False):
                pass
        while len(level) > 1:  # pairwise tree, in batch order
            nxt = [client.submit(merge_accumulators, level[i], level[i + 1], pure=False)
                   for i in range(0, len(level) - 1, 2)]
            if len(level) % 2:
                nxt.append(level[-1])
            level = nxt
        partial = level[0].result()
    finally:
        client.close()
    return merge_accumulators(Accumulators(0, 0, (grid.height, grid.width)), partial)
