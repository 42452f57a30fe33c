"""Network composition: hand-computed cases, the NumPy reference, cache, Dask and resume."""
import math
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pandas as pd
import pytest
import rasterio
from click.testing import CliRunner
from scipy.stats import norm

from phusong.cli import cli
from phusong.coverage import _kernels
from phusong.coverage.compose import reference_layers
from phusong.coverage.accumulate import ANY, Accumulators, fold_groups, no_layer
from phusong.coverage.cache import FootprintCache, terrain_key
from phusong.coverage.cells import make_groups, prepare_cells
from phusong.coverage.layers import finish_layers
from phusong.coverage.network import simulate_network
from phusong.data.terrain import load_terrain
from phusong.sites import read_sites

from .conftest import settings as Settings

FLAT = np.zeros((1, 360))


def _fold(acc, key, loss, base_dbm, idx, power_key):
    best, second, server = acc.layer(key)
    heights = np.zeros(loss.shape, np.float32)  # flat pattern tables: the geometry does not matter
    one = np.ones(1)
    _kernels.fold_cells(loss, heights, 0, 0, 0.0, 0.0, 30.0, 30.0, 1.5, 8500.0, 0, 0, 0 * one, np.ones(1, np.bool_),
                        65 * one, 10 * one, 0 * one,
                        0 * one, np.ones(1, np.bool_), FLAT, FLAT, 0 * one, base_dbm * one, np.array([idx]),
                        best, second, server, acc.power(power_key), *no_layer(), False)


def _cells(rows):
    return pd.DataFrame(rows).rename_axis("cell_index")


def test_two_cells_hand_computed():
    """Cell 0: 15 dBm per RE, 100 dB loss -> -85 dBm; cell 1: 15 dBm, 110 dB -> -95 dBm, same operator
    and frequency. Isotropic antennas (flat pattern tables, 0 dBi)."""
    acc = Accumulators(0, 0, (3, 3))
    _fold(acc, ("4G", ANY), np.full((3, 3), 110.0, np.float32), 15.0, 1, ("4G", "op", 1800.0))
    _fold(acc, ("4G", ANY), np.full((3, 3), 100.0, np.float32), 15.0, 0, ("4G", "op", 1800.0))
    cells = _cells([dict(operator_slug="op", frequency_mhz=1800.0, scs_khz=15, power_per_re_dbm=15.0),
                    dict(operator_slug="op", frequency_mhz=1800.0, scs_khz=15, power_per_re_dbm=15.0)])
    s = Settings(technologies=("4G",), thresholds_dbm={"4G": -100.0}, location_probability=0.5, load_factor=0.5)
    [layer] = finish_layers(acc, cells, s, None)
    assert np.all(layer.server == 0)
    np.testing.assert_allclose(layer.rsrp_dbm, -85.0, atol=1e-5)
    np.testing.assert_allclose(layer.rsrp2_dbm, -95.0, atol=1e-5)
    signal_mw = 10 ** (-85 / 10)
    interference_mw = 0.5 * 10 ** (-95 / 10)
    noise_mw = 10 ** ((-174 + 10 * math.log10(15e3) + 9.0) / 10)
    np.testing.assert_allclose(layer.sinr_db, 10 * math.log10(signal_mw / (interference_mw + noise_mw)), atol=1e-4)
    assert np.all(layer.covered == 1)  # -85 >= -100 + 0 (p = 0.5: no margin)
    s90 = Settings(technologies=("4G",), thresholds_dbm={"4G": -100.0}, location_probability=0.9, sigma_db=12.0)
    [layer90] = finish_layers(acc, cells, s90, None)
    assert np.all(layer90.covered == 0)  # needs -100 + 12 * 1.2816 = -84.6 dBm


def test_other_operator_or_frequency_does_not_interfere():
    acc = Accumulators(0, 0, (2, 2))
    _fold(acc, ("5G", ANY), np.full((2, 2), 100.0, np.float32), 15.0, 0, ("5G", "a", 3500.0))
    _fold(acc, ("5G", ANY), np.full((2, 2), 101.0, np.float32), 15.0, 1, ("5G", "b", 3500.0))
    _fold(acc, ("5G", ANY), np.full((2, 2), 101.0, np.float32), 15.0, 2, ("5G", "a", 2600.0))
    cells = _cells([dict(operator_slug="a", frequency_mhz=3500.0, scs_khz=30, power_per_re_dbm=15.0),
                    dict(operator_slug="b", frequency_mhz=3500.0, scs_khz=30, power_per_re_dbm=15.0),
                    dict(operator_slug="a", frequency_mhz=2600.0, scs_khz=30, power_per_re_dbm=15.0)])
    [layer] = finish_layers(acc, cells, Settings(technologies=("5G",)), None)
    noise_mw = 10 ** ((-174 + 10 * math.log10(30e3) + 9.0) / 10)
    np.testing.assert_allclose(layer.sinr_db, -85 - 10 * math.log10(noise_mw), atol=1e-4)  # noise only


