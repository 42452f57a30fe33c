"""`phusong gaps` options through the CLI, on the hand-counted 10 x 10 grid of test_gap_rules."""
import numpy as np
import pandas as pd
import pyogrio
import pytest
from click.testing import CliRunner

from phusong._raster import write_geotiff
from phusong.cli import cli

from .test_gap_rules import COMMUNES, GRID, ZONES, _sites, write_run_folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gapsopts")
    write_run_folder(tmp / "run")
    COMMUNES.assign(dan_so=[1000, 3000]).to_file(tmp / "communes.gpkg", layer="communes", engine="pyogrio")
    ZONES.to_file(tmp / "zones.gpkg", layer="zones", engine="pyogrio")
    sites = _sites().to_crs("EPSG:4326")
    table = pd.DataFrame({"site_id": sites["site_id"], "cell_id": sites["site_id"] + "-1",
                          "lon": sites.geometry.x, "lat": sites.geometry.y, "technology": sites["technology"],
                          "frequency_mhz": 1800, "antenna_height_m": 30, "tx_power_dbm": 46})
    table.to_csv(tmp / "sites.csv", index=False)
    people = np.zeros((10, 10), np.float32)
    people[0, 9], people[5, 5], people[9, 0], people[2, 2] = 300, 100, 50, 150
    write_geotiff(tmp / "people.tif", people, GRID, nodata=-1.0)
    return tmp


def _gaps(inputs, tmp_path, *extra, ok=True):
    out = tmp_path / "g.gpkg"
    result = CliRunner().invoke(cli, ["gaps", "--run", str(inputs / "run"), "--communes", str(inputs / "communes.gpkg"),
                                      "--out", str(out), "--overwrite", *extra])
    if ok:
        assert result.exit_code == 0, result.output
        return {name: pyogrio.read_dataframe(out, layer=name) for name, _ in pyogrio.list_layers(out)}
    return result


def test_population_field_is_spread_evenly(inputs, tmp_path):
    got = _gaps(inputs, tmp_path, "--population-field", "dan_so")["communes"].set_index("code")
    # spread evenly, the covered share of people equals the covered share of cells (W 49/50, E 30/50)
    assert got.loc["W", "population"] == 1000 and got.loc["E", "population"] == 3000
    assert got.loc["W", "covered_pop_pct_5g"] == 98.0 and got.loc["E", "covered_pop_pct_5g"] == 60.0


def test_settlements_from_the_population_raster_follow_the_minimum(inputs, tmp_path):
    for minimum, expected in ((100, {"S00001", "S00002", "S00003"}), (200, {"S00001"}), (1000, set())):
        layers = _gaps(inputs, tmp_path, "--population", str(inputs / "people.tif"),
                       "--settlement-min-people", str(minimum))
        got = set(layers["settlements"]["code"]) if "settlements" in layers else set()
        assert got == expected, minimum   # cells with 300, 150, 100 people (and 50 below every minimum)
    layers = _gaps(inputs, tmp_path, "--population", str(inputs / "people.tif"), "--settlement-min-people", "100")
    s = layers["settlements"].set_index("people")
    assert s.loc[300.0, "commune_code"] == "E" and not s.loc[300.0, "covered_mbb"] == 0  # north: 4G
    assert s.loc[150.0, "commune_code"] == "W"


def test_zones_share_and_sites(inputs, tmp_path):
    base = ["--zones", str(inputs / "zones.gpkg"), "--sites", str(inputs / "sites.csv")]
    at90 = _gaps(inputs, tmp_path, *base)
    z = at90["industrial_zones"].set_index("code")
    assert z["covered_5g"].tolist() == [0, 0, 1] and z["has_5g_site"].tolist() == [0, 1, 0]
    c = at90["communes"].set_index("code")
    assert c.loc["W", "sites_5g"] == 1 and c.loc["E", "sites_5g"] == 1 and c.loc["W", "sites_4g"] == 1
    at85 = _gaps(inputs, tmp_path, *base, "--zone-share-pct", "85")["industrial_zones"].set_index("code")
    assert at85["covered_5g"].tolist() == [1, 0, 1]


def test_centre_rule_is_parsed_and_checked(inputs, tmp_path):
    got = _gaps(inputs, tmp_path, "--centre-rule", "buffer:150:50")["commune_centres"]
    assert len(got) == 2
    (tmp_path / "g.gpkg").unlink()
    bad = _gaps(inputs, tmp_path, "--centre-rule", "buffer:150", ok=False)
    assert bad.exit_code == 2
    assert "centre rule must be 'cell' or 'buffer:RADIUS_M:SHARE_PCT', got 'buffer:150'" in bad.output
    assert "(option --centre-rule)" in bad.output and not (tmp_path / "g.gpkg").exists()


def test_indicators_and_a_custom_catalogue(inputs, tmp_path):
    catalogue = tmp_path / "targets.toml"
    catalogue.write_text('[[target]]\nid = "MY-CENTRES"\ndeadline = "2026"\nmeasure = "centres_5g"\ngoal = 50.0\n'
                         'unit = "%"\ntext_vi = "Trung tâm xã có 5G"\ntext_en = "Centres with 5G"\n\n'
                         '[[target]]\nid = "MY-SPEED"\ndeadline = "2026"\nmeasure = "indicator"\ngoal = 2.0\n'
                         'unit = "x"\ntext_vi = "Tốc độ"\ntext_en = "Speed"\n', encoding="utf-8")
    indicators = tmp_path / "ind.csv"
    indicators.write_text("target_id,value,source,date\nMY-SPEED,1.5,Ookla,2026-01\n", encoding="utf-8")
    targets = _gaps(inputs, tmp_path, "--targets", str(catalogue), "--indicators", str(indicators))["targets"]
    t = targets.set_index("target_id")
    assert list(t.index) == ["MY-CENTRES", "MY-SPEED"]
    # the interior points of W (x < 500, 5G) and E (x 500..1000 at x=750: column 7, 5G): 2 of 2
    assert t.loc["MY-CENTRES", "value"] == 100.0 and t.loc["MY-CENTRES", "status"] == "met"
    assert t.loc["MY-SPEED", "value"] == 1.5 and t.loc["MY-SPEED", "gap"] == 0.5
    assert t.loc["MY-SPEED", "status"] == "not met" and "Ookla" in t.loc["MY-SPEED", "failing_units"]
    indicators.write_text("target_id,value\nMY-SPEED,fast\n", encoding="utf-8")
    bad = _gaps(inputs, tmp_path, "--targets", str(catalogue), "--indicators", str(indicators), ok=False)
    assert bad.exit_code == 2 and f"{indicators}: row 1, column value: not a number" in bad.output
