"""Errors that the command line turns into one clear line and an exit code."""
from __future__ import annotations


class PhusongError(Exception):
    """A failure phusong understands; ``exit_code`` is what the CLI returns.

    Examples
    --------
    >>> import phusong
    >>> issubclass(phusong.InputError, phusong.PhusongError), phusong.PhusongError.exit_code
    (True, 1)
    """

    exit_code = 1


class InputError(PhusongError, ValueError):
    """Bad input (a file, a row, a field, an argument): exit code 2.

    ``path``, ``row`` and ``field`` name the file, and the row and column when
    known, so that the message reads ``sites.csv: row 4, column frequency_mhz:
    not a number ('abc')``. ``argument`` names the function argument or setting
    at fault (``radius_km``); the command line adds the flag that sets it.
    A ``ValueError``, so that callers of the Python API can catch it as one.

    Examples
    --------
    >>> import phusong
    >>> err = phusong.InputError("not a number ('abc')", path="sites.csv", row=4, field="frequency_mhz")
    >>> str(err), isinstance(err, ValueError), err.exit_code
    ("sites.csv: row 4, column frequency_mhz: not a number ('abc')", True, 2)
    """

    exit_code = 2

    def __init__(self, message: str, *, path=None, row: int | None = None, field: str | None = None,
                 argument: str | None = None):
        parts = []
        if path is not None:
            parts.append(str(path))
        loc = []
        if row is not None:
            loc.append(f"row {row}")
        if field is not None:
            loc.append(f"column {field}")
        if loc:
            parts.append(", ".join(loc))
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)
        self.path, self.row, self.field, self.argument = path, row, field, argument


class OutputExistsError(InputError):
    """An output exists and ``--overwrite`` was not given."""