def test_ties_go_to_the_lower_cell_index_in_any_order():
    for order in ((0, 1), (1, 0)):
        acc = Accumulators(0, 0, (1, 1))
        for idx in order:
            _fold(acc, ("4G", ANY), np.full((1, 1), 100.0, np.float32), 15.0, idx, ("4G", "op", 1800.0))
        assert acc.best[("4G", ANY)][2][0, 0] == 0


def test_margin_is_the_normal_quantile():
    for p, sigma in ((0.9, 8.0), (0.95, 6.0), (0.5, 8.0)):
        s = Settings(location_probability=p, sigma_db=sigma)
        assert s.location_margin_db == pytest.approx(sigma * norm.ppf(p), abs=1e-9)
    assert Settings(location_probability=0.9, indoor_loss_db=12.0).location_margin_db == pytest.approx(8 * norm.ppf(0.9) + 12)


def test_nbiot_is_judged_by_coupling_loss():
    acc = Accumulators(0, 0, (1, 2))
    loss = np.array([[150.0, 170.0]], np.float32)
    _fold(acc, ("NB-IoT", ANY), loss, 20.0, 0, ("NB-IoT", "op", 900.0))
    cells = _cells([dict(operator_slug="op", frequency_mhz=900.0, scs_khz=15, power_per_re_dbm=20.0)])
    [layer] = finish_layers(acc, cells, Settings(technologies=("NB-IoT",), location_probability=0.5), None)
    assert layer.covered.tolist() == [[1, 0]]  # coupling loss 150 <= 164 < 170


@pytest.mark.parametrize("tech, indoor, with_area", [("4G", "", False), ("5G", "", True), ("4G", "traditional:50", True),
                                                     ("NB-IoT", "", True), ("NB-IoT", "thermally-efficient:10", False)])
def test_finishing_a_layer_equals_the_numpy_reference(tech, indoor, with_area):
    """finish_layers' one-pass kernel against covered_mask and np.where, its NumPy reference, on values that
    include each cell's own boundary rounded to float32 (the level, plus the serving cell's building entry loss
    indoors; the coupling-loss limit for NB-IoT) and the float32 values beside it, no server, and no second cell.
    (Outdoors the tie decides: NumPy compares there in float32.)"""
    from phusong.coverage.layers import covered_mask, entry_loss_db

    rng = np.random.default_rng(3)
    shape = (61, 47)
    n_cells = 5
    s = Settings(technologies=(tech,), location_probability=0.9, indoor=indoor)
    cells = _cells([dict(operator_slug="op", frequency_mhz=f, scs_khz=15, power_per_re_dbm=p, technology=tech)
                    for f, p in zip((900.0, 1800.0, 2600.0, 3500.0, 700.0), (20.0, 15.0, 18.5, 12.25, 23.0))])
    server = rng.integers(-1, n_cells, shape).astype(np.int32)
    best = rng.uniform(-140.0, -60.0, shape).astype(np.float32)
    loss = entry_loss_db(cells, s)
    if tech == "NB-IoT":   # covered while power - best + loss + margin <= MCL
        boundary = cells["power_per_re_dbm"].to_numpy() + loss + s.location_margin_db - s.coverage.nbiot_mcl_db
    else:
        boundary = s.threshold_dbm(tech) + s.location_margin_db + loss
    at = np.float32(boundary[np.maximum(server, 0)])
    best.flat[::5] = at.flat[::5]                                   # on each cell's boundary, and beside it
    best.flat[1::5] = np.nextafter(at.flat[1::5], np.float32(0.0))
    best.flat[2::5] = np.nextafter(at.flat[2::5], np.float32(-np.inf))
    best[server < 0] = -np.inf
    second = np.where(rng.random(shape) < 0.3, -np.inf, best - 3.0).astype(np.float32)
    second[server < 0] = -np.inf
    area = rng.random(shape) < 0.8 if with_area else None
    has = server >= 0
    expected_covered = covered_mask(tech, best, server, cells, s).astype(np.uint8)
    if area is not None:
        expected_covered[~area] = 255
    expected_rsrp = np.where(has, best, np.float32(np.nan))
    expected_rsrp2 = np.where(has & np.isfinite(second), second, np.float32(np.nan))
    acc = Accumulators(0, 0, shape)
    acc.best[(tech, ANY)] = (best.copy(), second.copy(), server)
    acc.psum[(tech, "op", 900.0)] = np.zeros(shape, np.int64)
    for _ in range(2):   # finishing the finished accumulators again gives the same layer
        [layer] = finish_layers(acc, cells, s, area)
        np.testing.assert_array_equal(layer.covered, expected_covered)
        np.testing.assert_array_equal(layer.rsrp_dbm, expected_rsrp)
        np.testing.assert_array_equal(layer.rsrp2_dbm, expected_rsrp2)
        assert 0 < (layer.covered == 1).sum() < has.sum()


@pytest.fixture(scope="module")
def small_network(demo_inputs):
    terrain = load_terrain(demo_inputs.dem, "EPSG:32648", 100.0)
    sites = read_sites(demo_inputs.sites)
    sites = sites[sites["site_id"].isin(["VIE001", "VIE002", "VNP001", "VNP002", "MOB001"])].reset_index(drop=True)
    return terrain, sites


