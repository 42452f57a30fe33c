"""The ``phusong`` command line, rio-style: the group here, shared options in :mod:`.options`, one module
per command. Heavy libraries are imported inside the commands, so that ``phusong --help`` stays fast."""
from __future__ import annotations

import click

from .. import __version__
from .options import Group, verbosity_options


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="phusong")
@verbosity_options
def cli():
    """phusong: 4G/5G coverage planning against a province's coverage targets.

    -v/-q work before or after the command name. Exit codes: 0 success, 1 failure, 2 bad input.
    """


def _register() -> None:
    from . import (calibrate, check, data, demo, footprint, gaps, map, measurements, models, path, plan, run, simulate,
                   sites, terrain)

    for module in (demo, run, simulate, gaps, plan, map, calibrate, check, sites, measurements, data, terrain, path,
                   footprint, models):
        cli.add_command(module.command)


_register()


def main() -> None:
    """Entry point of the ``phusong`` console script."""
    cli(prog_name="phusong")
