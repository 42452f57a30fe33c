"""``phusong path``: path loss over one profile, or from a site to many receivers on a DEM."""
from __future__ import annotations

from pathlib import Path

import click

from .options import (cli_command, demonstration_note, grid_options, landcover_options, link_options, lonlat,
                      model_options, overwrite_option, path_type, settings_from, verbosity_options)


def read_profile(path: Path):
    """A profile CSV (d_km,h_m[,clutter_m]): distances in km from the transmitter, heights in m; first row the
    transmitter's ground, last the receiver's; an optional third column gives each point's representative clutter
    height in m (for --model p1812). Returns (d, h, clutter or None)."""
    import numpy as np
    import pandas as pd

    from .._tables import read_text_table
    from ..errors import InputError

    df = read_text_table(path, what="profile")
    if df.shape[1] < 2 or len(df) < 2:
        raise InputError("a profile needs two columns (d_km,h_m) and at least two rows", path=path)
    values = df.iloc[:, :2].apply(pd.to_numeric, errors="coerce")
    bad = (values.isna() | ~np.isfinite(values.fillna(0))).any(axis=1).to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError("not a number", path=path, row=i + 1,
                         field=str(df.columns[int(values.iloc[i].isna().argmax())]))
    d, h = values.iloc[:, 0].to_numpy(float), values.iloc[:, 1].to_numpy(float)
    clutter = None
    if df.shape[1] >= 3:
        clutter = pd.to_numeric(df.iloc[:, 2], errors="coerce").to_numpy(float)
        bad = ~np.isfinite(clutter) | (clutter < 0) | (clutter > 100)
        if bad.any():
            raise InputError("not a clutter height (0 to 100 m)", path=path, row=int(np.flatnonzero(bad)[0]) + 1,
                             field=str(df.columns[2]))
    for name, v, low, high, unit in ((df.columns[0], d, 0.0, 3000.0, "km"), (df.columns[1], h, -500.0, 9000.0, "m")):
        out = (v < low) | (v > high)
        if out.any():
            i = int(np.flatnonzero(out)[0])
            raise InputError(f"out of range ({low:g} to {high:g} {unit})", path=path, row=i + 1, field=str(name))
    step = np.diff(d)
    if (step <= 0).any():
        raise InputError("distances must increase", path=path, row=int(np.flatnonzero(step <= 0)[0]) + 2,
                         field=str(df.columns[0]))
    return d, h, clutter


@cli_command("path")
@click.option("--profile", "profile_csv", type=path_type(dir_okay=False),
              help="Profile CSV d_km,h_m: first row the transmitter's ground, last the receiver's.")
@click.option("--dem", "dems", multiple=True, type=path_type(dir_okay=False),
              help="DEM tile(s), for receivers given by --rx-points.")
@click.option("--tx", "tx_lonlat", help="Transmitter LON,LAT (WGS 84), with --dem (with --profile: its latitude "
              "sets P.1812's β0; default Lạng Sơn's).")
@click.option("--rx-points", type=path_type(dir_okay=False), help="CSV of receivers (lon,lat).")
@link_options
@model_options
@landcover_options
@click.option("--location-pct", type=click.FloatRange(1.0, 99.0), default=50.0, show_default=True,
              help="p1812: percentage of locations for which the loss is not exceeded (P.1812-6 §4.8), with its "
                   "σL for the grid's resolution (§4.10).")
@grid_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (profile mode).")
@click.option("--out", type=path_type(dir_okay=False), help="Result CSV (DEM mode).")
@overwrite_option
@verbosity_options
def command(profile_csv, dems, tx_lonlat, rx_points, tx_height_m, freq_mhz, as_json, out, overwrite, landcover,
            location_pct, **params):
    """Path loss over a terrain profile, or from a site to many receivers on a DEM."""
    import json

    from ..errors import InputError

    settings = settings_from(params)
    m = settings.model
    if profile_csv:
        from ..propagation.reference import evaluate_profile

        from ..pipeline import p1812_arguments

        if landcover:
            raise InputError("--landcover goes with --dem; a profile gives its clutter heights in a third column")
        d, h, clutter = read_profile(profile_csv)
        if clutter is not None and m.name != "p1812":
            click.echo(f"Warning: the clutter column of {profile_csv} is used by --model p1812 only", err=True)
        try:
            result = evaluate_profile(d, h, tx_height_m, m.rx_height_m, freq_mhz, m.earth_radius_km, m.name,
                                      **p1812_arguments(settings, freq_mhz, location_pct, clutter,
                                                        lonlat(tx_lonlat, "--tx")[1] if tx_lonlat else None))
        except ValueError as exc:   # what a model refuses of a profile (P.1812: fewer than 3 points)
            raise InputError(str(exc), path=profile_csv) from None
        if as_json:
            click.echo(json.dumps(result))
        else:
            for key, value in result.items():
                click.echo(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")
        return
    m.require_landcover(landcover)
    if not (dems and tx_lonlat and rx_points and out):
        raise InputError("give --profile, or all of --dem, --tx, --rx-points and --out")
    from .._atomic import atomic_path, check_writable
    from .._tables import write_csv
    from ..pipeline import path_to_receivers

    check_writable(out, overwrite)
    table = path_to_receivers(list(dems), lonlat(tx_lonlat, "--tx"), rx_points, settings, tx_height_m, freq_mhz,
                              landcover=landcover, location_pct=location_pct)
    failed = table.index[table["error"] != ""].to_numpy() + 1 if "error" in table else []
    if len(failed) == len(table):
        raise InputError(f"no receiver could be evaluated (row 1: {table['error'].iloc[0]})", path=rx_points)
    with atomic_path(out, overwrite) as tmp:
        write_csv(table, tmp)
    if len(failed):
        shown = ", ".join(map(str, failed[:10])) + (" ..." if len(failed) > 10 else "")
        click.echo(f"Warning: {len(failed)} receiver(s) not evaluated (rows {shown}): see the error column", err=True)
    reasons = sorted(set(table["demonstration"])) if "demonstration" in table else []
    click.echo(f"{len(table)} receivers -> {out}{demonstration_note(reasons)}")
