"""``phusong gaps``: the gap analysis of a run folder against a plan's targets."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import rasterio

from .._raster import Grid
from ..data.boundaries import population_points, read_communes, read_points, read_population, read_zones
from ..data.targets import load_targets
from ..errors import InputError
from ..sites import read_sites
from ..sites.schema import TECH_SLUG
from .gaps import analyse
from .report import write_gpkg, write_report



def read_run_folder(run_dir) -> tuple[Grid, dict, dict, bool]:
    """(grid, covered by technology, rsrp by technology, demonstration?) of any run folder."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise InputError("not a folder", path=run_dir)
    covered, rsrp = {}, {}
    grid = None
    demonstration = False
    for tech, slug in TECH_SLUG.items():
        path = run_dir / f"covered_{slug}.tif"
        if not path.exists():
            continue
        with rasterio.open(path) as src:
            g = Grid(src.height, src.width, src.transform, src.crs)
            if grid is None:
                grid = g
            elif (g.transform, g.height, g.width) != (grid.transform, grid.height, grid.width):
                raise InputError("rasters of the run are on different grids", path=path)
            covered[tech] = src.read(1)
            demonstration |= "DEMONSTRATION" in src.tags().get("DESCRIPTION", "")
        rpath = run_dir / f"rsrp_{slug}.tif"
        if rpath.exists():
            with rasterio.open(rpath) as src:
                rsrp[tech] = src.read(1)
    if grid is None:
        raise InputError("no covered_<tech>.tif in the run folder (4g, 5g or nbiot)", path=run_dir)
    return grid, covered, rsrp, demonstration


def run_gaps(run_dir, communes, out, *, communes_layer=None, centres=None, centres_layer=None, villages=None,
             villages_layer=None, zones=None, zones_layer=None, sites=None,
             population=None, population_field=None, targets="langson-2025-2030", indicators=None, id_field="code",
             name_field="name", report_dir=None, centre_rule="cell", zone_share_pct=90.0,
             settlement_min_people=50.0, overwrite=False, title=None):
    grid, covered, rsrp, demo = read_run_folder(run_dir)
    crs = grid.crs
    gdf = read_communes(communes, crs, communes_layer, id_field, name_field)
    centre_gdf = read_points(centres, crs, centres_layer, id_field, name_field) if centres else None
    village_gdf = read_points(villages, crs, villages_layer, id_field, name_field) if villages else None
    zone_gdf = read_zones(zones, crs, zones_layer, id_field, name_field) if zones else None
    site_gdf = read_sites(sites) if sites else None
    people = read_population(population, grid) if population else None
    settlements = population_points(population, crs, settlement_min_people) \
        if population and village_gdf is None else None
    ind = None
    if indicators:
        ind = pd.read_csv(indicators, encoding="utf-8-sig")
        missing = {"target_id", "value"} - set(ind.columns)
        if missing:
            raise InputError(f"indicators need columns target_id,value,source,date; missing {sorted(missing)}",
                             path=indicators)
    result = analyse(covered, grid, gdf, load_targets(targets), rsrp=rsrp, centres=centre_gdf, villages=village_gdf,
                     zones=zone_gdf, sites=site_gdf, population=people, indicators=ind,
                     zone_share_pct=zone_share_pct, centre_rule=centre_rule, population_field=population_field,
                     settlements=settlements)
    write_gpkg(out, result, overwrite=overwrite, demonstration=demo)
    if report_dir:
        write_report(report_dir, result, title or f"Coverage scorecard — {Path(run_dir).name}", demo, overwrite=True)
    return result


def totals_line(result) -> str:
    t = result.targets
    met = int((t["status"] == "met").sum())
    missed = int((t["status"] == "not met").sum())
    nodata = int((t["status"] == "no data").sum())
    worst = t[t["status"] == "not met"]["target_id"].tolist()
    return f"{met} targets met, {missed} not met ({', '.join(worst)}), {nodata} without data" if missed else \
        f"{met} targets met, {nodata} without data"



