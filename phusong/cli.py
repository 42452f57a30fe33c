"""The ``phusong`` command line: one function per command, shared options defined once."""
from __future__ import annotations

import functools
import logging
import sys
import tempfile
import traceback
from pathlib import Path

import click

from . import __version__
from .errors import PhusongError

log = logging.getLogger("phusong")


class _State:
    verbosity = 0


def _set_verbosity(ctx, param, value):
    if value:
        _State.verbosity += value if param.name == "verbose" else -value
    level = {-2: logging.ERROR, -1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(
        max(min(_State.verbosity, 2), -2), logging.DEBUG)
    logging.basicConfig(format="%(levelname)s: %(message)s", level=level, force=True)
    logging.captureWarnings(True)
    logging.getLogger("pyogrio").setLevel(logging.WARNING)  # "Created N records" is noise
    return value


def verbosity_options(f):
    """-v/--verbose and -q/--quiet, on the group and on every command."""
    f = click.option("-v", "--verbose", count=True, expose_value=False, callback=_set_verbosity,
                     help="More output; -v also shows tracebacks.")(f)
    return click.option("-q", "--quiet", count=True, expose_value=False, callback=_set_verbosity,
                        help="Less output (no progress bars).")(f)


overwrite_option = click.option("--overwrite", is_flag=True, help="Replace existing outputs.")


def handle_errors(f):
    """Errors become one line and an exit code (2 bad input, 1 failure); -v shows the traceback."""
    @functools.wraps(f)
    def wrapper(*args, **kwargs):
        try:
            return f(*args, **kwargs)
        except PhusongError as exc:
            if _State.verbosity > 0:
                traceback.print_exc()
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
            if _State.verbosity > 0:
                traceback.print_exc()
            click.echo(f"Error: {type(exc).__name__}: {exc} (run with -v for the traceback)", err=True)
            sys.exit(1)
    return wrapper


def _progress() -> bool:
    return _State.verbosity >= 0


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="phusong")
@verbosity_options
def cli():
    """phusong: 4G/5G coverage planning against a province's coverage targets."""
    _State.verbosity = 0


@cli.command()
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default="demo-output",
              show_default=True, help="Output folder.")
@overwrite_option
@verbosity_options
@handle_errors
def demo(out_dir, overwrite):
    """Run the whole pipeline on a built-in SYNTHETIC demonstration region (no files, no network)."""
    from ._atomic import check_writable
    from .data.demo import generate
    from .study import demo_scenario_toml, load_scenario, run_study

    if out_dir.exists() and any(out_dir.iterdir()):
        check_writable(out_dir, overwrite)
    with tempfile.TemporaryDirectory(prefix="phusong-demo-") as staging:
        staging = Path(staging)
        click.echo("Generating the synthetic demonstration region ...", err=True)
        generate(staging / "inputs")
        (staging / "scenario.toml").write_text(demo_scenario_toml(), encoding="utf-8")
        scenario = load_scenario(staging / "scenario.toml")
        click.echo("Running the study (first run compiles the kernels, ~30 s) ...", err=True)
        run_study(scenario, out_dir, overwrite=True, progress=_progress(),
                  include={"inputs": staging / "inputs", "scenario.toml": staging / "scenario.toml"})
    _summary(out_dir)


def _summary(out_dir: Path):
    click.echo(f"Outputs in {out_dir}/:")
    for p in sorted(out_dir.iterdir()):
        if p.is_file():
            click.echo(f"  {p.name}")
    card = out_dir / "scorecard.md"
    if card.exists():
        click.echo(f"Scorecard: {card}   Map: {out_dir / 'map.html'}   GIS layers: {out_dir / 'gaps.gpkg'}")


