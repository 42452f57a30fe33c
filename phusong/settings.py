"""One settings model: frozen dataclasses mirroring the scenario file's tables.

A scenario file (``phusong run SCENARIO.toml``) and the command-line flags are two
spellings of the same :class:`Settings`: the table ``[model]`` key ``radius_km`` is
the flag ``--radius-km``; ``[model] name`` is ``--model`` and ``[study] name`` is
``--study-name``. Every default is declared here once, with its
unit and source; the CLI's options are built from these fields
(:mod:`phusong.cli.options`). Unknown or misspelled keys are an error with a
suggestion.

Example
-------
>>> from phusong import Settings
>>> s = Settings.from_dict({"model": {"radius_km": 10}, "coverage": {"location_probability": 0.95}})
>>> s.model.radius_km, s.coverage.location_probability, s.study.resolution_m
(10.0, 0.95, 30.0)
>>> round(s.location_margin_db, 2)   # 8 dB x Q^-1(0.05): the median must clear the level by this
13.16
"""
from __future__ import annotations

import dataclasses
import difflib
import re
import logging
from dataclasses import dataclass, field
from pathlib import Path
from collections.abc import Mapping
from statistics import NormalDist
from typing import Any

from .data.targets import DEFAULT_CATALOGUE
from .errors import InputError
from .propagation.correction import LossCorrection
from .propagation.clutter import ClutterTable
from .propagation.models import MODELS
from .propagation.p1812 import LANG_SON_DELTA_N, LANG_SON_N0, P1812Climate, location_sigma_db
from .propagation.p526 import DEFAULT_EARTH_RADIUS_KM
from .sites.schema import TECHNOLOGIES, normalise_technology

log = logging.getLogger(__name__)

LANGUAGES = ("vi", "en")
RASTER_KINDS = ("rsrp", "rsrp2", "server", "sinr", "covered")   # the run folder's rasters per layer
DEFAULT_CRS = "auto"  # the UTM zone of the terrain's centre: EPSG:32648 (WGS 84 / UTM 48N) for Lạng Sơn
# Outdoor signal per resource element at 1.5 m, met with the location probability. −105 dBm RSRP is the
# level UK regulator Ofcom's coverage reporting uses for good outdoor 4G data; phusong applies the same
# level to 5G SS-RSRP (the plan's "5G coverage" means usable mobile broadband).
DEFAULT_THRESHOLD_DBM = {"4G": -105.0, "5G": -105.0}
# Log-normal location variability (dB) per model: 8 dB, the usual macro-cell shadow-fading standard
# deviation (3GPP TR 38.901 V17.0.0 Table 7.4.1-1, RMa NLOS σSF = 8 dB); UMa NLOS σSF = 6 dB.
MODEL_SIGMA_DB = {"delta-bullington": 8.0, "bullington": 8.0, "free-space": 8.0, "okumura-hata": 8.0,
                  "cost231-hata": 8.0, "3gpp-rma": 8.0, "3gpp-uma": 6.0}
# p1812 uses its own σL (§4.10): variability within one grid cell, growing with frequency. One value serves
# every band: the one at 3.5 GHz, the plan's highest, within 0.2 dB of 700 MHz's at 30 m; taken with the
# receiver below the clutter (uh = 1), the larger value.
P1812_SIGMA_MHZ = 3500.0


def _meta(help: str, unit: str = "", low: float | None = None, high: float | None = None,
          flag: str | None = None, aliases: tuple[str, ...] = (), whole: bool = False) -> dict:
    """Field metadata: the help text and unit shown by the CLI, the valid range, the flag's other names, and
    whether the value is a count (a whole number)."""
    return {"help": help, "unit": unit, "low": low, "high": high, "flag": flag, "aliases": aliases, "whole": whole}


