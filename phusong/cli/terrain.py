"""``phusong terrain ...``: terrain (DEM) inputs."""
from __future__ import annotations

import click

from .options import Group, grid_options, path_type, verbosity_options


@click.group("terrain", cls=Group)
@verbosity_options
def command():
    """Terrain (DEM) inputs."""


@command.command("info")
@click.argument("dems", nargs=-1, required=True, type=path_type(dir_okay=False))
@grid_options
@verbosity_options
def info(dems, study__crs, study__resolution_m):
    """Load DEM tiles (mosaic, fill voids, reproject) and describe the working grid."""
    import numpy as np

    from ..data.terrain import load_terrain

    t = load_terrain(list(dems), study__crs, study__resolution_m)
    h = t.array
    click.echo(f"tiles: {', '.join(p.name for p in dems)}")
    if t.synthetic:
        click.echo(f"DEMONSTRATION: {', '.join(t.synthetic)}: synthetic terrain (metadata SYNTHETIC); "
                   "results on it are demonstrations")
    click.echo(f"voids filled: {t.void_count}")
    click.echo(f"grid: {t.grid.width} x {t.grid.height} cells of {study__resolution_m:g} m in "
               f"{t.grid.crs.to_string()}")
    click.echo(f"bounds: {', '.join(f'{b:.0f}' for b in t.grid.bounds)}")
    click.echo(f"heights (m): min {np.nanmin(h):.0f}, max {np.nanmax(h):.0f}, mean {np.nanmean(h):.0f}")
