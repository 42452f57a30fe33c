"""`phusong calibrate` and `simulate --calibration`: against a known synthetic truth (a different model, per-class
offsets, a slope and correlated shadowing), closed-form Lee bins, exact zero and constant-bias cases, and the
correction applied by `simulate` pixel by pixel. Every measurement file here is labelled synthetic."""
from __future__ import annotations

import json
import math
import tomllib
import warnings

import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from click.testing import CliRunner

import phusong
from phusong._tables import toml_text
from phusong.cli import cli
from phusong.coverage.cells import prepare_cells
from phusong.coverage.points import signal_at
from phusong.errors import InputError
from phusong.measurements.calibrate import (Filters, calibrate, fold_of, lee_average, lee_bins, ridge_fit,
                                            routes_of)
from phusong.propagation.correction import LossCorrection
from phusong.propagation.hata import okumura_hata_db
from phusong.propagation.p525 import free_space_loss_db
from phusong.settings import Settings, read_calibration

from . import calibration_truth as T

FREE_SPACE = Settings().replace(model={"name": "free-space", "radius_km": 15.0})
NO_FLOOR = Filters(noise_floor_dbm=-170.0)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("calibration")
    dem, sites_csv, lc = T.write_flat_dem(d / "dem.tif"), T.write_sites(d / "sites.csv"), T.write_class_map(d / "lc.tif")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        terrain = phusong.load_terrain(dem, "EPSG:32648", 30.0)
    return {"dir": d, "dem": dem, "sites_csv": sites_csv, "lc": lc, "terrain": terrain,
            "sites": phusong.read_sites(sites_csv), "classes": T.class_map()}


@pytest.fixture(scope="module")
def drive(world):
    rng = np.random.default_rng(3)
    x, y, routes = T.drive(rng)
    return x, y, routes, T.nearest_site(x, y), rng


def _predicted(world, x, y, serving, settings=FREE_SPACE):
    cells = prepare_cells(world["sites"], world["terrain"].array, world["terrain"].grid, settings)
    return signal_at(world["terrain"].array, world["terrain"].grid, cells, serving, x, y, settings)["rsrp_dbm"].to_numpy()


# ---------------------------------------------------------------------------------------------- the correction
def test_correction_by_hand_clamped_and_round_tripped():
    c = LossCorrection("free-space", offset_db=6.0, slope_db_per_decade=10.0, reference_distance_km=2.0,
                       distance_range_km=(0.5, 8.0), class_offsets_db={10: 3.0, 50: -1.5})
    d = np.array([2.0, 4.0, 20.0, 0.1, 4.0, 4.0])
    classes = np.array([10, 0, 10, 50, 30, 50])
    expected = [6 + 3, 6 + 10 * math.log10(2), 6 + 10 * math.log10(4) + 3, 6 + 10 * math.log10(0.25) - 1.5,
                6 + 10 * math.log10(2), 6 + 10 * math.log10(2) - 1.5]
    assert c.loss_db(d, classes) == pytest.approx(expected, abs=1e-12)
    assert c.loss_db(d) == pytest.approx([e - o for e, o in zip(expected, [3, 0, 3, -1.5, 0, -1.5])], abs=1e-12)
    again = LossCorrection.from_dict(tomllib.loads(toml_text({"correction": c.to_dict()}))["correction"])
    assert again == c and again.needs_landcover and not LossCorrection("free-space").needs_landcover
    # codes between, below and above the calibrated ones have no offset of their own
    assert c.class_offset_db(np.array([5, 10, 30, 50, 80, 255])).tolist() == [0.0, 3.0, 0.0, -1.5, 0.0, 0.0]
    for bad in ({"offset_db": 1}, {"model": "free-space", "offset": 1},
                {"model": "free-space", "distance_range_km": [5, 1]}, {"model": "free-space", "offset_db": "x"}):
        with pytest.raises(InputError):
            LossCorrection.from_dict(bad)


def test_toml_text_reads_back():
    tables = {"a": {"x": 1, "y": 2.5, "s": 'say "hi" \\ <b>', "l": [1.0, 2.0], "b": True,
                    "sub": {"10": -1.25, "odd key": "v"}}, "z": {"n": float("nan")}}
    back = tomllib.loads(toml_text(tables, ["a comment"]))
    assert back["a"] == tables["a"] and math.isnan(back["z"]["n"])