def setting(default, help: str, unit: str = "", low=None, high=None, flag=None, aliases=(), whole=False) -> Any:
    """A settings field: its default, documented once."""
    meta = _meta(help, unit, low, high, flag, aliases, whole)
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: type(default)(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Layer:
    """A vector input: a file, its layer (default: the first), and the fields holding id and name.

    Examples
    --------
    >>> from phusong import Layer, Settings
    >>> s = Settings.from_dict({"inputs": {"communes": {"path": "/data/communes.gpkg", "layer": "communes"}}})
    >>> s.inputs.communes == Layer(Path("/data/communes.gpkg"), "communes")
    True
    """

    path: Path
    layer: str | None = None
    id_field: str = "code"
    name_field: str = "name"


class _Section:
    """Range checks from the fields' metadata (run on construction, for the API and the loader alike)."""

    def __post_init__(self):
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            low, high = f.metadata.get("low"), f.metadata.get("high")
            if value is None or (low is None and high is None):
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"{f.name} must be a number, got {value!r}", argument=f.name)
            object.__setattr__(self, f.name, float(value))
            if (low is not None and value < low) or (high is not None and value > high):
                unit = f" {f.metadata['unit']}" if f.metadata.get("unit") else ""
                raise InputError(f"{f.name} must be between {low:g} and {high:g}{unit}, got {value:g}",
                                 argument=f.name)


@dataclass(frozen=True)
class StudySettings(_Section):
    """``[study]``: what the study is called and the working grid."""

    name: str = setting("phusong study", "Study name, used in titles.", flag="--study-name")
    crs: str = setting(DEFAULT_CRS, "Working (projected, metric) CRS, e.g. EPSG:32648 or VN-2000 / UTM 48N "
                                    "(EPSG:3405); 'auto': the WGS 84 / UTM zone of the terrain's centre.")
    resolution_m: float = setting(30.0, "Working grid resolution.", "m", 1.0, 10_000.0, aliases=("--res-m",))
    demonstration: bool = setting(False, "Label outputs as a demonstration (automatic for synthetic DEMs and "
                                         "generated site lists; a scenario cannot switch that off).")
    language: str = setting("vi", "Language of the HTML map and scorecard: vi (Vietnamese) or en (English).",
                            flag="--lang")

    def __post_init__(self):
        super().__post_init__()
        if self.language not in LANGUAGES:
            raise InputError(f"language must be one of {', '.join(LANGUAGES)}, got {self.language!r}",
                             argument="language")


@dataclass(frozen=True)
class InputSettings:
    """``[inputs]``: the files. Relative paths in a scenario file are relative to that file."""

    terrain: tuple[Path, ...] = ()
    sites: Path | None = None
    sites_sheet: str | None = None   # the sheet of an Excel site list (default: the first)
    communes: Layer | None = None
    centres: Layer | None = None
    villages: Layer | None = None
    zones: Layer | None = None
    area: Layer | None = None
    population: Path | None = None
    landcover: Path | None = None    # land-cover classes (e.g. ESA WorldCover): a calibration's per-class offsets
    priority: Mapping[str, Layer] = field(default_factory=dict)   # the plan's priority places, by name
    indicators: Path | None = None
    targets: str = DEFAULT_CATALOGUE


