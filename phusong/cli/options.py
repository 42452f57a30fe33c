"""What every command shares: verbosity in the click context, errors turned into exit codes once,
and options built from the settings model (so that flags, scenario keys and defaults cannot drift)."""
from __future__ import annotations

import dataclasses
import logging
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from .._atomic import check_output_dir  # noqa: F401  (shared by the commands that write a folder)
from ..errors import InputError, PhusongError

log = logging.getLogger("phusong")


# ---------------------------------------------------------------------------------------------- verbosity
@dataclass
class Verbosity:
    """-v/-q counted over the whole command line (before and after the command name)."""

    level: int = 0

    @property
    def progress(self) -> bool:
        """Whether progress bars show (not with -q)."""
        return self.level >= 0


def verbosity(ctx: click.Context | None = None) -> Verbosity:
    """The command line's :class:`Verbosity`, kept on the root context."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if not isinstance(root.obj, Verbosity):
        root.obj = Verbosity()
    return root.obj


def _count(ctx, param, value):
    if value:
        v = verbosity(ctx)
        v.level += value if param.name == "verbose" else -value
        _configure_logging(v.level)
    return value


def _configure_logging(level: int) -> None:
    py_level = {-1: logging.ERROR, 0: logging.WARNING, 1: logging.INFO}.get(max(min(level, 2), -1), logging.DEBUG)
    logging.basicConfig(format="%(levelname)s: %(message)s", level=py_level, force=True)
    logging.captureWarnings(True)
    logging.getLogger("pyogrio").setLevel(logging.WARNING)  # "Created N records" is noise
    # GDAL's own warnings (a file's internals, such as a damaged tag it skips) only with -v: a bad input is
    # still refused in one line naming the file, and a good one needs no such notes
    logging.getLogger("rasterio").setLevel(logging.WARNING if level >= 1 else logging.ERROR)


def verbosity_options(f):
    """-v/--verbose and -q/--quiet, on the group and on every command."""
    f = click.option("-v", "--verbose", count=True, expose_value=False, callback=_count, is_eager=True,
                     help="More output; -v also shows tracebacks and GDAL's own warnings.")(f)
    return click.option("-q", "--quiet", count=True, expose_value=False, callback=_count, is_eager=True,
                        help="Less output (no progress bars).")(f)


def progress() -> bool:
    """Whether to show progress bars (not with -q)."""
    return verbosity().progress


# ---------------------------------------------------------------------------------------------- errors
def _flag_for(ctx: click.Context, argument: str | None) -> str | None:
    """The flag of ``ctx``'s command that sets a library argument or setting named ``argument``."""
    if not argument:
        return None
    for p in ctx.command.params:
        if isinstance(p, click.Option) and p.name and (p.name == argument or p.name.endswith("__" + argument)):
            return p.opts[0]
    return None


class Command(click.Command):
    """A command whose errors become one line and an exit code (2 bad input, 1 failure); -v adds the traceback."""

    def invoke(self, ctx: click.Context):
        """Run the command; a failure becomes one line on stderr and the exit code (-v adds the traceback)."""
        _configure_logging(verbosity(ctx).level)
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except PhusongError as exc:
            message = str(exc)
            flag = _flag_for(ctx, getattr(exc, "argument", None))
            if flag and flag not in message:
                message += f" (option {flag})"
            code, trace = exc.exit_code, traceback.format_exc()
        except Exception as exc:  # noqa: BLE001 - the CLI's last line of defence
            message, code = f"{type(exc).__name__}: {exc} (run with -v for the traceback)", 1
            trace = traceback.format_exc()
        if verbosity(ctx).level > 0:
            click.echo(trace, err=True, nl=False)
        click.echo(f"Error: {message}", err=True)
        raise click.exceptions.Exit(code)


class Group(click.Group):
    """A group whose commands and sub-groups are :class:`Command` and :class:`Group`."""

    command_class = Command
    group_class = type  # sub-groups are of this class too


def cli_command(name: str):
    """``@click.command`` for phusong: errors become one line and an exit code."""
    return click.command(name, cls=Command)


# ---------------------------------------------------------------------------------------------- options
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace existing outputs.")


def path_type(**kw):
    """A ``click.Path`` giving :class:`pathlib.Path` values."""
    return click.Path(path_type=Path, **kw)


def _split_list(ctx, param, value):
    if value is None or isinstance(value, tuple):
        return value
    return tuple(t.strip() for t in value.split(",") if t.strip())


def _split_thresholds(ctx, param, value):
    if value is None or isinstance(value, dict):
        return value
    out = {}
    for part in filter(None, (p.strip() for p in value.split(","))):
        tech, sep, level = part.partition("=")
        try:
            out[tech.strip()] = float(level)
        except ValueError:
            raise click.BadParameter(f"expected TECH=DBM pairs such as 4G=-105,5G=-105, got {part!r}") from None
    return out


