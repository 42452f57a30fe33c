"""End to end: ``phusong demo`` writes every output, and each holds what it should."""
import json

import numpy as np
import pyogrio
import pytest
import rasterio
from click.testing import CliRunner

from phusong.cli import cli
from phusong.data.targets import load_targets


@pytest.fixture(scope="module")
def demo_out(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo") / "demo-output"
    result = CliRunner().invoke(cli, ["demo", "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    return out


def test_rasters_are_projected_and_in_range(demo_out):
    for tech in ("4g", "5g"):
        with rasterio.open(demo_out / f"rsrp_{tech}.tif") as src:
            assert src.crs.is_projected and src.crs.to_epsg() == 32648
            assert src.dtypes[0] == "float32" and src.overviews(1)
            assert "DEMONSTRATION" in src.tags()["DESCRIPTION"]
            rsrp = src.read(1)
        finite = rsrp[np.isfinite(rsrp)]
        assert finite.size > 0.25 * rsrp.size  # 5G sites cover only the busier part
        assert -200 < finite.min() and finite.max() < -20  # dBm per resource element
        with rasterio.open(demo_out / f"covered_{tech}.tif") as src:
            covered = src.read(1)
        assert set(np.unique(covered)) <= {0, 1, 255}
        inside = covered != 255
        level = json.loads((demo_out / "run.json").read_text())["coverage_levels_dbm"][tech.upper()]
        assert level == pytest.approx(-105.0 + 8.0 * 1.2815515655, abs=1e-6)  # threshold + σ·Q⁻¹(0.1)
        np.testing.assert_array_equal(covered[inside] == 1, np.nan_to_num(rsrp[inside], nan=-999) >= level)
        with rasterio.open(demo_out / f"server_{tech}.tif") as src:
            server = src.read(1)
        assert (server[np.isfinite(rsrp)] >= 0).all()


def test_geopackage_layers_and_fields(demo_out):
    layers = dict(pyogrio.list_layers(demo_out / "gaps.gpkg"))
    for name in ("communes", "commune_centres", "villages", "industrial_zones", "sites", "targets"):
        assert name in layers
    communes = pyogrio.read_dataframe(demo_out / "gaps.gpkg", layer="communes")
    assert len(communes) == 65 and communes.crs.to_epsg() == 32648
    for field in ("code", "name", "covered_area_pct_4g", "covered_area_pct_5g", "covered_pop_pct_5g",
                  "centre_covered_5g", "missed_targets", "population", "sites_5g", "demonstration"):
        assert field in communes.columns
    assert communes["name"].str.startswith(("Xã ", "Phường ")).all()  # Vietnamese intact
    # brute force: the cells whose centres lie in each commune (shapely), and how many of them the raster covers
    import shapely
    with rasterio.open(demo_out / "covered_5g.tif") as src:
        covered, t = src.read(1), src.transform
    rows, cols = np.mgrid[0:covered.shape[0], 0:covered.shape[1]]
    x, y = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    for _, c in communes.sort_values("area_km2").iloc[[0, 30, -1]].iterrows():   # small, middle, large
        inside = shapely.contains_xy(c.geometry, x, y)
        expected = 100.0 * (covered[inside] == 1).mean()
        assert c["covered_area_pct_5g"] == pytest.approx(expected, abs=0.006), c["code"]
        assert 0 < inside.sum()
    sites = pyogrio.read_dataframe(demo_out / "gaps.gpkg", layer="sites")
    assert {"4G", "5G"} == set(sites["technology"])


def test_scorecard_has_every_target_and_agrees_with_gpkg(demo_out):
    text = (demo_out / "scorecard.md").read_text(encoding="utf-8")
    assert "DEMONSTRATION" in text
    targets = pyogrio.read_dataframe(demo_out / "gaps.gpkg", layer="targets")
    assert len(targets) == len(load_targets()) == 16
    for _, row in targets.iterrows():
        assert f"| {row['target_id']} |" in text
    centres = pyogrio.read_dataframe(demo_out / "gaps.gpkg", layer="commune_centres")
    value = targets.set_index("target_id").loc["T25-5G-CENTRES", "value"]
    assert value == pytest.approx(100.0 * centres["covered_5g"].mean(), abs=0.01)
    row = next(line for line in text.splitlines() if line.startswith("| T25-5G-CENTRES |"))
    assert float(row.split("|")[5].replace(",", "")) == pytest.approx(value, abs=0.05)


def test_map_and_run_record(demo_out):
    html = (demo_out / "map.html").read_text(encoding="utf-8")
    assert "leaflet" in html.lower() and "MINH HỌA" in html   # Vietnamese by default
    for label in ("Tín hiệu 5G", "Xã, phường"):   # layer names may be written as JavaScript \u escapes
        assert label in html or json.dumps(label)[1:-1] in html
    run = json.loads((demo_out / "run.json").read_text())
    assert run["demonstration"] is True and run["simulation"]["cells"] > 100
    assert (demo_out / "scenario.toml").exists() and (demo_out / "inputs" / "sites_demo.csv").exists()
    # the inputs are recorded where they are now (copied into the folder), not where they were staged
    import hashlib
    from pathlib import Path

    inputs = (demo_out / "inputs").resolve()
    assert len(run["inputs_sha256"]) >= 4
    for path, digest in run["inputs_sha256"].items():
        assert Path(path).parent == inputs and hashlib.sha256(Path(path).read_bytes()).hexdigest() == digest
    assert Path(run["settings"]["inputs"]["sites"]) == inputs / "sites_demo.csv"


def test_demo_study_reruns_from_its_own_scenario(demo_out, tmp_path):
    result = CliRunner().invoke(cli, ["run", str(demo_out / "scenario.toml"), "--out", str(tmp_path / "again"), "-q"])
    assert result.exit_code == 0, result.output
    with rasterio.open(demo_out / "rsrp_5g.tif") as a, rasterio.open(tmp_path / "again" / "rsrp_5g.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))  # deterministic


def test_every_output_says_it_is_a_demonstration(demo_out):
    """The README: every output of the demo says so, the tables too."""
    import pandas as pd

    reasons = "dem_demo.tif: synthetic terrain; sites_demo.csv: generated sites; marked a demonstration"
    assert pd.read_csv(demo_out / "cells.csv")["demonstration"].str.startswith(reasons).all()
    assert pd.read_csv(demo_out / "scorecard.csv")["demonstration"].str.startswith(reasons).all()
    for layer, _ in pyogrio.list_layers(demo_out / "gaps.gpkg"):
        if layer != "layer_styles":
            table = pyogrio.read_dataframe(demo_out / "gaps.gpkg", layer=layer)
            assert table["demonstration"].str.startswith(reasons).all(), layer
    assert json.loads((demo_out / "scorecard.json").read_text(encoding="utf-8"))["demonstration"] is True
    assert "MINH HỌA" in (demo_out / "scorecard.html").read_text(encoding="utf-8")   # the page is in Vietnamese
    for tif in demo_out.glob("*.tif"):
        with rasterio.open(tif) as src:
            assert "SYNTHETIC DEMONSTRATION" in src.tags()["DESCRIPTION"], tif.name


def test_csv_outputs_open_right_in_excel(demo_out):
    """Excel reads a CSV as the legacy code page unless it starts with a UTF-8 byte-order mark."""
    import csv

    for name in ("scorecard.csv", "cells.csv"):
        raw = (demo_out / name).read_bytes()
        assert raw.startswith(b"\xef\xbb\xbf"), name
        text = raw.decode("utf-8-sig")
        assert next(csv.reader(text.splitlines()))[0] in ("target_id", "cell_index"), name
    scorecard = (demo_out / "scorecard.csv").read_bytes().decode("utf-8-sig")
    assert "phủ sóng" in scorecard        # Vietnamese survives: no mojibake