@dataclass(frozen=True)
class ModelSettings(_Section):
    """``[model]``: the path-loss model and the geometry of every terrain pass."""

    name: str = setting("delta-bullington", "Path-loss model (see `phusong models`).", flag="--model")
    radius_km: float = setting(15.0, "Radius computed around each site.", "km", 0.1, 200.0)
    rx_height_m: float = setting(1.5, "Receiver height above ground.", "m", 0.0, 100.0)
    earth_radius_km: float = setting(DEFAULT_EARTH_RADIUS_KM, "Effective Earth radius (8,500 km is k = 4/3, "
                                     "ITU-R P.452/P.526 median).", "km", 1000.0, 1e6)
    clutter: str = setting("", "Clutter loss at the receiver: 'p2108' adds ITU-R P.2108-1 §3.2's median "
                               "statistical loss for terminals in urban/suburban clutter, by frequency and "
                               "distance (any model); empty: none.")
    calibration: LossCorrection | None = setting(None, "Calibration file (CALIB.toml from `phusong calibrate`): its "
                                                       "offset, log-distance slope and per-land-cover-class offsets "
                                                       "are added to the model's loss.", flag="--calibration")
    time_pct: float = setting(50.0, "p1812: percentage of time for which the loss is not exceeded (ITU-R "
                                    "P.1812-6 §1: 1–50).", "%", 1.0, 50.0)
    delta_n: float = setting(LANG_SON_DELTA_N, "p1812: ΔN, the refractivity lapse rate through the lowest km "
                                               "(default: Lạng Sơn's, from the ITU-R digital maps).",
                             "N-units/km", 0.0, 150.0)
    n0: float = setting(LANG_SON_N0, "p1812: N0, the sea-level surface refractivity, for troposcatter (default: "
                                     "Lạng Sơn's, from the ITU-R digital maps).", "N-units", 250.0, 450.0)
    clutter_table: ClutterTable | None = setting(None, "Land-cover class -> P.1812 clutter category, height (m) and "
                                                       "optional extra loss (dB) at a receiver in that class (CSV "
                                                       "or TOML); default: ESA WorldCover codes.",
                                                 flag="--clutter-table")

    def require_landcover(self, landcover) -> None:
        """An :class:`InputError` when a clutter table is given without the land cover whose classes it maps."""
        if self.clutter_table is not None and landcover is None:
            raise InputError("a clutter table maps the classes of a land cover: give --landcover ([inputs] "
                             "landcover) too", argument="landcover")

    def __post_init__(self):
        super().__post_init__()
        if self.name not in MODELS:
            raise InputError(f"unknown model {self.name!r}; choose one of: {', '.join(MODELS)}", argument="name")
        if self.clutter not in ("", "p2108"):
            raise InputError(f"clutter must be 'p2108' or empty, got {self.clutter!r}", argument="clutter")
        table = self.clutter_table
        if isinstance(table, Mapping):
            try:
                object.__setattr__(self, "clutter_table", ClutterTable.from_dict(table))
            except ValueError as exc:
                raise InputError(f"clutter_table: {exc}", argument="clutter_table") from None
        elif table is not None and not isinstance(table, ClutterTable):
            raise InputError(f"clutter_table must be a clutter table file, got {table!r}", argument="clutter_table")
        cal = self.calibration
        if isinstance(cal, Mapping):
            cal = LossCorrection.from_dict(cal)
            object.__setattr__(self, "calibration", cal)
        if cal is not None and not isinstance(cal, LossCorrection):
            raise InputError(f"calibration must be a calibration file, got {cal!r}", argument="calibration")
        if cal is not None and (cal.model, cal.clutter) != (self.name, self.clutter):
            fitted = cal.model + (f" with clutter {cal.clutter}" if cal.clutter else " without clutter")
            used = self.name + (f" with clutter {self.clutter}" if self.clutter else " without clutter")
            raise InputError(f"the calibration {cal.source or ''} was fitted to {fitted}; this run uses {used} "
                             "(give the same --model and --clutter, or calibrate this model)".replace("  ", " "),
                             argument="calibration")


