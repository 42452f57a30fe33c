"""Target catalogues shipped with phusong (one TOML file per plan)."""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from ...errors import InputError

DEFAULT_CATALOGUE = "langson-2025-2030"
COVERAGE_MEASURES = ("centres_5g", "villages_mbb", "zones_5g_site", "zones_iot", "population_5g", "zones_5g_iot")


@dataclass(frozen=True)
class Target:
    """One target of a plan: id, deadline, measure (how phusong evaluates it), goal, unit and texts."""
    id: str
    deadline: str
    measure: str
    goal: float
    unit: str
    text_vi: str
    text_en: str


def available() -> list[str]:
    """Names of the target catalogues shipped with phusong."""
    return sorted(p.name.removesuffix(".toml") for p in resources.files(__package__).iterdir()
                  if p.name.endswith(".toml"))


def load_targets(name_or_path: str = DEFAULT_CATALOGUE) -> list[Target]:
    """Targets of a shipped catalogue (by name) or of a TOML file (by path).

    Examples
    --------
    >>> import phusong
    >>> targets = phusong.load_targets("langson-2025-2030")
    >>> [t.id for t in targets][:3]
    ['T25-5G-CENTRES', 'T25-MBB-VILLAGES', 'T25-IZ-5G-BTS']
    """
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise InputError("not UTF-8 text: save the catalogue as UTF-8", path=path) from None
    elif name_or_path in available():
        text = resources.files(__package__).joinpath(f"{name_or_path}.toml").read_text(encoding="utf-8")
    else:
        raise InputError(f"unknown targets catalogue {name_or_path!r} (shipped: {', '.join(available())})")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", path=name_or_path) from None
    entries = data.get("target")
    if not isinstance(entries, list) or not entries:
        raise InputError("no targets: a catalogue is a list of [[target]] tables (id, deadline, measure, goal, "
                         "unit, text_vi, text_en)", path=name_or_path)
    targets = []
    for i, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict):
            raise InputError(f"target {i} is not a table", path=name_or_path)
        missing = [k for k in Target.__dataclass_fields__ if k not in entry]
        if missing:
            raise InputError(f"target {i} lacks {missing[0]!r}", path=name_or_path)
        goal = entry["goal"]
        if isinstance(goal, bool) or not isinstance(goal, (int, float)) or goal != goal:
            raise InputError(f"target {i}: goal must be a number, got {goal!r}", path=name_or_path)
        texts = {k: entry[k] for k in ("id", "deadline", "measure", "unit", "text_vi", "text_en")}
        wrong = [k for k, v in texts.items() if not isinstance(v, str)]
        if wrong:
            raise InputError(f"target {i}: {wrong[0]} must be text, got {entry[wrong[0]]!r}", path=name_or_path)
        t = Target(**{**texts, "goal": float(goal)})
        if t.measure not in COVERAGE_MEASURES + ("indicator",):
            raise InputError(f"target {t.id}: unknown measure {t.measure!r} (one of: "
                             f"{', '.join(COVERAGE_MEASURES + ('indicator',))})", path=name_or_path)
        targets.append(t)
    ids = [t.id for t in targets]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(f"target id {dup[0]!r} appears more than once", path=name_or_path)
    return targets


def read_indicators(path):
    """Measured values of indicator targets: a pandas DataFrame from a CSV with ``target_id,value``
    (and ``source,date``)."""
    import numpy as np
    import pandas as pd

    from ..._tables import read_text_table

    table = read_text_table(path, what="indicators table")
    missing = {"target_id", "value"} - set(table.columns)
    if missing:
        raise InputError(f"indicators need columns target_id,value,source,date; missing {sorted(missing)}", path=path)
    values = pd.to_numeric(table["value"], errors="coerce")
    bad = values.isna() | ~np.isfinite(values.fillna(0))
    if bad.any():
        raise InputError("not a number", path=path, row=int(np.flatnonzero(bad.to_numpy())[0]) + 1, field="value")
    table["value"] = values
    return table
