from click.testing import CliRunner

from phusong import __version__
from phusong.cli import cli


def test_help_and_version():
    runner = CliRunner()
    result = runner.invoke(cli, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "run", "sites", "terrain"):
        assert command in result.output
    result = runner.invoke(cli, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output


def test_every_command_takes_verbosity_options():
    runner = CliRunner()
    for args in (["demo"], ["run"], ["sites", "validate"], ["terrain", "info"]):
        result = runner.invoke(cli, args + ["--help"])
        assert result.exit_code == 0
        assert "--verbose" in result.output and "--quiet" in result.output


def test_bad_input_is_one_line_and_exit_2(tmp_path):
    scenario = tmp_path / "s.toml"
    scenario.write_text("[study]\nname='x'\n[inputs]\nterrain='nope.tif'\n")
    result = CliRunner().invoke(cli, ["run", str(scenario), "--out", str(tmp_path / "out")])
    assert result.exit_code == 2
    assert result.output.strip().count("\n") == 0
    assert "[inputs] needs 'sites'" in result.output and "Traceback" not in result.output


def test_missing_input_file_exit_2(tmp_path):
    result = CliRunner().invoke(cli, ["sites", "validate", str(tmp_path / "absent.csv")])
    assert result.exit_code == 2 and "absent.csv: no such file" in result.output


def test_usage_error_exit_2():
    result = CliRunner().invoke(cli, ["run"])
    assert result.exit_code == 2


def test_existing_output_needs_overwrite(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user's file")
    result = CliRunner().invoke(cli, ["demo", "--out", str(out)])
    assert result.exit_code == 2 and "--overwrite" in result.output
    assert (out / "keep.txt").read_text() == "user's file"


def test_terrain_info_reports_voids(shared):
    tile = shared("data", "terrain", "N46E008.hgt")
    result = CliRunner().invoke(cli, ["terrain", "info", str(tile), "--crs", "EPSG:32632", "--res-m", "90"])
    assert result.exit_code == 0, result.output
    assert "voids filled: 103743" in result.output and "EPSG:32632" in result.output
    assert "DEMONSTRATION" not in result.output   # real SRTM


def test_terrain_info_says_when_the_terrain_is_synthetic(demo_inputs):
    result = CliRunner().invoke(cli, ["terrain", "info", str(demo_inputs.dem), "--res-m", "200"])
    assert result.exit_code == 0, result.output
    assert "DEMONSTRATION: dem_demo.tif: synthetic terrain" in result.output