@dataclass(frozen=True)
class CoverageSettings(_Section):
    """``[coverage]``: which layers, and what counts as covered."""

    technologies: tuple[str, ...] = setting(("4G", "5G"), "Technology layers (4G, 5G, NB-IoT).",
                                            aliases=("--tech",))
    thresholds_dbm: Mapping[str, float] = setting(
        {}, "Coverage level per technology, e.g. 4G=-105,5G=-105 (default -105 dBm, Ofcom's good outdoor "
            "4G level).", "dBm", aliases=("--threshold-dbm",))
    location_probability: float = setting(0.9, "Share of locations in a cell that must exceed the level.",
                                          "", 0.5, 0.999)
    sigma_db: float | None = setting(None, "Location variability (default per model: 8 dB, 6 dB for 3gpp-uma, "
                                           "3GPP TR 38.901 Table 7.4.1-1; for p1812 its own σL, ITU-R P.1812-6 "
                                           "§4.10, at the grid's resolution: 1.6 dB at 30 m).", "dB", 0.0, 30.0)
    load_factor: float = setting(0.5, "Neighbour-cell load for SINR (share of resource elements carrying power).",
                                 "", 0.0, 1.0, aliases=("--load",))
    indoor_loss_db: float = setting(0.0, "Building entry loss for indoor coverage (0 = outdoor).", "dB", 0.0, 60.0)
    indoor: str = setting("", "Indoor coverage with ITU-R P.2109-1 building entry loss at each cell's frequency: "
                              "'traditional:P' or 'thermally-efficient:P', P the % of buildings whose loss is not "
                              "exceeded (e.g. traditional:50; P defaults to 50, the median); empty: outdoor, or "
                              "the flat indoor_loss_db.")
    noise_figure_db: float = setting(9.0, "UE noise figure (3GPP TR 36.942 / TR 38.802).", "dB", 0.0, 20.0)
    nbiot_mcl_db: float = setting(164.0, "NB-IoT coverage: maximum coupling loss (3GPP TR 45.820 §7.3).",
                                  "dB", 100.0, 200.0)
    per_operator: bool = setting(False, "Also write one layer per operator.")
    rasters: tuple[str, ...] = setting(RASTER_KINDS, "Rasters a run writes per layer: rsrp, rsrp2, server, sinr, "
                                                     "covered; the list must include covered and rsrp (gaps and "
                                                     "maps read them); fewer is faster, and without sinr the SINR "
                                                     "is not computed.")
    include_candidates: bool = setting(False, "Include sites of status 'candidate'.")

    def __post_init__(self):
        super().__post_init__()
        techs = [self.technologies] if isinstance(self.technologies, str) else list(self.technologies)
        norm = tuple(normalise_technology(t) for t in techs)
        if not norm or None in norm:
            raise InputError(f"technologies must be a list of {', '.join(TECHNOLOGIES)}, got {self.technologies!r}",
                             argument="technologies")
        object.__setattr__(self, "technologies", norm)
        if self.indoor:
            parse_indoor(self.indoor)
            if self.indoor_loss_db:
                raise InputError("give either indoor (ITU-R P.2109) or indoor_loss_db, not both", argument="indoor")
        kinds = (self.rasters,) if isinstance(self.rasters, str) else tuple(self.rasters)
        unknown = [k for k in kinds if k not in RASTER_KINDS]
        if unknown or "covered" not in kinds or "rsrp" not in kinds:
            raise InputError(f"rasters must be a list of {', '.join(RASTER_KINDS)} including covered and rsrp, got "
                             f"{', '.join(kinds) or 'nothing'}", argument="rasters")
        object.__setattr__(self, "rasters", tuple(k for k in RASTER_KINDS if k in kinds))
        levels = {}
        for tech, level in dict(self.thresholds_dbm).items():
            t = normalise_technology(tech)
            if t is None or isinstance(level, bool) or not isinstance(level, (int, float)):
                raise InputError(f"thresholds_dbm: expected TECHNOLOGY = dBm, got {tech!r} = {level!r}",
                                 argument="thresholds_dbm")
            levels[t] = float(level)
        object.__setattr__(self, "thresholds_dbm", levels)


@dataclass(frozen=True)
class GapSettings(_Section):
    """``[gaps]``: the rules that turn coverage into the plan's measures."""

    centre_rule: str = setting("cell", "'cell' (the centre's cell) or 'buffer:R:P' (P% of the cells within R m "
                                       "covered).")
    zone_share_pct: float = setting(90.0, "Share of an industrial zone's area that must be covered.", "%",
                                    0.0, 100.0)
    settlement_min_people: float = setting(50.0, "Without a village layer: population cells with at least this "
                                                 "many people become settlement points (a proxy).", "people",
                                           0.0, 1e7)
    population_field: str | None = setting(None, "Or: a per-commune population field, spread over each commune.")

    def __post_init__(self):
        super().__post_init__()
        parse_centre_rule(self.centre_rule)


def parse_indoor(text: str) -> tuple[str, float] | None:
    """``"traditional:50"`` → ("traditional", 50.0); ``"traditional"`` the same (P defaults to the median);
    empty → None (see ``[coverage] indoor``)."""
    if not text:
        return None
    building, _, pct = str(text).partition(":")
    buildings = ("traditional", "thermally-efficient")
    try:
        p = float(pct) if pct else 50.0
    except ValueError:
        p = float("nan")
    if building.strip() not in buildings or not 0.0 < p < 100.0:
        raise InputError(f"indoor must be 'BUILDING:P' with BUILDING one of {', '.join(buildings)} and 0 < P < 100 "
                         f"(e.g. traditional:50), got {text!r}", argument="indoor")
    return building.strip(), p


def parse_centre_rule(rule: str) -> tuple:
    """``"cell"`` → ``("cell",)``; ``"buffer:R:P"`` → ``("buffer", R metres, P percent)``."""
    if rule == "cell":
        return ("cell",)
    parts = str(rule).split(":")
    try:
        if parts[0] == "buffer" and len(parts) == 3:
            radius, share = float(parts[1]), float(parts[2])
            if radius > 0 and 0 < share <= 100:
                return ("buffer", radius, share)
    except ValueError:
        pass
    raise InputError(f"centre rule must be 'cell' or 'buffer:RADIUS_M:SHARE_PCT', got {rule!r}", argument="centre_rule")


