"""``phusong check``: a run's coverage against measured signal, commune by commune."""
from __future__ import annotations

import click

from .options import cli_command, field_options, overwrite_option, path_type, verbosity_options


@cli_command("check")
@click.option("--run", "run_dir", required=True, type=path_type(file_okay=False), help="Run folder.")
@click.option("--measurements", "measurements_path", required=True, type=path_type(dir_okay=False),
              help="Signal samples (see `phusong measurements validate`).")
@click.option("--communes", required=True, type=path_type(dir_okay=False), help="Commune polygons.")
@click.option("--communes-layer", help="Layer of --communes (default: its first layer).")
@field_options
@click.option("--sites", type=path_type(dir_okay=False),
              help="Site list: use only samples whose serving cell_id is one of its cells (the others are "
                   "counted and left out).")
@click.option("--technology", default="5G", show_default=True, type=click.Choice(["4G", "5G"]),
              help="The layer checked (5G against SS-RSRP samples, 4G against RSRP samples).")
@click.option("--operator", help="Check one operator: its samples against its own layer (a run made with "
              "`simulate --per-operator`). Default: every sample against the best of all operators.")
@click.option("--confidence", default=0.95, show_default=True, type=click.FloatRange(0.5, 0.999),
              help="Confidence of the interval around each commune's measured share.")
@click.option("--out", required=True, type=path_type(dir_okay=False),
              help="GeoPackage to write (layers communes and samples).")
@overwrite_option
@verbosity_options
def command(run_dir, measurements_path, communes, communes_layer, id_field, name_field, sites, technology, operator,
            confidence, out, overwrite):
    """Each commune's measured share of samples at the coverage level against what the run predicts there."""
    import pyogrio

    from .._atomic import atomic_path, check_writable
    from ..coverage.network import Coverage
    from ..data.boundaries import read_communes
    from ..measurements import read_measurements
    from ..measurements.check import STATUSES, check_communes

    check_writable(out, overwrite)
    coverage = Coverage.from_run_folder(run_dir)
    samples = read_measurements(measurements_path)
    read_count, notes, synthetic = len(samples), [], samples.attrs.get("synthetic", "")
    if sites is not None:
        from ..sites.read import read_sites
        known = samples["cell_id"].isin(set(read_sites(sites)["cell_id"].astype(str)))
        notes.append(f"{int((~known).sum())} not from a cell of {sites.name}")
        samples = samples[known]
    units = read_communes(communes, coverage.grid.crs, layer=communes_layer, id_field=id_field,
                           name_field=name_field)
    result, used = check_communes(coverage, samples, units, technology, confidence, operator)
    click.echo(f"{read_count} samples read; {len(used)} used ({technology}, {'SS-RSRP' if technology == '5G' else 'RSRP'}"
               f"{', ' + operator if operator else ''}, inside a commune)" + ("; " + "; ".join(notes) if notes else ""))
    # a demonstration when the run is one, or when the measurements are marked synthetic
    reasons = (*coverage.demonstration, *((synthetic,) if synthetic else ()))
    if reasons:
        label = "; ".join(reasons)
        result, used = result.assign(demonstration=label), used.assign(demonstration=label)
    with atomic_path(out, overwrite) as tmp:
        pyogrio.write_dataframe(result, tmp, layer="communes", driver="GPKG")
        pyogrio.write_dataframe(used.drop(columns=["time"]).assign(time=used["time"].astype(str)), tmp,
                                layer="samples", driver="GPKG", append=True)
    counts = result["status"].value_counts()
    click.echo(f"{len(used)} {technology} samples in {int((result['samples'] > 0).sum())} of {len(result)} "
               f"communes -> {out}; " + ", ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES))
    for _, r in result[result["status"] == "refuted"].iterrows():
        click.echo(f"  refuted: {r['code']} {r['name']}: measured {r['measured_share_pct']:g}% "
                   f"(up to {r['ci_high_pct']:g}%) against a claimed {r['claimed_min_share_pct']:g}% or more")
    if reasons:
        click.echo(f"DEMONSTRATION: {label}", err=True)
