"""One pipeline: `run` equals `simulate` + `gaps` + `map` on the same inputs, and every entry point labels
demonstration inputs the same way."""
import json
import re

import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
from click.testing import CliRunner
from geopandas.testing import assert_geodataframe_equal

from phusong.cli import cli


def _invoke(args):
    result = CliRunner().invoke(cli, [*args, "-q"])
    assert result.exit_code == 0, (args, result.output)
    return result


@pytest.fixture(scope="module")
def both(demo_inputs, tmp_path_factory):
    """The demo inputs without their village layer, once through `run` and once through the three commands."""
    tmp = tmp_path_factory.mktemp("pipeline")
    d = demo_inputs
    scenario = tmp / "study.toml"
    scenario.write_text(f'''[study]
name = "Equivalence"
resolution_m = 100
[inputs]
terrain = ["{d.dem}"]
sites = "{d.sites}"
population = "{d.population}"
communes = {{ path = "{d.areas}", layer = "communes" }}
centres = {{ path = "{d.areas}", layer = "commune_centres" }}
zones = {{ path = "{d.areas}", layer = "industrial_zones" }}
[model]
radius_km = 5
[gaps]
settlement_min_people = 200
''', encoding="utf-8")
    cache = tmp / "cache"
    _invoke(["run", str(scenario), "--out", str(tmp / "run"), "--cache-dir", str(cache)])
    _invoke(["simulate", "--dem", str(d.dem), "--sites", str(d.sites), "--area", str(d.areas), "--area-layer",
             "communes", "--resolution-m", "100", "--radius-km", "5", "--study-name", "Equivalence",
             "--out", str(tmp / "sim"), "--cache-dir", str(cache)])
    _invoke(["gaps", "--run", str(tmp / "sim"), "--communes", str(d.areas), "--communes-layer", "communes",
             "--centres", str(d.areas), "--centres-layer", "commune_centres", "--zones", str(d.areas),
             "--zones-layer", "industrial_zones", "--sites", str(d.sites), "--population", str(d.population),
             "--settlement-min-people", "200", "--out", str(tmp / "gaps.gpkg"), "--report", str(tmp / "report")])
    _invoke(["map", "--run", str(tmp / "sim"), "--gaps", str(tmp / "gaps.gpkg"), "--out", str(tmp / "map.html")])
    return tmp


def test_same_rasters(both):
    names = sorted(p.name for p in (both / "run").glob("*.tif"))
    assert names == sorted(p.name for p in (both / "sim").glob("*.tif")) and len(names) == 11  # 10 layer rasters, the relief
    for name in names:
        with rasterio.open(both / "run" / name) as a, rasterio.open(both / "sim" / name) as b:
            assert a.transform == b.transform and a.crs == b.crs
            np.testing.assert_array_equal(a.read(1), b.read(1))
            assert a.tags()["DESCRIPTION"] == b.tags()["DESCRIPTION"]
            assert "DEMONSTRATION" in a.tags()["DESCRIPTION"]


def test_same_geopackage(both):
    layers = [name for name, _ in pyogrio.list_layers(both / "run" / "gaps.gpkg")]
    assert layers == [name for name, _ in pyogrio.list_layers(both / "gaps.gpkg")]
    # no village layer: both build the same population-derived settlements (a labelled proxy)
    assert "settlements" in layers and "villages" not in layers
    for layer in layers:
        if layer == "layer_styles":
            continue
        a = pyogrio.read_dataframe(both / "run" / "gaps.gpkg", layer=layer)
        b = pyogrio.read_dataframe(both / "gaps.gpkg", layer=layer)
        if hasattr(a, "geometry") and "geometry" in a:
            assert_geodataframe_equal(a, b, check_less_precise=False)
        else:
            pd.testing.assert_frame_equal(pd.DataFrame(a), pd.DataFrame(b))
        assert (a["demonstration"].str.contains("synthetic terrain")).all(), layer


def test_same_scorecard_and_map(both):
    assert (both / "run" / "scorecard.csv").read_bytes() == (both / "report" / "scorecard.csv").read_bytes()
    a = json.loads((both / "run" / "scorecard.json").read_text(encoding="utf-8"))
    b = json.loads((both / "report" / "scorecard.json").read_text(encoding="utf-8"))
    assert a["title"] == b["title"] == "Coverage scorecard — Equivalence"
    assert {k: v for k, v in a.items() if k != "date"} == {k: v for k, v in b.items() if k != "date"}

    def normalised(path):  # Folium names each element with a random id
        return re.sub(r"_[0-9a-f]{32}", "_ID", path.read_text(encoding="utf-8"))
    assert normalised(both / "run" / "map.html") == normalised(both / "map.html")


def test_run_json_records_every_input(both, demo_inputs):
    run = json.loads((both / "run" / "run.json").read_text(encoding="utf-8"))
    import hashlib
    recorded = run["inputs_sha256"]
    for path in (demo_inputs.dem, demo_inputs.sites, demo_inputs.population, demo_inputs.areas):
        assert recorded[str(path)] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert run["settings"]["model"]["radius_km"] == 5.0 and run["settings"]["gaps"]["settlement_min_people"] == 200
    sim = json.loads((both / "sim" / "run.json").read_text(encoding="utf-8"))
    assert run["settings"]["model"] == sim["settings"]["model"]
    assert run["settings"]["coverage"] == sim["settings"]["coverage"]
    assert run["demonstration_reasons"] == sim["demonstration_reasons"] == \
        ["dem_demo.tif: synthetic terrain", "sites_demo.csv: generated sites"]