@cli.command()
@click.argument("scenario", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Output folder.")
@overwrite_option
@verbosity_options
@handle_errors
def run(scenario, out_dir, overwrite):
    """Run a whole study from a SCENARIO.toml file."""
    from ._atomic import check_writable
    from .study import load_scenario, run_study

    if out_dir.exists() and any(out_dir.iterdir()):
        check_writable(out_dir, overwrite)
    sc = load_scenario(scenario)
    run_study(sc, out_dir, overwrite=overwrite, progress=_progress(),
              include={"scenario.toml": scenario})
    _summary(out_dir)


@cli.group()
@verbosity_options
def sites():
    """Site lists (one row per cell)."""


@sites.command("validate")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--dem", "dems", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Also check that every site lies on this terrain (repeatable).")
@verbosity_options
@handle_errors
def sites_validate(file, dems):
    """Check a site list; print every problem; exit 2 when anything is wrong."""
    from .data.terrain import dem_bounds_lonlat
    from .sites import validate_sites

    report = validate_sites(file, dem_bounds_lonlat(list(dems)) if dems else None)
    for line in report.lines():
        click.echo(line)
    if not report.ok:
        click.echo(f"{file}: {len(report.issues)} problem(s) in {report.rows} row(s)", err=True)
        sys.exit(2)
    click.echo(f"{file}: {report.rows} cells, no problems")


@cli.group()
@verbosity_options
def terrain():
    """Terrain (DEM) inputs."""


@terrain.command("info")
@click.argument("dems", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--crs", default="EPSG:32648", show_default=True, help="Working (projected) CRS.")
@click.option("--res-m", default=30.0, show_default=True, type=float, help="Working resolution (m).")
@verbosity_options
@handle_errors
def terrain_info(dems, crs, res_m):
    """Load DEM tiles (mosaic, fill voids, reproject) and describe the working grid."""
    import numpy as np

    from .data.terrain import load_terrain

    t = load_terrain(list(dems), crs, res_m)
    h = t.array
    click.echo(f"tiles: {', '.join(p.name for p in dems)}")
    click.echo(f"voids filled: {t.void_count}")
    click.echo(f"grid: {t.grid.width} x {t.grid.height} cells of {res_m:g} m in {t.grid.crs.to_string()}")
    click.echo(f"bounds: {', '.join(f'{b:.0f}' for b in t.grid.bounds)}")
    click.echo(f"heights (m): min {np.nanmin(h):.0f}, max {np.nanmax(h):.0f}, mean {np.nanmean(h):.0f}")


# Options shared by the propagation commands, defined once.
def _model_options(f):
    from .propagation.models import MODELS
    f = click.option("--earth-radius-km", default=8500.0, show_default=True, type=float,
                     help="Effective Earth radius (8,500 km is k = 4/3).")(f)
    f = click.option("--model", default="delta-bullington", show_default=True, type=click.Choice(list(MODELS)),
                     help="Path-loss model (see `phusong models`).")(f)
    f = click.option("--freq-mhz", required=True, type=click.FloatRange(min=1.0), help="Frequency (MHz).")(f)
    return click.option("--tx-height-m", required=True, type=click.FloatRange(min=0.0),
                        help="Transmitter antenna height above ground (m).")(f)


def _grid_options(f):
    f = click.option("--res-m", default=30.0, show_default=True, type=click.FloatRange(min=0.1),
                     help="Working resolution (m).")(f)
    return click.option("--crs", default="EPSG:32648", show_default=True, help="Working (projected) CRS.")(f)


def _lonlat(text: str) -> tuple[float, float]:
    from .errors import InputError
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"--tx must be LON,LAT in degrees, got {text!r}") from None
    return lon, lat


