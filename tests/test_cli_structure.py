"""The CLI package: every command answers --help, takes -v/-q before and after its name, and fails cleanly."""
import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from phusong.cli import cli


def _commands(group=cli, prefix=()):
    for name, cmd in group.commands.items():
        yield prefix + (name,)
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, prefix + (name,))


COMMANDS = list(_commands())


def test_the_commands_are_all_there():
    assert {c[0] for c in COMMANDS} == {"demo", "run", "simulate", "gaps", "plan", "map", "sites", "terrain", "path",
                                         "footprint", "models", "measurements", "check", "calibrate", "data"}
    assert ("sites", "validate") in COMMANDS and ("terrain", "info") in COMMANDS
    assert ("measurements", "validate") in COMMANDS and ("data", "fetch") in COMMANDS


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_help_and_verbosity_in_both_positions(command):
    runner = CliRunner()
    for args in (["-v", *command, "--help"], [*command, "-v", "--help"], ["-q", *command, "--help"],
                 [*command, "-q", "--help"], ["-v", "-q", *command, "-v", "--help"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, (args, result.output)
        assert "Usage: " in result.output
    help_text = runner.invoke(cli, [*command, "--help"]).output
    assert "--verbose" in help_text and "--quiet" in help_text


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_before_or_after_the_command_shows_the_traceback(where, tmp_path):
    """`-v` anywhere on the line counts (it used to be ignored before the command name)."""
    missing = str(tmp_path / "absent.toml")
    args = ["-v", "run", missing, "--out", str(tmp_path / "o")] if where == "before" else \
        ["run", missing, "--out", str(tmp_path / "o"), "-v"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "Traceback" in result.output and "absent.toml: no such file" in result.output
    quiet = CliRunner().invoke(cli, ["run", missing, "--out", str(tmp_path / "o")])
    assert quiet.exit_code == 2 and "Traceback" not in quiet.output
    assert quiet.output.strip() == f"Error: {missing}: no such file"


def test_an_unexpected_failure_is_exit_1_with_one_line(monkeypatch, tmp_path):
    import phusong.pipeline

    def boom(*a, **k):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(phusong.pipeline, "run_study", boom)
    scenario = tmp_path / "s.toml"
    scenario.write_text("")
    result = CliRunner().invoke(cli, ["run", str(scenario), "--out", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: RuntimeError: disk on fire (run with -v for the traceback)"
    loud = CliRunner().invoke(cli, ["run", str(scenario), "--out", str(tmp_path / "o"), "-v"])
    assert loud.exit_code == 1 and "Traceback" in loud.output and "disk on fire" in loud.output


def test_help_is_fast_because_heavy_libraries_load_lazily():
    code = ("import sys; from phusong.cli import cli; import phusong; "
            "print(sorted(m for m in ('numba', 'geopandas', 'rasterio', 'folium', 'pandas', 'pyogrio') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@pytest.mark.parametrize("policy, stalls", [("always defer defer+madvise [madvise] never", True),
                                            ("[always] defer defer+madvise madvise never", True),
                                            ("always defer [defer+madvise] madvise never", True),
                                            ("always [defer] defer+madvise madvise never", False),
                                            ("always defer defer+madvise madvise [never]", False), ("", False)])
def test_huge_page_advice_is_dropped_only_where_the_kernel_compacts_on_it(policy, stalls):
    from phusong.cli import stalls_on_huge_page_advice

    assert stalls_on_huge_page_advice(policy + "\n") is stalls


@pytest.mark.parametrize("env", [None, "1"])
def test_the_command_line_drops_numpys_huge_page_advice_unless_numpys_setting_is_given(env, tmp_path):
    """In a fresh process: the console script's entry point, on a kernel policy read from a file put in place."""
    policy = tmp_path / "defrag"
    policy.write_text("always defer defer+madvise [madvise] never\n")
    code = ("import sys, numpy, phusong.cli as c\n"
            f"c.THP_DEFRAG = {str(policy)!r}\n"
            "sys.argv = ['phusong', '--version']\n"
            "try:\n    c.main()\nexcept SystemExit:\n    pass\n"
            "core = getattr(numpy, '_core', None) or numpy.core\n"
            "print('advice', core.multiarray._set_madvise_hugepage(True))\n")
    env_vars = {k: v for k, v in os.environ.items() if k != "NUMPY_MADVISE_HUGEPAGE"}
    if env is not None:
        env_vars["NUMPY_MADVISE_HUGEPAGE"] = env
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env_vars, check=True)
    assert out.stdout.strip().splitlines()[-1] == ("advice True" if env == "1" else "advice False")