DEFAULT_PLAN_TARGETS = ("T25-5G-CENTRES", "T25-MBB-VILLAGES", "T25-IZ-5G-BTS", "T30-5G-POP")


@dataclass(frozen=True)
class PlanSettings(_Section):
    """``[plan]``: the rollout planner (``phusong plan``): which targets, which candidates, what limits."""

    target_ids: tuple[str, ...] = setting(DEFAULT_PLAN_TARGETS, "Targets to reach (ids of the catalogue).",
                                          flag="--targets")
    candidates: str | Path = setting("auto", "'auto' (upgrades, shares and greenfield sites from the terrain) or a "
                                      "candidates file in the site-list schema (replaces the greenfield sites).")
    costs: Path | None = setting(None, "Costs file (TOML); default: the illustrative costs of "
                                       "phusong.planning.costs.")
    budget: float | None = setting(None, "Spend at most this much (currency of the costs file): the plan then "
                                         "maximises the targets' attainment.", "", 0.0, 1e15)
    max_sites: float | None = setting(None, "Take at most this many actions.", "", 1, 1_000_000, whole=True)
    operator: str | None = setting(None, "Plan for one operator: its masts are upgraded, other operators' masts "
                                         "are shared (default: operator-neutral, upgrades only).")
    technology: str = setting("5G", "Technology of new carriers and sites (5G also counts as mobile broadband).")
    new_site_spacing_m: float = setting(2000.0, "Minimum distance between generated greenfield sites.", "m",
                                        100.0, 100_000.0)
    new_sites_per_cluster: float = setting(3.0, "Greenfield candidates per cluster of uncovered demand.", "",
                                           1, 100, whole=True)
    new_site_search_km: float = setting(4.0, "Greenfield sites lie within this distance of uncovered demand.",
                                        "km", 0.1, 100.0)
    max_new_sites: float = setting(2000.0, "At most this many greenfield candidates.", "", 0, 1_000_000,
                                   whole=True)
    new_site_mask: Path | None = setting(None, "Raster where greenfield sites may go (non-zero: allowed), e.g. "
                                               "near roads or power.")
    milp_time_limit_s: float = setting(60.0, "Time for the exact solver (HiGHS MILP); 0 = heuristic only.", "s",
                                       0.0, 86_400.0)

    def __post_init__(self):
        super().__post_init__()
        ids = [self.target_ids] if isinstance(self.target_ids, str) else list(self.target_ids)
        ids = [t.strip() for part in ids for t in str(part).split(",") if t.strip()]
        if not ids:
            raise InputError("target_ids: give at least one target id", argument="target_ids")
        object.__setattr__(self, "target_ids", tuple(ids))
        tech = normalise_technology(self.technology)
        if tech not in ("4G", "5G"):
            raise InputError(f"technology must be 4G or 5G, got {self.technology!r}", argument="technology")
        object.__setattr__(self, "technology", tech)
        for name in ("max_sites", "new_sites_per_cluster", "max_new_sites"):
            value = getattr(self, name)
            if value is not None and value != int(value):
                raise InputError(f"{name} must be a whole number, got {value:g}", argument=name)


SECTIONS = {"study": StudySettings, "inputs": InputSettings, "model": ModelSettings, "coverage": CoverageSettings,
            "gaps": GapSettings, "plan": PlanSettings}


