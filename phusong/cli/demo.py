"""``phusong demo``: the whole pipeline on the built-in synthetic demonstration region."""
from __future__ import annotations

import tempfile
from pathlib import Path

import click

from .options import cli_command, cache_option, check_output_dir, language_option, open_cache, overwrite_option, \
    path_type, progress, verbosity_options
from .run import summary


@cli_command("demo")
@click.option("--out", "out_dir", type=path_type(file_okay=False), default="demo-output", show_default=True,
              help="Output folder.")
@language_option
@cache_option
@overwrite_option
@verbosity_options
def command(out_dir: Path, cache_dir, overwrite, study__language):
    """Run the whole pipeline on a built-in SYNTHETIC demonstration region (no files, no network)."""
    from ..data.demo import demo_scenario_toml, generate
    from ..pipeline import run_study
    from ..settings import Settings

    check_output_dir(out_dir, overwrite)
    with tempfile.TemporaryDirectory(prefix="phusong-demo-") as staging_name:
        staging = Path(staging_name)
        click.echo("Generating the synthetic demonstration region ...", err=True)
        generate(staging / "inputs")
        (staging / "scenario.toml").write_text(demo_scenario_toml(), encoding="utf-8")
        settings = Settings.from_toml(staging / "scenario.toml")
        if study__language:
            settings = settings.replace(study={"language": study__language})
        click.echo("Running the study (a first run compiles the kernels, ~30 s) ...", err=True)
        run_study(settings, out_dir, overwrite=True, progress=progress(), cache=open_cache(cache_dir),
                  include={"inputs": staging / "inputs", "scenario.toml": staging / "scenario.toml"})
    summary(out_dir)