# ---------------------------------------------------------------------------------------------- Lee bins
def test_lee_bins_by_hand():
    # 40 samples 1 m apart on one route, alternating between two cells; 1,500 MHz: 40λ = 7.9945 m
    n = 40
    x, y = np.arange(n, dtype=float), np.zeros(n)
    cell = np.arange(n) % 2
    wavelength = 299_792_458.0 / 1.5e9
    ids = lee_bins(np.full(n, "R"), x, y, np.arange(n), cell, np.full(n, wavelength))
    index = np.floor(np.arange(n) / (40 * wavelength)).astype(int)         # 0 0 0 0 0 0 0 0 1 1 ...
    for i in range(n):
        for j in range(n):
            assert (ids[i] == ids[j]) == (index[i] == index[j] and cell[i] == cell[j])
    assert len(np.unique(ids)) == 2 * len(np.unique(index))
    # two routes never share a bin; order is by the time order given, not by file order
    ids2 = lee_bins(np.array(["A", "B"] * 3), np.zeros(6), np.zeros(6), np.arange(6), np.zeros(6), np.full(6, 1.0))
    assert len(np.unique(ids2)) == 2
    # in time order (rows 0, 2, 3, 1) the car travels 0, 10, 20, 30 m: bins of 40λ = 20 m are {0, 2} and {3, 1}
    # (in file order it would travel 0, 30, 50, 60 m: four bins)
    mixed = lee_bins(np.full(4, "R"), np.array([0.0, 30.0, 10.0, 20.0]), np.zeros(4), np.array([0, 2, 3, 1]),
                     np.zeros(4), np.full(4, 0.5))
    assert mixed[0] == mixed[2] != mixed[3] == mixed[1]


def test_lee_average_is_a_power_mean():
    table = pd.DataFrame({"bin": [0, 0, 1], "route": "R", "cell_index": 0, "measured": [-90.0, -100.0, -80.0],
                          "predicted": [-95.0, -95.0, -70.0], "log_d": [0.0, 0.2, 0.5], "x": [0.0, 2.0, 5.0],
                          "y": [1.0, 1.0, 1.0], "landcover_class": [10, 10, 30]})
    bins = lee_average(table)
    assert bins["measured_dbm"].tolist() == pytest.approx([10 * math.log10((1e-9 + 1e-10) / 2), -80.0], abs=1e-12)
    assert bins["predicted_dbm"].tolist() == pytest.approx([-95.0, -70.0], abs=1e-12)
    assert bins["samples"].tolist() == [2, 1] and bins["log_distance"].tolist() == pytest.approx([0.1, 0.5])
    assert bins["landcover_class"].tolist() == [10, 30] and bins["x"].tolist() == [1.0, 5.0]


def test_routes_cut_at_time_gaps_and_jumps():
    t0 = pd.Timestamp("2026-03-01T08:00:00Z")
    s = pd.DataFrame({"row": [1, 2, 3, 4, 5, 6],
                      "time": [t0, t0 + pd.Timedelta(seconds=5), t0 + pd.Timedelta(minutes=11),
                               t0 + pd.Timedelta(minutes=11, seconds=2), t0 + pd.Timedelta(minutes=11, seconds=4),
                               pd.NaT]})
    x = np.array([0.0, 50.0, 100.0, 150.0, 3000.0, 3010.0])
    routes = routes_of(s, x, np.zeros(6))
    assert routes[0] == routes[1] != routes[2] == routes[3] != routes[4] == routes[5]
    assert list(routes_of(s.assign(route=list("aabbcc")), x, np.zeros(6))) == list("aabbcc")


def test_folds_keep_groups_whole_and_balanced():
    groups = np.array(["a"] * 5 + ["b"] * 3 + ["c"] * 3 + ["d"] * 1)
    fold = fold_of(groups, 2)
    for g in np.unique(groups):
        assert len(set(fold[groups == g])) == 1
    assert sorted(np.bincount(fold).tolist()) == [6, 6]
    assert fold_of(groups, 10).max() == 3         # never more folds than groups


def test_ridge_fit_matches_the_normal_equations_and_a_jackknife_by_hand():
    rng = np.random.default_rng(0)
    X = np.column_stack([np.ones(8), rng.normal(size=8)])
    e = rng.normal(size=8)
    clusters = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    beta, cov = ridge_fit(X, e, np.zeros(2), clusters)
    assert beta == pytest.approx(np.linalg.lstsq(X, e, rcond=None)[0], abs=1e-12)
    # the jackknife by hand: refit without each cluster with lstsq
    loo = np.array([np.linalg.lstsq(X[clusters != g], e[clusters != g], rcond=None)[0] for g in range(4)])
    d = loo - loo.mean(axis=0)
    assert cov == pytest.approx(3 / 4 * d.T @ d, abs=1e-12)
    # one column of ones: beta is the mean; the jackknife of a mean over equal clusters is the CR1-free
    # (G-1)/G sum (mean without g - mean of those)^2
    b1, c1 = ridge_fit(np.ones((8, 1)), e, np.zeros(1), clusters)
    means = np.array([e[clusters != g].mean() for g in range(4)])
    assert b1[0] == pytest.approx(e.mean()) and c1[0, 0] == pytest.approx(3 / 4 * ((means - means.mean()) ** 2).sum())
    # without clusters: sigma^2 (X'X)^-1
    _, plain = ridge_fit(X, e, np.zeros(2))
    r = e - X @ beta
    assert plain == pytest.approx(r @ r / 6 * np.linalg.inv(X.T @ X), abs=1e-12)
    # a penalty shrinks a coefficient by n/(n + lambda) when its column is alone
    b2, _ = ridge_fit(np.ones((8, 1)), np.full(8, 2.0), np.array([8.0]))
    assert b2[0] == pytest.approx(2.0 * 8 / 16)


