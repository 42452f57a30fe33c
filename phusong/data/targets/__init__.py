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
    id: str
    deadline: str
    measure: str
    goal: float
    unit: str
    text_vi: str
    text_en: str


def available() -> list[str]:
    return sorted(p.name.removesuffix(".toml") for p in resources.files(__package__).iterdir()
                  if p.name.endswith(".toml"))


def load_targets(name_or_path: str = DEFAULT_CATALOGUE) -> list[Target]:
    """Targets of a shipped catalogue (by name) or of a TOML file (by path)."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text = path.read_text(encoding="utf-8")
    elif name_or_path in available():
        text = resources.files(__package__).joinpath(f"{name_or_path}.toml").read_text(encoding="utf-8")
    else:
        raise InputError(f"unknown targets catalogue {name_or_path!r} (shipped: {', '.join(available())})")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"not valid TOML ({exc})", path=name_or_path) from None
    targets = []
    for i, entry in enumerate(data.get("target", []), start=1):
        try:
            t = Target(**{k: entry[k] for k in Target.__dataclass_fields__})
        except KeyError as exc:
            raise InputError(f"target {i} lacks {exc.args[0]!r}", path=name_or_path) from None
        if t.measure not in COVERAGE_MEASURES + ("indicator",):
            raise InputError(f"target {t.id}: unknown measure {t.measure!r}", path=name_or_path)
        targets.append(t)
    return targets
