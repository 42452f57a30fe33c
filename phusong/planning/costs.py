"""What each action costs, and what a new carrier looks like: the costs file (TOML).

The defaults are **illustrative only** (round figures of the order of rural macro-site
costs, in US dollars); replace them with an operator's or the province's own figures.
Each action costs a fixed part plus ``per_sector`` for every sector it installs:

=================  =============================================================
action             fixed part
=================  =============================================================
``upgrade``        ``carrier_upgrade``: a new carrier on the operator's own mast
``share``          ``shared_mast``: an operator's equipment on another's mast
                   (the plan's infrastructure sharing, "chia sẻ, dùng chung")
``new``            ``new_tower``: a greenfield tower with power and backhaul
=================  =============================================================

A costs file sets any of these keys, and the carrier templates per technology::

    currency = "VND"
    new_tower = 2_500_000_000
    shared_mast = 600_000_000
    carrier_upgrade = 250_000_000
    per_sector = 150_000_000
    new_tower_height_m = 35

    [carrier.5G]
    frequency_mhz = 3700
    tx_power_dbm = 50
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .._tables import read_toml
from ..errors import InputError
from ..sites.schema import BY_NAME

ACTIONS = ("upgrade", "share", "new")


@dataclass(frozen=True)
class CarrierTemplate:
    """The cells an action installs: one per azimuth (``sectors`` evenly spread when the mast has none)."""

    technology: str
    frequency_mhz: float
    bandwidth_mhz: float
    tx_power_dbm: float
    antenna_gain_dbi: float
    beamwidth_h_deg: float = 65.0
    beamwidth_v_deg: float = 10.0
    electrical_tilt_deg: float = 3.0
    feeder_loss_db: float = 0.0
    sectors: int = 3


# 5G: a 100 MHz n41 (2.6 GHz) carrier from a 64T64R-class panel; 4G: 20 MHz in band 3 (1.8 GHz).
DEFAULT_CARRIERS = {
    "5G": CarrierTemplate("5G", 2600.0, 100.0, 50.0, 24.0, 65.0, 10.0, 3.0, 0.0, 3),
    "4G": CarrierTemplate("4G", 1800.0, 20.0, 46.0, 17.5, 65.0, 8.0, 3.0, 0.5, 3),
}


@dataclass(frozen=True)
class Costs:
    """Costs of the planner's actions (illustrative defaults; see the module notes).

    Examples
    --------
    >>> from phusong.planning.costs import Costs
    >>> c = Costs()
    >>> c.action_cost("upgrade", 3) < c.action_cost("share", 3) < c.action_cost("new", 3)
    True
    """

    currency: str = "USD"
    new_tower: float = 90_000.0
    shared_mast: float = 25_000.0
    carrier_upgrade: float = 8_000.0
    per_sector: float = 6_000.0
    new_tower_height_m: float = 30.0
    carrier: dict = field(default_factory=lambda: dict(DEFAULT_CARRIERS))
    source: str = "illustrative defaults (phusong.planning.costs)"

    def action_cost(self, action: str, sectors: int) -> float:
        """The cost of one action installing ``sectors`` sectors."""
        fixed = {"upgrade": self.carrier_upgrade, "share": self.shared_mast, "new": self.new_tower}[action]
        return fixed + self.per_sector * sectors


MONEY_KEYS = ("new_tower", "shared_mast", "carrier_upgrade", "per_sector")


def load_costs(path=None) -> Costs:
    """The costs of a TOML file (missing keys keep their defaults), or the defaults for ``None``.

    Negative or non-numeric costs, unknown keys and carrier values outside the site-list ranges
    are an :class:`~phusong.InputError` naming the file and the key.
    """
    if path is None:
        return Costs()
    path = Path(path)
    data = read_toml(path)
    known = {f.name for f in dataclasses.fields(Costs)} - {"source"}
    for key in data:
        if key not in known:
            raise InputError(f"unknown key {key!r} (known: {', '.join(sorted(known))})", path=path, field=key)
    values: dict = {}
    for key in (*MONEY_KEYS, "new_tower_height_m"):
        if key in data:
            v = data[key]
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not v >= 0:
                raise InputError(f"must be a number of zero or more, got {v!r}", path=path, field=key)
            values[key] = float(v)
    if "new_tower_height_m" in values and not 1 <= values["new_tower_height_m"] <= 300:
        raise InputError("must be between 1 and 300 m", path=path, field="new_tower_height_m")
    if "currency" in data:
        values["currency"] = str(data["currency"])
    carriers = dict(DEFAULT_CARRIERS)
    for tech, table in dict(data.get("carrier", {})).items():
        if tech not in DEFAULT_CARRIERS or not isinstance(table, dict):
            raise InputError(f"[carrier.{tech}]: expected a table [carrier.4G] or [carrier.5G]", path=path)
        carriers[tech] = _carrier(carriers[tech], table, path, tech)
    values["carrier"] = carriers
    costs = Costs(**values, source=str(path))
    if costs.shared_mast >= costs.new_tower:
        import logging
        logging.getLogger(__name__).warning("%s: sharing a mast costs as much as a new tower: the plan will not "
                                            "prefer sharing", path)
    return costs


def _carrier(base: CarrierTemplate, table: dict, path: Path, tech: str) -> CarrierTemplate:
    names = {f.name for f in dataclasses.fields(CarrierTemplate)} - {"technology"}
    out = {}
    for key, v in table.items():
        where = f"carrier.{tech}.{key}"
        if key not in names:
            raise InputError(f"unknown key (known: {', '.join(sorted(names))})", path=path, field=where)
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise InputError(f"not a number: {v!r}", path=path, field=where)
        if key == "sectors":
            if v != int(v) or not 1 <= v <= 12:
                raise InputError("must be a whole number from 1 to 12", path=path, field=where)
            v = int(v)
        else:
            col = BY_NAME[key]
            low = -np.inf if col.low is None else col.low
            high = np.inf if col.high is None else col.high
            if not low <= v <= high:
                raise InputError(f"out of range ({col.low:g} to {col.high:g} {col.unit})", path=path, field=where)
        out[key] = v
    return dataclasses.replace(base, **out)
