"""``phusong map``: an HTML map of a run and its gaps, for the province or one commune."""
from __future__ import annotations

import click

from .options import cli_command, overwrite_option, path_type, verbosity_options


@cli_command("map")
@click.option("--run", "run_dir", required=True, type=path_type(file_okay=False), help="Run folder.")
@click.option("--gaps", "gaps_gpkg", required=True, type=path_type(dir_okay=False),
              help="GeoPackage from `phusong gaps`.")
@click.option("--out", required=True, type=path_type(dir_okay=False), help="HTML map to write.")
@click.option("--commune", help="One commune, by code (leading zeros optional) or name (diacritics optional): a "
              "map of that commune only, with its gaps.")
@click.option("--lang", type=click.Choice(["vi", "en"]),
              help="Label language: vi or en (default: the run's `study.language`, else vi).")
@click.option("--plan", "plan_dir", type=path_type(file_okay=False),
              help="Plan folder (from `phusong plan`): show its proposed sites, numbered in build order.")
@overwrite_option
@verbosity_options
def command(run_dir, gaps_gpkg, out, commune, lang, plan_dir, overwrite):
    """An HTML map (Folium) of coverage and gaps, for the province or one commune."""
    from .._atomic import check_writable
    from ..coverage.network import Coverage
    from ..gaps.rules import GapResult
    from ..outputs.maps import write_map

    check_writable(out, overwrite)
    if not gaps_gpkg.exists():
        from ..errors import InputError
        raise InputError("no such file", path=gaps_gpkg)
    actions = None
    if plan_dir is not None:
        from ..outputs.plan import read_plan_actions
        actions = read_plan_actions(plan_dir)
    coverage = Coverage.from_run_folder(run_dir)
    write_map(out, coverage, GapResult.from_geopackage(gaps_gpkg), commune, lang or coverage.settings.study.language,
              overwrite, actions)
    click.echo(f"map -> {out} ({out.stat().st_size / 1e6:.1f} MB)")