# ---------------------------------------------------------------------------------------------- calibration
def test_perfect_prediction_gives_zero_correction(world, drive):
    x, y, routes, serving, _ = drive
    predicted = _predicted(world, x, y, serving)
    cal = calibrate(T.as_samples(x, y, serving, predicted, routes), world["sites"], world["terrain"], FREE_SPACE,
                    landcover=world["classes"], filters=NO_FLOOR)
    c = cal.correction
    assert abs(c.offset_db) < 1e-9 and abs(c.slope_db_per_decade) < 1e-9
    assert set(c.class_offsets_db) == {10, 30, 50} and max(map(abs, c.class_offsets_db.values())) < 1e-9
    assert np.abs(cal.bins["error_db"]).max() < 1e-9 and np.abs(cal.bins["error_after_db"]).max() < 1e-9


def test_constant_bias_is_returned_exactly(world, drive):
    x, y, routes, serving, _ = drive
    measured = _predicted(world, x, y, serving) - 7.25          # the model promises 7.25 dB too much
    cal = calibrate(T.as_samples(x, y, serving, measured, routes), world["sites"], world["terrain"], FREE_SPACE,
                    landcover=world["classes"], filters=NO_FLOOR, cv="cell")
    c = cal.correction
    assert c.offset_db == pytest.approx(7.25, abs=1e-9) and abs(c.slope_db_per_decade) < 1e-9
    assert max(map(abs, c.class_offsets_db.values())) < 1e-9
    assert cal.overall("before")["mean_db"] == pytest.approx(7.25, abs=1e-9)
    assert cal.overall("after")["rmse_db"] < 1e-9 and cal.cv == "cell" and cal.folds == 5


def test_recovers_a_known_truth_within_its_uncertainty(world, drive):
    """Truth: Okumura-Hata + class offsets + 6 dB shadowing correlated over 50 m; model: free space. Their
    difference is exactly an offset and a slope in log-distance (Hata's (44.9 − 6.55 log hb) dB/decade
    against free space's 20), so the fit must find those, and each class's offset on top."""
    x, y, routes, serving, rng = drive
    measured = T.true_rsrp_dbm(x, y, serving, rng, sigma_db=6.0, corr_m=50.0, routes=routes)
    cal = calibrate(T.as_samples(x, y, serving, measured, routes), world["sites"], world["terrain"], FREE_SPACE,
                    landcover=world["classes"], filters=NO_FLOOR)
    c, se = cal.correction, cal.standard_errors
    true_slope = 44.9 - 6.55 * math.log10(T.HEIGHT_M) - 20.0
    assert 0 < se["slope_db_per_decade"] < 1.0
    assert abs(c.slope_db_per_decade - true_slope) < 3 * se["slope_db_per_decade"]
    d_ref = c.reference_distance_km
    base = float(okumura_hata_db(T.FREQ_MHZ, d_ref, T.HEIGHT_M, 1.5)
                 - free_space_loss_db(math.hypot(d_ref, (T.HEIGHT_M - 1.5) / 1000), T.FREQ_MHZ))
    for code, offset in T.CLASS_OFFSETS_DB.items():
        fitted, sigma = c.offset_db + c.class_offsets_db[code], se["class_total_db"][str(code)]
        assert 0 < sigma < 1.0
        assert abs(fitted - (base + offset)) < 3 * sigma, (code, fitted, base + offset, sigma)
    before, after = cal.overall("before"), cal.overall("after")
    assert after["rmse_db"] < 0.2 * before["rmse_db"]
    assert abs(after["mean_db"]) < 0.5 and 5.0 < after["sd_db"] < 7.0       # what is left is the 6 dB shadowing
    assert after["within_6db_pct"] > 60
    by_class = cal.summary[cal.summary["scope"] == "class"].set_index("group")
    assert set(by_class.index) == {"10", "30", "50"} and (by_class["after_rmse_db"] < 7.0).all()
    assert set(cal.summary["scope"]) == {"all", "class", "cell", "route", "distance"}