@pytest.mark.parametrize("omni", [False, True], ids=["sectors", "omnidirectional"])
def test_fold_matches_numpy_reference(small_network, tmp_path, omni):
    """The fold against the NumPy reference; omnidirectional cells take the fold's path without bearings."""
    terrain, sites = small_network
    if omni:
        sites = sites.assign(azimuth_deg=np.nan)
    s = Settings(radius_km=6.0, per_operator=True)
    cells = prepare_cells(sites, terrain.array, terrain.grid, s)
    acc = fold_groups(make_groups(cells), cells, terrain.array, terrain.grid, s, None, "")
    ref = reference_layers(terrain.array, terrain.grid, cells, radius_km=6.0)
    for tech, (best, second, server, psum) in ref.items():
        k_best, k_second, k_server = acc.best[(tech, ANY)]
        reached = np.isfinite(best)
        np.testing.assert_array_equal(k_server >= 0, reached)
        # the fast path stores terrain passes in 0.01 dB steps (so cached and fresh runs agree): ±0.005 dB
        np.testing.assert_allclose(k_best[reached], best[reached], atol=0.0051)
        assert np.mean(k_server[reached] == server[reached]) > 0.99   # near-ties may flip within 0.005 dB
        both = reached & np.isfinite(second)
        np.testing.assert_allclose(k_second[both], second[both], atol=0.0051)
        for (op, f), total in psum.items():
            ours = acc.psum[(tech, op, f)] * _kernels.POWER_QUANTUM_MW
            np.testing.assert_allclose(ours[reached], total[reached], rtol=2e-3, atol=1e-17)  # 0.005 dB = 0.12%


def test_quantised_losses_equal_numpys_rounding():
    """cache.quantise and dequantise (Numba passes) against the NumPy expressions they replaced: NaN,
    infinities, negatives, losses beyond 655.35 dB and exact half steps (rounded half to even) included, and
    every stored value back."""
    from phusong.coverage.cache import dequantise, quantise

    rng = np.random.default_rng(11)
    loss = rng.uniform(-5.0, 700.0, (300, 257)).astype(np.float32)
    loss.flat[::7] = np.float32(np.arange(loss.size)[::7] % 4000) / np.float32(100.0) + np.float32(0.005)
    loss.flat[::13] = np.nan
    loss[0, :4] = [np.inf, -np.inf, 655.35, 655.345]
    with np.errstate(over="ignore"):   # (infinities times 100)
        numpy_q = np.clip(np.round(np.nan_to_num(loss, nan=655.35) * 100.0), 0, 65535).astype(np.uint16)
    q = quantise(loss)
    assert q.dtype == np.uint16 and q.shape == loss.shape
    np.testing.assert_array_equal(q, numpy_q)
    back = dequantise(q)
    inside = np.isfinite(loss) & (loss >= 0) & (loss < 655.3)
    np.testing.assert_allclose(back[inside], loss[inside], atol=0.0051)
    assert np.isnan(back[np.isnan(loss)]).all()
    every = np.arange(65536, dtype=np.uint32).astype(np.uint16).reshape(256, 256)   # every stored value
    numpy_back = np.where(every == 65535, np.float32(np.nan), every.astype(np.float32) / np.float32(100.0))
    np.testing.assert_array_equal(dequantise(every), numpy_back)
    assert dequantise(every).dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64])
def test_packing_the_evaluated_cells_equals_numpys_boolean_indexing(dtype):
    """The fold state's pack, unpack and paste kernels against NumPy's ``a[mask]``, ``out[mask] = packed`` and
    slicing: rows with no set cell, a full row, the first and last cells included."""
    rng = np.random.default_rng(5)
    values = rng.integers(-10**6, 10**6, (97, 61)).astype(dtype)
    mask = rng.random(values.shape) < 0.4
    mask[3] = False
    mask[5] = True
    mask[0, 0] = mask[-1, -1] = True
    starts = _kernels.mask_row_starts(mask)
    np.testing.assert_array_equal(starts, np.concatenate([[0], np.cumsum(mask.sum(axis=1))]))
    packed = np.full(int(mask.sum()), 7, dtype)
    _kernels.pack_masked(values, mask, starts, packed)
    np.testing.assert_array_equal(packed, values[mask])
    fill = dtype(-3)
    expected = np.full(values.shape, fill, dtype)
    expected[mask] = packed
    out = np.zeros(values.shape, dtype)
    _kernels.unpack_masked(packed, mask, starts, fill, out)
    np.testing.assert_array_equal(out, expected)
    # a window pasted into the packed values, against pasting into the full array and packing again
    for row0, col0, shape in ((0, 0, (5, 7)), (40, 13, (57, 48)), (10, 0, (1, 61))):
        window = rng.integers(-10**6, 10**6, shape).astype(dtype)
        for select in (None, rng.random(shape) < 0.5):   # everywhere, and only where selected
            full = expected.copy()
            if select is None:
                full[row0:row0 + shape[0], col0:col0 + shape[1]] = window
            else:
                full[row0:row0 + shape[0], col0:col0 + shape[1]][select] = window[select]
            pasted = packed.copy()
            _kernels.paste_masked(pasted, mask, starts, window, row0, col0, select is None,
                                  np.ones((1, 1), np.bool_) if select is None else select)
            np.testing.assert_array_equal(pasted, full[mask])