@dataclass(frozen=True)
class Settings:
    """Everything a study needs, one frozen object: ``study``, ``inputs``, ``model``, ``coverage``, ``gaps``, ``plan``.

    Build it with :meth:`from_toml` (a scenario file), :meth:`from_dict` (the same tables as a dict) or
    directly; change one value with :meth:`replace`.

    Examples
    --------
    >>> from phusong import Settings
    >>> s = Settings().replace(model={"radius_km": 10.0})
    >>> s.model.radius_km, s.model.name
    (10.0, 'delta-bullington')
    >>> Settings.from_dict({"model": {"radius": 5}})
    Traceback (most recent call last):
    ...
    phusong.errors.InputError: [model] unknown key 'radius' (did you mean 'radius_km'?)
    """

    study: StudySettings = field(default_factory=StudySettings)
    inputs: InputSettings = field(default_factory=InputSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    coverage: CoverageSettings = field(default_factory=CoverageSettings)
    gaps: GapSettings = field(default_factory=GapSettings)
    plan: PlanSettings = field(default_factory=PlanSettings)

    # -- derived values (never stored, so that they cannot disagree) --
    @property
    def sigma_db(self) -> float:
        """Location variability in use: ``coverage.sigma_db``, else the model's default."""
        s = self.coverage.sigma_db
        if s is not None:
            return float(s)
        if self.model.name == "p1812":   # one value for every band: see P1812_SIGMA_MHZ
            return self.p1812_sigma_db(P1812_SIGMA_MHZ)
        return MODEL_SIGMA_DB.get(self.model.name, 8.0)

    def p1812_sigma_db(self, frequency_mhz: float) -> float:
        """P.1812-6's location variability σL (§4.10 eq. (72)) at ``frequency_mhz`` for the grid's resolution,
        the receiver taken below the clutter (uh = 1, the larger value)."""
        rx = self.model.rx_height_m
        return location_sigma_db(frequency_mhz, rx, rx + 10.0, self.study.resolution_m)

    @property
    def p1812_climate(self) -> P1812Climate:
        """The P.1812 time percentage and radio climate of ``[model]``."""
        return P1812Climate(self.model.time_pct, self.model.delta_n, self.model.n0)

    @property
    def location_margin_db(self) -> float:
        """σ·Q⁻¹(1 − p) plus the indoor loss: how far the median must clear the level for probability p."""
        return self.sigma_db * NormalDist().inv_cdf(self.coverage.location_probability) + \
            self.coverage.indoor_loss_db

    def threshold_dbm(self, technology: str) -> float:
        """The coverage level of a technology (before the location margin)."""
        return {**DEFAULT_THRESHOLD_DBM, **self.coverage.thresholds_dbm}.get(technology, -105.0)

    # -- building --
    def replace(self, **sections: Mapping[str, Any]) -> Settings:
        """A copy with some keys of some tables changed: ``s.replace(model={"radius_km": 10})``."""
        changed = {}
        for name, values in sections.items():
            if name not in SECTIONS:
                raise InputError(_unknown(name, SECTIONS, "table"))
            current = {f.name: getattr(getattr(self, name), f.name) for f in dataclasses.fields(SECTIONS[name])}
            changed[name] = _section(name, {**current, **dict(values)}, Path("."), check_keys=True)
        return dataclasses.replace(self, **changed)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], base: Path | str = ".", source=None) -> Settings:
        """Settings from the scenario file's tables as a dict; ``base`` resolves relative input paths."""
        try:
            data = {name: dict(values or {}) for name, values in data.items()}
            for name in data:
                if name not in SECTIONS:
                    raise InputError(_unknown(name, SECTIONS, "table"))
            for (old, key), new in MOVED.items():
                if key in data.get(old, {}):
                    log.warning("%s[%s] %s belongs in [%s] (read from there too)", f"{source}: " if source else "",
                                old, key, new)
                    data.setdefault(new, {}).setdefault(key, data[old].pop(key))
            return cls(**{name: _section(name, dict(data.get(name) or {}), Path(base)) for name in SECTIONS})
        except InputError as exc:
            if source is None:
                raise
            raise InputError(str(exc), path=source) from None

    @classmethod
    def from_toml(cls, path) -> Settings:
        """Settings from a scenario file (relative paths in it are relative to the file)."""
        from ._tables import read_toml

        path = Path(path)
        return cls.from_dict(read_toml(path), path.parent, source=path)

    def to_dict(self) -> dict:
        """The tables as plain values (paths as text): what run.json records."""
        def plain(v):
            if dataclasses.is_dataclass(v):
                return {k: plain(x) for k, x in dataclasses.asdict(v).items()}  # type: ignore[arg-type]
            if isinstance(v, (list, tuple)):
                return [plain(x) for x in v]
            if isinstance(v, dict):
                return {k: plain(x) for k, x in v.items()}
            return str(v) if isinstance(v, Path) else v
        return {name: plain(getattr(self, name)) for name in SECTIONS}


PRIORITY_NAME = re.compile(r"[a-z][a-z0-9_]{0,39}")


