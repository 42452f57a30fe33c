"""Land-cover classes as clutter: ITU-R P.1812-6 clutter categories, representative heights and extra losses.

A clutter table maps each land-cover class code to one of P.1812-6's clutter categories (§3.2,
Table 2: water/sea, open/rural, suburban, urban/trees/forest, dense urban), a representative clutter
height in metres (default: the category's Table 2 height) and an optional extra loss in dB added at a
receiver standing in that class (for example a measured foliage loss). The P.1812 model adds the heights
to its terrain profiles; every model adds the extra losses.

:data:`WORLDCOVER` is the default table for ESA WorldCover 10 m v200 codes (product user manual, Table 1):
tree cover and mangroves as forest (15 m), built-up as suburban (10 m, villages and small towns of
one to three storeys; give dense urban, 20 m, in your own table for city centres), permanent water as
water, and every low cover (shrub, grass, crops, bare, snow, wetland, moss) as open/rural (0 m).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError

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
        """The table from what :func:`dataclasses.asdict` gives (run.json: class codes as text)."""
        classes = {int(code): ClutterClass(**dict(c)) for code, c in dict(data.get("classes", {})).items()}
        return cls(classes, source=str(data.get("source", "")))

    def to_rows(self) -> list[dict]:
        """The table as rows (class, category, height_m, extra_loss_db), for run.json and docs."""
        return [dict(code=code, category=c.category, height_m=c.height_m, extra_loss_db=c.extra_loss_db)
                for code, c in sorted(self.classes.items())]


WORLDCOVER = ClutterTable({code: ClutterClass(cat, CATEGORY_HEIGHT_M[cat]) for code, cat in _WORLDCOVER_CATEGORY.items()})


def read_clutter_table(path) -> ClutterTable:
    """A clutter table from CSV (or any table phusong reads) or TOML with columns/keys ``class`` (code 0–255),
    ``category`` (one of P.1812's five), optional ``height_m`` (default: the category's Table 2 height)
    and optional ``extra_loss_db`` (default 0). A bad row is an :class:`InputError` naming file, row and field."""
    path = Path(path)
    if path.suffix.lower() == ".toml":
        import tomllib

        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"cannot read the clutter table: {exc}", path=path) from None
        rows = data.get("class", data.get("classes"))
        if not isinstance(rows, list):
            raise InputError("a TOML clutter table lists its classes as [[class]] tables", path=path)
    else:
        from .._tables import read_text_table

        df = read_text_table(path, what="clutter table")
        rows = df.to_dict("records")
    classes = {}
    for i, row in enumerate(rows, start=1):
        row = {str(k).strip().lower(): v for k, v in row.items()}
        code = _number(row.get("class"), path, i, "class")
        if code != int(code) or not 0 <= code <= 255:
            raise InputError("a class code is a whole number 0–255", path=path, row=i, field="class")
        category = str(row.get("category", "")).strip().lower()
        if category not in CATEGORY_HEIGHT_M:
            raise InputError(f"unknown category {category!r}; choose one of: {', '.join(CATEGORY_HEIGHT_M)}",
                             path=path, row=i, field="category")
        height = row.get("height_m")
        height = CATEGORY_HEIGHT_M[category] if _blank(height) else _number(height, path, i, "height_m")
        if not 0.0 <= height <= 100.0:
            raise InputError("out of range (0 to 100 m)", path=path, row=i, field="height_m")
        extra = row.get("extra_loss_db")
        extra = 0.0 if _blank(extra) else _number(extra, path, i, "extra_loss_db")
        if not -20.0 <= extra <= 60.0:
            raise InputError("out of range (-20 to 60 dB)", path=path, row=i, field="extra_loss_db")
        if int(code) in classes:
            raise InputError(f"class {int(code)} is given twice", path=path, row=i, field="class")
        classes[int(code)] = ClutterClass(category, float(height), float(extra))
    if not classes:
        raise InputError("the clutter table lists no classes", path=path)
    return ClutterTable(classes, source=str(path))


def _blank(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value)) or str(value).strip() == ""


def _number(value, path, row, name) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InputError("not a number", path=path, row=row, field=name) from None
    if not np.isfinite(number):
        raise InputError("not a number", path=path, row=row, field=name)
    return number