def test_heights_in_huge_page_memory_give_the_same_layers(small_network, monkeypatch):
    """simulate_network copies the heights into huge-page memory when it has many passes to compute: the same
    layers bit for bit (here from the first pass on, and for this small terrain from 4 kB on)."""
    from phusong import _raster
    from phusong.coverage import network

    terrain, sites = small_network
    s = Settings(radius_km=4.0)
    plain = simulate_network(terrain.array, terrain.grid, sites, s)
    original, copies = network.huge_page_array, []
    monkeypatch.setattr(_raster, "HUGE_PAGE", 4096)
    monkeypatch.setattr(network, "HUGE_PAGE_PASSES", 1)
    monkeypatch.setattr(network, "huge_page_array", lambda a: copies.append(original(a)) or copies[-1])
    copied = simulate_network(terrain.array, terrain.grid, sites, s)
    [copy] = copies
    assert copy.shape == terrain.array.shape and not np.shares_memory(copy, terrain.array)   # (the mapping's copy)
    for a, b in zip(plain.layers, copied.layers):
        for field in ("rsrp_dbm", "rsrp2_dbm", "server", "sinr_db", "covered"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))


def test_any_operator_layer_is_the_best_of_the_operators(small_network):
    terrain, sites = small_network
    cov = simulate_network(terrain.array, terrain.grid, sites, Settings(radius_km=6.0, per_operator=True))
    layers, cells = cov.layers, cov.cells
    by = {(layer.technology, layer.operator): layer for layer in layers}
    for tech in ("4G", "5G"):
        ops = [layer for (t, o), layer in by.items() if t == tech and o != ANY]
        assert len(ops) >= 2
        best_of_ops = np.fmax.reduce([layer.rsrp_dbm for layer in ops])
        np.testing.assert_array_equal(by[(tech, ANY)].rsrp_dbm, best_of_ops)
        server = by[(tech, ANY)].server
        has = server >= 0
        ops_of_server = cells["operator_slug"].to_numpy()[server[has]]
        for layer in ops:
            mine = ops_of_server == layer.operator
            np.testing.assert_array_equal(layer.server[has][mine], server[has][mine])


def test_a_kept_study_area_is_read_back_exactly_and_follows_its_polygons_and_grid(tmp_path, monkeypatch):
    """FootprintCache.area_mask: the rasterized area read back bit for bit, rasterized again for other polygons,
    another grid, or a damaged entry (truth: rasterizing directly)."""
    from rasterio.transform import from_origin
    from shapely.geometry import Polygon

    from phusong._raster import Grid
    from phusong.coverage import cache as cache_module

    grid = Grid(300, 200, from_origin(500_000, 2_400_000, 30, 30), "EPSG:32648")
    polygons = [Polygon([(501_000, 2_395_000), (504_500, 2_396_000), (503_000, 2_392_500)]),
                Polygon([(500_300, 2_399_000), (501_200, 2_399_500), (500_900, 2_398_100)])]
    cache = FootprintCache(tmp_path / "cache")
    direct = cache_module.area_mask(polygons, grid)
    assert direct.dtype == np.bool_ and 0 < direct.sum() < direct.size
    np.testing.assert_array_equal(cache.area_mask(polygons, grid), direct)
    original, calls = cache_module.area_mask, []
    monkeypatch.setattr(cache_module, "area_mask", lambda g, gr: calls.append(1) or original(g, gr))
    kept = cache.area_mask(polygons, grid)
    assert calls == [] and kept.dtype == np.bool_ and kept.flags.c_contiguous
    np.testing.assert_array_equal(kept, direct)
    shifted = Grid(300, 200, from_origin(500_030, 2_400_000, 30, 30), "EPSG:32648")
    np.testing.assert_array_equal(cache.area_mask(polygons, shifted), original(polygons, shifted))
    np.testing.assert_array_equal(cache.area_mask(polygons[:1], grid), original(polygons[:1], grid))
    assert calls == [1, 1]
    for entry in (tmp_path / "cache" / "area").glob("*.npy"):
        entry.write_bytes(b"")
    np.testing.assert_array_equal(cache.area_mask(polygons, grid), direct)
    assert calls == [1, 1, 1]
    with pytest.warns(UserWarning):   # a feature without geometry is skipped, as rasterio skips it
        np.testing.assert_array_equal(cache.area_mask([*polygons, None], grid), direct)
    assert calls == [1, 1, 1, 1]