def test_filters_are_counted(world):
    sx, sy = np.array(T.site_positions()).T
    x = np.array([sx[0] + 1000, sx[0] + 50, sx[0] + 1500, sx[0] + 2000, sx[0] + 2500, T.X0 - 5000, sx[0] + 3000])
    y = np.full(7, sy[0])
    pred = _predicted(world, x[:5], y[:5], np.zeros(5, int))
    samples = T.as_samples(x, y, np.zeros(7, int), np.concatenate([pred, [-80.0, -80.0]]), np.full(7, "R"))
    samples.loc[2, "signal_dbm"] = -140.0              # RSRP_00, "below -140 dBm" (TS 36.133 Table 9.1.4-1)
    samples.loc[3, "metric"] = "rssi"
    samples.loc[4, "technology"] = "5G"
    samples.loc[4, "metric"] = "ss_rsrp"
    with pytest.raises(InputError, match="only 2 bin"):
        calibrate(samples, world["sites"], world["terrain"], FREE_SPACE)
    samples = pd.concat([samples, T.as_samples(x[:1] + 300, y[:1], [0], [-90.0], ["R"])], ignore_index=True)
    cal = calibrate(samples, world["sites"], world["terrain"], FREE_SPACE)
    assert cal.counts == {"samples read": 8, "left out: RSSI samples (not comparable with RSRP)": 1,
                          "left out: technology differs from the serving cell's": 1,
                          "left out: off the terrain or beyond the model radius": 1,
                          "left out: closer than 100 m to the site": 1,
                          "left out: at or below the receiver floor": 1, "bins": 3, "bins used": 3,
                          "samples used": 3, "median samples per bin": 1}
    assert "one route only: the errors after are in-sample, not cross-validated" in cal.notes
    assert any("median of 1 sample(s): fast fading is not averaged out" in n and "2.5 dB" in n for n in cal.notes)
    assert any("1 route(s): standard errors from fewer than 20 routes are rough" in n for n in cal.notes)
    unknown = samples.assign(cell_id=["S0-L9"] * 7 + ["NOPE"])
    with pytest.raises(InputError, match="row 1, column cell_id: 'NOPE'"):
        calibrate(unknown, world["sites"], world["terrain"], FREE_SPACE)


# ---------------------------------------------------------------------------------------------- CLI
def _calibrate_cli(world, drive_csv, out, *extra):
    return CliRunner().invoke(cli, ["calibrate", "--measurements", str(drive_csv), "--sites", str(world["sites_csv"]),
                                    "--dem", str(world["dem"]), "--model", "free-space", "--out", str(out), "-q",
                                    *extra])


def test_cli_writes_the_calibration_and_a_safe_report(world, drive, tmp_path):
    x, y, routes, serving, rng = drive
    keep = slice(0, 8000)
    measured = T.true_rsrp_dbm(x[keep], y[keep], serving[keep], rng, routes=routes[keep])
    drive_csv = T.measurements_csv(tmp_path / "drive.csv", x[keep], y[keep], serving[keep], measured,
                                   [f"<img src=x onerror=alert(1)>{r}" for r in routes[keep]])
    out, report = tmp_path / "CALIB.toml", tmp_path / "report"
    result = _calibrate_cli(world, drive_csv, out, "--landcover", str(world["lc"]), "--report", str(report),
                            "--noise-floor-dbm", "-170")
    assert result.exit_code == 0, result.output
    assert "cross-validated by route (5 folds)" in result.output and "DEMONSTRATION" in result.output
    data = tomllib.loads(out.read_text(encoding="utf-8"))
    cal = read_calibration(out)
    assert cal.model == "free-space" and set(cal.class_offsets_db) == {10, 30, 50}
    assert data["fit"]["samples_read"] == 8000 and data["demonstration"]["reasons"]
    assert data["sources"]["sha256"]["measurements"] and data["cross_validation"]["after"]["rmse_db"] < 8
    page = (report / "report.html").read_text(encoding="utf-8")
    assert "DEMONSTRATION" in page and "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    bins = pyogrio.read_dataframe(report / "bins.gpkg", layer="bins")
    assert len(bins) == data["fit"]["bins_used"] and bins["demonstration"].str.contains("synthetic").all()
    assert {"error_vs_distance.png", "predicted_vs_measured.png", "summary.csv"} <= {p.name for p in report.iterdir()}
    again = _calibrate_cli(world, drive_csv, out)
    assert again.exit_code == 2 and "exists" in again.output