def _read_profile(path: Path):
    import numpy as np
    import pandas as pd

    from .errors import InputError
    try:
        df = pd.read_csv(path)
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read ({exc})", path=path) from None
    if df.shape[1] < 2 or len(df) < 2:
        raise InputError("a profile needs two columns (d_km,h_m) and at least two rows", path=path)
    values = df.iloc[:, :2].apply(pd.to_numeric, errors="coerce")
    bad = values.isna().any(axis=1).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("not a number", path=path, row=i + 1, field=str(df.columns[int(values.iloc[i].isna().argmax())]))
    d, h = values.iloc[:, 0].to_numpy(float), values.iloc[:, 1].to_numpy(float)
    step = np.diff(d)
    if (step <= 0).any():
        raise InputError("distances must increase", path=path, row=int(np.flatnonzero(step <= 0)[0]) + 2,
                         field=str(df.columns[0]))
    return d, h


@cli.command()
@click.option("--profile", "profile_csv", type=click.Path(dir_okay=False, path_type=Path),
              help="Profile CSV d_km,h_m: first row the transmitter's ground, last the receiver's.")
@click.option("--dem", "dems", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="DEM tile(s), for receivers given by --rx-points.")
@click.option("--tx", "tx_lonlat", help="Transmitter LON,LAT (WGS 84), with --dem.")
@click.option("--rx-points", type=click.Path(dir_okay=False, path_type=Path), help="CSV of receivers (lon,lat).")
@_model_options
@click.option("--rx-height-m", required=True, type=click.FloatRange(min=0.0), help="Receiver height above ground (m).")
@_grid_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (profile mode).")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="Result CSV (DEM mode).")
@overwrite_option
@verbosity_options
@handle_errors
def path(profile_csv, dems, tx_lonlat, rx_points, tx_height_m, freq_mhz, model, earth_radius_km, rx_height_m,
         crs, res_m, as_json, out, overwrite):
    """Path loss over a terrain profile, or from a site to many receivers on a DEM."""
    import json

    from .errors import InputError
    from .propagation.reference import evaluate_profile

    if profile_csv:
        d, h = _read_profile(profile_csv)
        result = evaluate_profile(d, h, tx_height_m, rx_height_m, freq_mhz, earth_radius_km, model)
        if as_json:
            click.echo(json.dumps(result))
        else:
            for key, value in result.items():
                click.echo(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")
        return
    if not (dems and tx_lonlat and rx_points and out):
        raise InputError("give --profile, or all of --dem, --tx, --rx-points and --out")
    from ._atomic import atomic_path
    from .propagation.points import path_to_points

    from .data.terrain import synthetic_dem_names

    table = path_to_points(list(dems), _lonlat(tx_lonlat), rx_points, tx_height_m, rx_height_m, freq_mhz, model,
                           earth_radius_km, crs, res_m)
    synthetic = synthetic_dem_names(dems)
    if synthetic:
        table["demonstration"] = 1  # as in the GeoPackage layers: rests on stand-in terrain
    with atomic_path(out, overwrite) as tmp:
        table.to_csv(tmp, index=False)
    click.echo(f"{len(table)} receivers -> {out}{_demonstration_note(synthetic)}")


def _demonstration_note(synthetic_dems) -> str:
    return f" (DEMONSTRATION: synthetic terrain {', '.join(synthetic_dems)})" if synthetic_dems else ""


@cli.command()
@click.option("--dem", "dems", multiple=True, required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="DEM tile(s).")
@click.option("--lon", required=True, type=click.FloatRange(-180, 180), help="Site longitude (WGS 84).")
@click.option("--lat", required=True, type=click.FloatRange(-90, 90), help="Site latitude (WGS 84).")
@_model_options
@click.option("--radius-km", required=True, type=click.FloatRange(min=0.1, max=200), help="Radius (km).")
@click.option("--rx-height-m", default=1.5, show_default=True, type=click.FloatRange(min=0.0),
              help="Receiver height above ground (m).")
@_grid_options
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Loss GeoTIFF (float32 dB, nodata beyond the radius).")
@click.option("--los-out", type=click.Path(dir_okay=False, path_type=Path),
              help="LOS GeoTIFF (uint8: 1 visible, 0 not, 255 nodata).")
@overwrite_option
@verbosity_options
@handle_errors
def footprint(dems, lon, lat, tx_height_m, freq_mhz, model, earth_radius_km, radius_km, rx_height_m, crs, res_m,
              out, los_out, overwrite):
    """Basic transmission loss from one site to every cell within a radius."""
    import numpy as np

    from ._atomic import check_writable
    from ._raster import write_geotiff
    from .data.terrain import synthetic_dem_names
    from .propagation.points import site_terrain

    check_writable(out, overwrite)
    if los_out:
        check_writable(los_out, overwrite)
    from .propagation.footprint import site_footprint

    terrain, x, y = site_terrain(list(dems), lon, lat, radius_km, crs, res_m)
    fp = site_footprint(terrain.array, terrain.grid, x, y, tx_height_m, freq_mhz, radius_km, rx_height_m,
                        earth_radius_km, model)
    tags = {"MODEL": model, "FREQUENCY_MHZ": freq_mhz, "TX_HEIGHT_M": tx_height_m, "RX_HEIGHT_M": rx_height_m,
            "SITE_LONLAT": f"{lon},{lat}", "EARTH_RADIUS_KM": earth_radius_km}
    synthetic = synthetic_dem_names(dems)
    if synthetic:
        tags["DESCRIPTION"] = f"SYNTHETIC DEMONSTRATION: computed on stand-in terrain {', '.join(synthetic)}"
    write_geotiff(out, fp.loss_db, fp.grid, nodata=np.nan, tags=tags, overwrite=overwrite,
                  band_description="basic transmission loss (dB)")
    if los_out:
        write_geotiff(los_out, fp.los, fp.grid, nodata=255, tags=tags, overwrite=overwrite,
                      band_description="line of sight: 1 visible, 0 not")
    finite = fp.loss_db[np.isfinite(fp.loss_db)]
    click.echo(f"{finite.size} cells, loss {finite.min():.1f}–{finite.max():.1f} dB -> {out}"
               f"{_demonstration_note(synthetic)}")


def _thresholds(ctx, param, value):
    from .sites.schema import normalise_technology
    out = {}
    for part in filter(None, (value or "").split(",")):
        tech, _, level = part.partition("=")
        t = normalise_technology(tech)
        try:
            out[t] = float(level)
        except ValueError:
            t = None
        if t is None:
            raise click.BadParameter(f"expected TECH=DBM pairs such as 4G=-105,5G=-105, got {part!r}")
    return out


def _technologies(ctx, param, value):
    from .sites.schema import normalise_technology
    techs = [normalise_technology(t) for t in value.split(",") if t.strip()]
    if None in techs or not techs:
        raise click.BadParameter(f"expected a list of 4G, 5G, NB-IoT, got {value!r}")
    return tuple(techs)


@cli.command()
@click.option("--dem", "dems", multiple=True, required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="DEM tile(s).")
@click.option("--sites", "sites_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Site list (CSV, GeoPackage, GeoJSON).")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder to write.")
@_grid_options
@click.option("--model", default="delta-bullington", show_default=True, help="Path-loss model (`phusong models`).")
@click.option("--radius-km", default=20.0, show_default=True, type=click.FloatRange(min=0.5, max=200),
              help="Radius computed around each site (km).")
@click.option("--tech", "technologies", default="4G,5G", show_default=True, callback=_technologies,
              help="Technology layers.")
@click.option("--area", type=click.Path(dir_okay=False, path_type=Path),
              help="Study-area polygons (any OGR format); default: the sites' reach.")
@click.option("--area-layer", help="Layer of --area (default: its first layer).")
@click.option("--threshold-dbm", "thresholds", default="", callback=_thresholds,
              help="Coverage levels per technology, e.g. 4G=-105,5G=-105 (default -105 dBm both).")
@click.option("--location-probability", default=0.9, show_default=True, type=click.FloatRange(0.5, 0.999),
              help="Share of locations in a cell that must exceed the level.")
@click.option("--sigma-db", type=click.FloatRange(min=0), help="Location variability (default per model, 8 dB).")
@click.option("--load", "load_factor", default=0.5, show_default=True, type=click.FloatRange(0, 1),
              help="Neighbour-cell load factor for SINR.")
@click.option("--indoor-loss-db", default=0.0, show_default=True, type=click.FloatRange(min=0),
              help="Building entry loss for indoor coverage (0 = outdoor).")
@click.option("--rx-height-m", default=1.5, show_default=True, type=click.FloatRange(min=0.0),
              help="Receiver height above ground (m).")
@click.option("--earth-radius-km", default=8500.0, show_default=True, type=float, help="Effective Earth radius.")
@click.option("--per-operator", is_flag=True, help="Also write one layer per operator.")
@click.option("--include-candidates", is_flag=True, help="Include sites of status 'candidate'.")
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path),
              help="Terrain-pass cache (default $PHUSONG_CACHE_DIR or ~/.cache/phusong/footprints).")