def test_cache_is_reused_and_invalidated(small_network, tmp_path):
    terrain, sites = small_network
    s = Settings(radius_km=5.0)
    cache = tmp_path / "cache"
    cov = simulate_network(terrain.array, terrain.grid, sites, s, cache=FootprintCache(cache))
    first, st1 = cov.layers, cov.stats
    assert st1["cache_hits"] == 0 and len(list(cache.glob("*.npy"))) == st1["terrain_passes"]
    tilted = sites.copy()
    tilted.loc[0, "electrical_tilt_deg"] += 4.0      # power/tilt/azimuth: same terrain passes
    tilted.loc[1, "tx_power_dbm"] -= 3.0
    cov = simulate_network(terrain.array, terrain.grid, tilted, s, cache=FootprintCache(cache))
    st2 = cov.stats
    assert st2["cache_hits"] == st2["terrain_passes"]
    moved = tilted.copy()
    moved.loc[moved["site_id"] == "VIE001", "antenna_height_m"] += 5.0   # height: new passes for that site
    cov = simulate_network(terrain.array, terrain.grid, moved, s, cache=FootprintCache(cache))
    st3 = cov.stats
    n_freq = moved.loc[moved["site_id"] == "VIE001", "frequency_mhz"].nunique()
    assert n_freq >= 1 and st3["cache_hits"] == st3["terrain_passes"] - n_freq   # one pass per frequency
    changed = terrain.array.copy()
    changed[10, 10] += 1.0                                            # terrain: every pass is new
    assert terrain_key(changed, terrain.grid) != terrain_key(terrain.array, terrain.grid)
    cov = simulate_network(changed, terrain.grid, sites, s, cache=FootprintCache(cache))
    st4 = cov.stats
    assert st4["cache_hits"] == 0
    # a cached run equals the run that filled the cache
    rerun = simulate_network(terrain.array, terrain.grid, sites, s, cache=FootprintCache(cache)).layers
    for a, b in zip(first, rerun):
        np.testing.assert_array_equal(a.rsrp_dbm, b.rsrp_dbm)


class _SlowCache(FootprintCache):
    """A cache whose writes take a while and whose ``fail``-th write fails; it records how many writes overlap."""

    def __init__(self, folder, fail=None):
        super().__init__(folder)
        self.fail, self.calls, self.busy, self.most_busy = fail, 0, 0, 0
        self.lock = threading.Lock()
        self.threads = set()

    def save(self, path, q):
        with self.lock:
            self.threads.add(threading.current_thread())
            self.calls += 1
            call = self.calls
            self.busy += 1
            self.most_busy = max(self.most_busy, self.busy)
        try:
            time.sleep(0.05)
            if call == self.fail:
                raise OSError(28, "No space left on device")
            super().save(path, q)
        finally:
            with self.lock:
                self.busy -= 1


def test_a_run_splits_the_time_of_its_passes_into_sweeps_and_folds(small_network, tmp_path):
    """run.json's passes_s holds the terrain passes (swept, or read from the cache) and folding them, each timed
    within it; a what-if times its partial fold the same way."""
    terrain, sites = small_network
    s = Settings(radius_km=5.0)
    tilted = sites.copy()
    tilted.loc[0, "electrical_tilt_deg"] += 4.0
    for run_sites in (sites, tilted):
        stats = simulate_network(terrain.array, terrain.grid, run_sites, s, cache=FootprintCache(tmp_path)).stats
        assert stats["sweeps_s"] >= 0.0 and stats["folds_s"] >= 0.0
        assert stats["sweeps_s"] + stats["folds_s"] <= stats["passes_s"] + 0.02   # (each rounded to 0.01 s)
    assert stats["fold_reused"]


def test_passes_are_kept_in_the_background_and_all_written_before_the_fold_returns(small_network, tmp_path):
    """New passes are written while the next is computed: every one is on disk when fold_groups returns, and they
    equal the passes the fold used (a cached fold gives the same layers); a failed write fails the fold, but only
    after the other writes are done; writes never pile up (one writer thread, at most two entries waiting)."""
    terrain, sites = small_network
    s = Settings(radius_km=5.0)
    cells = prepare_cells(sites, terrain.array, terrain.grid, s)
    groups = make_groups(cells)
    tkey = terrain_key(terrain.array, terrain.grid)
    cache = _SlowCache(tmp_path / "c")
    first = fold_groups(groups, cells, terrain.array, terrain.grid, s, cache, tkey)
    assert cache.calls == len(groups) >= 6 and cache.busy == 0 and cache.most_busy == 1
    assert len(cache.threads) == 1 and threading.main_thread() not in cache.threads   # one writer, not the fold's
    assert len(list(cache.folder.glob("*.npy"))) == len(groups) and not list(cache.folder.glob(".*"))
    again = fold_groups(groups, cells, terrain.array, terrain.grid, s, cache, tkey)   # every pass from the cache
    assert cache.calls == len(groups)
    for key, arrays in first.best.items():
        for a, b in zip(arrays, again.best[key]):
            np.testing.assert_array_equal(a, b)
    for fail in (2, len(groups)):   # found when its turn to be waited for comes, or as the fold ends
        failing = _SlowCache(tmp_path / f"d{fail}", fail=fail)
        with pytest.raises(OSError, match="No space"):
            fold_groups(groups, cells, terrain.array, terrain.grid, s, failing, tkey)
        # the second write's error is found when it is waited for: at the fourth save, so three were started
        assert failing.busy == 0 and failing.calls == (3 if fail == 2 else len(groups))
        assert failing.threads == cache.threads   # the process's one writing thread, kept between folds
        assert len(list(failing.folder.glob("*.npy"))) == failing.calls - 1 and not list(failing.folder.glob(".*"))


