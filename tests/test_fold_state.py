"""A what-if re-run reuses the last full run's fold and folds only where its changed cells reach: the result
must equal a run from scratch bit for bit, whatever changed (truth: the same run without a cache)."""
import json

import numpy as np
import pandas as pd
import pytest
import rasterio

from phusong.coverage.cache import FootprintCache
from phusong.coverage.network import simulate_network
from phusong.coverage.state import FoldStateStore
from phusong.data.terrain import load_terrain
from phusong.sites import read_sites
from phusong.sites.schema import TECH_SLUG

from .conftest import settings as Settings

FIELDS = ("rsrp_dbm", "rsrp2_dbm", "server", "sinr_db", "covered")


@pytest.fixture(scope="module")
def network(demo_inputs):
    terrain = load_terrain(demo_inputs.dem, "EPSG:32648", 100.0)
    sites = read_sites(demo_inputs.sites)
    assert len(sites) >= 10
    return terrain, sites


def _assert_identical(a, b):
    assert [layer.name for layer in a.layers] == [layer.name for layer in b.layers]
    for x, y in zip(a.layers, b.layers):
        for field in FIELDS:
            np.testing.assert_array_equal(getattr(x, field), getattr(y, field), err_msg=f"{x.name} {field}")


def _edit(sites, changes):
    out = sites.copy()
    for (row, column), value in changes.items():
        out.loc[row, column] = value
    return out


def _moved(sites, site_id, dx_deg):
    out = sites.copy()
    at = out["site_id"] == site_id
    out.loc[at, "geometry"] = out.geometry[at].translate(xoff=dx_deg)
    return out


def _other_operator(sites, row):
    """Another operator already on the row's technology and frequency (so no new layer or power key)."""
    same = (sites["technology"] == sites.loc[row, "technology"]) & (sites["frequency_mhz"] == sites.loc[row, "frequency_mhz"])
    return sites.loc[same & (sites["operator"] != sites.loc[row, "operator"]), "operator"].iloc[0]


def _what_ifs(sites):
    return {
        "one tilt": _edit(sites, {(0, "electrical_tilt_deg"): sites.loc[0, "electrical_tilt_deg"] + 6.0}),
        "a power and an azimuth": _edit(sites, {(3, "tx_power_dbm"): sites.loc[3, "tx_power_dbm"] - 6.0,
                                                (5, "azimuth_deg"): (sites.loc[5, "azimuth_deg"] + 90.0) % 360}),
        # a moved site: its old window loses it, its new window gains it (both must be folded again)
        "a site moved": _moved(sites, sites.loc[0, "site_id"], 0.03),
        "an operator changed": _edit(sites, {(0, "operator"): _other_operator(sites, 0)}),
        # both technologies' layers change (a 4G cell becomes one of its operator's 5G cells)
        "a technology changed": _edit(sites, {(0, "technology"): "5G", (0, "frequency_mhz"): _five_g(sites, 0)}),
        "nothing": sites.copy(),
    }


def _five_g(sites, row):
    """A 5G frequency the row's operator already uses (so no new layer or power key)."""
    assert sites.loc[row, "technology"] == "4G"
    return sites.loc[(sites["technology"] == "5G") & (sites["operator"] == sites.loc[row, "operator"]),
                     "frequency_mhz"].iloc[0]


def _disc_area(grid):
    """A study area: the grid's central disc (bool, on the grid)."""
    rows, cols = np.mgrid[0:grid.height, 0:grid.width]
    return (rows - grid.height / 2) ** 2 + (cols - grid.width / 2) ** 2 < (0.4 * grid.width) ** 2


def _state_layout(data: bytes):
    """A stored state's layout, read from its bytes as the format says (magic, header length, JSON header): where
    the arrays start, and each array's (dtype, shape, offset)."""
    magic = FoldStateStore.MAGIC
    size = int.from_bytes(data[len(magic):len(magic) + 8], "little")
    return len(magic) + 8 + size, json.loads(data[len(magic) + 8:len(magic) + 8 + size])["arrays"]


def _alone(sites, row=0, km=8.0):
    """The sites less the other cells of the row's operator within ``km``: changing the row's operator then
    leaves that operator's layer and power sum nothing near it."""
    op = sites.loc[row, "operator"]
    xy = sites.geometry.to_crs("EPSG:32648")
    far = xy.distance(xy.loc[row]) > km * 1000.0
    return sites[(sites["operator"] != op) | far | (sites.index == row)].reset_index(drop=True)


