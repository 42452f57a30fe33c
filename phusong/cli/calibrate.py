"""``phusong calibrate``: fit a model's correction to measured signal, cross-validated, with a report."""
from __future__ import annotations

import click

from .options import (cache_option, cli_command, grid_options, model_options, open_cache, overwrite_option, path_type,
                      progress, setting_option, settings_from, verbosity_options)


@cli_command("calibrate")
@click.option("--measurements", "measurements_path", required=True, type=path_type(dir_okay=False),
              help="Signal samples (see `phusong measurements validate`); serving cells by cell_id, or by PCI and "
                   "EARFCN/ARFCN matched to the site list's pci column.")
@click.option("--sites", "sites_path", required=True, type=path_type(dir_okay=False), help="Site list.")
@click.option("--sites-sheet", help="The sheet of an Excel site list (default: the first).")
@click.option("--dem", "dems", multiple=True, required=True, type=path_type(dir_okay=False), help="DEM tile(s).")
@click.option("--landcover", type=path_type(dir_okay=False),
              help="Land-cover classes (e.g. ESA WorldCover codes): fit one offset per class as well.")
@grid_options
@model_options
@setting_option("model.radius_km")
@setting_option("model.clutter", type=click.Choice(["", "p2108"]))
@click.option("--technology", type=click.Choice(["4G", "5G"]), help="Calibrate with one technology's samples only "
              "(default: all; a calibration per band is usual when bands differ).")
@click.option("--cv", "cv", default="route", show_default=True, type=click.Choice(["route", "cell"]),
              help="Cross-validate by route (a drive) or by serving cell, never by random sample.")
@click.option("--folds", default=5, show_default=True, type=click.IntRange(2, 100), help="Cross-validation folds.")
@click.option("--min-distance-m", default=100.0, show_default=True, type=click.FloatRange(0.0),
              help="Leave out samples closer than this to their site.")
@click.option("--noise-floor-dbm", type=float,
              help="Leave out samples at or below this signal (default: the bottom of the UE's reporting range, "
                   "-140 dBm RSRP, -156 dBm SS-RSRP). Raising it cuts weak samples by their measured value and "
                   "biases the slope low.")
@click.option("--min-samples-per-bin", default=1, show_default=True, type=click.IntRange(1),
              help="Leave out Lee bins with fewer samples.")
@click.option("--bin-wavelengths", default=40.0, show_default=True, type=click.FloatRange(1.0, 1000.0),
              help="Length of a Lee averaging bin along the route, in wavelengths.")
@click.option("--class-regularisation", default=10.0, show_default=True, type=click.FloatRange(0.0),
              help="Ridge penalty on the per-class offsets, in bins: a class with this many bins keeps half of "
                   "its own offset.")
@click.option("--out", required=True, type=path_type(dir_okay=False),
              help="Calibration file to write (TOML; `simulate --calibration` reads it).")
@click.option("--report", "report_dir", type=path_type(file_okay=False),
              help="Folder for the report: report.html, summary.csv, bins.gpkg and plots.")
@cache_option
@overwrite_option
@verbosity_options
def command(measurements_path, sites_path, sites_sheet, dems, landcover, technology, cv, folds, min_distance_m,
            noise_floor_dbm, min_samples_per_bin, bin_wavelengths, class_regularisation, out, report_dir, cache_dir,
            overwrite, **params):
    """Fit an offset, a log-distance slope (and an offset per land-cover class) to the model from measurements."""
    import datetime as dt

    from .. import __version__
    from .._atomic import check_output_dir, check_writable, file_sha256, write_text
    from ..measurements.calibrate import Filters
    from ..outputs.calibration import write_calibration_report
    from ..pipeline import calibrate_study

    check_writable(out, overwrite)
    if report_dir is not None:
        check_output_dir(report_dir, overwrite)
    settings = settings_from(params, inputs={"terrain": [str(p) for p in dems], "sites": str(sites_path),
                                             "sites_sheet": sites_sheet,
                                             "landcover": str(landcover) if landcover else None})
    filters = Filters(min_distance_m, noise_floor_dbm, min_samples_per_bin, bin_wavelengths)
    cal = calibrate_study(settings, measurements_path, technology=technology, cv=cv, folds=folds, filters=filters,
                          class_regularisation=class_regularisation, cache=open_cache(cache_dir), progress=progress())
    files = {"measurements": measurements_path, "sites": sites_path, **{f"dem_{i + 1}": p for i, p in enumerate(dems)}}
    if landcover:
        files["landcover"] = landcover
    sources = {"phusong": __version__, "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
               "model": settings.model.name, "radius_km": settings.model.radius_km,
               "resolution_m": settings.study.resolution_m, "technology": technology or "all",
               **{name: str(p) for name, p in files.items()},
               "sha256": {name: file_sha256(p) for name, p in files.items()}}
    write_text(out, cal.to_toml(sources), overwrite)
    if report_dir is not None:
        write_calibration_report(report_dir, cal, f"Calibration of {settings.model.name}", overwrite=overwrite)

    c, se, n = cal.correction, cal.standard_errors, cal.counts
    left = "; ".join(f"{v} {k[10:]}" for k, v in n.items() if k.startswith("left out: "))
    click.echo(f"{n['samples read']} samples read, {n['samples used']} used in {n['bins used']} Lee bins"
               + (f"; left out: {left}" if left else ""))
    classes = "".join(f", class {k} {c.offset_db + v:+.2f} ± {se['class_total_db'][str(k)]:.2f}"
                      for k, v in c.class_offsets_db.items())
    click.echo(f"correction to {c.model}: {c.offset_db:+.2f} ± {se['offset_db']:.2f} dB at "
               f"{c.reference_distance_km:.3g} km, slope {c.slope_db_per_decade:+.2f} ± "
               f"{se['slope_db_per_decade']:.2f} dB/decade{classes}")
    b, a = cal.overall("before"), cal.overall("after")
    click.echo(f"{cal.validation}: mean {b['mean_db']:+.1f} -> {a['mean_db']:+.1f} dB, "
               f"SD {b['sd_db']:.1f} -> {a['sd_db']:.1f} dB, RMSE {b['rmse_db']:.1f} -> {a['rmse_db']:.1f} dB, "
               f"within ±6 dB {b['within_6db_pct']:.0f}% -> {a['within_6db_pct']:.0f}%")
    for note in cal.notes:
        click.echo(f"note: {note}")
    click.echo(f"-> {out}" + (f" and {report_dir}" if report_dir else ""))
    if cal.demonstration:
        click.echo(f"DEMONSTRATION: {'; '.join(cal.demonstration)}", err=True)
