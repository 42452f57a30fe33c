"""What the README promises of `simulate` and `footprint`, through the CLI, against independent truth."""
import math
import warnings

import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner
from pyproj import Transformer

from phusong._raster import Grid, write_geotiff
from phusong.cli import cli
from phusong.coverage import distributed

from .test_empirical_models import _rma_by_hand
from .test_msi import _write as write_msi

RES = 30.0
N = 161
GRID = Grid(N, N, Affine(RES, 0, 600_000.0, 0, -RES, 2_400_000.0), "EPSG:32648")
TO_LONLAT = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
HEADER = "site_id,cell_id,lon,lat,technology,frequency_mhz,antenna_height_m,tx_power_dbm,operator,azimuth_deg,status"


def _run(args):
    result = CliRunner().invoke(cli, [*args, "-q"])
    assert result.exit_code == 0, (args, result.output)
    return result


def _lonlat(row, col):
    x, y = GRID.xy(row, col)
    return TO_LONLAT.transform(float(x), float(y))


@pytest.fixture(scope="module")
def dem(tmp_path_factory):
    """Flat ground at 100 m with a 60 m ridge running north-south east of the centre."""
    folder = tmp_path_factory.mktemp("dem")
    heights = np.full((N, N), 100.0, np.float32)
    heights[:, 95:100] = 160.0
    path = folder / "dem.tif"
    write_geotiff(path, heights, GRID, nodata=-9999.0)
    return path


def _sites(path, rows):
    lines = [HEADER]
    for r in rows:
        lon, lat = _lonlat(r["row"], r["col"])
        lines.append(f"{r['site']},{r['cell']},{lon:.8f},{lat:.8f},{r.get('tech', '4G')},{r.get('f', 1800)},30,46,"
                     f"{r.get('op', 'A')},{r.get('az', '')},{r.get('status', 'existing')}")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_distance_models_over_terrain_use_los_from_the_sweep(dem, tmp_path):
    """3gpp-rma in `footprint`: LOS cells get the LOS formula, cells behind the ridge the NLOS one."""
    lon, lat = _lonlat(80, 80)
    loss, los = tmp_path / "loss.tif", tmp_path / "los.tif"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _run(["footprint", "--dem", str(dem), "--lon", f"{lon:.9f}", "--lat", f"{lat:.9f}", "--tx-height-m", "30",
              "--freq-mhz", "3500", "--radius-km", "2", "--model", "3gpp-rma", "--out", str(loss), "--los-out",
              str(los)])
    with rasterio.open(loss) as a, rasterio.open(los) as b:
        loss_db, los_flag, t = a.read(1), b.read(1), a.transform
    x0, y0 = GRID.xy(80, 80)
    rows, cols = np.nonzero(np.isfinite(loss_db))
    cx, cy = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    d2d = np.hypot(cx - x0, cy - y0)
    assert (los_flag[rows, cols] == 1).any() and (los_flag[rows, cols] == 0).any()   # the ridge hides some
    checked = 0
    for i in np.flatnonzero(d2d >= 10.0)[::7]:
        expected = _rma_by_hand(3.5, d2d[i], 30.0, 1.5, bool(los_flag[rows[i], cols[i]] == 1))
        assert loss_db[rows[i], cols[i]] == pytest.approx(expected, abs=2e-3)
        checked += 1
    assert checked > 1000
    # behind the ridge, to the east: not visible; in front, to the west: visible
    east = (cx - x0 > 700) & (np.abs(cy - y0) < 100)
    west = (cx - x0 < -300) & (np.abs(cy - y0) < 100)
    assert (los_flag[rows[east], cols[east]] == 0).all() and (los_flag[rows[west], cols[west]] == 1).all()


