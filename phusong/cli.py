"""The ``phusong`` command line: one function per command, shared options defined once."""
from __future__ import annotations

import functools
import logging
import shutil
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
    from rasterio.warp import transform_bounds

    from .data.terrain import read_mosaic
    from .sites import validate_sites

    bounds = None
    if dems:
        _, grid, _ = read_mosaic(list(dems))
        bounds = transform_bounds(grid.crs, "EPSG:4326", *grid.bounds, densify_pts=21)
    report = validate_sites(file, bounds)
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


def main():
    cli(prog_name="phusong")


if __name__ == "__main__":
    main()
