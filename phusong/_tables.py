"""Read the tables users actually send: CSV from any spreadsheet, or an Excel workbook, as text.

Accepted: UTF-8 with or without a byte-order mark; comma-, semicolon- or tab-separated (sniffed
from the header); decimal commas in semicolon files (``106,75`` is 106.75, as Excel writes them in
the Vietnamese and most European locales); leading ``#`` comment lines; ``.xlsx`` (the first sheet,
or the one named). Refused with one line naming the file: an empty file, a header without rows,
a repeated column name, and text in a legacy Vietnamese encoding (Windows-1258 or TCVN3/ABC),
which would otherwise turn every diacritic into noise.
"""
from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pandas as pd

from .errors import InputError

EXCEL_SUFFIXES = (".xlsx", ".xlsm")
# Windows-1258 writes Vietnamese tones as combining marks (bytes CC EC D2 DE F2) after the vowel.
_CP1258_TONES = frozenset(b"\xcc\xec\xd2\xde\xf2")
_DECIMAL_COMMA = re.compile(r"^\s*[-+]?\d+,\d+\s*$")


def legacy_encoding(raw: bytes) -> str | None:
    """'Windows-1258' or 'TCVN3 (ABC)' when ``raw`` is not UTF-8 but looks like legacy Vietnamese; else None."""
    try:
        raw.decode("utf-8")
        return None
    except UnicodeDecodeError:
        pass
    high = [b for b in raw if b >= 0x80]
    if not high:
        return None
    tones = sum(1 for a, b in zip(raw, raw[1:]) if b in _CP1258_TONES and chr(a).isalpha())
    return "Windows-1258" if tones >= max(1, len(high) // 4) else "TCVN3 (ABC)"


def _decode(path: Path, raw: bytes) -> str:
    if raw[:2] in (b"\xff\xfe", b"\xfe\xff"):   # UTF-16 with its byte-order mark: Excel's "Unicode Text"
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise InputError("not valid UTF-16 text (it starts with UTF-16's byte-order mark): save it as UTF-8 "
                             "(in Excel: Save As, 'CSV UTF-8')", path=path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        legacy = legacy_encoding(raw)
        hint = (f"it looks like {legacy}, a legacy Vietnamese encoding; save it as UTF-8 (in Excel: "
                f"Save As, 'CSV UTF-8')") if legacy else "save it as UTF-8"
        line = raw[:exc.start].count(b"\n") + 1
        raise InputError(f"not UTF-8 text (line {line}): {hint}", path=path) from None


def read_text_table(path, *, sheet: str | None = None, what: str = "table") -> pd.DataFrame:
    """Every cell as text (as the user wrote it), header names stripped; ``attrs["comments"]`` holds the
    leading ``#`` lines and ``attrs["decimal_comma"]`` says whether decimal commas were converted."""
    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    if path.suffix.lower() in EXCEL_SUFFIXES:
        df = _read_excel(path, sheet)
        comments: list[str] = []
        decimal_comma = False
    else:
        if sheet is not None:
            raise InputError("a sheet can only be chosen in an Excel workbook (.xlsx)", path=path, argument="sheet")
        text = _decode(path, path.read_bytes())
        lines = text.splitlines(keepends=True)
        comments = []
        while lines and lines[0].startswith("#"):
            comments.append(lines.pop(0))
        body = "".join(lines)
        if not body.strip():
            raise InputError(f"empty file: no header and no rows (a {what} needs a header line and one row "
                             "per entry)", path=path)
        header = body.splitlines()[0]
        delimiter = max((",", ";", "\t"), key=header.count)
        try:
            df = pd.read_csv(io.StringIO(body), dtype=str, keep_default_na=False, sep=delimiter,
                             skipinitialspace=True, quoting=csv.QUOTE_MINIMAL)
        except pd.errors.ParserError as exc:
            raise InputError(f"not a well-formed CSV ({str(exc).strip()})", path=path) from None
        decimal_comma = delimiter != "," and bool(df.map(lambda v: bool(_DECIMAL_COMMA.match(v))).to_numpy().any())
        if decimal_comma:
            df = df.map(lambda v: v.replace(",", ".") if _DECIMAL_COMMA.match(v) else v)
    names = [str(c).strip() for c in df.columns]
    dup = sorted({n for n in names if names.count(n) > 1})
    mangled = [n for n in names if re.fullmatch(r".+\.\d+", n) and n.rsplit(".", 1)[0] in names]
    if dup or mangled:
        raise InputError(f"column {(dup or [mangled[0].rsplit('.', 1)[0]])[0]!r} appears more than once in the header",
                         path=path)
    df.columns = names
    if len(df) == 0:
        raise InputError(f"header only: the {what} has no rows", path=path)
    df.attrs["comments"] = comments
    df.attrs["decimal_comma"] = decimal_comma
    return df


def _read_excel(path: Path, sheet: str | None) -> pd.DataFrame:
    try:
        import openpyxl  # noqa: F401  (pandas' engine for .xlsx)
    except ImportError:  # pragma: no cover - a dependency
        raise InputError("reading .xlsx needs openpyxl: pip install openpyxl", path=path) from None
    try:
        book = pd.ExcelFile(path, engine="openpyxl")
    except Exception as exc:  # openpyxl raises several types for damaged workbooks
        raise InputError(f"cannot read as an Excel workbook ({type(exc).__name__}: {exc})", path=path) from None
    with book:
        if sheet is not None and sheet not in book.sheet_names:
            raise InputError(f"no sheet {sheet!r} (sheets: {', '.join(book.sheet_names)})", path=path,
                             argument="sheet")
        df = pd.read_excel(book, sheet_name=sheet if sheet is not None else 0, dtype=str, keep_default_na=False)
    # Excel stores numbers, not text: a whole number comes back as "30" or "30.0"; both read the same later
    return df.map(lambda v: "" if v is None else str(v).strip())


def read_toml(path) -> dict:
    """A TOML file's tables; a missing file or bad TOML is an :class:`InputError` naming the file."""
    import tomllib

    path = Path(path)
    if not path.is_file():
        raise InputError("no such file", path=path)
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid TOML ({exc})", path=path) from None


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value):
    """A text cell Excel or LibreOffice would run as a formula (``=…``, ``+…``, ``-…``, ``@…``) prefixed with
    ``'`` (OWASP's advice against CSV injection); numbers and other values unchanged."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        try:
            float(value)
            return value
        except ValueError:
            return "'" + value
    return value


def write_csv(df: pd.DataFrame, path, *, comments=(), index: bool = False) -> None:
    """Write ``df`` as UTF-8 CSV with a byte-order mark (so that Excel shows Vietnamese text right), after
    any ``# comment`` lines; a text cell that a spreadsheet would run as a formula gets a leading ``'``
    (:func:`formula_safe`). ``path`` may be an open text file. Every phusong reader accepts the mark."""
    df = df.copy()
    for col in df.columns:
        if df[col].dtype == object or pd.api.types.is_string_dtype(df[col]):
            df[col] = df[col].map(formula_safe)
    if hasattr(path, "write"):
        fh, close = path, False
    else:
        fh, close = open(path, "w", encoding="utf-8", newline=""), True
    try:
        fh.write("\ufeff")
        for line in comments:
            fh.write(f"# {line}\n")
        df.to_csv(fh, index=index, lineterminator="\n")
    finally:
        if close:
            fh.close()


def toml_text(tables: dict, comments=()) -> str:
    """TOML for nested dicts of strings, numbers, booleans and lists of them (what phusong writes:
    calibration files), after ``# comment`` lines; read back with :func:`read_toml`."""
    import json
    import math

    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if isinstance(v, float) and not math.isfinite(v):
                return "nan" if math.isnan(v) else ("inf" if v > 0 else "-inf")
            return repr(v) if isinstance(v, float) else str(int(v))
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return json.dumps(str(v), ensure_ascii=False)   # a JSON string is a TOML basic string

    def key(k):
        return k if re.fullmatch(r"[A-Za-z0-9_-]+", str(k)) else json.dumps(str(k), ensure_ascii=False)

    lines = [f"# {c}" for c in comments]

    def table(name, body):
        scalars = {k: v for k, v in body.items() if not isinstance(v, dict)}
        if name:
            lines.extend(["", f"[{name}]"])
        lines.extend(f"{key(k)} = {value(v)}" for k, v in scalars.items())
        for k, v in body.items():
            if isinstance(v, dict):
                table(f"{name}.{key(k)}" if name else key(k), v)

    table("", tables)
    return "\n".join(lines).lstrip("\n") + "\n"