def test_msi_pattern_through_simulate_matches_the_numpy_reference(dem, tmp_path):
    """A cell with an `antenna_file` (the kernel's pattern-table branch) against the brute-force reference."""
    from phusong.coverage.compose import reference_layers
    from phusong.data.msi import read_msi

    msi = write_msi(tmp_path / "panel.msi")
    sites = _sites(tmp_path / "sites.csv", [dict(site="S1", cell="S1-1", row=80, col=60, az=90.0)])
    sites.write_text(sites.read_text().replace(",status\n", ",status,antenna_file\n").replace(",existing\n",
                                                                                              ",existing,panel.msi\n"))
    out = tmp_path / "run"
    _run(["simulate", "--dem", str(dem), "--sites", str(sites), "--out", str(out), "--radius-km", "2",
          "--technologies", "4G", "--cache-dir", str(tmp_path / "c")])
    with rasterio.open(out / "rsrp_4g.tif") as src:
        rsrp, bounds = src.read(1), tuple(src.bounds)
    cells = pd.read_csv(out / "cells.csv", index_col="cell_index")
    assert cells["antenna_file"].iloc[0].endswith("panel.msi")
    from phusong.data.terrain import load_terrain
    terrain = load_terrain(dem, "EPSG:32648", RES, bounds=bounds)   # the run's grid: the site's reach
    assert terrain.array.shape == rsrp.shape
    ref = reference_layers(terrain.array, terrain.grid, cells, radius_km=2.0,
                           patterns={cells["antenna_file"].iloc[0]: read_msi(msi)})
    best = ref["4G"][0]
    reached = np.isfinite(best)
    assert reached.sum() > 10_000
    np.testing.assert_allclose(rsrp[reached], best[reached], atol=0.0051)
    # the pattern matters: boresight east, so the back (west) is far weaker than the front at equal range
    r, c = (int(round(float(v))) for v in terrain.grid.rowcol(*GRID.xy(80, 60)))
    assert np.nanmean(rsrp[r, c + 20:c + 30]) - np.nanmean(rsrp[r, c - 30:c - 20]) > 15


def test_area_candidates_operators_and_nbiot(dem, tmp_path):
    sites = _sites(tmp_path / "sites.csv", [
        dict(site="A1", cell="A1-1", row=40, col=40, op="Alpha"),
        dict(site="B1", cell="B1-1", row=120, col=60, op="Beta"),
        dict(site="C1", cell="C1-1", row=80, col=130, op="Beta", status="candidate"),
        dict(site="N1", cell="N1-1", row=60, col=60, op="Alpha", tech="NB-IoT", f=900)])
    area = tmp_path / "area.geojson"
    x0, y0 = GRID.transform @ (20, 20)      # cell corners: no cell centre lies on the boundary
    x1, y1 = GRID.transform @ (120, 140)
    poly = shapely.box(min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
    import geopandas as gpd
    gpd.GeoDataFrame({"name": ["area"]}, geometry=[poly], crs="EPSG:32648").to_file(area)
    out = tmp_path / "run"
    _run(["simulate", "--dem", str(dem), "--sites", str(sites), "--out", str(out), "--radius-km", "1.5",
          "--technologies", "4G,NB-IoT", "--per-operator", "--area", str(area), "--cache-dir", str(tmp_path / "c")])
    cells = pd.read_csv(out / "cells.csv", index_col="cell_index")
    assert "C1-1" not in set(cells["cell_id"])                          # candidates left out by default
    names = sorted(p.name for p in out.glob("covered_*.tif"))
    assert names == ["covered_4g.tif", "covered_4g_alpha.tif", "covered_4g_beta.tif", "covered_nbiot.tif",
                     "covered_nbiot_alpha.tif"]
    with rasterio.open(out / "covered_4g.tif") as src:
        covered, t = src.read(1), src.transform
    rows, cols = np.mgrid[0:covered.shape[0], 0:covered.shape[1]]
    inside = shapely.contains_xy(poly, t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e)
    assert (covered[~inside] == 255).all() and (covered[inside] != 255).all()
    read = {n: rasterio.open(out / f"rsrp_{n}.tif").read(1) for n in ("4g", "4g_alpha", "4g_beta", "nbiot")}
    np.testing.assert_array_equal(read["4g"], np.fmax(read["4g_alpha"], read["4g_beta"]))
    # NB-IoT: covered where coupling loss (power per RE - NRSRP) plus the 10.25 dB margin is at most 164 dB
    with rasterio.open(out / "covered_nbiot.tif") as src:
        nb = src.read(1)
    per_re = float(cells.loc[cells["technology"] == "NB-IoT", "power_per_re_dbm"].iloc[0])
    margin = 8.0 * 1.2815515655446004
    expect = np.isfinite(read["nbiot"]) & (per_re - read["nbiot"] + margin <= 164.0)
    np.testing.assert_array_equal(nb[inside] == 1, expect[inside])
    # NB-IoT has no dBm coverage level (its rule is the coupling loss): none is recorded, and the map says so
    import json
    assert set(json.loads((out / "run.json").read_text(encoding="utf-8"))["coverage_levels_dbm"]) == {"4G"}
    from phusong.coverage.network import Coverage
    from phusong.outputs.maps import TEXT, _legend
    legend = _legend(TEXT["en"], (), Coverage.from_run_folder(out).coverage_levels_dbm, "", 164.0)
    assert "4G -95 dBm" in legend and "NB-IoT: coupling loss ≤ 164 dB" in legend and "NB-IoT -" not in legend
    # with --include-candidates the candidate cell is simulated
    again = tmp_path / "with"
    _run(["simulate", "--dem", str(dem), "--sites", str(sites), "--out", str(again), "--radius-km", "1.5",
          "--include-candidates", "--cache-dir", str(tmp_path / "c")])
    assert "C1-1" in set(pd.read_csv(again / "cells.csv")["cell_id"])


@pytest.mark.slow
def test_dask_address_through_the_cli(dem, tmp_path):
    from dask.distributed import LocalCluster

    sites = _sites(tmp_path / "sites.csv", [dict(site=f"S{i}", cell=f"S{i}-1", row=30 + 25 * i, col=40 + 20 * i)
                                            for i in range(4)])
    args = ["simulate", "--dem", str(dem), "--sites", str(sites), "--radius-km", "1.5", "--technologies", "4G"]
    _run([*args, "--out", str(tmp_path / "local"), "--cache-dir", str(tmp_path / "c1")])
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                      dashboard_address=None) as cluster:
        _run([*args, "--out", str(tmp_path / "dask"), "--cache-dir", str(tmp_path / "c2"),
              "--dask-address", cluster.scheduler_address])
    for name in ("rsrp_4g.tif", "server_4g.tif", "sinr_4g.tif", "covered_4g.tif"):
        with rasterio.open(tmp_path / "local" / name) as a, rasterio.open(tmp_path / "dask" / name) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))