def test_run_json_has_one_layout_and_timings_of_the_whole_command(both):
    """run.json's top-level keys are the same for `run` and `simulate`; each times its steps, and its total
    includes the writing (run.json is written last): `run`'s GeoPackage, scorecard and map too."""
    run = json.loads((both / "run" / "run.json").read_text(encoding="utf-8"))
    sim = json.loads((both / "sim" / "run.json").read_text(encoding="utf-8"))
    assert set(run) == set(sim)
    t = run["timings"]
    assert {"inputs_s", "gap_inputs_s", "gaps_s", "write_rasters_s", "write_s", "total_s"} <= set(t)
    assert t["write_s"] >= t["write_rasters_s"] > 0.0
    steps = t["inputs_s"] + run["simulation"]["simulate_s"] + t["gap_inputs_s"] + t["gaps_s"] + t["write_s"]
    assert steps - 0.05 <= t["total_s"] <= steps + 1.0   # (each rounded to 0.01 s; the rest is bookkeeping)
    s = sim["timings"]
    assert s["total_s"] >= s["inputs_s"] + sim["simulation"]["simulate_s"] + s["write_rasters_s"] - 0.03


def test_a_scenario_cannot_switch_the_demonstration_label_off(demo_inputs, tmp_path):
    """Synthetic DEM + generated site list + `demonstration = false`: every output still says so, and why (the
    reasons name the input files, escaped where they become HTML)."""
    import shutil

    d = demo_inputs
    sites = tmp_path / "sites <img src=x onerror=alert(1)>.csv"
    shutil.copy(d.sites, sites)
    scenario = tmp_path / "s.toml"
    scenario.write_text(f'''[study]
demonstration = false
resolution_m = 200
[inputs]
terrain = "{d.dem}"
sites = "{sites}"
communes = {{ path = "{d.areas}", layer = "communes" }}
[model]
radius_km = 3
''', encoding="utf-8")
    out = tmp_path / "out"
    _invoke(["run", str(scenario), "--out", str(out)])
    with rasterio.open(out / "covered_5g.tif") as src:
        assert "SYNTHETIC DEMONSTRATION" in src.tags()["DESCRIPTION"]
    assert json.loads((out / "run.json").read_text())["demonstration"] is True
    assert pyogrio.read_dataframe(out / "gaps.gpkg", layer="targets")["demonstration"].notna().all()
    assert pd.read_csv(out / "scorecard.csv")["demonstration"].str.contains("generated sites").all()
    md = (out / "scorecard.md").read_text(encoding="utf-8")
    assert "DEMONSTRATION" in md and \
        "Why: dem\\_demo.tif: synthetic terrain; sites \\<img src=x onerror=alert(1)\\>.csv: generated sites." in md
    for page in ("map.html", "scorecard.html"):
        html = (out / page).read_text(encoding="utf-8")
        assert "MINH HỌA" in html and "Lý do: dem_demo.tif: synthetic terrain; sites &lt;img src=x " \
            "onerror=alert(1)&gt;.csv: generated sites" in html and "<img src=x" not in html, page


def test_gaps_says_when_it_rests_on_a_demonstration_run(both, demo_inputs, tmp_path):
    d = demo_inputs
    result = CliRunner().invoke(cli, ["gaps", "--run", str(both / "sim"), "--communes", str(d.areas),
                                      "--communes-layer", "communes", "--out", str(tmp_path / "g.gpkg")])
    assert result.exit_code == 0, result.output
    assert "(DEMONSTRATION: dem_demo.tif: synthetic terrain; sites_demo.csv: generated sites)" in result.output


def test_relocated_moves_only_paths_under_the_copied_folders():
    from pathlib import Path

    from phusong.pipeline import relocated

    staged = str(Path("/tmp/staging-x/inputs"))
    moved = {staged: "/out/inputs", "inputs": "/out/inputs"}   # (a relative key is never a path to move)
    record = {"inputs": {"terrain": [f"{staged}/dem.tif"], "sites": f"{staged}-other/sites.csv"},
              "study": {"name": "inputs"}, "inputs_sha256": {f"{staged}/dem.tif": "ab", staged: "cd"}}
    assert relocated(record, moved) == {
        "inputs": {"terrain": ["/out/inputs/dem.tif"], "sites": f"{staged}-other/sites.csv"},
        "study": {"name": "inputs"}, "inputs_sha256": {"/out/inputs/dem.tif": "ab", "/out/inputs": "cd"}}


def test_a_geopackage_gives_back_its_demonstration_reasons_and_the_map_names_each_once(both):
    from phusong import GapResult

    reasons = ("dem_demo.tif: synthetic terrain", "sites_demo.csv: generated sites")
    assert GapResult.from_geopackage(both / "gaps.gpkg").demonstration == reasons
    html = (both / "map.html").read_text(encoding="utf-8")   # (map from the run folder and the GeoPackage)
    assert "Lý do: " + "; ".join(reasons) + "</div>" in html
