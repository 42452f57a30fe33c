"""The settings model: one declaration of every default, scenario keys and flags in step, clear errors."""
import dataclasses
import logging
import math

import click
import pytest
from click.testing import CliRunner

from phusong.cli import cli
from phusong.errors import InputError
from phusong.settings import SECTIONS, Settings


def _commands(group=cli, prefix=()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))
        else:
            yield prefix + (name,), cmd


def _field(section, name):
    return {f.name: f for f in dataclasses.fields(SECTIONS[section])}[name]


def test_every_cli_default_equals_the_scenario_default():
    """Every option that sets a setting (``section__key``) has the scenario file's default, and its flag is
    the key's name (or the table's, for ``[model] name``)."""
    checked = 0
    for path, cmd in _commands():
        for p in cmd.params:
            if not (isinstance(p, click.Option) and p.name and "__" in p.name):
                continue
            section, key = p.name.split("__")
            f = _field(section, key)
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            if p.required or (key == "name" and section == "study" and path in (("gaps",), ("plan",))) or \
                    (key == "language" and path in (("gaps",), ("run",), ("demo",))):
                assert p.default is None, (path, p.name)
                continue  # required flags and "the run's (or scenario's) own" have no default of their own
            value = p.type_cast_value(click.Context(cmd), p.default) if p.default is not None else None
            if p.callback is not None and value is not None:
                value = p.callback(click.Context(cmd), p, value)
            if key == "thresholds_dbm":
                assert value is None and default == {}, path
            else:
                assert value == default or (isinstance(default, tuple) and tuple(value) == default), (path, p.name)
            flag = f.metadata.get("flag") or "--" + key.replace("_", "-")
            assert p.opts[0] == flag, (path, p.opts)
            checked += 1
    assert checked >= 30  # simulate, gaps, footprint, path and terrain info all derive theirs


def test_the_default_radius_and_earth_radius_are_declared_once():
    from phusong.propagation.p526 import DEFAULT_EARTH_RADIUS_KM

    s = Settings()
    assert s.model.radius_km == 15.0 and s.model.earth_radius_km == DEFAULT_EARTH_RADIUS_KM == 8500.0
    simulate = cli.commands["simulate"]
    assert {p.name: p.default for p in simulate.params}["model__radius_km"] == s.model.radius_km


@pytest.mark.parametrize("tables, message", [
    ({"model": {"radius": 5}}, "[model] unknown key 'radius' (did you mean 'radius_km'?)"),
    ({"coverage": {"location_probabilty": 0.95}},
     "[coverage] unknown key 'location_probabilty' (did you mean 'location_probability'?)"),
    ({"modle": {}}, "unknown table 'modle' (did you mean 'model'?)"),
    ({"inputs": {"communes": {"path": "c.gpkg", "layre": "x"}}}, "(did you mean 'layer'?)"),
    ({"model": {"radius_km": 500}}, "[model] radius_km must be between 0.1 and 200 km, got 500"),
    ({"model": {"name": "hata"}}, "unknown model 'hata'"),
    ({"coverage": {"technologies": ["4G", "6G"]}}, "technologies must be a list of 4G, 5G, NB-IoT"),
    ({"coverage": {"location_probability": "high"}}, "location_probability must be a number"),
    ({"gaps": {"centre_rule": "buffer:500"}}, "centre rule must be 'cell' or 'buffer:RADIUS_M:SHARE_PCT'"),
])
def test_bad_settings_are_one_clear_error(tables, message):
    with pytest.raises(InputError) as err:
        Settings.from_dict(tables)
    assert message in str(err.value)
    assert isinstance(err.value, ValueError)