def test_cli_bad_measurements_exit_2_naming_file_row_and_field(world, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("# SYNTHETIC\nlon,lat,rsrp_dbm,cell_id\n106.5,21.5,-90,S0-L9\n106.5,21.5,-90,S9-X\n")
    result = _calibrate_cli(world, bad, tmp_path / "c.toml")
    assert result.exit_code == 2
    assert f"{bad}: 1 problem(s) in the measurements: row 2, column cell_id: not a cell of the site list" \
           in result.output
    assert not (tmp_path / "c.toml").exists()


# ---------------------------------------------------------------------------------------------- simulate
def test_simulate_applies_the_calibration_pixel_by_pixel(world, tmp_path):
    cal = LossCorrection("free-space", offset_db=12.5, slope_db_per_decade=8.0, reference_distance_km=2.0,
                         distance_range_km=(0.5, 6.0), class_offsets_db={10: 4.0, 50: -2.0})
    calib = tmp_path / "CALIB.toml"
    calib.write_text(toml_text({"correction": cal.to_dict()}), encoding="utf-8")
    one_site = tmp_path / "one.csv"
    rows = world["sites_csv"].read_text().splitlines()
    one_site.write_text("\n".join(rows[:2] + [rows[-1]]) + "\n")       # the comment, the header, the centre site
    base = ["simulate", "--dem", str(world["dem"]), "--sites", str(one_site), "--model", "free-space",
            "--radius-km", "7", "--tech", "4G", "-q"]
    runner = CliRunner()
    assert runner.invoke(cli, base + ["--out", str(tmp_path / "raw")]).exit_code == 0
    result = runner.invoke(cli, base + ["--out", str(tmp_path / "cal"), "--calibration", str(calib),
                                        "--landcover", str(world["lc"])])
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "raw" / "rsrp_4g.tif") as a, rasterio.open(tmp_path / "cal" / "rsrp_4g.tif") as b:
        raw, calibrated, transform = a.read(1), b.read(1), a.transform
    rows_, cols_ = np.nonzero(np.isfinite(raw))
    px, py = rasterio.transform.xy(transform, rows_, cols_)
    sx, sy = T.site_positions()[-1]
    d_km = np.hypot(np.asarray(px) - sx, np.asarray(py) - sy) / 1000.0
    classes = world["classes"][((T.Y0 - np.asarray(py)) // T.RES).astype(int), ((np.asarray(px) - T.X0) // T.RES).astype(int)]
    by_hand = 12.5 + 8.0 * (np.log10(np.clip(d_km, 0.5, 6.0)) - math.log10(2.0)) + \
        np.select([classes == 10, classes == 50], [4.0, -2.0], 0.0)
    diff = raw[rows_, cols_] - calibrated[rows_, cols_]
    assert np.abs(diff - by_hand).max() < 0.011          # terrain passes are kept in 0.01 dB steps
    record = json.loads((tmp_path / "cal" / "run.json").read_text(encoding="utf-8"))
    assert record["settings"]["model"]["calibration"]["offset_db"] == 12.5
    assert phusong.Coverage.from_run_folder(tmp_path / "cal").settings.model.calibration.class_offsets_db[10] == 4.0

    other_model = runner.invoke(cli, base[:5] + ["--radius-km", "7", "--tech", "4G", "-q", "--out",
                                                 str(tmp_path / "x"), "--calibration", str(calib)])
    assert other_model.exit_code == 2
    assert "fitted to free-space without clutter; this run uses delta-bullington without clutter" in other_model.output
    no_landcover = runner.invoke(cli, base + ["--out", str(tmp_path / "y"), "--calibration", str(calib)])
    assert no_landcover.exit_code == 2 and "--landcover" in no_landcover.output
    missing = runner.invoke(cli, base + ["--out", str(tmp_path / "z"), "--calibration", str(tmp_path / "no.toml")])
    assert missing.exit_code == 2 and "no.toml: no such file" in missing.output


def test_landcover_is_resampled_by_majority(tmp_path):
    from affine import Affine

    from phusong._raster import Grid
    from phusong.data.landcover import read_landcover

    src = np.zeros((6, 6), np.uint8)
    src[:3, :3] = [[10, 10, 30], [10, 30, 30], [10, 10, 0]]     # 10 wins (5 of 9, nodata not counted)
    src[:3, 3:] = [[50, 50, 50], [30, 30, 30], [30, 50, 80]]    # 30 and 50 tie at 4: either is a majority
    src[3:, :3] = 80
    src[3:, 3:] = [[0, 0, 0], [0, 0, 0], [0, 0, 20]]            # only nodata but one: 20
    path = tmp_path / "lc.tif"
    with rasterio.open(path, "w", driver="GTiff", width=6, height=6, count=1, dtype="uint8", crs="EPSG:32648",
                       transform=Affine(10, 0, 500_000, 0, -10, 2_400_000), nodata=0) as ds:
        ds.write(src[None])
    grid = Grid(2, 2, Affine(30, 0, 500_000, 0, -30, 2_400_000), rasterio.crs.CRS.from_epsg(32648))
    out = read_landcover(path, grid)
    assert out[0, 0] == 10 and out[1, 0] == 80 and out[1, 1] == 20 and out[0, 1] in (30, 50)
    for name, cols, x0 in (("west.tif", slice(0, 3), 500_000), ("east.tif", slice(3, 6), 500_030)):   # tiles
        with rasterio.open(tmp_path / name, "w", driver="GTiff", width=3, height=6, count=1, dtype="uint8",
                           crs="EPSG:32648", transform=Affine(10, 0, x0, 0, -10, 2_400_000), nodata=0) as ds:
            ds.write(np.ascontiguousarray(src[:, cols])[None])
    tiles = read_landcover([tmp_path / "west.tif", tmp_path / "east.tif"], grid)
    assert tiles[0, 0] == 10 and tiles[1, 0] == 80 and tiles[1, 1] == 20 and tiles[0, 1] == out[0, 1]
    floats = tmp_path / "f.tif"
    with rasterio.open(floats, "w", driver="GTiff", width=6, height=6, count=1, dtype="float32", crs="EPSG:32648",
                       transform=Affine(10, 0, 500_000, 0, -10, 2_400_000)) as ds:
        ds.write(src[None].astype(np.float32))
    with pytest.raises(InputError, match="integer class codes"):
        read_landcover(floats, grid)
    with pytest.raises(InputError, match="no such file"):
        read_landcover(tmp_path / "none.tif", grid)


def test_a_scenario_names_the_calibration_and_land_cover_relative_to_itself(tmp_path):
    (tmp_path / "cal").mkdir()
    cal = LossCorrection("3gpp-rma", offset_db=3.0)
    (tmp_path / "cal" / "CALIB.toml").write_text(toml_text({"correction": cal.to_dict()}), encoding="utf-8")
    scenario = tmp_path / "study.toml"
    scenario.write_text('[inputs]\nlandcover = "lc.tif"\n[model]\nname = "3gpp-rma"\ncalibration = "cal/CALIB.toml"\n')
    s = Settings.from_toml(scenario)
    assert s.model.calibration.offset_db == 3.0 and s.model.calibration.source == str(tmp_path / "cal" / "CALIB.toml")
    assert s.inputs.landcover == tmp_path / "lc.tif"
    assert Settings.from_dict(s.to_dict()).model.calibration == s.model.calibration   # run.json round trip
    scenario.write_text('[model]\ncalibration = "cal/CALIB.toml"\n')
    with pytest.raises(InputError, match="fitted to 3gpp-rma without clutter; this run uses delta-bullington without clutter"):
        Settings.from_toml(scenario)
    (tmp_path / "cal" / "CALIB.toml").write_text("[correction]\noffset_db = 1\n")
    with pytest.raises(InputError, match="CALIB.toml: not a calibration"):
        Settings.from_dict({"model": {"calibration": str(tmp_path / "cal" / "CALIB.toml")}})


def test_cross_validation_predicts_each_route_from_the_others(world, drive):
    """Two routes, the model 5 dB optimistic on one and 5 dB pessimistic on the other: each route's fold is
    fitted on the other alone, so every error after is exactly ±10 dB (an in-sample fit would leave ±5)."""
    x, y, routes, serving, _ = drive
    two = np.isin(routes, ["R00", "R01"])
    bias = np.where(routes[two] == "R00", 5.0, -5.0)
    measured = _predicted(world, x[two], y[two], serving[two]) - bias
    cal = calibrate(T.as_samples(x[two], y[two], serving[two], measured, routes[two]), world["sites"],
                    world["terrain"], FREE_SPACE, filters=NO_FLOOR)
    after = cal.bins.set_index("route")["error_after_db"]
    assert cal.folds == 2 and np.allclose(after["R00"], 10.0, atol=1e-9) and np.allclose(after["R01"], -10.0, atol=1e-9)


def test_fast_fading_is_averaged_out_in_time_order(world):
    """Rayleigh fading on samples 0.5 m apart (27 per 40λ bin at 900 MHz), rows shuffled but timed: the
    Lee bins follow the time, and the offset and slope come back within 3 standard errors (in file order,
    or one sample per bin, the offset would read about 2.5 dB high). The standard errors (delete-one-route
    jackknife) are wider than the naive ones that treat correlated bins as independent."""
    rng = np.random.default_rng(10)
    x, y, routes = T.drive(rng, routes=40, km_per_route=1.6, step_m=0.5)
    serving = T.nearest_site(x, y)
    measured = T.true_rsrp_dbm(x, y, serving, rng, corr_m=200.0, step_m=0.5, routes=routes, fading=True,
                               class_offsets={10: 0.0, 30: 0.0, 50: 0.0})
    samples = T.as_samples(x, y, serving, measured, routes)
    samples["time"] = pd.Timestamp("2026-03-01T08:00:00Z") + pd.to_timedelta(np.arange(len(x)) * 40, unit="ms")
    samples = samples.sample(frac=1.0, random_state=1).reset_index(drop=True)
    samples["row"] = np.arange(1, len(samples) + 1)
    cal = calibrate(samples, world["sites"], world["terrain"], FREE_SPACE, filters=NO_FLOOR)
    c, se = cal.correction, cal.standard_errors
    assert cal.counts["median samples per bin"] >= 20
    d_ref = c.reference_distance_km
    base = float(okumura_hata_db(T.FREQ_MHZ, d_ref, T.HEIGHT_M, 1.5)
                 - free_space_loss_db(math.hypot(d_ref, (T.HEIGHT_M - 1.5) / 1000), T.FREQ_MHZ))
    assert se["offset_db"] < 0.6 and abs(c.offset_db - base) < 3 * se["offset_db"], (c.offset_db, base, se)
    true_slope = 44.9 - 6.55 * math.log10(T.HEIGHT_M) - 20.0
    assert abs(c.slope_db_per_decade - true_slope) < 3 * se["slope_db_per_decade"]
    # naive (independent-bins) standard errors from the same bins, by the same normal equations
    X = np.column_stack([np.ones(len(cal.bins)), np.log10(cal.bins["distance_km"]) - math.log10(d_ref)])
    _, naive = ridge_fit(X, cal.bins["error_db"].to_numpy(), np.zeros(2))
    assert se["offset_db"] > 1.5 * math.sqrt(naive[0, 0])
    cov = cal.covariance
    assert list(cov.index) == ["offset_db", "slope_db_per_decade"]
    assert math.sqrt(cov.loc["offset_db", "offset_db"]) == pytest.approx(se["offset_db"])


def test_class_totals_carry_the_covariance(world, drive):
    x, y, routes, serving, rng = drive
    measured = T.true_rsrp_dbm(x, y, serving, np.random.default_rng(9), routes=routes)
    cal = calibrate(T.as_samples(x, y, serving, measured, routes), world["sites"], world["terrain"], FREE_SPACE,
                    landcover=world["classes"], filters=NO_FLOOR)
    v = cal.covariance
    for code in (10, 30, 50):
        k = f"class_{code}_db"
        by_hand = math.sqrt(v.loc["offset_db", "offset_db"] + v.loc[k, k] + 2 * v.loc["offset_db", k])
        assert cal.standard_errors["class_total_db"][str(code)] == pytest.approx(by_hand)
        assert abs(v.loc["offset_db", k]) > 1e-6        # the offset and the class offsets are correlated


def test_csv_cells_that_a_spreadsheet_would_run_are_neutralised(tmp_path):
    from phusong._tables import write_csv

    df = pd.DataFrame({"route": ["=HYPERLINK(\"http://x\")", "+1+1", "-97.5", "@SUM(A1)", "Đồng Đăng", "-"],
                       "value": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]})
    write_csv(df, tmp_path / "t.csv")
    back = pd.read_csv(tmp_path / "t.csv", encoding="utf-8-sig", keep_default_na=False, dtype=str)
    assert back["route"].tolist() == ["'=HYPERLINK(\"http://x\")", "'+1+1", "-97.5", "'@SUM(A1)", "Đồng Đăng", "'-"]
    assert df["route"].iloc[0].startswith("=")        # the caller's frame is untouched


def test_a_calibration_fitted_to_demonstration_inputs_labels_the_runs_it_corrects(tmp_path):
    """A calibration file with a [demonstration] table (fitted on synthetic terrain or measurements) makes every run
    it corrects a demonstration, with the reason named; run.json's settings keep it; a plain one adds none."""
    from types import SimpleNamespace

    from phusong.pipeline import demonstration_reasons
    from phusong.settings import Settings

    cal = LossCorrection("delta-bullington", offset_db=3.0)
    demo, plain = tmp_path / "demo.toml", tmp_path / "plain.toml"
    demo.write_text(toml_text({"correction": cal.to_dict(), "demonstration": {"reasons": [
        "dem.tif: synthetic terrain", "drive.csv: synthetic measurements"]}}), encoding="utf-8")
    plain.write_text(toml_text({"correction": cal.to_dict()}), encoding="utf-8")
    real_terrain, real_sites = SimpleNamespace(synthetic=()), pd.DataFrame()
    settings = Settings.from_dict({"model": {"calibration": str(demo)}})
    assert demonstration_reasons(real_terrain, real_sites, settings) == (
        "demo.toml: a calibration fitted to demonstration inputs (dem.tif: synthetic terrain; drive.csv: synthetic "
        "measurements)",)
    assert demonstration_reasons(real_terrain, real_sites, Settings.from_dict({"model": {"calibration": str(plain)}})) \
        == ()
    assert Settings.from_dict(settings.to_dict()).model.calibration == settings.model.calibration   # (run.json)


def test_a_calibration_of_one_technology_applied_to_others_is_said(demo_inputs, tmp_path):
    """A calibration records the technology of its measurements ([sources] technology); simulate applies it to
    every cell, and says so when the run has cells of another technology."""
    cal = LossCorrection("delta-bullington", offset_db=3.0)
    calib = tmp_path / "c4g.toml"
    calib.write_text(toml_text({"correction": cal.to_dict(), "sources": {"technology": "4G"}}), encoding="utf-8")
    base = ["simulate", "--dem", str(demo_inputs.dem), "--sites", str(demo_inputs.sites), "--resolution-m", "400",
            "--radius-km", "2", "--calibration", str(calib)]
    both = CliRunner().invoke(cli, base + ["--out", str(tmp_path / "both")])
    assert both.exit_code == 0, both.output
    assert "was fitted to 4G measurements; it corrects every cell of this run, 5G included" in both.output
    only_4g = CliRunner().invoke(cli, base + ["--tech", "4G", "--out", str(tmp_path / "one")])
    assert only_4g.exit_code == 0 and "was fitted to" not in only_4g.output
    assert phusong.Coverage.from_run_folder(tmp_path / "one").settings.model.calibration.technology == "4G"


def test_too_few_bins_names_the_file_the_minimum_and_what_was_left_out(demo_inputs, tmp_path):
    cell = phusong.read_sites(demo_inputs.sites).iloc[0]
    drive = tmp_path / "drive.csv"
    drive.write_text("lon,lat,rsrp_dbm,cell_id\n" + "\n".join(
        f"{cell.lon + 0.001 * k:.6f},{cell.lat:.6f},{-80 - k},{cell.cell_id}" for k in (2, 3)) + "\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["calibrate", "--measurements", str(drive), "--sites", str(demo_inputs.sites),
                                      "--dem", str(demo_inputs.dem), "--resolution-m", "100", "--radius-km", "6",
                                      "--out", str(tmp_path / "c.toml")])
    assert result.exit_code == 2, result.output
    line = [ln for ln in result.output.splitlines() if ln.startswith("Error")][0]
    assert line.startswith(f"Error: {drive}: only ") and "at least 3 are needed to calibrate" in line, line
    assert not (tmp_path / "c.toml").exists()