@pytest.mark.slow
def test_unreachable_dask_scheduler_is_one_clear_line(dem, tmp_path, monkeypatch):
    monkeypatch.setattr(distributed, "CONNECT_TIMEOUT", "2s")   # the same error, without waiting 20 s for it
    sites = _sites(tmp_path / "sites.csv", [dict(site="S1", cell="S1-1", row=80, col=80)])
    result = CliRunner().invoke(cli, ["simulate", "--dem", str(dem), "--sites", str(sites), "--radius-km", "1",
                                      "--out", str(tmp_path / "o"), "--dask-address", "tcp://127.0.0.1:9"])
    assert result.exit_code == 1
    assert result.output.strip().startswith("Error: cannot reach the Dask scheduler at tcp://127.0.0.1:9")
    assert "Traceback" not in result.output and not (tmp_path / "o").exists()


def test_vn2000_working_crs(dem):
    """VN-2000 / UTM zone 48N (EPSG:3405) as the working CRS: the same terrain, on a VN-2000 grid."""
    utm = CliRunner().invoke(cli, ["terrain", "info", str(dem), "--crs", "EPSG:32648", "--resolution-m", "30"])
    vn = CliRunner().invoke(cli, ["terrain", "info", str(dem), "--crs", "EPSG:3405", "--resolution-m", "30"])
    assert utm.exit_code == 0 and vn.exit_code == 0, vn.output
    assert "EPSG:3405" in vn.output
    mean = [float(line.split("mean ")[1]) for r in (utm, vn) for line in r.output.splitlines() if "mean" in line]
    assert abs(mean[0] - mean[1]) < 1.0 and math.isclose(mean[0], 100 + 60 * 5 / N, abs_tol=1.0)


def test_rasters_option_writes_only_what_is_asked_and_changes_no_value(dem, tmp_path):
    sites = _sites(tmp_path / "s.csv", [{"site": "A", "cell": "A1", "row": 80, "col": 60},
                                        {"site": "B", "cell": "B1", "row": 40, "col": 120, "tech": "5G", "f": 3500}])
    common = ["simulate", "--dem", str(dem), "--sites", str(sites), "--radius-km", "2", "--crs", "EPSG:32648"]
    _run([*common, "--out", str(tmp_path / "all")])
    _run([*common, "--rasters", "covered,rsrp", "--out", str(tmp_path / "few")])
    assert sorted(p.name for p in (tmp_path / "few").glob("*_*.tif")) == \
        ["covered_4g.tif", "covered_5g.tif", "rsrp_4g.tif", "rsrp_5g.tif"]
    for name in ("covered_4g.tif", "covered_5g.tif", "rsrp_4g.tif", "rsrp_5g.tif"):
        with rasterio.open(tmp_path / "all" / name) as a, rasterio.open(tmp_path / "few" / name) as b:
            np.testing.assert_array_equal(a.read(1), b.read(1))
    for bad in ("rsrp,sinr", "covered,sinr", "covered,rsrp,signal"):
        result = CliRunner().invoke(cli, [*common, "--rasters", bad, "--out", str(tmp_path / "bad")])
        assert result.exit_code == 2 and "including covered and rsrp" in result.output and "--rasters" in result.output
    assert not (tmp_path / "bad").exists()


