"""``phusong run``: a whole study from one scenario file."""
from __future__ import annotations

import tempfile
from pathlib import Path

import click

from .options import cli_command, cache_option, check_output_dir, open_cache, overwrite_option, path_type, progress, \
    language_option, verbosity, verbosity_options


def summary(out_dir: Path) -> None:
    """List a study's output folder (not with -q) and where to find the scorecard, map and GIS layers."""
    if verbosity().level >= 0:
        click.echo(f"Outputs in {out_dir}/:")
        for p in sorted(out_dir.iterdir()):
            if p.is_file():
                click.echo(f"  {p.name}")
    if (out_dir / "scorecard.md").exists():
        click.echo(f"Scorecard: {out_dir / 'scorecard.md'}   Map: {out_dir / 'map.html'}   "
                   f"GIS layers: {out_dir / 'gaps.gpkg'}")


@cli_command("run")
@click.argument("scenario", type=path_type(dir_okay=False))
@click.option("--out", "out_dir", type=path_type(file_okay=False), required=True, help="Output folder.")
@language_option
@cache_option
@overwrite_option
@verbosity_options
def command(scenario: Path, out_dir: Path, cache_dir, overwrite, study__language):
    """Run a whole study from a SCENARIO.toml file (the keys are the flags of `simulate` and `gaps`)."""
    from .._tables import read_toml, toml_text
    from ..pipeline import run_study
    from ..settings import Settings, absolute_paths

    check_output_dir(out_dir, overwrite)
    settings = Settings.from_toml(scenario)
    if study__language:
        settings = settings.replace(study={"language": study__language})
    with tempfile.TemporaryDirectory() as staging:
        # the scenario as run, its relative paths made absolute: `phusong run OUT/scenario.toml` repeats it
        copy = Path(staging) / "scenario.toml"
        tables = absolute_paths(read_toml(scenario), scenario.resolve().parent)
        if study__language:
            tables.setdefault("study", {})["language"] = study__language
        copy.write_text(toml_text(tables, [f"The scenario of this run, from {scenario.resolve()}, with its relative "
                                           "paths made absolute"]), encoding="utf-8")
        run_study(settings, out_dir, overwrite=overwrite, progress=progress(), cache=open_cache(cache_dir),
                  include={"scenario.toml": copy})
    summary(out_dir)