@pytest.mark.parametrize("what", ["one tilt", "a power and an azimuth", "a site moved", "an operator changed",
                                  "an operator's only cell there changed", "a technology changed", "nothing"])
def test_a_what_if_from_the_stored_fold_equals_a_run_from_scratch(network, tmp_path, what):
    terrain, sites = network
    if what == "an operator's only cell there changed":
        sites = _alone(sites)
        what = "an operator changed"
    s = Settings(radius_km=3.0, per_operator=True)
    cache = FootprintCache(tmp_path / "cache")
    base = simulate_network(terrain.array, terrain.grid, sites, s, cache=cache)
    assert base.stats["passes_folded"] == base.stats["terrain_passes"]
    [state] = (tmp_path / "cache" / "fold-state").glob("*.state")
    stored = state.read_bytes()
    changed = _what_ifs(sites)[what]
    again = simulate_network(terrain.array, terrain.grid, changed, s, cache=cache)
    scratch = simulate_network(terrain.array, terrain.grid, changed, s)
    _assert_identical(again, scratch)
    folded = again.stats["passes_folded"]
    if what == "nothing":
        assert folded == 0
        _assert_identical(again, base)
    else:
        assert 0 < folded < again.stats["terrain_passes"]   # reused: only the sites reaching the change
        assert any(not np.array_equal(x.rsrp_dbm, y.rsrp_dbm, equal_nan=True) or not np.array_equal(x.server, y.server)
                   for x, y in zip(again.layers, base.layers))
    assert state.read_bytes() == stored      # a what-if does not replace the full run's state


def test_a_what_if_folds_again_only_the_sites_with_cells_of_the_changed_technologies(network, tmp_path, monkeypatch):
    """A 4G tilt leaves every 5G layer as it was: no terrain pass of only 5G cells is folded again, though some
    reach the change (and the result still equals a run from scratch)."""
    from phusong.coverage import network as network_module
    from phusong.coverage.state import reach_cells

    terrain, sites = network
    s = Settings(radius_km=3.0, per_operator=True)
    cache = FootprintCache(tmp_path / "cache")
    simulate_network(terrain.array, terrain.grid, sites, s, cache=cache)
    folded = []
    real = network_module.fold_groups

    def spy(groups, cells, *args, **kwargs):
        folded.append([cells.loc[list(g.cells), "technology"].tolist() for g in groups])
        return real(groups, cells, *args, **kwargs)

    monkeypatch.setattr(network_module, "fold_groups", spy)
    changed = _what_ifs(sites)["one tilt"]
    assert sites.loc[0, "technology"] == "4G"
    again = simulate_network(terrain.array, terrain.grid, changed, s, cache=cache)
    [groups] = folded
    assert groups and all("4G" in techs for techs in groups)
    assert again.stats["passes_folded"] == len(groups)
    # 5G-only passes within reach of the changed cell's site: folded before this change, left alone now
    grid = terrain.grid
    xy = changed.geometry.to_crs(grid.crs)
    r0, c0 = grid.rowcol(xy.iloc[0].x, xy.iloc[0].y)
    rc = np.array([grid.rowcol(p.x, p.y) for p in xy])
    near = np.hypot(rc[:, 0] - r0, rc[:, 1] - c0) <= reach_cells(grid, s.model.radius_km)
    passes = changed[near].groupby(["site_id", "frequency_mhz"])["technology"].agg(lambda t: set(t) == {"5G"})
    assert passes.any() and not passes.all()
    _assert_identical(again, simulate_network(terrain.array, terrain.grid, changed, s))


@pytest.mark.parametrize("what", ["one tilt", "a site moved"])
def test_a_study_area_state_is_reused_exactly(network, tmp_path, what):
    """With a study area the stored power sums stay packed and the refolded discs are pasted into them."""
    terrain, sites = network
    _assert_area_what_if_exact(terrain, sites, Settings(radius_km=3.0), what, tmp_path)