def test_misspelled_scenario_key_fails_the_run_with_exit_2(tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text("[model]\nradius = 5\n[coverage]\nlocation_probability = 0.95\n")
    result = CliRunner().invoke(cli, ["run", str(scenario), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip() == f"Error: {scenario}: [model] unknown key 'radius' (did you mean 'radius_km'?)"
    assert not (tmp_path / "out").exists()


def test_a_key_in_its_old_table_is_read_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        s = Settings.from_dict({"coverage": {"zone_share_pct": 75}})
    assert s.gaps.zone_share_pct == 75.0
    assert "[coverage] zone_share_pct belongs in [gaps]" in caplog.text


def test_scenario_paths_are_relative_to_the_file_and_values_typed(tmp_path):
    (tmp_path / "study").mkdir()
    scenario = tmp_path / "study" / "s.toml"
    scenario.write_text('[inputs]\nterrain = "dem.tif"\nsites = "/abs/sites.csv"\n'
                        'communes = { path = "c.gpkg", layer = "communes", id_field = "ma" }\n'
                        '[coverage]\ntechnologies = ["lte", "nr"]\nthresholds_dbm = { "4G" = -100 }\n')
    s = Settings.from_toml(scenario)
    assert s.inputs.terrain == (tmp_path / "study" / "dem.tif",)
    assert str(s.inputs.sites) == "/abs/sites.csv"
    assert s.inputs.communes.path == tmp_path / "study" / "c.gpkg" and s.inputs.communes.id_field == "ma"
    assert s.coverage.technologies == ("4G", "5G")
    assert s.threshold_dbm("4G") == -100.0 and s.threshold_dbm("5G") == -105.0


def test_margin_is_sigma_times_the_normal_quantile_plus_indoor_loss():
    from statistics import NormalDist

    s = Settings.from_dict({"coverage": {"location_probability": 0.95, "indoor_loss_db": 10}})
    assert s.sigma_db == 8.0
    assert math.isclose(s.location_margin_db, 8.0 * NormalDist().inv_cdf(0.95) + 10.0, abs_tol=1e-12)
    assert Settings.from_dict({"model": {"name": "3gpp-uma"}}).sigma_db == 6.0  # TR 38.901 UMa NLOS σSF
    assert Settings.from_dict({"coverage": {"sigma_db": 5}}).sigma_db == 5.0


def test_settings_are_frozen_and_replace_validates():
    s = Settings()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.model.radius_km = 3  # type: ignore[misc]
    assert s.replace(model={"radius_km": 3}).model.radius_km == 3.0 and s.model.radius_km == 15.0
    with pytest.raises(InputError, match="did you mean 'radius_km'"):
        s.replace(model={"radius": 3})


def test_cli_flags_use_the_same_validation(demo_inputs, tmp_path):
    args = ["simulate", "--dem", str(demo_inputs.dem), "--sites", str(demo_inputs.sites), "--out",
            str(tmp_path / "o"), "--technologies", "4G,6G"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "technologies must be a list of 4G, 5G, NB-IoT" in result.output and "(option --technologies)" in result.output
    assert not (tmp_path / "o").exists()


def test_a_scenario_copy_with_absolute_paths_reads_as_the_original_from_anywhere(tmp_path):
    """Every relative file path a scenario may hold, made absolute: the copy read from another folder gives the
    same settings as the original read from its own (names of built-ins and absolute paths unchanged)."""
    from phusong._tables import read_toml, toml_text
    from phusong.settings import absolute_paths

    study = tmp_path / "study"
    study.mkdir()
    (study / "s.toml").write_text('''[inputs]
terrain = ["dem/a.tif", "/data/b.tif"]
sites = "sites.csv"
population = "../pop.tif"
communes = { path = "areas.gpkg", layer = "communes" }
centres = "areas.gpkg:centres"
villages = "/abs/villages.gpkg"
area = "area.geojson"
indicators = "ind.csv"
landcover = "lc.tif"
targets = "my_targets.toml"
[inputs.priority]
health = "osm.gpkg:health"
roads = { path = "roads.gpkg", layer = "main" }
[plan]
costs = "costs.toml"
new_site_mask = "mask.tif"
candidates = "auto"
''', encoding="utf-8")
    original = Settings.from_toml(study / "s.toml")
    tables = absolute_paths(read_toml(study / "s.toml"), study)
    elsewhere = tmp_path / "elsewhere" / "deeper"
    elsewhere.mkdir(parents=True)
    (elsewhere / "scenario.toml").write_text(toml_text(tables, ["copy"]), encoding="utf-8")
    assert Settings.from_toml(elsewhere / "scenario.toml") == original
    assert tables["inputs"]["terrain"] == [str(study / "dem/a.tif"), "/data/b.tif"]
    assert tables["inputs"]["centres"] == f"{study / 'areas.gpkg'}:centres"
    assert tables["inputs"]["villages"] == "/abs/villages.gpkg" and tables["plan"]["candidates"] == "auto"
    default_targets = absolute_paths({"inputs": {"targets": "langson-2025-2030"}, "model": {"calibration": "c.toml"}},
                                     study)
    assert default_targets == {"inputs": {"targets": "langson-2025-2030"},
                               "model": {"calibration": str(study / "c.toml")}}
    # (and the original's tables are left as they were)
    assert read_toml(study / "s.toml")["inputs"]["sites"] == "sites.csv"


def test_run_copies_its_scenario_so_that_the_copy_repeats_it(demo_inputs, tmp_path, monkeypatch):
    """`phusong run OUT/scenario.toml` from another folder repeats the run (relative paths made absolute)."""
    import os

    import numpy as np
    import rasterio

    d = demo_inputs
    study = tmp_path / "study"
    study.mkdir()
    rel = {k: os.path.relpath(v, study) for k, v in (("dem", d.dem), ("sites", d.sites), ("areas", d.areas))}
    (study / "s.toml").write_text(f'''[study]
resolution_m = 200
[inputs]
terrain = ["{rel["dem"]}"]
sites = "{rel["sites"]}"
communes = {{ path = "{rel["areas"]}", layer = "communes" }}
[model]
radius_km = 3
''', encoding="utf-8")
    monkeypatch.chdir(study)
    one = tmp_path / "runs" / "first"   # (a folder at another depth than the scenario's)
    first = CliRunner().invoke(cli, ["run", "s.toml", "--out", str(one), "-q"])
    assert first.exit_code == 0, first.output
    assert "Outputs in" not in first.output and "Scorecard: " in first.output   # -q: no file list
    monkeypatch.chdir(one)
    again = CliRunner().invoke(cli, ["run", "scenario.toml", "--out", str(tmp_path / "two")])
    assert again.exit_code == 0, again.output
    assert "Outputs in" in again.output and "  scenario.toml\n" in again.output
    with rasterio.open(one / "covered_5g.tif") as a, rasterio.open(tmp_path / "two" / "covered_5g.tif") as b:
        np.testing.assert_array_equal(a.read(1), b.read(1))


def test_indoor_without_a_percentage_is_the_median():
    from phusong.settings import parse_indoor

    assert parse_indoor("traditional") == parse_indoor("traditional:50") == ("traditional", 50.0)
    assert parse_indoor("thermally-efficient:10") == ("thermally-efficient", 10.0)
    with pytest.raises(InputError, match="0 < P < 100"):
        parse_indoor("traditional:100")