@click.option("--dask-address", help="Run batches on an existing Dask cluster, e.g. tcp://127.0.0.1:8786.")
@click.option("--demonstration", is_flag=True,
              help="Label outputs as a demonstration (automatic for synthetic DEMs and generated site lists).")
@overwrite_option
@verbosity_options
@handle_errors
def simulate(dems, sites_path, out_dir, crs, res_m, model, radius_km, technologies, area, area_layer, thresholds,
             location_probability, sigma_db, load_factor, indoor_loss_db, rx_height_m, earth_radius_km,
             per_operator, include_candidates, cache_dir, dask_address, demonstration, overwrite):
    """Best server, SINR and coverage for every technology (and operator) over a DEM."""
    from .coverage.simulate import run_simulation
    from .coverage.network import Settings
    from .propagation.models import model_info
    from .study import default_cache_dir

    model_info(model)
    settings = Settings(technologies=technologies, radius_km=radius_km, rx_height_m=rx_height_m, model=model,
                        earth_radius_km=earth_radius_km, thresholds_dbm=thresholds,
                        location_probability=location_probability, sigma_db=sigma_db, load_factor=load_factor,
                        indoor_loss_db=indoor_loss_db, include_candidates=include_candidates,
                        per_operator=per_operator)
    stats = run_simulation(list(dems), sites_path, out_dir, settings, crs=crs, res_m=res_m, area=area,
                           area_layer=area_layer, demonstration=demonstration,
                           cache_dir=cache_dir or default_cache_dir(), dask_address=dask_address,
                           overwrite=overwrite, progress=_progress())
    click.echo(f"{stats['cells']} cells, {stats['terrain_passes']} terrain passes "
               f"({stats['cache_hits']} from the cache) in {stats['wall_s']:.1f} s -> {out_dir}")