def check_priority_name(name: str) -> str:
    """A priority layer's name (it becomes GeoPackage layer names): lower-case letters, digits, underscores."""
    if not PRIORITY_NAME.fullmatch(str(name)) or name in ("summary", "by_commune"):
        raise InputError(f"priority layer name {name!r}: use lower-case letters, digits and underscores, starting "
                         "with a letter (e.g. health, main_roads; not summary or by_commune)", argument="priority")
    return str(name)


def parse_layer_spec(text: str) -> dict:
    """``"roads.gpkg:main_roads"`` → {path, layer}; ``"hospitals.csv"`` → {path} (a colon belongs to the
    layer only after a file name with a suffix)."""
    path, sep, layer = str(text).rpartition(":")
    if sep and Path(path).suffix and layer and "/" not in layer and "\\" not in layer:
        return {"path": path, "layer": layer}
    return {"path": str(text)}


def parse_priority(text: str) -> tuple[str, dict]:
    """``"health=osm.gpkg:health"`` → ("health", {path, layer}) (``--priority NAME=FILE[:LAYER]``)."""
    name, sep, spec = str(text).partition("=")
    if not sep or not name.strip() or not spec.strip():
        raise InputError(f"expected NAME=FILE[:LAYER], e.g. health=osm.gpkg:health, got {text!r}",
                         argument="priority")
    return check_priority_name(name.strip()), parse_layer_spec(spec.strip())


def read_table_setting(path, base: Path | str = ".") -> ClutterTable | None:
    """The :class:`ClutterTable` of a clutter-table file (relative to ``base``); None for ''."""
    from .data.clutter import read_clutter_table

    if path in ("", None):
        return None
    return read_clutter_table(Path(path) if Path(path).is_absolute() else Path(base) / path)


def read_calibration(path, base: Path | str = ".") -> LossCorrection | None:
    """The :class:`LossCorrection` of a calibration file (``phusong calibrate --out``); None for ''."""
    from ._tables import read_toml

    if path in ("", None):
        return None
    path = Path(path) if Path(path).is_absolute() else Path(base) / path
    data = read_toml(path)
    try:
        correction = LossCorrection.from_dict(data.get("correction") or {}, source=str(path))
    except InputError as exc:
        raise InputError(str(exc), path=path) from None
    sources, demo = (table if isinstance(table, dict) else {} for table in (data.get("sources"), data.get("demonstration")))
    fitted = str(sources.get("technology", ""))
    reasons = "; ".join(map(str, demo.get("reasons", [])))
    # a calibration fitted to synthetic inputs makes every run it corrects a demonstration too
    return dataclasses.replace(
        correction, technology="" if fitted == "all" else fitted,
        demonstration=(f"{path.name}: a calibration fitted to demonstration inputs ({reasons})",) if reasons else ())


def _unknown(key: str, known, what: str) -> str:
    close = difflib.get_close_matches(key, list(known), n=1, cutoff=0.6)
    return f"unknown {what} {key!r}" + (f" (did you mean {close[0]!r}?)" if close else
                                        f" (known: {', '.join(known)})")


# A key that moved between tables still works (with a warning), so that older scenario files run.
MOVED = {("coverage", "zone_share_pct"): "gaps"}


# The scenario's keys that name files, resolved against the scenario's folder (_section, _inputs) and made absolute
# in a copy of it (absolute_paths): [inputs] terrain (one or a list), files, vector layers (a file, "FILE:LAYER" or a
# table with its path), priority layers and a targets catalogue ending in .toml; [model] and [plan] files (plan's
# candidates unless "auto").
FILE_INPUTS = ("sites", "population", "indicators", "landcover")
LAYER_INPUTS = ("communes", "centres", "villages", "zones", "area")
MODEL_FILES = ("calibration", "clutter_table")
PLAN_FILES = ("costs", "new_site_mask", "candidates")


