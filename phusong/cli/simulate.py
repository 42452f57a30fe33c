"""``phusong simulate``: a run folder from a DEM and a site list."""
from __future__ import annotations

import click

from .options import (cli_command, cache_option, check_output_dir, grid_options, landcover_options, layer_input,
                      model_options, open_cache, overwrite_option, path_type, progress, setting_option, settings_from,
                      verbosity_options)

COVERAGE_KEYS = ("technologies", "thresholds_dbm", "location_probability", "sigma_db", "load_factor",
                 "indoor_loss_db", "indoor", "noise_figure_db", "nbiot_mcl_db", "per_operator", "include_candidates",
                 "rasters")


def coverage_options(f):
    """Every ``[coverage]`` setting as a flag."""
    for key in reversed(COVERAGE_KEYS):
        f = setting_option(f"coverage.{key}")(f)
    return f


@cli_command("simulate")
@click.option("--dem", "dems", multiple=True, required=True, type=path_type(dir_okay=False), help="DEM tile(s).")
@click.option("--sites", "sites_path", required=True, type=path_type(dir_okay=False),
              help="Site list (CSV, Excel .xlsx, GeoPackage, GeoJSON).")
@click.option("--sites-sheet", "--sheet", "sites_sheet", help="The sheet of an Excel site list (default: the first).")
@click.option("--out", "out_dir", required=True, type=path_type(file_okay=False), help="Run folder to write.")
@grid_options
@model_options
@setting_option("model.radius_km")
@setting_option("model.clutter", type=click.Choice(["", "p2108"]))
@setting_option("model.calibration", default=None, show_default=False)
@landcover_options
@coverage_options
@click.option("--area", type=path_type(dir_okay=False),
              help="Study-area polygons (any OGR format); default: the sites' reach.")
@click.option("--area-layer", help="Layer of --area (default: its first layer).")
@setting_option("study.name")
@setting_option("study.demonstration")
@setting_option("study.language", help="Language of the maps and scorecards made from this run later "
                "(`gaps --report`, `map`): vi or en.", type=click.Choice(["vi", "en"]))
@cache_option
@click.option("--dask-address", help="Run batches on an existing Dask cluster, e.g. tcp://127.0.0.1:8786.")
@overwrite_option
@verbosity_options
def command(dems, sites_path, sites_sheet, out_dir, area, area_layer, landcover, cache_dir, dask_address, overwrite,
            **params):
    """Best server, SINR and coverage for every technology (and operator) over a DEM."""
    import time

    from ..pipeline import checksums, load_simulation_inputs, simulate

    t0 = time.perf_counter()
    check_output_dir(out_dir, overwrite)
    settings = settings_from(params, inputs={"terrain": [str(p) for p in dems], "sites": str(sites_path),
                                             "sites_sheet": sites_sheet, "area": layer_input(area, area_layer),
                                             "landcover": str(landcover) if landcover else None})
    cache = open_cache(cache_dir)
    sim = load_simulation_inputs(settings, cache)
    inputs_s = round(time.perf_counter() - t0, 2)
    coverage = simulate(sim.terrain, sim.sites, settings, area_mask=sim.area_mask, cache=cache,
                        progress=progress(), dask_address=dask_address, demonstration=sim.demonstration,
                        landcover=sim.landcover)
    coverage.stats["data_credits"] = list(sim.credits)
    coverage.to_run_folder(out_dir, overwrite=overwrite, record={
        "command": "simulate", "inputs_sha256": checksums(sim.files), "dask_address": dask_address,
        "timings": {"inputs_s": inputs_s, "total_s": round(time.perf_counter() - t0, 2)}}, cache=cache)
    s = coverage.stats
    cal = settings.model.calibration
    reused = s.get("fold_reused", False)
    click.echo(f"{s['cells']} cells, {s['terrain_passes']} terrain passes ({s['cache_hits']} from the cache"
               + (f"; the last full run's fold reused, {s['passes_folded']} sites folded again" if reused else "")
               + f") in {time.perf_counter() - t0:.1f} s -> {out_dir}"
               + (f" (calibrated: {cal.source or 'a calibration'})" if cal is not None else ""))
