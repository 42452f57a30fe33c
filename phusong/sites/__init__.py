"""Base-station site lists: schema, reading and validation (the readers load on first use)."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from .schema import COLUMNS, TECHNOLOGIES

__all__ = ["COLUMNS", "TECHNOLOGIES", "SiteIssue", "SiteReport", "read_sites", "validate_sites"]
_READERS = ("SiteIssue", "SiteReport", "read_sites", "validate_sites")

if TYPE_CHECKING:
    from .read import SiteIssue, SiteReport, read_sites, validate_sites


def __getattr__(name: str):
    if name in _READERS:  # geopandas and pyogrio only when a site list is read
        return getattr(importlib.import_module(".read", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