def absolute_paths(tables: dict, base: Path | str) -> dict:
    """A scenario file's tables (as read) with every relative file path in them made absolute against ``base``, the
    file's folder: a copy written elsewhere names the same files."""
    base = Path(base)

    def path(v):
        return v if not isinstance(v, str) or v == "" or Path(v).is_absolute() else str(base / v)

    def layer(v):
        if isinstance(v, dict):
            return {**v, "path": path(v["path"])} if "path" in v else v
        spec = parse_layer_spec(v)
        return path(spec["path"]) + (f":{spec['layer']}" if "layer" in spec else "")

    out = {name: dict(values) if isinstance(values, dict) else values for name, values in tables.items()}
    inputs = out.get("inputs", {})
    terrain = inputs.get("terrain")
    if terrain is not None:
        inputs["terrain"] = [path(p) for p in terrain] if isinstance(terrain, list) else path(terrain)
    for key in FILE_INPUTS:
        if key in inputs:
            inputs[key] = path(inputs[key])
    for key in LAYER_INPUTS:
        if isinstance(inputs.get(key), (str, dict)):
            inputs[key] = layer(inputs[key])
    if isinstance(inputs.get("priority"), dict):
        inputs["priority"] = {name: layer(v) for name, v in inputs["priority"].items()}
    if isinstance(inputs.get("targets"), str) and inputs["targets"].endswith(".toml"):
        inputs["targets"] = path(inputs["targets"])
    for table, keys in (("model", MODEL_FILES), ("plan", PLAN_FILES)):
        section = out.get(table, {})
        for key in keys:
            if key in section and not (key == "candidates" and section[key] == "auto"):
                section[key] = path(section[key])
    return out


def _section(name: str, values: dict, base: Path, check_keys: bool = True):
    cls = SECTIONS[name]
    known = {f.name for f in dataclasses.fields(cls)}
    if check_keys:
        for key in values:
            if key not in known:
                raise InputError(f"[{name}] " + _unknown(key, sorted(known), "key"))
    values = {k: v for k, v in values.items() if k in known}
    if cls is InputSettings:
        values = _inputs(values, base)
    elif cls is ModelSettings:
        if isinstance(values.get("calibration"), (str, Path)):
            values["calibration"] = read_calibration(values["calibration"], base)
        if isinstance(values.get("clutter_table"), (str, Path)):
            values["clutter_table"] = read_table_setting(values["clutter_table"], base)
    elif cls is CoverageSettings and isinstance(values.get("technologies"), list):
        values["technologies"] = tuple(values["technologies"])
    elif cls is PlanSettings:
        if isinstance(values.get("target_ids"), list):
            values["target_ids"] = tuple(values["target_ids"])
        for key in PLAN_FILES:
            if values.get(key) not in (None, "") and not (key == "candidates" and values[key] == "auto"):
                p = Path(values[key])
                values[key] = p if p.is_absolute() else base / p
    try:
        return cls(**values)
    except InputError as exc:
        raise InputError(f"[{name}] {exc}", argument=exc.argument) from None
    except TypeError as exc:
        raise InputError(f"[{name}] {exc}") from None


def _inputs(values: dict, base: Path) -> dict:
    def path(v):
        return None if v in (None, "") else (Path(v) if Path(v).is_absolute() else base / v)

    def layer(key, v):
        if v is None or isinstance(v, Layer):
            return v
        if isinstance(v, (str, Path)):
            return Layer(path(v))
        if not isinstance(v, Mapping):
            raise InputError(f"[inputs] {key} must be a path or a table {{ path = ..., layer = ... }}")
        extra = set(v) - {f.name for f in dataclasses.fields(Layer)}
        if extra:
            raise InputError(f"[inputs.{key}] " + _unknown(sorted(extra)[0], [f.name for f in dataclasses.fields(Layer)],
                                                             "key"))
        if "path" not in v:
            raise InputError(f"[inputs.{key}] needs 'path'")
        return Layer(**{**v, "path": path(v["path"])})

    out = dict(values)
    terrain = out.get("terrain", ())
    out["terrain"] = tuple(path(p) for p in ([terrain] if isinstance(terrain, (str, Path)) else terrain))
    for key in FILE_INPUTS:
        if key in out:
            out[key] = path(out[key])
    for key in LAYER_INPUTS:
        if key in out:
            out[key] = layer(key, out[key])
    priority = out.get("priority") or {}
    if not isinstance(priority, Mapping):
        raise InputError("[inputs] priority must be a table NAME = \"FILE[:LAYER]\" (or { path = ..., layer = ... })")
    out["priority"] = {check_priority_name(name): layer(f"priority.{name}", parse_layer_spec(v) if isinstance(v, str)
                                                        else v) for name, v in priority.items()}
    targets = out.get("targets")
    if isinstance(targets, (str, Path)) and str(targets).endswith(".toml"):
        out["targets"] = str(path(targets))
    return out
