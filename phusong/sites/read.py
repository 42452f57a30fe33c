"""Read and validate a site list (CSV, GeoPackage, GeoJSON, any OGR format)."""
from __future__ import annotations

import difflib
import math
import shlex
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio

from .._tables import EXCEL_SUFFIXES, read_text_table
from ..errors import InputError
from .schema import (BY_NAME, COLUMNS, DEFAULT_BANDWIDTH_MHZ, DEFAULT_GAIN_DBI, REQUIRED, canonical_header,
                     normalise_technology)

# A leading comment with one of these words marks a generated (not real) site list: outputs that use it
# are labelled as a demonstration.
GENERATED_WORDS = ("GENERATED", "SYNTHETIC", "DEMONSTRATION")


@dataclass(frozen=True)
class SiteIssue:
    """One problem of a site list: its row, column, the value as written, and why it is wrong."""
    row: int          # 1-based data row (the CSV header is not counted)
    column: str
    value: str
    reason: str

    def __str__(self) -> str:
        shown = "" if self.value == "" else f" (value {self.value!r})"
        where = "header" if self.row == 0 else f"row {self.row}"   # (row 0: the header's problems)
        return f"{where}, column {self.column}: {self.reason}{shown}"


@dataclass
class SiteReport:
    """Every problem of a site list (see :func:`validate_sites`)."""
    path: Path
    rows: int
    issues: list[SiteIssue] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the list has no problem."""
        return not self.issues

    def lines(self) -> list[str]:
        """One line per problem: ``FILE: row R, column C: reason (value 'V')``."""
        return [f"{self.path}: {issue}" for issue in self.issues]


def read_raw_table(path: Path, sheet: str | None = None, what: str = "site list") -> pd.DataFrame:
    """Every column as text (what the user wrote), from CSV, Excel or a vector file of points (whose
    geometry becomes ``lon``/``lat`` in WGS 84 when the table has none)."""
    if not path.exists():
        raise InputError("no such file", path=path)
    if path.suffix.lower() in (".csv", ".txt", ".tsv", *EXCEL_SUFFIXES):
        df = read_text_table(path, sheet=sheet, what=what)
        # a leading comment (e.g. "# GENERATED, not a real network") marks a generated list
        if any(w in line.upper() for line in df.attrs["comments"] for w in GENERATED_WORDS):
            df.attrs["generated"] = f"{path.name}: generated sites"
        return df
    try:
        gdf = pyogrio.read_dataframe(path)
    except Exception as exc:  # pyogrio raises several types for unreadable files
        raise InputError(f"cannot read as a vector file ({exc})", path=path) from None
    if isinstance(gdf, gpd.GeoDataFrame) and gdf.geometry is not None and gdf.geometry.notna().any():
        geom = gdf.geometry
        if gdf.crs is not None and not gdf.crs.equals("EPSG:4326"):
            geom = geom.to_crs("EPSG:4326")
        if not (geom.geom_type.dropna() == "Point").all():
            raise InputError(f"{what} geometries must be points", path=path)
        gdf = pd.DataFrame(gdf.drop(columns=gdf.geometry.name))
        if "lon" not in gdf:
            gdf["lon"] = geom.x
        if "lat" not in gdf:
            gdf["lat"] = geom.y
    df = pd.DataFrame(gdf)
    return df.apply(lambda col: col.map(lambda v: "" if v is None or (isinstance(v, float) and math.isnan(v))
                                        else str(v)))


def validate_table(df: pd.DataFrame, path: Path, terrain_bounds_lonlat=None) -> tuple[pd.DataFrame, SiteReport]:
    """Check every row at once; return the typed table (defaults applied) and the report."""
    report = SiteReport(Path(path), len(df))
    renamed: dict[str, str] = {}
    for col in df.columns:
        canon = canonical_header(col)
        if canon != col and canon not in df.columns and canon not in renamed.values():
            renamed[col] = canon
    df = df.rename(columns=renamed)
    missing_cols = [c for c in REQUIRED if c not in df.columns]
    for c in missing_cols:
        unknown = [h for h in df.columns if h not in BY_NAME and h != "site_name"]
        close = difflib.get_close_matches(c, unknown, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        report.issues.append(SiteIssue(0, c, "", f"required column is missing from the header{hint}"))
    if missing_cols:
        if df.shape[1] == 1 and ";" in str(df.columns[0]):
            report.issues.append(SiteIssue(0, str(df.columns[0])[:40], "", "the header is one column: is the "
                                           "file separated by something other than , ; or tab?"))
        return df, report

    out = pd.DataFrame(index=df.index)
    for col in COLUMNS:
        raw = df[col.name].astype(str).str.strip() if col.name in df.columns else pd.Series("", index=df.index)
        empty = raw == ""
        for i in np.flatnonzero(empty.to_numpy() & col.required):
            report.issues.append(SiteIssue(int(i) + 1, col.name, "", "missing"))
        if col.kind == "float":
            values = pd.to_numeric(raw.where(~empty), errors="coerce")
            bad = (~empty) & values.isna() | ~np.isfinite(values.fillna(0))
            for i in np.flatnonzero(bad.to_numpy()):
                report.issues.append(SiteIssue(int(i) + 1, col.name, raw.iloc[i], "not a number"))
            ok = values.notna() & ~bad
            out_of_range = ok & ((values < col.low) | (values > col.high))
            for i in np.flatnonzero(out_of_range.to_numpy()):
                report.issues.append(SiteIssue(int(i) + 1, col.name, raw.iloc[i],
                                               f"out of range ({col.low:g} to {col.high:g} {col.unit})".rstrip()))
            if col.whole:
                fraction = ok & ~out_of_range & (values % 1 != 0)
                for i in np.flatnonzero(fraction.to_numpy()):
                    report.issues.append(SiteIssue(int(i) + 1, col.name, raw.iloc[i], "not a whole number"))
                out_of_range |= fraction
            values = values.where(ok & ~out_of_range)
            if col.default is not None:
                values = values.fillna(col.default)
            out[col.name] = values.astype("float64")
        elif col.kind == "choice":
            norm = raw.map(normalise_technology) if col.name == "technology" else raw.str.lower()
            valid = norm.isin(col.choices)
            for i in np.flatnonzero((~empty & ~valid).to_numpy()):
                what = "unknown technology (4G, 5G or NB-IoT)" if col.name == "technology" else \
                    f"unknown {col.name} ({', '.join(col.choices)})"
                report.issues.append(SiteIssue(int(i) + 1, col.name, raw.iloc[i], what))
            out[col.name] = norm.where(valid, col.default if col.default is not None else None)
        else:
            out[col.name] = raw.where(~empty, col.default)
    if "site_name" in df.columns:
        out["site_name"] = df["site_name"].astype(str).str.strip()

    dup = out["cell_id"].duplicated(keep="first") & out["cell_id"].notna() & (out["cell_id"] != "")
    for i in np.flatnonzero(dup.to_numpy()):
        first = int(np.flatnonzero((out["cell_id"] == out["cell_id"].iloc[i]).to_numpy())[0]) + 1
        report.issues.append(SiteIssue(int(i) + 1, "cell_id", out["cell_id"].iloc[i],
                                       f"duplicate cell_id (first in row {first})"))

    if terrain_bounds_lonlat is not None:
        w, s, e, n = terrain_bounds_lonlat
        lon, lat = out["lon"], out["lat"]
        outside = lon.notna() & lat.notna() & ((lon < w) | (lon > e) | (lat < s) | (lat > n))
        for i in np.flatnonzero(outside.to_numpy()):
            report.issues.append(SiteIssue(int(i) + 1, "lon,lat", f"{lon.iloc[i]},{lat.iloc[i]}", "outside the terrain"))

    tech = out["technology"]
    out["bandwidth_mhz"] = out["bandwidth_mhz"].fillna(tech.map(DEFAULT_BANDWIDTH_MHZ))
    omni = out["azimuth_deg"].isna()
    out["antenna_gain_dbi"] = out["antenna_gain_dbi"].fillna(
        omni.map({True: DEFAULT_GAIN_DBI["omni"], False: DEFAULT_GAIN_DBI["sector"]}))
    files = out["antenna_file"].notna() & (out["antenna_file"] != "")
    for i in np.flatnonzero(files.to_numpy()):
        f = Path(path).parent / out["antenna_file"].iloc[i]
        if not f.exists():
            report.issues.append(SiteIssue(int(i) + 1, "antenna_file", out["antenna_file"].iloc[i], "no such file"))
        else:
            out.loc[out.index[i], "antenna_file"] = str(f.resolve())
    out["row"] = np.arange(1, len(out) + 1)
    report.issues.sort(key=lambda s: (s.row, list(BY_NAME).index(s.column) if s.column in BY_NAME else 99))
    return out.reset_index(drop=True), report


def validate_sites(path, terrain_bounds_lonlat=None, sheet: str | None = None) -> SiteReport:
    """Check every row of a site list; a :class:`SiteReport` (raises only when the file cannot be read).

    Examples
    --------
    >>> import phusong
    >>> from phusong.data.demo import example_inputs
    >>> report = phusong.validate_sites(example_inputs().sites)
    >>> report.ok, report.rows > 100
    (True, True)
    """
    path = Path(path)
    return validate_table(read_raw_table(path, sheet), path, terrain_bounds_lonlat)[1]


def read_sites(path, terrain_bounds_lonlat=None, sheet: str | None = None) -> gpd.GeoDataFrame:
    """Read a valid site list as a GeoDataFrame (EPSG:4326 points) with defaults applied.

    Parameters
    ----------
    path : path
        CSV (comma, semicolon or tab; UTF-8 with or without BOM; leading ``#`` lines are comments, one
        saying GENERATED marks a generated list), Excel ``.xlsx``, GeoPackage, GeoJSON or any OGR format
        with point geometries; one row per cell (see the README's site list).
    terrain_bounds_lonlat : (west, south, east, north), optional
        Also require every site to lie on this terrain.
    sheet : str, optional
        The sheet of an Excel workbook (default: the first).

    Returns
    -------
    GeoDataFrame
        One row per cell, typed, with defaults applied; ``attrs["generated"]`` says so for a generated list.

    Raises
    ------
    InputError
        Listing every bad row (file, row, column, value, reason) when anything is wrong.

    Examples
    --------
    >>> import phusong
    >>> from phusong.data.demo import example_inputs
    >>> sites = phusong.read_sites(example_inputs().sites)
    >>> sorted(set(sites["technology"])), sites.crs.to_epsg(), sites.attrs["generated"]
    (['4G', '5G'], 4326, 'sites_demo.csv: generated sites')
    """
    path = Path(path)
    return sites_from_table(read_raw_table(path, sheet), path, terrain_bounds_lonlat, sheet)


def sites_from_table(raw: pd.DataFrame, path, terrain_bounds_lonlat=None, sheet: str | None = None
                     ) -> gpd.GeoDataFrame:
    """A site table as written (text cells) validated into the GeoDataFrame :func:`read_sites` returns;
    an :class:`InputError` naming ``path`` (and the workbook's ``sheet``), the first problem and their count when
    anything is wrong."""
    path = Path(path)
    table, report = validate_table(raw, path, terrain_bounds_lonlat)
    if not report.ok:
        first = report.issues[0]
        dem = " --dem DEM" if terrain_bounds_lonlat is not None else ""   # (without it, no terrain check)
        which = f" --sheet {shlex.quote(sheet)}" if sheet else ""
        more = f" and {len(report.issues) - 1} more; `phusong sites validate {path}{which}{dem}` lists them all" \
            if len(report.issues) > 1 else ""
        raise InputError(f"{len(report.issues)} problem(s) in the site list: {first}{more}", path=path)
    sites = gpd.GeoDataFrame(table, geometry=gpd.points_from_xy(table["lon"], table["lat"]), crs="EPSG:4326")
    if raw.attrs.get("generated"):
        sites.attrs["generated"] = raw.attrs["generated"]
    return sites
