"""Errors that the command line turns into one clear line and an exit code."""
from __future__ import annotations


class PhusongError(Exception):
    """A failure phusong understands; ``exit_code`` is what the CLI returns."""

    exit_code = 1


class InputError(PhusongError):
    """Bad input (a file, a row, a field): exit code 2.

    ``where`` names the file, and the row and field when known, so that the
    message reads ``sites.csv: row 4, column frequency_mhz: not a number ('abc')``.
    """

    exit_code = 2

    def __init__(self, message: str, *, path=None, row: int | None = None, field: str | None = None):
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
        self.path, self.row, self.field = path, row, field


class OutputExistsError(InputError):
    """An output exists and ``--overwrite`` was not given."""
