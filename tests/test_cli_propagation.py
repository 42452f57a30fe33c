"""`phusong path`, `footprint` and `models`, invoked as the issue writes them."""
import csv
import json

import numpy as np
import pytest
import rasterio
from click.testing import CliRunner

from phusong.cli import cli

from .conftest import shared_path


def test_path_profile_json_matches_itu_case():
    folder = shared_path("reference", "delta_bullington_itu")
    with open(folder / "expected.csv") as fh:
        row = next(csv.DictReader(fh))
    result = CliRunner().invoke(cli, [
        "path", "--profile", str(folder / row["path_file"]), "--freq-mhz", row["f_MHz"],
        "--tx-height-m", row["htg_m"], "--rx-height-m", row["hrg_m"], "--model", "delta-bullington",
        "--earth-radius-km", "8500", "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    for key in ("model", "distance_km", "loss_db", "free_space_db", "diffraction_db", "los",
                "bullington_actual_db", "spherical_earth_db", "bullington_smooth_db"):
        assert key in out
    assert out["diffraction_db"] == pytest.approx(float(row["Ldelta_bull_dB"]), abs=0.1)
    assert out["bullington_actual_db"] == pytest.approx(float(row["Lba_dB"]), abs=0.1)
    assert out["loss_db"] == pytest.approx(out["free_space_db"] + out["diffraction_db"])
    assert out["los"] is False


def test_path_profile_with_d_km_h_m_header_and_bad_row(tmp_path):
    p = tmp_path / "profile.csv"
    p.write_text("d_km,h_m\n0,100\n1,120\n2,x\n3,100\n")
    result = CliRunner().invoke(cli, ["path", "--profile", str(p), "--freq-mhz", "900", "--tx-height-m", "30",
                                      "--rx-height-m", "1.5", "--json"])
    assert result.exit_code == 2
    assert "profile.csv: row 3, column h_m: not a number" in result.output
    p.write_text("d_km,h_m\n0,100\n1,100\n2,100\n")
    result = CliRunner().invoke(cli, ["path", "--profile", str(p), "--freq-mhz", "900", "--tx-height-m", "30",
                                      "--rx-height-m", "1.5", "--json"])
    out = json.loads(result.output)
    assert out["los"] is True and out["distance_km"] == 2.0


def test_path_to_points_on_a_dem(tmp_path):
    tile = shared_path("data", "terrain", "N44W072.hgt")
    pts = tmp_path / "points.csv"
    pts.write_text("lon,lat\n-71.35,44.47\n-71.45,44.40\n-71.41,44.451\n")
    out = tmp_path / "result.csv"
    result = CliRunner().invoke(cli, [
        "path", "--dem", str(tile), "--tx", "-71.4,44.45", "--tx-height-m", "30", "--rx-points", str(pts),
        "--rx-height-m", "1.5", "--freq-mhz", "1800", "--crs", "EPSG:32619", "--res-m", "30", "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(open(out, encoding="utf-8-sig")))
    assert len(rows) == 3 and "demonstration" not in rows[0] and "DEMONSTRATION" not in result.output
    for r in rows:
        assert float(r["loss_db"]) >= float(r["free_space_db"]) - 1e-6
    assert float(rows[2]["distance_km"]) == pytest.approx(0.8, abs=0.05)


def test_footprint_writes_loss_and_los(tmp_path):
    tile = shared_path("data", "terrain", "N44W072.hgt")
    loss, los = tmp_path / "loss.tif", tmp_path / "los.tif"
    args = ["footprint", "--dem", str(tile), "--lon", "-71.4", "--lat", "44.45", "--tx-height-m", "30",
            "--freq-mhz", "1800", "--radius-km", "5", "--res-m", "30", "--crs", "EPSG:32619",
            "--rx-height-m", "1.5", "--model", "delta-bullington", "--earth-radius-km", "8500",
            "--out", str(loss), "--los-out", str(los)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    with rasterio.open(loss) as src:
        assert src.dtypes[0] == "float32" and src.crs.to_epsg() == 32619 and src.res == (30.0, 30.0)
        assert "DESCRIPTION" not in src.tags()  # real SRTM: not a demonstration
        values = src.read(1)
    with rasterio.open(los) as src:
        flags = src.read(1)
        assert src.dtypes[0] == "uint8" and src.nodata == 255
    assert set(np.unique(flags)) == {0, 1, 255}
    assert np.isnan(values[0, 0]) and flags[0, 0] == 255           # corner: beyond the radius
    assert 60 < np.nanmin(values) and np.nanmax(values) < 250
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 2 and "--overwrite" in again.output  # never replaced silently


def test_footprint_site_off_the_dem_is_exit_2(tmp_path):
    tile = shared_path("data", "terrain", "N44W072.hgt")
    result = CliRunner().invoke(cli, ["footprint", "--dem", str(tile), "--lon", "100", "--lat", "20",
                                      "--tx-height-m", "30", "--freq-mhz", "1800", "--radius-km", "5",
                                      "--out", str(tmp_path / "x.tif")])
    assert result.exit_code == 2 and "does not cover" in result.output


def test_models_lists_sources_and_validity():
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0
    for text in ("delta-bullington", "ITU-R P.526-15", "okumura-hata", "150–1500 MHz", "3gpp-rma", "TR 38.901"):
        assert text in result.output


@pytest.mark.slow
def test_footprint_and_path_agree_on_the_langson_standin(tmp_path):
    """The two commands share the working grid: `path` at cell centres of the `footprint` map gives
    the map's values (the map's own criterion: 98% within 1 dB of the straight-profile reference)."""
    from pyproj import Transformer

    dem = shared_path("data", "langson", "terrain_standin_3arcsec.tif")
    common = ["--tx-height-m", "30", "--freq-mhz", "1800", "--rx-height-m", "1.5", "--crs", "EPSG:32648",
              "--res-m", "30", "--model", "delta-bullington"]
    loss_tif, los_tif = tmp_path / "loss.tif", tmp_path / "los.tif"
    result = CliRunner().invoke(cli, ["footprint", "--dem", str(dem), "--lon", "106.76", "--lat", "21.85",
                                      "--radius-km", "6", *common, "--out", str(loss_tif), "--los-out", str(los_tif)])
    assert result.exit_code == 0, result.output
    assert "DEMONSTRATION: terrain_standin_3arcsec.tif: synthetic terrain" in result.output
    with rasterio.open(loss_tif) as src:
        loss, transform = src.read(1), src.transform
        assert "SYNTHETIC DEMONSTRATION" in src.tags()["DESCRIPTION"]
    with rasterio.open(los_tif) as src:
        los = src.read(1)
    cells = np.argwhere(np.isfinite(loss))
    cells = cells[np.random.default_rng(4).choice(len(cells), 200, replace=False)]
    x, y = rasterio.transform.xy(transform, cells[:, 0], cells[:, 1])
    lon, lat = Transformer.from_crs(32648, 4326, always_xy=True).transform(x, y)
    pts = tmp_path / "points.csv"
    pts.write_text("lon,lat\n" + "".join(f"{a:.9f},{b:.9f}\n" for a, b in zip(lon, lat)))
    out = tmp_path / "points_loss.csv"
    result = CliRunner().invoke(cli, ["path", "--dem", str(dem), "--tx", "106.76,21.85", "--rx-points", str(pts),
                                      *common, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "DEMONSTRATION" in result.output
    rows = list(csv.DictReader(open(out, encoding="utf-8-sig")))
    assert all(r["demonstration"] == "terrain_standin_3arcsec.tif: synthetic terrain" for r in rows)
    path_loss = np.array([float(r["loss_db"]) for r in rows])
    path_los = np.array([r["los"].lower() == "true" for r in rows])
    diff = np.abs(loss[cells[:, 0], cells[:, 1]] - path_loss)
    assert np.median(diff) <= 0.3
    assert np.mean(diff <= 1.0) >= 0.98
    assert np.mean((los[cells[:, 0], cells[:, 1]] == 1) == path_los) >= 0.98


def test_path_bad_receivers_keep_the_rest_of_the_batch(tmp_path):
    """A receiver at the transmitter or off the DEM gets its reason in `error`; the others are computed exactly
    as in a batch without them. When no receiver can be evaluated: exit 2 and nothing written."""
    tile = shared_path("data", "terrain", "N44W072.hgt")
    args = ["path", "--dem", str(tile), "--tx", "-71.4,44.45", "--tx-height-m", "30", "--rx-height-m", "1.5",
            "--freq-mhz", "1800", "--crs", "EPSG:32619", "--res-m", "30"]
    good = tmp_path / "good.csv"
    good.write_text("lon,lat\n-71.35,44.47\n-71.45,44.40\n")
    mixed = tmp_path / "mixed.csv"
    mixed.write_text("lon,lat\n-71.35,44.47\n-71.4,44.45\n-70.5,44.5\n-71.45,44.40\n")
    runner = CliRunner()
    assert runner.invoke(cli, [*args, "--rx-points", str(good), "--out", str(tmp_path / "a.csv")]).exit_code == 0
    result = runner.invoke(cli, [*args, "--rx-points", str(mixed), "--out", str(tmp_path / "b.csv")])
    assert result.exit_code == 0, result.output
    assert "2 receiver(s) not evaluated (rows 2, 3)" in result.output
    a = list(csv.DictReader(open(tmp_path / "a.csv", encoding="utf-8-sig")))
    b = list(csv.DictReader(open(tmp_path / "b.csv", encoding="utf-8-sig")))
    assert "within one grid cell" in b[1]["error"] and b[2]["error"] == "receiver is outside the DEM"
    assert b[1]["loss_db"] == "" and b[2]["loss_db"] == ""
    assert [b[0]["loss_db"], b[3]["loss_db"]] == [a[0]["loss_db"], a[1]["loss_db"]]
    only_bad = tmp_path / "bad.csv"
    only_bad.write_text("lon,lat\n-71.4,44.45\n")
    result = runner.invoke(cli, [*args, "--rx-points", str(only_bad), "--out", str(tmp_path / "c.csv")])
    assert result.exit_code == 2 and "no receiver could be evaluated" in result.output
    assert not (tmp_path / "c.csv").exists()