def test_a_mast_s_bands_share_one_sweep_and_fold_as_if_swept_apart(small_network, tmp_path, monkeypatch):
    """The bands of a mast (one position and antenna height) not yet cached are swept together: fewer sweeps,
    every pass cached on its own, and layers bit-identical to folding each group alone (its own sweep)."""
    from phusong.coverage import accumulate
    from phusong.coverage.accumulate import merge_accumulators

    terrain, sites = small_network
    s = Settings(radius_km=5.0)
    cells = prepare_cells(sites, terrain.array, terrain.grid, s)
    groups = make_groups(cells)
    masts = {(g.x, g.y, g.height_m) for g in groups}
    assert len(masts) < len(groups)   # (the demo's VIE002 carries 1,800 and 2,600 MHz)
    sweeps = []
    real = accumulate.site_footprints
    monkeypatch.setattr(accumulate, "site_footprints", lambda *a, **k: sweeps.append(a[5]) or real(*a, **k))
    tkey = terrain_key(terrain.array, terrain.grid)
    cache = FootprintCache(tmp_path / "c")
    together = fold_groups(groups, cells, terrain.array, terrain.grid, s, cache, tkey)
    assert len(sweeps) == len(masts) and sum(len(f) for f in sweeps) == len(groups)
    assert len(list(cache.folder.glob("*.npy"))) == len(groups)
    apart = None
    for g in groups:   # a fold of one group never has a sibling: its own sweep
        one = fold_groups([g], cells, terrain.array, terrain.grid, s, None, "")
        apart = one if apart is None else merge_accumulators(apart, one)
    assert len(sweeps) == len(masts) + len(groups)
    again = fold_groups(groups, cells, terrain.array, terrain.grid, s, cache, tkey)   # all from the cache
    assert len(sweeps) == len(masts) + len(groups)
    for other in (apart, again):
        assert other.best.keys() == together.best.keys() and other.psum.keys() == together.psum.keys()
        for key, arrays in together.best.items():
            for a, b in zip(arrays, other.best[key]):
                np.testing.assert_array_equal(a, b)
        for key, total in together.psum.items():
            np.testing.assert_array_equal(total, other.psum[key])


def test_a_forked_process_gets_a_cache_writer_of_its_own(monkeypatch):
    """The writing thread is the process's: a forked child (whose copy of the parent's executor has no thread)
    starts its own instead of waiting forever on the parent's."""
    from phusong.coverage import cache as cache_module

    parent = cache_module._writer()
    assert cache_module._writer() is parent
    monkeypatch.setattr(cache_module.os, "getpid", lambda: -12345)
    child = cache_module._writer()
    assert child is not parent and child.submit(lambda: 7).result(timeout=10) == 7
    monkeypatch.undo()
    assert cache_module._writer() is parent
    cache_module._WRITERS.pop(-12345).shutdown()


def _irregular_area(grid):
    rows, cols = np.mgrid[0:grid.height, 0:grid.width]
    r, c = grid.height / 2, grid.width / 2
    return ((rows - r) ** 2 / 0.3 + (cols - c) ** 2 < (0.35 * grid.width) ** 2) & (rows + cols > grid.width * 0.7)


def test_a_study_area_evaluates_its_cells_exactly_and_no_other(small_network, tmp_path):
    """With an area, terrain passes skip the cells beyond it and its edge: every layer is unchanged on the
    area and the cells touching it, and has no value elsewhere; the cache keeps the two kinds of pass apart."""
    from phusong.coverage.network import evaluated_cells

    terrain, sites = small_network
    s = Settings(radius_km=6.0, per_operator=True)
    area = _irregular_area(terrain.grid)
    kept = evaluated_cells(area)
    # exactly the area and the cells with an area cell among their 8 neighbours (the nine shifted copies)
    padded = np.pad(area, 1)
    h, w = area.shape
    neighbours = np.zeros(area.shape, bool)
    for dr in range(3):
        for dc in range(3):
            neighbours |= padded[dr:dr + h, dc:dc + w]
    np.testing.assert_array_equal(kept, neighbours)
    assert evaluated_cells(None) is None and evaluated_cells(np.ones(area.shape, bool)) is None
    assert kept.sum() > area.sum()
    cache = FootprintCache(tmp_path / "cache")
    whole = simulate_network(terrain.array, terrain.grid, sites, s, cache=cache)
    part = simulate_network(terrain.array, terrain.grid, sites, s, cache=cache, area_mask=area)
    assert part.stats["cache_hits"] == 0       # a whole pass is never read as a masked one...
    fresh = FootprintCache(tmp_path / "other")
    simulate_network(terrain.array, terrain.grid, sites, s, cache=fresh, area_mask=area)
    assert simulate_network(terrain.array, terrain.grid, sites, s, cache=fresh).stats["cache_hits"] == 0  # ...nor the reverse
    everywhere = simulate_network(terrain.array, terrain.grid, sites, s, cache=cache,
                                  area_mask=np.ones(area.shape, bool))
    assert everywhere.stats["cache_hits"] == everywhere.stats["terrain_passes"]   # an area of every cell: no mask
    assert terrain_key(terrain.array, terrain.grid, None, kept) != terrain_key(terrain.array, terrain.grid)
    for a, b in zip(whole.layers, part.layers):
        assert (a.technology, a.operator) == (b.technology, b.operator)
        for field in ("rsrp_dbm", "rsrp2_dbm", "sinr_db", "server"):
            full, masked = getattr(a, field), getattr(b, field)
            np.testing.assert_array_equal(masked[kept], full[kept])
            assert (np.isnan(masked[~kept]) if masked.dtype.kind == "f" else masked[~kept] == -1).all()
        np.testing.assert_array_equal(b.covered[area], a.covered[area])
        assert (b.covered[~area] == 255).all()


