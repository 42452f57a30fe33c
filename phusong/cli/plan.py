"""``phusong plan``: which sites to build, share or upgrade to reach the targets at least cost."""
from __future__ import annotations

import click

from .options import (cache_option, check_output_dir, cli_command, open_cache, overwrite_option, path_type, progress,
                      setting_option, settings_from, verbosity_options)

PLAN_KEYS = ("target_ids", "candidates", "costs", "budget", "max_sites", "operator", "technology",
             "new_site_spacing_m", "new_sites_per_cluster", "new_site_search_km", "max_new_sites", "new_site_mask",
             "milp_time_limit_s")


def plan_options(f):
    """Every ``[plan]`` setting as a flag."""
    for key in reversed(PLAN_KEYS):
        f = setting_option(f"plan.{key}")(f)
    return f


@cli_command("plan")
@click.option("--run", "run_dir", required=True, type=path_type(file_okay=False, exists=True),
              help="Run folder of the existing network (from `phusong simulate` or `run`).")
@click.option("--gaps", "gaps_gpkg", required=True, type=path_type(dir_okay=False, exists=True),
              help="Its gap analysis (GeoPackage from `phusong gaps` or `run`): the units the targets count.")
@click.option("--dem", "dems", multiple=True, required=True, type=path_type(dir_okay=False),
              help="The run's DEM tile(s) (re-read on the run's grid; terrain passes come from the cache).")
@click.option("--sites", "sites_path", required=True, type=path_type(dir_okay=False),
              help="The run's site list; rows of status 'candidate' are candidates too.")
@click.option("--population", type=path_type(dir_okay=False),
              help="People-per-cell raster (as given to `gaps`); default: the communes' population spread evenly.")
@click.option("--scenario", type=path_type(dir_okay=False, exists=True),
              help="Read [plan] (and [study] name) from this scenario file; flags given here override it.")
@plan_options
@setting_option("study.name", default=None, show_default=False, help="Study name in the plan's title "
                "(default: the run's).")
@click.option("--out", "out_dir", required=True, type=path_type(file_okay=False), help="Plan folder to write.")
@cache_option
@overwrite_option
@verbosity_options
def command(run_dir, gaps_gpkg, dems, sites_path, population, scenario, out_dir, cache_dir, overwrite, **params):
    """The least-cost set of upgrades, shared masts and new sites that reaches the targets.

    Writes plan.gpkg (actions, candidates, unreachable, communes), sites_after.csv (valid input for
    `simulate`), plan.md, plan.html and plan.json. With --budget or --max-sites the plan reaches as
    much of the targets as the limit allows instead.
    """
    from ..pipeline import plan_study

    check_output_dir(out_dir, overwrite)
    name = params.pop("study__name")
    tables: dict = {"study": {"name": name} if name else {}}
    if scenario is not None:
        from .._tables import read_toml
        from ..settings import Settings
        base = Settings.from_toml(scenario)   # validates the whole file
        tables["plan"] = {k: v for k, v in base.to_dict()["plan"].items() if v is not None}
        ctx = click.get_current_context()
        params = {k: v for k, v in params.items()
                  if ctx.get_parameter_source(k) is not click.core.ParameterSource.DEFAULT}
        if name is None:
            name = read_toml(scenario).get("study", {}).get("name")
            tables["study"] = {"name": name} if name else {}
    settings = settings_from(params, **tables)
    if name is None:
        import dataclasses
        from ..coverage.network import Coverage
        study = Coverage.from_run_folder(run_dir).settings.study
        settings = dataclasses.replace(settings, study=dataclasses.replace(settings.study, name=study.name))
    plan = plan_study(settings, run_dir, gaps_gpkg, dems, sites_path, out_dir, population=population,
                      cache=open_cache(cache_dir), overwrite=overwrite, progress=progress())
    met = plan.targets[plan.targets["status_after"] == "met"]["target_id"].tolist()
    gap = "" if plan.gap_pct is None else f", within {plan.gap_pct:.2f}% of the optimum"
    click.echo(f"{len(plan.actions)} actions, {plan.total_cost:,.0f} {plan.currency}{gap}; targets met after the "
               f"plan: {', '.join(met) or 'none'}; {len(plan.unreachable)} unreachable units -> {out_dir}"
               + (" (DEMONSTRATION)" if plan.demonstration else ""))
