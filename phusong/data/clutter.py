"""Clutter tables from files: land-cover class -> ITU-R P.1812-6 clutter category, height and extra loss."""
from __future__ import annotations

from pathlib import Path

from ..errors import InputError
from ..propagation.clutter import ClutterTable, clutter_class


def read_clutter_table(path) -> ClutterTable:
    """A clutter table from CSV (or any table phusong reads) or TOML with columns/keys ``class`` (code 1–255),
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
        if not isinstance(row, dict):
            raise InputError("each class is a table (class, category, height_m, extra_loss_db)", path=path, row=i)
        row = {str(k).strip().lower(): v for k, v in row.items()}
        try:
            code, cls = clutter_class(row.get("class"), row.get("category"), row.get("height_m"),
                                      row.get("extra_loss_db"))
        except ValueError as exc:
            field, _, message = str(exc).partition(": ")
            raise InputError(message, path=path, row=i, field=field) from None
        if code in classes:
            raise InputError(f"class {code} is given twice", path=path, row=i, field="class")
        classes[code] = cls
    if not classes:
        raise InputError("the clutter table lists no classes", path=path)
    return ClutterTable(classes, source=str(path))

