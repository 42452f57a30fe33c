"""Land-cover classes as clutter: ITU-R P.1812-6 clutter categories, representative heights and extra losses.

A clutter table maps each land-cover class code to one of P.1812-6's clutter categories (§3.2,
Table 2: water/sea, open/rural, suburban, urban/trees/forest, dense urban), a representative clutter
height in metres (default: the category's Table 2 height) and an optional extra loss in dB added at a
receiver standing in that class (for example a measured foliage loss). The P.1812 model adds the heights
to its terrain profiles; every model adds the extra losses. Tables are read from files by
:func:`phusong.data.clutter.read_clutter_table`.

:data:`WORLDCOVER` is the default table for ESA WorldCover 10 m v200 codes (product user manual, Table 1):
tree cover and mangroves as forest (15 m), built-up as suburban (10 m, villages and small towns of
one to three storeys; give dense urban, 20 m, in your own table for city centres), permanent water as
water, and every low cover (shrub, grass, crops, bare, snow, wetland, moss) as open/rural (0 m).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# P.1812-6 Table 2 (the same as P.2108-1 Table 3's defaults): category -> representative height (m)
CATEGORY_HEIGHT_M = {"water/sea": 0.0, "open/rural": 0.0, "suburban": 10.0, "urban/trees/forest": 15.0,
                     "dense urban": 20.0}
_WORLDCOVER_CATEGORY = {10: "urban/trees/forest", 20: "open/rural", 30: "open/rural", 40: "open/rural",
                        50: "suburban", 60: "open/rural", 70: "open/rural", 80: "water/sea", 90: "open/rural",
                        95: "urban/trees/forest", 100: "open/rural"}


@dataclass(frozen=True)
class ClutterClass:
    """One land-cover class: its P.1812 category, clutter height (m) and extra loss at a receiver (dB)."""

    category: str
    height_m: float
    extra_loss_db: float = 0.0


@dataclass(frozen=True)
class ClutterTable:
    """Class code (0–255) -> :class:`ClutterClass`; codes not listed (and no data) are open ground with
    no clutter. ``source`` names the file or the built-in table."""

    classes: dict = field(default_factory=dict)
    source: str = "ESA WorldCover v200 -> ITU-R P.1812-6 Table 2 (built in)"

    def heights_m(self, codes: np.ndarray) -> np.ndarray:
        """Clutter height (float32 m) of each class code of a raster."""
        return self._lookup("height_m")[np.asarray(codes, dtype=np.uint8)]

    def extra_loss_db(self, codes: np.ndarray) -> np.ndarray:
        """Extra loss (float32 dB) at a receiver in each class code of a raster."""
        return self._lookup("extra_loss_db")[np.asarray(codes, dtype=np.uint8)]

    @property
    def has_extra_loss(self) -> bool:
        return any(c.extra_loss_db for c in self.classes.values())

    def _lookup(self, attr: str) -> np.ndarray:
        table = np.zeros(256, np.float32)
        for code, cls in self.classes.items():
            table[code] = getattr(cls, attr)
        return table

    @classmethod
    def from_dict(cls, data) -> ClutterTable:
        """The table from what :func:`dataclasses.asdict` gives (run.json: class codes as text), each class
        checked as a file's rows are."""
        classes = {}
        for code, c in dict(data.get("classes", {})).items():
            c = dict(c)
            code, cls_ = clutter_class(code, c.get("category"), c.get("height_m"), c.get("extra_loss_db"))
            classes[code] = cls_
        return cls(classes, source=str(data.get("source", "")))

    def to_rows(self) -> list[dict]:
        """The table as rows (class, category, height_m, extra_loss_db), for run.json and docs."""
        return [dict(code=code, category=c.category, height_m=c.height_m, extra_loss_db=c.extra_loss_db)
                for code, c in sorted(self.classes.items())]


def clutter_class(code, category, height_m=None, extra_loss_db=None) -> tuple[int, ClutterClass]:
    """(code, :class:`ClutterClass`) from one row's values; ValueError naming the field when one is wrong.
    Code 0 is no data (open ground, never in a table); an empty height takes the category's Table 2 height."""
    code = _value(code, "class")
    if code != int(code) or not 1 <= code <= 255:
        raise ValueError("class: a class code is a whole number 1–255 (0 is no data)")
    category = str(category or "").strip().lower()
    if category not in CATEGORY_HEIGHT_M:
        raise ValueError(f"category: unknown category {category!r}; choose one of: {', '.join(CATEGORY_HEIGHT_M)}")
    height = CATEGORY_HEIGHT_M[category] if _blank(height_m) else _value(height_m, "height_m")
    if not 0.0 <= height <= 100.0:
        raise ValueError("height_m: out of range (0 to 100 m)")
    extra = 0.0 if _blank(extra_loss_db) else _value(extra_loss_db, "extra_loss_db")
    if not -20.0 <= extra <= 60.0:
        raise ValueError("extra_loss_db: out of range (-20 to 60 dB)")
    return int(code), ClutterClass(category, float(height), float(extra))


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def _value(value, name) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name}: not a number")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}: not a number") from None
    if not np.isfinite(number):
        raise ValueError(f"{name}: not a number")
    return number


WORLDCOVER = ClutterTable({code: ClutterClass(cat, CATEGORY_HEIGHT_M[cat]) for code, cat in _WORLDCOVER_CATEGORY.items()})