@cli.command()
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Run folder (from `phusong simulate`: covered_<tech>.tif, optionally rsrp_<tech>.tif).")
@click.option("--communes", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Commune polygons.")
@click.option("--communes-layer", help="Layer of --communes (default: its first layer).")
@click.option("--centres", type=click.Path(dir_okay=False, path_type=Path), help="Commune centres (points).")
@click.option("--centres-layer", help="Layer of --centres (default: its first layer).")
@click.option("--villages", type=click.Path(dir_okay=False, path_type=Path),
              help="Villages (points; a has_power field excludes villages without grid power).")
@click.option("--villages-layer", help="Layer of --villages (default: its first layer).")
@click.option("--zones", type=click.Path(dir_okay=False, path_type=Path),
              help="Industrial zones (polygons, or points with area_ha).")
@click.option("--zones-layer", help="Layer of --zones (default: its first layer).")
@click.option("--sites", type=click.Path(dir_okay=False, path_type=Path), help="Site list (for sites per unit).")
@click.option("--population", type=click.Path(dir_okay=False, path_type=Path), help="People-per-cell raster.")
@click.option("--population-field", help="Or: a per-commune population field, spread over each commune.")
@click.option("--targets", default="langson-2025-2030", show_default=True, help="Targets catalogue (name or .toml).")
@click.option("--indicators", type=click.Path(dir_okay=False, path_type=Path),
              help="Measured indicator values: CSV target_id,value,source,date.")
@click.option("--id-field", default="code", show_default=True, help="Id field of the input layers.")
@click.option("--name-field", default="name", show_default=True, help="Name field of the input layers.")
@click.option("--centre-rule", default="cell", show_default=True,
              help="'cell' (the centre's cell) or 'buffer:R:P' (P% of cells within R m covered).")
@click.option("--zone-share-pct", default=90.0, show_default=True, type=click.FloatRange(0, 100),
              help="Share of a zone's area that must be covered.")
@click.option("--settlement-min-people", default=50.0, show_default=True, type=float,
              help="Without villages: populated cells with at least this many people become settlement points.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="GeoPackage to write.")
@click.option("--report", "report_dir", type=click.Path(file_okay=False, path_type=Path),
              help="Also write the scorecard (md, html, csv, json) into this folder.")
@overwrite_option
@verbosity_options
@handle_errors
def gaps(run_dir, communes, communes_layer, centres, centres_layer, villages, villages_layer, zones, zones_layer, sites,
         population, population_field, targets, indicators, id_field, name_field, centre_rule, zone_share_pct,
         settlement_min_people, out, report_dir, overwrite):
    """Coverage of communes, centres, villages and zones against the plan's targets."""
    from ._atomic import check_writable
    from .coverage.gapsrun import run_gaps, totals_line

    check_writable(out, overwrite)
    result = run_gaps(run_dir, communes, out, communes_layer=communes_layer, centres=centres,
                      centres_layer=centres_layer, villages=villages, villages_layer=villages_layer, zones=zones,
                      zones_layer=zones_layer, sites=sites, population=population, population_field=population_field,
                      targets=targets, indicators=indicators, id_field=id_field, name_field=name_field,
                      report_dir=report_dir, centre_rule=centre_rule, zone_share_pct=zone_share_pct,
                      settlement_min_people=settlement_min_people, overwrite=overwrite)
    click.echo(f"{len(result.communes)} communes -> {out}; {totals_line(result)}")
    if report_dir:
        click.echo(f"scorecard: {report_dir}/scorecard.md, .html, .csv, .json")


@cli.command("map")
@click.option("--run", "run_dir", required=True, type=click.Path(file_okay=False, path_type=Path), help="Run folder.")
@click.option("--gaps", "gaps_gpkg", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="GeoPackage from `phusong gaps`.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="HTML map to write.")
@click.option("--commune", help="Code of one commune: a map of that commune only, with its gaps.")
@click.option("--lang", default="vi", show_default=True, type=click.Choice(["vi", "en"]), help="Label language.")
@overwrite_option
@verbosity_options
@handle_errors
def map_(run_dir, gaps_gpkg, out, commune, lang, overwrite):
    """An HTML map (Folium) of coverage and gaps, for the province or one commune."""
    from ._atomic import check_writable
    from .coverage.maps import write_map

    check_writable(out, overwrite)
    write_map(out, run_dir, gaps_gpkg, commune, lang, overwrite)
    click.echo(f"map -> {out} ({out.stat().st_size / 1e6:.1f} MB)")


@cli.command()
@verbosity_options
def models():
    """List the path-loss models with their validity ranges and sources."""
    from .propagation.models import MODELS

    for m in MODELS.values():
        click.echo(f"{m.name}\n  {m.description}\n  source:   {m.source}\n  validity: {m.validity}"
                   f"\n  terrain:  {'profile' if m.terrain else 'distance only'}")


def main():
    cli(prog_name="phusong")


if __name__ == "__main__":
    main()