@pytest.mark.parametrize("what", ["one tilt", "a site moved"])
def test_a_radius_under_a_cell_refolds_all_it_reaches(demo_inputs, tmp_path, what):
    """A 200 m radius on 250 m cells: a pass still takes two samples and reaches cells up to two and a half cells
    away, beyond the radius and its margin (the previous reach, 0.8 + 1.5 cells, fails here), and so must the
    refolded discs."""
    terrain = load_terrain(demo_inputs.dem, "EPSG:32648", 250.0)
    _assert_area_what_if_exact(terrain, read_sites(demo_inputs.sites), Settings(radius_km=0.2), what, tmp_path)


def _assert_area_what_if_exact(terrain, sites, s, what, tmp_path):
    grid = terrain.grid
    area = _disc_area(grid)
    cache = FootprintCache(tmp_path / "cache")
    simulate_network(terrain.array, grid, sites, s, cache=cache, area_mask=area)
    changed = _what_ifs(sites)[what]
    again = simulate_network(terrain.array, grid, changed, s, cache=cache, area_mask=area)
    assert again.stats["fold_reused"] and 0 < again.stats["passes_folded"] < again.stats["terrain_passes"]
    _assert_identical(again, simulate_network(terrain.array, grid, changed, s, area_mask=area))


def test_what_the_state_does_not_cover_folds_everything(network, tmp_path):
    terrain, sites = network
    s = Settings(radius_km=3.0)
    cache = FootprintCache(tmp_path / "cache")
    simulate_network(terrain.array, terrain.grid, sites, s, cache=cache)
    # other settings, one cell fewer (cell indices shift), other terrain: no reuse, and a correct result
    cases = [(sites, Settings(radius_km=3.5), terrain.array), (sites.iloc[1:].reset_index(drop=True), s, terrain.array),
             (sites, s, terrain.array + np.float32(1.0))]
    for table, settings, heights in cases:
        cov = simulate_network(heights, terrain.grid, table, settings, cache=cache)
        assert cov.stats["passes_folded"] == cov.stats["terrain_passes"]
        _assert_identical(cov, simulate_network(heights, terrain.grid, table, settings))


@pytest.mark.parametrize("damage", ["truncated", "a technology code out of range"])
def test_a_damaged_state_is_ignored_and_replaced(network, tmp_path, damage):
    terrain, sites = network
    s = Settings(radius_km=3.0)
    cache = FootprintCache(tmp_path / "cache")
    simulate_network(terrain.array, terrain.grid, sites, s, cache=cache)
    [state] = FoldStateStore(cache).folder.glob("*.state")
    data = bytearray(state.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    else:   # one bit of cell 0's code
        start, arrays = _state_layout(data)
        dtype, _, offset = arrays["techs"]
        data[start + offset + np.dtype(dtype).itemsize - 1] ^= 0x40
    state.write_bytes(bytes(data))
    changed = _what_ifs(sites)["one tilt"]
    cov = simulate_network(terrain.array, terrain.grid, changed, s, cache=cache)
    assert cov.stats["passes_folded"] == cov.stats["terrain_passes"]
    _assert_identical(cov, simulate_network(terrain.array, terrain.grid, changed, s))
    assert len(list(FoldStateStore(cache).folder.iterdir())) == 1     # replaced, no temporary left


def test_only_the_newest_states_are_kept(network, tmp_path):
    terrain, sites = network
    cache = FootprintCache(tmp_path / "cache")
    store = FoldStateStore(cache)
    made = []
    for radius in (2.0, 2.5, 3.0, 3.5):   # four model settings: four keys
        before = set(store.folder.glob("*.state"))
        simulate_network(terrain.array, terrain.grid, sites.head(12), Settings(radius_km=radius), cache=cache)
        made += sorted(set(store.folder.glob("*.state")) - before)
        assert set(store.folder.glob("*.state")) == set(made[-store.KEEP:])   # the newest, no others
    assert len(made) == 4 and sorted(store.folder.iterdir()) == sorted(made[-store.KEEP:])   # no temporary left
    # the newest (3.5 km) is among them and still reused
    again = simulate_network(terrain.array, terrain.grid, sites.head(12), Settings(radius_km=3.5), cache=cache)
    assert again.stats["passes_folded"] == 0


def test_simulate_command_reuses_the_fold_for_a_what_if(demo_inputs, tmp_path):
    from click.testing import CliRunner

    from phusong.cli import cli

    comment = "# GENERATED demonstration sites\n"   # (the rasters say so, not which file: unchanged ones are linked)
    table = pd.read_csv(demo_inputs.sites, comment="#")
    base = tmp_path / "sites.csv"
    base.write_text(comment + table.to_csv(index=False), encoding="utf-8")
    table.loc[0, "electrical_tilt_deg"] += 6.0
    tilted = tmp_path / "tilted.csv"
    tilted.write_text(comment + table.to_csv(index=False), encoding="utf-8")

    def simulate(sites, out, cache):
        args = ["simulate", "--dem", str(demo_inputs.dem), "--sites", str(sites), "--out", str(tmp_path / out),
                "--res-m", "100", "--crs", "EPSG:32648", "--radius-km", "3", "--cache-dir", str(tmp_path / cache)]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        return result.output

    assert "folded again" not in simulate(base, "base", "cache")
    assert "the last full run's fold reused" in simulate(tilted, "what-if", "cache")
    simulate(tilted, "scratch", "fresh-cache")
    names = sorted(p.name for p in (tmp_path / "scratch").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "what-if").iterdir())
    for name in names:
        if name.endswith(".tif"):
            with rasterio.open(tmp_path / "scratch" / name) as a, rasterio.open(tmp_path / "what-if" / name) as b:
                np.testing.assert_array_equal(a.read(), b.read(), err_msg=name)
            # the same files, whether encoded again or linked from the ones the base run kept
            assert (tmp_path / "scratch" / name).read_bytes() == (tmp_path / "what-if" / name).read_bytes(), name
    assert (tmp_path / "scratch" / "cells.csv").read_bytes() == (tmp_path / "what-if" / "cells.csv").read_bytes()
    # the tilted cell's technology's rasters changed; the other's, and the relief, are the base run's own files
    reused = json.loads((tmp_path / "what-if" / "run.json").read_text())["rasters_reused"]
    tech = TECH_SLUG[table.loc[0, "technology"]]
    unchanged = [n for n in names if n.endswith(".tif") and f"_{tech}" not in n]
    assert json.loads((tmp_path / "scratch" / "run.json").read_text())["rasters_reused"] == 0
    assert len(unchanged) >= 2 and reused == len(unchanged)
    for name in unchanged:
        assert (tmp_path / "what-if" / name).samefile(tmp_path / "base" / name)
        with rasterio.open(tmp_path / "what-if" / name) as src:
            assert src.tags()["DESCRIPTION"].endswith("SYNTHETIC DEMONSTRATION (synthetic terrain; generated sites)")