@pytest.mark.slow
@pytest.mark.parametrize("with_area", [False, True])
def test_dask_cluster_gives_the_identical_result(small_network, tmp_path, with_area):
    from dask.distributed import LocalCluster

    terrain, sites = small_network
    s = Settings(radius_km=6.0, per_operator=True)
    area = _irregular_area(terrain.grid) if with_area else None   # the evaluated cells travel to the workers too
    local = simulate_network(terrain.array, terrain.grid, sites, s, cache=FootprintCache(tmp_path / "a"),
                             area_mask=area).layers
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        on_dask = simulate_network(terrain.array, terrain.grid, sites, s, cache=FootprintCache(tmp_path / "b"),
                                   dask_address=cluster.scheduler_address, batch_size=2, area_mask=area)
    remote = on_dask.layers
    assert "sweeps_s" not in on_dask.stats   # (the workers' time is not this run's)
    assert [layer.name for layer in local] == [layer.name for layer in remote]
    for a, b in zip(local, remote):
        for field in ("rsrp_dbm", "rsrp2_dbm", "sinr_db"):
            np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
        np.testing.assert_array_equal(a.server, b.server)
        np.testing.assert_array_equal(a.covered, b.covered)


def test_simulate_command_writes_a_run_folder(demo_inputs, tmp_path):
    out = tmp_path / "run"
    args = ["simulate", "--dem", str(demo_inputs.dem), "--sites", str(demo_inputs.sites), "--out", str(out),
            "--res-m", "100", "--crs", "EPSG:32648", "--model", "delta-bullington", "--radius-km", "5",
            "--tech", "4G,5G", "--threshold-dbm", "4G=-100,5G=-100", "--location-probability", "0.9",
            "--cache-dir", str(tmp_path / "cache"), "-q"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    cells = pd.read_csv(out / "cells.csv", index_col="cell_index")
    run = __import__("json").loads((out / "run.json").read_text())
    assert run["demonstration"] is True and len(run["demonstration_reasons"]) == 2  # synthetic DEM, generated sites
    with rasterio.open(out / "rsrp_5g.tif") as src:
        assert "DEMONSTRATION" in src.tags()["DESCRIPTION"]
    for tech in ("4g", "5g"):
        for kind in ("rsrp", "rsrp2", "server", "sinr", "covered"):
            with rasterio.open(out / f"{kind}_{tech}.tif") as src:
                assert src.crs.to_epsg() == 32648 and src.overviews(1)
        with rasterio.open(out / f"server_{tech}.tif") as src:
            server = src.read(1)
        with rasterio.open(out / f"covered_{tech}.tif") as src:
            covered = src.read(1)
        with rasterio.open(out / f"rsrp_{tech}.tif") as src:
            rsrp = src.read(1)
        used = np.unique(server[server >= 0])
        assert set(cells.loc[used, "technology"]) == {tech.upper()}
        margin = 8.0 * norm.ppf(0.9)
        inside = covered != 255
        np.testing.assert_array_equal(covered[inside] == 1, np.nan_to_num(rsrp[inside], nan=-999) >= -100 + margin)
    assert CliRunner().invoke(cli, args).exit_code == 2        # exists: needs --overwrite
    bad = CliRunner().invoke(cli, args[:-1] + ["--overwrite", "--threshold-dbm", "6G=-1"])
    assert bad.exit_code == 2


@pytest.mark.slow
def test_killed_run_leaves_nothing_and_resumes_from_cache(demo_inputs, tmp_path):
    out, cache = tmp_path / "run", tmp_path / "cache"
    cmd = [sys.executable, "-m", "phusong.cli", "simulate", "--dem", str(demo_inputs.dem), "--sites",
           str(demo_inputs.sites), "--out", str(out), "--res-m", "50", "--radius-km", "8", "--cache-dir", str(cache),
           "-q"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(cache.glob("*.npy"))) < 10:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    entries = list(cache.glob("*.npy"))
    done = len(entries)
    assert done >= 10, "the run made no progress before the deadline"
    assert not out.exists() and not list(tmp_path.glob(".run.*"))    # no partial output, no staging folder
    for entry in entries:                                     # every entry that exists is whole
        assert np.load(entry).dtype == np.uint16
    result = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert result.returncode == 0, result.stderr
    import re
    hits = int(re.search(r"\((\d+) from the cache\)", result.stdout).group(1))
    assert hits >= done                                       # resumed: the killed run's passes are reused
    # the resumed run equals a run that was never interrupted, with a cache of its own
    fresh = tmp_path / "fresh"
    clean = [fresh if a == str(out) else tmp_path / "cache2" if a == str(cache) else a for a in cmd]
    subprocess.run([str(a) for a in clean], check=True, capture_output=True)
    for tif in sorted(out.glob("*.tif")):
        with rasterio.open(tif) as a, rasterio.open(fresh / tif.name) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1), err_msg=tif.name)