def test_indoor_coverage_with_p2109_building_entry_loss(dem, tmp_path):
    """`--indoor traditional:50`: a cell counts as covered where its outdoor signal, less ITU-R P.2109-1's
    median entry loss at that cell's frequency (written out by hand), clears the level by the margin."""
    from .test_clutter_models import TABLE_1, _p2109_by_hand

    sites = _sites(tmp_path / "s.csv", [{"site": "A", "cell": "A1", "row": 80, "col": 60},
                                        {"site": "B", "cell": "B1", "row": 40, "col": 120, "tech": "5G", "f": 3500}])
    common = ["simulate", "--dem", str(dem), "--sites", str(sites), "--radius-km", "2.5", "--crs", "EPSG:32648"]
    _run([*common, "--out", str(tmp_path / "out")])
    _run([*common, "--indoor", "traditional:50", "--out", str(tmp_path / "in")])
    margin = 8.0 * 1.2815515655446004
    for tech, f_ghz in (("4g", 1.8), ("5g", 3.5)):
        with rasterio.open(tmp_path / "out" / f"rsrp_{tech}.tif") as src:
            rsrp = src.read(1)
        with rasterio.open(tmp_path / "in" / f"rsrp_{tech}.tif") as src:
            np.testing.assert_array_equal(src.read(1), rsrp)              # the rasters stay outdoor signal
        with rasterio.open(tmp_path / "in" / f"covered_{tech}.tif") as src:
            covered = src.read(1)
        loss = _p2109_by_hand(f_ghz, 50.0, TABLE_1["traditional"], 0.0)
        expect = np.isfinite(rsrp) & (rsrp - loss >= -105.0 + margin)
        np.testing.assert_array_equal(covered == 1, expect)
        assert 0 < expect.sum() < (np.isfinite(rsrp) & (rsrp >= -105.0 + margin)).sum()   # indoors covers less
    from phusong.coverage.network import Coverage
    from phusong.outputs.maps import TEXT, _legend
    from phusong.settings import parse_indoor
    indoor = parse_indoor(Coverage.from_run_folder(tmp_path / "in").settings.coverage.indoor)
    assert "Indoors: less ITU-R P.2109 building entry loss (traditional, 50% of buildings)" in \
        _legend(TEXT["en"], (), {}, "", None, indoor)
    for bad, why in ((["--indoor", "glass:50"], "indoor must be 'BUILDING:P'"),
                     (["--indoor", "traditional:50", "--indoor-loss-db", "10"], "not both")):
        result = CliRunner().invoke(cli, [*common, *bad, "--out", str(tmp_path / "bad")])
        assert result.exit_code == 2 and why in result.output, result.output


def test_p2108_clutter_loss_at_the_receiver(dem, tmp_path):
    """`--clutter p2108`: each cell's signal is the clutter-free signal less P.2108-1 §3.2's median loss at
    its distance from the site (at least 0.25 km), written out by hand; the cached terrain passes are shared."""
    from .test_clutter_models import _p2108_by_hand

    sites = _sites(tmp_path / "s.csv", [{"site": "A", "cell": "A1", "row": 80, "col": 60, "tech": "5G", "f": 3500}])
    common = ["simulate", "--dem", str(dem), "--sites", str(sites), "--radius-km", "2", "--crs", "EPSG:32648",
              "--cache-dir", str(tmp_path / "c")]
    _run([*common, "--out", str(tmp_path / "open")])
    result = _run([*common, "--clutter", "p2108", "--out", str(tmp_path / "clutter")])
    assert "1 from the cache" in result.output
    with rasterio.open(tmp_path / "open" / "rsrp_5g.tif") as a, rasterio.open(tmp_path / "clutter" / "rsrp_5g.tif") as b:
        open_, clut, t = a.read(1), b.read(1), a.transform
    x_tx, y_tx = GRID.xy(80, 60)
    rows, cols = np.nonzero(np.isfinite(open_))
    pick = np.random.default_rng(5).choice(len(rows), 300, replace=False)
    for r, c in zip(rows[pick], cols[pick]):
        x, y = t.c + (c + 0.5) * t.a, t.f + (r + 0.5) * t.e
        d_km = max(math.hypot(x - x_tx, y - y_tx) / 1000.0, 0.25)
        assert open_[r, c] - clut[r, c] == pytest.approx(_p2108_by_hand(3.5, d_km, 50.0), abs=0.011)   # 0.01 dB steps