def test_a_state_that_cannot_be_written_does_not_fail_the_run(network, tmp_path, caplog):
    terrain, sites = network
    cache = FootprintCache(tmp_path / "cache")
    (tmp_path / "cache" / "fold-state").write_text("a file where the folder would go")
    cov = simulate_network(terrain.array, terrain.grid, sites.head(12), Settings(radius_km=3.0), cache=cache)
    assert cov.stats["passes_folded"] == cov.stats["terrain_passes"]
    assert "could not keep this run's fold" in caplog.text


def test_changes_reaching_half_the_grid_or_leaving_it_fold_everything(network, tmp_path):
    from phusong.errors import InputError

    terrain, sites = network
    s = Settings(radius_km=3.0)
    cache = FootprintCache(tmp_path / "cache")
    simulate_network(terrain.array, terrain.grid, sites, s, cache=cache)
    x = sites.geometry.x
    y = sites.geometry.y
    corners = {int(f(v)) for f in (np.argmin, np.argmax) for v in (x, y)}   # the outermost: the box spans the grid
    tilted = _edit(sites, {(i, "electrical_tilt_deg"): sites.loc[i, "electrical_tilt_deg"] + 6.0 for i in corners})
    cov = simulate_network(terrain.array, terrain.grid, tilted, s, cache=cache)
    assert not cov.stats["fold_reused"] and cov.stats["passes_folded"] == cov.stats["terrain_passes"]
    _assert_identical(cov, simulate_network(terrain.array, terrain.grid, tilted, s))
    # a site moved off the terrain: the same error as a run from scratch, not a silently reused fold
    gone = _moved(sites, sites.loc[0, "site_id"], 5.0)
    with pytest.raises(InputError, match="outside the terrain"):
        simulate_network(terrain.array, terrain.grid, gone, s)
    with pytest.raises(InputError, match="outside the terrain"):
        simulate_network(terrain.array, terrain.grid, gone, s, cache=cache)