def setting_option(key: str, *, required: bool = False, help: str | None = None, **overrides):
    """A click option for the settings field ``key`` ("model.radius_km"): its flag, default, range, unit
    and help come from :mod:`phusong.settings`. The value reaches the command as ``model__radius_km``."""
    from ..settings import SECTIONS

    section, name = key.split(".")
    f = {fld.name: fld for fld in dataclasses.fields(SECTIONS[section])}[name]
    meta = f.metadata
    flag = meta.get("flag") or "--" + name.replace("_", "-")
    decls = [flag, *meta.get("aliases", ()), f"{section}__{name}"]
    default = f.default if f.default is not dataclasses.MISSING else f.default_factory()  # type: ignore[misc, operator]
    text = help or meta.get("help", "")
    if meta.get("unit") and meta["unit"] not in ("", "%"):
        text += f" Unit: {meta['unit']}."
    kw: dict[str, Any] = {"help": text, "show_default": True}
    if isinstance(default, bool):
        kw.update(is_flag=True, default=default)
    elif isinstance(default, tuple):
        kw.update(default=",".join(default), callback=_split_list)
    elif name == "thresholds_dbm":
        kw.update(default=None, callback=_split_thresholds, show_default=False)
    elif meta.get("whole"):
        kw.update(type=click.IntRange(meta.get("low"), meta.get("high")),
                  default=None if default is None else int(default))
    elif isinstance(default, float) or meta.get("low") is not None:
        kw.update(type=click.FloatRange(meta.get("low"), meta.get("high")), default=default)
    else:
        kw.update(type=str, default=default)
    if required:
        kw.update(required=True, default=None, show_default=False)
    kw.update(overrides)
    return click.option(*decls, **kw)


def language_option(f):
    """``--lang`` (``study.language``) for commands whose settings come from elsewhere (a scenario, a run):
    unset, theirs is kept."""
    return setting_option("study.language", default=None, show_default=False, type=click.Choice(["vi", "en"]),
                          help="Language of the HTML map and scorecard: vi or en (default: the scenario's "
                               "[study] language, or the run's, else vi).")(f)


def settings_from(params: dict, base: Path | None = None, **tables) -> Any:
    """Settings from a command's ``section__key`` parameters (``None``: the default) plus extra tables."""
    from ..settings import Settings

    data: dict[str, dict] = {name: dict(values) for name, values in tables.items()}
    for key, value in params.items():
        if "__" in key and value is not None:
            section, name = key.split("__", 1)
            data.setdefault(section, {})[name] = value
    return Settings.from_dict(data, base or Path("."))


def pop_settings_params(params: dict) -> dict:
    """The ``section__key`` parameters of ``params``, removed from it."""
    return {k: params.pop(k) for k in [k for k in params if "__" in k]}


def grid_options(f):
    """--crs and --resolution-m (the working grid)."""
    f = setting_option("study.resolution_m")(f)
    return setting_option("study.crs")(f)


def model_options(f):
    """--model, --earth-radius-km and --rx-height-m (each terrain pass), and P.1812's --time-pct, --delta-n, --n0."""
    from ..propagation.models import MODELS

    for key in ("n0", "delta_n", "time_pct", "earth_radius_km", "rx_height_m"):
        f = setting_option(f"model.{key}")(f)
    return setting_option("model.name", type=click.Choice(list(MODELS)))(f)


def landcover_options(f):
    """--landcover FILE (class codes, majority-resampled to the grid) and --clutter-table FILE."""
    f = setting_option("model.clutter_table", default=None, show_default=False)(f)
    return click.option("--landcover", type=path_type(dir_okay=False),
                        help="Land-cover classes (ESA WorldCover codes by default; see --clutter-table), resampled "
                             "to the grid by majority: clutter heights for --model p1812, a clutter table's extra "
                             "losses and a calibration's per-class offsets.")(f)


def link_options(f):
    """--freq-mhz and --tx-height-m (one transmitter)."""
    f = click.option("--freq-mhz", required=True, type=click.FloatRange(min=1.0), help="Frequency (MHz).")(f)
    return click.option("--tx-height-m", required=True, type=click.FloatRange(min=0.0),
                        help="Transmitter antenna height above ground (m).")(f)


def cache_option(f):
    """--cache-dir: the terrain-pass cache folder."""
    return click.option("--cache-dir", type=path_type(file_okay=False),
                        help="Terrain-pass cache (default $PHUSONG_CACHE_DIR or ~/.cache/phusong/footprints).")(f)


def open_cache(cache_dir):
    """The :class:`~phusong.coverage.cache.FootprintCache` at ``cache_dir`` or the default folder."""
    from ..coverage.cache import FootprintCache, default_cache_dir
    return FootprintCache(cache_dir or default_cache_dir())


def demonstration_note(reasons) -> str:
    """' (DEMONSTRATION: reasons)' for a closing line, or '' for real inputs."""
    return f" (DEMONSTRATION: {'; '.join(reasons)})" if reasons else ""


def field_options(f):
    """--id-field and --name-field: which fields of the unit layers hold their ids and names."""
    f = click.option("--name-field", default="name", show_default=True, help="Name field of the input layers.")(f)
    return click.option("--id-field", default="code", show_default=True, help="Id field of the input layers.")(f)


def layer_input(path, layer, id_field="code", name_field="name"):
    """A ``[inputs]`` layer table from a flag pair, or None."""
    if path is None:
        return None
    return {"path": str(path), "layer": layer, "id_field": id_field, "name_field": name_field}


def lonlat(text: str, flag: str) -> tuple[float, float]:
    """Parse ``LON,LAT`` (degrees); an :class:`InputError` naming ``flag`` otherwise."""
    try:
        lon, lat = (float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{flag} must be LON,LAT in degrees, got {text!r}") from None
    return lon, lat
