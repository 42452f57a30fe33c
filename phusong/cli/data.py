"""``phusong data ...``: public inputs for a study."""
from __future__ import annotations

import click

from .options import Group, overwrite_option, path_type, progress, verbosity_options


@click.group("data", cls=Group)
@verbosity_options
def command():
    """Public data: terrain, land cover, population, OpenStreetMap."""


@command.command("fetch")
@click.option("--area", help="Commune polygons of the study area (a file with code/name fields), or the name of "
              "an administrative area in OpenStreetMap (e.g. \"Lạng Sơn\"), whose communes are fetched too: their "
              "extent is fetched and the scenario names them as its communes.")
@click.option("--admin-level", default=4, show_default=True, type=click.IntRange(2, 12),
              help="OpenStreetMap admin_level of a named area (4: a Vietnamese province).")
@click.option("--commune-level", default=8, show_default=True, type=click.IntRange(2, 12),
              help="OpenStreetMap admin_level of the communes inside a named area.")
@click.option("--area-layer", help="Layer of --area (default: its first layer).")
@click.option("--id-field", default="code", show_default=True, help="Id field of an --area file's communes.")
@click.option("--name-field", default="name", show_default=True, help="Name field of an --area file's communes.")
@click.option("--bbox", help="Or a box W,S,E,N in degrees (the box becomes the study's one unit).")
@click.option("--out", "out_dir", required=True, type=path_type(file_okay=False), help="Folder to write.")
@click.option("--what", default="dem,landcover,population,osm", show_default=True,
              help="What to fetch: dem, landcover, population, osm (comma-separated).")
@click.option("--dem", type=click.Choice(["glo30", "glo90"]), default="glo30", show_default=True,
              help="Copernicus DEM GLO-30 (30 m) or GLO-90; SRTM where a tile is missing.")
@click.option("--population", "population_res", type=click.Choice(["1km", "100m"]), default="1km",
              show_default=True, help="WorldPop 2020 UN-adjusted counts at 1 km or 100 m.")
@click.option("--country", default="VNM", show_default=True, help="ISO 3166 alpha-3 code for WorldPop's file.")
@click.option("--pad-km", default=20.0, show_default=True, type=click.FloatRange(0.0, 500.0),
              help="Rasters reach this far beyond the area (sites outside it still count).")
@click.option("--mirror", help="A local copy with the publishers' layout under their host names: a folder or "
                               "a web server (e.g. https://intranet/data).")
@click.option("--cache-dir", type=path_type(file_okay=False),
              help="Download cache (default $PHUSONG_DOWNLOAD_CACHE or ~/.cache/phusong/downloads).")
@click.option("--retries", default=3, show_default=True, type=click.IntRange(0, 20), help="Retries per download.")
@click.option("--timeout-s", default=60.0, show_default=True, type=click.FloatRange(1.0),
              help="Give up on a silent connection after this long (then retry, resuming).")
@click.option("--study-name", help="Study name in the scenario (default: from the box).")
@overwrite_option
@verbosity_options
def fetch(area, admin_level, commune_level, area_layer, id_field, name_field, bbox, out_dir, what, dem, population_res,
          country, pad_km, mirror, cache_dir, retries, timeout_s, study_name, overwrite):
    """Download and convert a study's public inputs; write manifest.json, CREDITS.txt and scenario.toml."""
    from .._atomic import check_output_dir
    from .._tables import read_toml
    from ..fetch import Downloader, fetch_inputs
    from ..fetch.download import default_cache_dir
    from ..fetch.inputs import parse_bbox

    check_output_dir(out_dir, overwrite)
    box = parse_bbox(bbox) if bbox else None
    downloader = Downloader(cache_dir or default_cache_dir(), mirror=mirror, retries=retries, timeout_s=timeout_s,
                            progress=progress())
    parts = [w.strip() for w in what.split(",") if w.strip()]
    manifest = fetch_inputs(out_dir, bbox=box, area=area, area_layer=area_layer, what=parts, downloader=downloader,
                            dem=dem, population=population_res, country=country, pad_km=pad_km,
                            overwrite=overwrite, name=study_name, admin_level=admin_level,
                            commune_level=commune_level, id_field=id_field, name_field=name_field)
    fetched = sum(not d["cached"] for d in manifest["downloads"])
    click.echo(f"{len(manifest['files'])} files -> {out_dir} ({fetched} downloaded, "
               f"{len(manifest['downloads']) - fetched} from the cache)")
    for note in manifest["notes"]:
        click.echo(f"note: {note}")
    scenario = out_dir / "scenario.toml"
    have = read_toml(scenario).get("inputs", {}) if scenario.exists() else {}
    missing = ([] if have.get("terrain") else ["the terrain ([inputs] terrain: DEM tiles; or fetch them with --what "
                                               "dem)"]) + ["the site list"]
    click.echo(f"next: add {' and '.join(missing)} to {scenario}, then `phusong run {scenario} --out RUN`")