def test_one_route_is_in_sample_not_called_cross_validated(demo_inputs, tmp_path):
    cell = phusong.read_sites(demo_inputs.sites).iloc[0]
    drive = tmp_path / "drive.csv"
    drive.write_text("# SYNTHETIC\nlon,lat,rsrp_dbm,cell_id\n" + "\n".join(
        f"{cell.lon + 0.001 * k:.6f},{cell.lat:.6f},{-75 - k},{cell.cell_id}" for k in range(2, 40)) + "\n",
        encoding="utf-8")
    out = tmp_path / "c.toml"
    result = CliRunner().invoke(cli, ["calibrate", "--measurements", str(drive), "--sites", str(demo_inputs.sites),
                                      "--dem", str(demo_inputs.dem), "--resolution-m", "100", "--radius-km", "6",
                                      "--out", str(out), "--report", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert "in-sample (one route group: not cross-validated)" in result.output and "folds)" not in result.output
    page = next((tmp_path / "report").glob("*.html")).read_text(encoding="utf-8")
    assert "not cross-validated" in page and "1 folds" not in page


def test_a_correction_that_does_not_help_says_so(world, drive, tmp_path):
    """Measurements that are the model itself plus route-to-route scatter: a correction fitted on some routes can
    only add error on the others; the calibration says so in its notes (on the command line and in the report)."""
    x, y, routes, serving, _ = drive
    keep = np.isin(routes, np.unique(routes)[:6])
    rng = np.random.default_rng(11)
    offsets = dict(zip(np.unique(routes[keep]), rng.normal(0.0, 8.0, keep.sum())))
    measured = _predicted(world, x[keep], y[keep], serving[keep]) + np.array([offsets[r] for r in routes[keep]])
    drive_csv = T.measurements_csv(tmp_path / "drive.csv", x[keep], y[keep], serving[keep], measured, routes[keep])
    result = _calibrate_cli(world, drive_csv, tmp_path / "c.toml")
    assert result.exit_code == 0, result.output
    assert "note: the correction does not help: the cross-validated RMSE grows from" in result.output
