"""``phusong sites ...``: site lists."""
from __future__ import annotations

import click

from .options import Group, path_type, verbosity_options


@click.group("sites", cls=Group)
@verbosity_options
def command():
    """Site lists (one row per cell)."""


@command.command("validate")
@click.argument("file", type=path_type(dir_okay=False))
@click.option("--dem", "dems", multiple=True, type=path_type(dir_okay=False),
              help="Also check that every site lies on this terrain (repeatable).")
@click.option("--sheet", help="The sheet of an Excel workbook (default: the first).")
@verbosity_options
def validate(file, dems, sheet):
    """Check a site list; print every problem; exit 2 when anything is wrong."""
    from ..data.terrain import dem_bounds_lonlat
    from ..sites import validate_sites

    report = validate_sites(file, dem_bounds_lonlat(list(dems)) if dems else None, sheet=sheet)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        click.echo(f"{file}: {len(report.issues)} problem(s) in {report.rows} row(s)", err=True)
        raise click.exceptions.Exit(2)
    click.echo(f"{file}: {report.rows} cells, no problems")