def test_real_inputs_are_not_labelled_a_demonstration(tmp_path, demo_inputs):
    from phusong.data.terrain import Terrain
    from phusong.pipeline import demonstration_reasons
    from phusong.settings import Settings as Full

    from .conftest import shared_path
    plain = tmp_path / "sites.csv"
    plain.write_text("site_id,cell_id,lon,lat,technology,frequency_mhz,antenna_height_m,tx_power_dbm\n"
                     "S1,C1,-71.4,44.45,4G,1800,30,46\n")
    generated = tmp_path / "generated.csv"
    generated.write_text("# GENERATED sites, not a real network\n" + plain.read_text())

    def reasons(dem, sites, **study):
        terrain = load_terrain(dem, "EPSG:32648", 3000.0)
        return demonstration_reasons(terrain, read_sites(sites), Full.from_dict({"study": study}))

    real_dem = shared_path("data", "terrain", "N44W072.hgt")
    standin = shared_path("data", "langson", "terrain_standin_3arcsec.tif")
    assert reasons(real_dem, plain) == ()
    assert reasons(standin, plain) == ("terrain_standin_3arcsec.tif: synthetic terrain",)
    assert reasons(real_dem, generated) == ("generated.csv: generated sites",)
    # a scenario may add the label, never remove it
    assert reasons(standin, plain, demonstration=False) == ("terrain_standin_3arcsec.tif: synthetic terrain",)
    assert reasons(real_dem, plain, demonstration=True) == ("marked a demonstration (study.demonstration)",)
    assert isinstance(Terrain, type)


def test_cache_key_covers_everything_a_terrain_pass_depends_on(small_network, tmp_path):
    from phusong.settings import Settings as Full

    cache = FootprintCache(tmp_path / "keys")
    base = Full()
    key = cache.path("terrain", 1000.0, 2000.0, 30.0, 1800.0, base)
    changed = [cache.path("terrain", 1000.0, 2000.0, 30.0, 1800.0, base.replace(model=m))
               for m in ({"rx_height_m": 3.0}, {"radius_km": 10.0}, {"name": "bullington"},
                         {"earth_radius_km": 6371.0})]
    changed += [cache.path("terrain", 1000.0, 2000.0, 30.0, 2100.0, base),    # frequency
                cache.path("terrain", 1000.0, 2000.0, 35.0, 1800.0, base),    # antenna height
                cache.path("terrain", 1000.5, 2000.0, 30.0, 1800.0, base),    # position
                cache.path("other", 1000.0, 2000.0, 30.0, 1800.0, base)]      # terrain
    assert len({key, *changed}) == 9
    # what the pass does not depend on reuses it
    same = base.replace(coverage={"location_probability": 0.95, "load_factor": 0.2, "thresholds_dbm": {"4G": -100}})
    assert cache.path("terrain", 1000.0, 2000.0, 30.0, 1800.0, same) == key
    # and through a real run: a new receiver height computes every pass again
    terrain, sites = small_network
    s = Settings(radius_km=4.0)
    first = simulate_network(terrain.array, terrain.grid, sites, s, cache=FootprintCache(tmp_path / "run"))
    again = simulate_network(terrain.array, terrain.grid, sites, s.replace(model={"rx_height_m": 4.0}),
                             cache=FootprintCache(tmp_path / "run"))
    assert first.stats["cache_hits"] == 0 and again.stats["cache_hits"] == 0
    assert not np.array_equal(first.layer("4G").rsrp_dbm, again.layer("4G").rsrp_dbm, equal_nan=True)


def test_a_run_says_when_its_sweeps_included_compiling_the_kernels(small_network, tmp_path, monkeypatch):
    """stats["kernels_compiled_in_this_run"]: true only when the kernels were not compiled before and the run
    computes terrain passes (a run whose passes all come from the cache compiles no sweep)."""
    import phusong.coverage.network as network

    terrain, sites = small_network
    s = Settings(radius_km=3.0)
    monkeypatch.setattr(network, "kernels_compiled", lambda: True)    # (compiled before)
    assert not simulate_network(terrain.array, terrain.grid, sites, s).stats["kernels_compiled_in_this_run"]
    monkeypatch.setattr(network, "kernels_compiled", lambda: False)   # (a new installation)
    cache = FootprintCache(tmp_path)
    assert simulate_network(terrain.array, terrain.grid, sites, s, cache=cache).stats["kernels_compiled_in_this_run"]
    again = simulate_network(terrain.array, terrain.grid, sites, s, cache=cache).stats
    assert again["cache_hits"] == again["terrain_passes"] and not again["kernels_compiled_in_this_run"]