def test_the_stored_arrays_start_on_pages(network, tmp_path):
    """Page-aligned offsets let O_DIRECT read them straight into page-aligned arrays (phusong._direct)."""
    from phusong._direct import ALIGN

    terrain, sites = network
    cache = FootprintCache(tmp_path / "cache")
    grid = terrain.grid
    area = _disc_area(grid)
    simulate_network(terrain.array, grid, sites, Settings(radius_km=3.0), cache=cache, area_mask=area)
    [state] = FoldStateStore(cache).folder.glob("*.state")
    start, arrays = _state_layout(state.read_bytes())
    assert len(arrays) > 6 and all((start + offset) % ALIGN == 0 for _, _, offset in arrays.values())


def test_a_stored_fold_that_cannot_be_read_while_folding_folds_everything(network, tmp_path, monkeypatch):
    terrain, sites = network
    s = Settings(radius_km=3.0)
    cache = FootprintCache(tmp_path / "cache")
    simulate_network(terrain.array, terrain.grid, sites, s, cache=cache)

    def unreadable(reuse):
        reuse.file.close()
        raise OSError("read error")

    monkeypatch.setattr(FoldStateStore, "read_arrays", staticmethod(unreadable))
    changed = _what_ifs(sites)["one tilt"]
    cov = simulate_network(terrain.array, terrain.grid, changed, s, cache=cache)
    assert not cov.stats["fold_reused"] and cov.stats["passes_folded"] == cov.stats["terrain_passes"]
    _assert_identical(cov, simulate_network(terrain.array, terrain.grid, changed, s))


@pytest.mark.parametrize("with_area", [False, True])
def test_a_what_if_frees_the_power_sums_once_the_layers_are_finished(network, tmp_path, monkeypatch, with_area):
    """Memory stays bounded by the layers: nothing of the reading (the thread's result, the refolded part) keeps the
    grid-sized power sums alive after finishing, in a what-if as in a full run."""
    import gc
    import weakref

    from phusong.coverage import network as network_module

    terrain, sites = network
    grid = terrain.grid
    area = _disc_area(grid) if with_area else None
    refs, alive = [], []
    real_finish = network_module.finish_layers

    def finish(acc, *args, **kwargs):
        refs[:] = [weakref.ref(v) for v in acc.psum.values()]
        return real_finish(acc, *args, **kwargs)

    real_coverage = network_module.Coverage

    def coverage(*args, **kwargs):   # (the result, made after the accumulators are dropped)
        gc.collect()
        alive.append(sum(r() is not None for r in refs))
        return real_coverage(*args, **kwargs)

    monkeypatch.setattr(network_module, "finish_layers", finish)
    monkeypatch.setattr(network_module, "Coverage", coverage)
    cache = FootprintCache(tmp_path / "cache")
    s = Settings(radius_km=3.0)
    simulate_network(terrain.array, grid, sites, s, cache=cache, area_mask=area)
    cov = simulate_network(terrain.array, grid, _what_ifs(sites)["one tilt"], s, cache=cache, area_mask=area)
    assert cov.stats["fold_reused"] and refs and alive == [0, 0]


def test_runs_and_what_ifs_do_not_depend_on_the_thread_count(network, tmp_path, monkeypatch):
    """Every kernel (sweep, fold, finishing, SINR, the kept fold's packing, unpacking and pasting) split over 1 and
    over 3 threads: the same layers bit for bit, for a run over a study area and for its what-if."""
    from phusong import _threads

    terrain, sites = network
    s = Settings(radius_km=3.0, per_operator=True)
    area = _disc_area(terrain.grid)
    tilted = _what_ifs(sites)["one tilt"]
    runs = {}
    for threads in (1, 3):
        monkeypatch.setattr(_threads, "thread_count", lambda threads=threads: threads)
        cache = FootprintCache(tmp_path / f"cache{threads}")
        first = simulate_network(terrain.array, terrain.grid, sites, s, cache=cache, area_mask=area)
        again = simulate_network(terrain.array, terrain.grid, tilted, s, cache=cache, area_mask=area)
        assert 0 < again.stats["passes_folded"] < again.stats["terrain_passes"]   # the kept fold was used
        runs[threads] = (first, again)
    for one, three in zip(runs[1], runs[3]):
        _assert_identical(one, three)
