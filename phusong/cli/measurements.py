"""``phusong measurements ...``: drive-test and crowdsourced signal samples."""
from __future__ import annotations

import click

from .options import Group, path_type, verbosity_options


@click.group("measurements", cls=Group)
@verbosity_options
def command():
    """Signal samples: drive tests, TowerCollector and OpenCelliD exports."""


@command.command("validate")
@click.argument("file", type=path_type(dir_okay=False))
@click.option("--sites", type=path_type(dir_okay=False),
              help="Also check that every serving cell is a cell of this site list.")
@click.option("--sheet", help="The sheet of an Excel workbook (default: the first).")
@verbosity_options
def validate(file, sites, sheet):
    """Check a measurement file; print every problem and what it holds; exit 2 when anything is wrong."""
    from ..measurements import validate_measurements

    report = validate_measurements(file, sites, sheet=sheet)
    for line in report.lines():
        click.echo(line)
    click.echo(f"{file}: {report.summary()}")
    if not report.ok:
        click.echo(f"{file}: {len(report.issues)} problem(s) in {report.rows} row(s)", err=True)
        raise click.exceptions.Exit(2)
