"""Base-station site lists: schema, reading and validation."""
from .read import SiteIssue, SiteReport, read_sites, validate_sites
from .schema import COLUMNS, TECHNOLOGIES

__all__ = ["COLUMNS", "TECHNOLOGIES", "SiteIssue", "SiteReport", "read_sites", "validate_sites"]
