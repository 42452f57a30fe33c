"""``phusong footprint``: basic transmission loss and line of sight around one site."""
from __future__ import annotations

import click

from .options import (cli_command, demonstration_note, grid_options, landcover_options, link_options, model_options,
                      overwrite_option, path_type, setting_option, settings_from, verbosity_options)


@cli_command("footprint")
@click.option("--dem", "dems", multiple=True, required=True, type=path_type(dir_okay=False), help="DEM tile(s).")
@click.option("--lon", required=True, type=click.FloatRange(-180, 180), help="Site longitude (WGS 84).")
@click.option("--lat", required=True, type=click.FloatRange(-90, 90), help="Site latitude (WGS 84).")
@link_options
@model_options
@setting_option("model.radius_km")
@landcover_options
@grid_options
@click.option("--out", required=True, type=path_type(dir_okay=False),
              help="Loss GeoTIFF (float32 dB, nodata beyond the radius).")
@click.option("--los-out", type=path_type(dir_okay=False),
              help="LOS GeoTIFF (uint8: 1 visible, 0 not, 255 nodata).")
@overwrite_option
@verbosity_options
def command(dems, lon, lat, tx_height_m, freq_mhz, out, los_out, landcover, overwrite, **params):
    """Basic transmission loss from one site to every cell within a radius."""
    import numpy as np

    from .._atomic import check_writable
    from .._raster import write_geotiff
    from ..data.landcover import read_landcover
    from ..pipeline import load_site_terrain
    from ..propagation.footprint import site_footprint

    settings = settings_from(params)
    m, study = settings.model, settings.study
    check_writable(out, overwrite)
    if los_out:
        check_writable(los_out, overwrite)
    m.require_landcover(landcover)
    terrain, x, y = load_site_terrain(list(dems), lon, lat, m.radius_km, study.crs, study.resolution_m)
    classes = read_landcover(landcover, terrain.grid) if landcover else None
    fp = site_footprint(terrain.array, terrain.grid, x, y, tx_height_m, freq_mhz, m.radius_km, m.rx_height_m,
                        m.earth_radius_km, m.name, landcover=classes, clutter_table=m.clutter_table,
                        climate=settings.p1812_climate)
    loss = fp.loss_db
    if classes is not None and m.clutter_table is not None and m.clutter_table.has_extra_loss:
        window = classes[fp.row0:fp.row0 + loss.shape[0], fp.col0:fp.col0 + loss.shape[1]]
        loss = (loss + m.clutter_table.extra_loss_db(window)).astype(np.float32)
    tags = {"MODEL": m.name, "FREQUENCY_MHZ": freq_mhz, "TX_HEIGHT_M": tx_height_m, "RX_HEIGHT_M": m.rx_height_m,
            "SITE_LONLAT": f"{lon},{lat}", "EARTH_RADIUS_KM": m.earth_radius_km}
    if m.name == "p1812":
        tags.update(EARTH_RADIUS_KM=settings.p1812_climate.ae_km, TIME_PCT=m.time_pct, DELTA_N=m.delta_n, N0=m.n0,
                    LANDCOVER=str(landcover or "none (bare terrain)"),
                    CLUTTER_TABLE=(m.clutter_table.source if m.clutter_table else "ESA WorldCover (built in)"))
    reasons = [f"{name}: synthetic terrain" for name in terrain.synthetic]
    if reasons:
        tags["DESCRIPTION"] = f"SYNTHETIC DEMONSTRATION: computed on stand-in terrain {', '.join(terrain.synthetic)}"
    write_geotiff(out, loss, fp.grid, nodata=np.nan, tags=tags, overwrite=overwrite,
                  band_description="basic transmission loss (dB)")
    if los_out:
        write_geotiff(los_out, fp.los, fp.grid, nodata=255, tags=tags, overwrite=overwrite,
                      band_description="line of sight: 1 visible, 0 not")
    finite = loss[np.isfinite(loss)]
    click.echo(f"{finite.size} cells, loss {finite.min():.1f}–{finite.max():.1f} dB -> {out}"
               f"{demonstration_note(reasons)}")
