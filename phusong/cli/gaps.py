"""``phusong gaps``: the gap analysis of a run folder against a plan's targets."""
from __future__ import annotations

import click

from ..data.targets import DEFAULT_CATALOGUE

from .options import (cli_command, demonstration_note, field_options, language_option, layer_input, overwrite_option, path_type,
                      pop_settings_params, setting_option, settings_from, verbosity_options)


def _layer(name: str, help: str):
    def deco(f):
        f = click.option(f"--{name}-layer", help=f"Layer of --{name} (default: its first layer).")(f)
        return click.option(f"--{name}", type=path_type(dir_okay=False), help=help)(f)
    return deco


@cli_command("gaps")
@click.option("--run", "run_dir", required=True, type=path_type(file_okay=False),
              help="Run folder (from `phusong simulate`: covered_<tech>.tif, optionally rsrp_<tech>.tif).")
@click.option("--communes", required=True, type=path_type(dir_okay=False), help="Commune polygons.")
@click.option("--communes-layer", help="Layer of --communes (default: its first layer).")
@_layer("centres", "Commune centres (points).")
@_layer("villages", "Villages (points; a has_power field excludes villages without grid power).")
@_layer("zones", "Industrial zones (polygons, or points with area_ha).")
@click.option("--priority", "priority", multiple=True, metavar="NAME=FILE[:LAYER]",
              help="A layer of the plan's priority places (points: share covered; lines, e.g. roads: length "
                   "covered per road and per commune; polygons: share of area), by 5G and by mobile broadband; "
                   "repeat for more (e.g. --priority health=osm.gpkg:health --priority roads=roads.gpkg).")
@click.option("--sites", type=path_type(dir_okay=False), help="Site list (for sites per unit).")
@click.option("--population", type=path_type(dir_okay=False), help="People-per-cell raster.")
@setting_option("gaps.population_field")
@click.option("--targets", default=DEFAULT_CATALOGUE, show_default=True, help="Targets catalogue (name or .toml).")
@click.option("--indicators", type=path_type(dir_okay=False),
              help="Measured indicator values: CSV target_id,value,source,date.")
@field_options
@setting_option("gaps.centre_rule")
@setting_option("gaps.zone_share_pct")
@setting_option("gaps.settlement_min_people")
@setting_option("study.name", default=None, show_default=False, help="Study name in the report title "
                "(default: the run's).")
@language_option
@click.option("--out", required=True, type=path_type(dir_okay=False), help="GeoPackage to write.")
@click.option("--report", "report_dir", type=path_type(file_okay=False),
              help="Also write the scorecard (md, html, csv, json) into this folder.")
@overwrite_option
@verbosity_options
def command(run_dir, communes, communes_layer, centres, centres_layer, villages, villages_layer, zones, zones_layer,
            priority, sites, population, targets, indicators, id_field, name_field, out, report_dir, overwrite,
            **params):
    """Coverage of communes, centres, villages and zones against the plan's targets."""
    import dataclasses

    from .._atomic import check_writable
    from ..coverage.network import Coverage
    from ..pipeline import analyse_inputs, load_gap_inputs

    check_writable(out, overwrite)
    coverage = Coverage.from_run_folder(run_dir)
    fields = {"id_field": id_field, "name_field": name_field}
    inputs = {"communes": layer_input(communes, communes_layer, **fields),
              "centres": layer_input(centres, centres_layer, **fields),
              "villages": layer_input(villages, villages_layer, **fields),
              "zones": layer_input(zones, zones_layer, **fields),
              "sites": sites and str(sites), "population": population and str(population),
              "indicators": indicators and str(indicators), "targets": targets,
              "priority": _priority_layers(priority)}
    name, language = params.pop("study__name"), params.pop("study__language")
    settings = settings_from(pop_settings_params(params), inputs={k: v for k, v in inputs.items() if v is not None})
    study = dataclasses.replace(coverage.settings.study, name=name or coverage.settings.study.name,
                                language=language or coverage.settings.study.language)
    settings = dataclasses.replace(settings, study=study, model=coverage.settings.model,
                                   coverage=coverage.settings.coverage)
    result = analyse_inputs(coverage, load_gap_inputs(settings, coverage.grid), settings)
    result.to_geopackage(out, overwrite=overwrite)
    if report_dir:
        result.write_scorecard(report_dir, overwrite=True, lang=study.language)
    click.echo(f"{len(result.communes)} communes -> {out}; {totals_line(result)}{demonstration_note(result.demonstration)}")
    if result.priority_summary is not None:
        for r in result.priority_summary.itertuples(index=False):
            click.echo(f"  priority {r.layer} ({r.features} {r.kind}): {r.service} {r.covered_pct:g}% of "
                       f"{r.total:g} {r.unit}")
    if report_dir:
        click.echo(f"scorecard: {report_dir}/scorecard.md, .html, .csv, .json")


def _priority_layers(specs) -> dict:
    """``--priority`` values as {name: layer}; a name given twice is an error (the second would replace the first)."""
    from ..errors import InputError
    from ..settings import parse_priority

    out: dict = {}
    for spec in specs:
        name, layer = parse_priority(spec)
        if name in out:
            raise InputError(f"priority layer name {name!r} is given twice: name each layer differently",
                             argument="priority")
        out[name] = layer
    return out


def totals_line(result) -> str:
    """One line: how many targets are met, not met (which) and without data."""
    t = result.targets
    met = int((t["status"] == "met").sum())
    missed = int((t["status"] == "not met").sum())
    nodata = int((t["status"] == "no data").sum())
    worst = t[t["status"] == "not met"]["target_id"].tolist()
    return f"{met} targets met, {missed} not met ({', '.join(worst)}), {nodata} without data" if missed else \
        f"{met} targets met, {nodata} without data"
