"""Clutter tables from files: land-cover class -> ITU-R P.1812-6 clutter category, height and extra loss."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..propagation.clutter import CATEGORY_HEIGHT_M, ClutterClass, ClutterTable


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
