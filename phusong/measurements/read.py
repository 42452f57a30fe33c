"""Read signal samples into one table, whatever layout they come in, and report every bad row.

Layouts recognised from the header:

- **generic**: ``lon``, ``lat``, a signal (``rsrp_dbm``, ``ss_rsrp_dbm`` or ``rssi_dbm``; the first
  non-empty of these in that order), a serving-cell key (``cell_id``, or ``pci`` with ``earfcn`` /
  ``arfcn``), and optionally ``time``, ``operator``, ``technology``, ``speed_kmh`` (or ``speed_ms``) and
  ``route`` (a drive's name: calibration cross-validates by it; without it, routes are cut where the
  time jumps by over 10 minutes or the position by over 2 km).
  Common spellings are accepted (``longitude``, ``rsrp``, ``cellid``, ``timestamp``, ``rat``...).
- **TowerCollector** "CSV export" (``mcc,mnc,lac,cell_id,psc,asu,dbm,ta,lat,lon,...,measured_at,
  net_type,neighboring,device``): ``dbm`` is RSRP for LTE and SS-RSRP for NR (Android's
  ``CellSignalStrength.getDbm``); neighbouring cells are left out; ``speed`` is in m/s.
- **OpenCelliD** upload CSV (``lat,lon,mcc,mnc,...,cellid,...,pci,signal,ta,measured_at,...,speed,
  direction,act``): ``signal`` is dBm when negative, else Android's ASU (LTE: RSRP = ASU − 140 dBm);
  ``act`` is the technology; ``speed`` in m/s.

Only 4G and 5G samples of the serving cell are kept; 2G/3G rows and neighbours are counted, not
errors. A sample's signal must lie in −160…−20 dBm.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import InputError
from ..sites.read import SiteIssue as RowIssue
from ..sites.read import read_raw_table
from ..sites.schema import normalise_technology
from .cells import LTE_BANDS, MAX_MATCH_KM, earfcn_to_mhz, match_by_pci, nr_arfcn_to_mhz

SIGNALS = (("rsrp_dbm", "rsrp"), ("ss_rsrp_dbm", "ss_rsrp"), ("rssi_dbm", "rssi"))   # in order of preference
SIGNAL_RANGE_DBM = (-160.0, -20.0)
LTE_ASU_OFFSET_DB = 140.0    # Android CellSignalStrengthLte: ASU = RSRP + 140 (0..97)
OTHER_TECHNOLOGIES = {"GSM", "2G", "UMTS", "WCDMA", "3G", "HSPA", "HSPA+", "CDMA", "EVDO", "TDSCDMA", "EDGE", "GPRS"}
LAYOUTS = {
    "towercollector": {"mcc", "mnc", "lac", "cell_id", "asu", "dbm", "measured_at", "net_type", "neighboring"},
    "opencellid": {"lat", "lon", "mcc", "mnc", "cellid", "pci", "signal", "measured_at", "act"},
}
SYNONYMS = {
    "longitude": "lon", "lng": "lon", "long": "lon", "latitude": "lat",
    "rsrp": "rsrp_dbm", "lte_rsrp": "rsrp_dbm", "rsrp_dbm": "rsrp_dbm", "ss_rsrp": "ss_rsrp_dbm",
    "nr_rsrp": "ss_rsrp_dbm", "ssrsrp": "ss_rsrp_dbm", "rssi": "rssi_dbm",
    "cellid": "cell_id", "cell": "cell_id", "eci": "cell_id", "nci": "cell_id",
    "nrarfcn": "arfcn", "nr_arfcn": "arfcn", "dl_earfcn": "earfcn",
    "timestamp": "time", "measured_at": "time", "datetime": "time", "date_time": "time",
    "tech": "technology", "rat": "technology", "radio": "technology", "net_type": "technology",
    "network_type": "technology", "act": "technology", "network": "operator", "carrier": "operator",
    "track": "route", "drive": "route", "session": "route",
}
COLUMNS = ["row", "lon", "lat", "signal_dbm", "metric", "technology", "cell_id", "pci", "earfcn", "arfcn", "time",
           "operator", "speed_kmh", "route"]


@dataclass
class MeasurementReport:
    """Every problem of a measurement file, what was left out and why, and the samples kept."""
    path: Path
    rows: int
    layout: str
    issues: list[RowIssue] = field(default_factory=list)
    skipped: dict[str, int] = field(default_factory=dict)
    samples: pd.DataFrame | None = None
    synthetic: str = ""      # why the samples are a demonstration (a leading SYNTHETIC/GENERATED comment)

    @property
    def ok(self) -> bool:
        """True when no row has a problem."""
        return not self.issues

    def lines(self) -> list[str]:
        """One line per problem: ``FILE: row R, column C: reason (value 'V')``."""
        return [f"{self.path}: {issue}" for issue in self.issues]

    def summary(self) -> str:
        """What the file holds: samples kept per technology and metric, rows left out and why."""
        kept = self.samples if self.samples is not None else pd.DataFrame(columns=COLUMNS)
        parts = [f"{len(kept)} samples ({self.layout} layout)"]
        if len(kept):
            counts = kept.groupby(["technology", "metric"]).size()
            parts.append(", ".join(f"{t} {m}: {n}" for (t, m), n in counts.items()))
        if self.skipped:
            parts.append("left out: " + ", ".join(f"{n} {why}" for why, n in self.skipped.items()))
        return "; ".join(parts)


def _layout(columns) -> str:
    names = {str(c).strip().lower() for c in columns}
    for name, needed in LAYOUTS.items():
        if needed <= names:
            return name
    return "generic"


def _canonical(df: pd.DataFrame, layout: str) -> pd.DataFrame:
    """Rename the columns of ``layout`` to the generic names (signal columns by technology)."""
    df = df.rename(columns={c: str(c).strip().lower() for c in df.columns})
    if layout == "towercollector":
        df = df.rename(columns={"net_type": "technology", "measured_at": "time", "speed": "speed_ms"})
        tech = df["technology"].map(normalise_technology)
        df["ss_rsrp_dbm"] = df["dbm"].where(tech == "5G", "")
        df["rsrp_dbm"] = df["dbm"].where(tech != "5G", "")
        return df.drop(columns=["dbm"])
    if layout == "opencellid":
        df = df.rename(columns={"cellid": "cell_id", "act": "technology", "measured_at": "time", "speed": "speed_ms"})
        return df
    renamed: dict[str, str] = {}
    for col in df.columns:
        canon = SYNONYMS.get(col.replace(" ", "_").replace("-", "_"), col)
        if canon != col and canon not in df.columns and canon not in renamed.values():
            renamed[col] = canon
    return df.rename(columns=renamed)


def _numbers(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """(values, bad): numbers of the non-empty cells, and which non-empty cells are not numbers."""
    values = pd.to_numeric(raw.where(raw != ""), errors="coerce")
    bad = (raw != "") & (values.isna() | ~np.isfinite(values.fillna(0.0)))
    return values.where(~bad), bad


def validate_table(raw: pd.DataFrame, path, sites: pd.DataFrame | None = None) -> MeasurementReport:
    """Check every row of a measurement table (text cells as written); the report holds the samples kept.

    ``sites`` (a site table, optional) also requires each sample's serving cell to be one of its cells:
    by ``cell_id``, or for a sample keyed by PCI and EARFCN/ARFCN, the nearest cell with that ``pci``
    whose channel holds the frequency (:func:`phusong.measurements.cells.match_by_pci`), whose
    ``cell_id`` the sample then carries.
    """
    layout = _layout(raw.columns)
    report = MeasurementReport(Path(path), len(raw), layout)
    df = _canonical(raw, layout).astype(str).apply(lambda c: c.str.strip()).replace("nan", "")
    issue = report.issues.append

    def column(name):
        return df[name] if name in df.columns else pd.Series("", index=df.index)

    for name in ("lon", "lat"):
        if name not in df.columns:
            issue(RowIssue(0, name, "", "required column is missing from the header (also read: longitude/"
                                        "latitude, lng)"))
    signal_cols = [c for c, _ in SIGNALS if c in df.columns] + (["signal"] if layout == "opencellid" else [])
    if not signal_cols:
        issue(RowIssue(0, "rsrp_dbm", "", "no signal column: rsrp_dbm, ss_rsrp_dbm or rssi_dbm"))
    has_key = "cell_id" in df.columns or ("pci" in df.columns and ("earfcn" in df.columns or "arfcn" in df.columns))
    if not has_key:
        issue(RowIssue(0, "cell_id", "", "no serving-cell key: cell_id, or pci with earfcn or arfcn"))
    if report.issues:
        return report

    keep = pd.Series(True, index=df.index)
    rows = np.arange(1, len(df) + 1)

    def flag(mask, name, reason, values=None):
        for i in np.flatnonzero(mask.to_numpy()):
            shown = "" if values is None else str(values.iloc[i])
            issue(RowIssue(int(rows[i]), name, shown, reason))
        keep.loc[mask] = False

    # what is left out, not wrong: neighbours and other technologies
    if layout == "towercollector" and "neighboring" in df.columns:
        neighbour = df["neighboring"].str.lower().isin(("true", "1", "yes"))
        report.skipped["neighbouring cells"] = int(neighbour.sum())
        keep &= ~neighbour
    tech_raw = column("technology")
    tech = tech_raw.map(lambda v: normalise_technology(v) if v else "")
    other = tech_raw.str.upper().str.replace(" ", "").isin(OTHER_TECHNOLOGIES) & keep
    if other.any():
        report.skipped["2G/3G samples"] = int(other.sum())
        keep &= ~other
    flag(keep & (tech_raw != "") & tech.isna(), "technology", "unknown technology (LTE/4G or NR/5G)", tech_raw)

    lon, bad_lon = _numbers(column("lon"))
    lat, bad_lat = _numbers(column("lat"))
    for name, values, bad, limit in (("lon", lon, bad_lon, 180.0), ("lat", lat, bad_lat, 90.0)):
        raw_values = column(name)
        flag(keep & (raw_values == ""), name, "missing")
        flag(keep & bad, name, "not a number", raw_values)
        flag(keep & (values.abs() > limit), name, f"out of range (±{limit:g}°)", raw_values)
    flag(keep & (lon == 0) & (lat == 0), "lon", "0, 0: no position fix")

    signal = pd.Series(np.nan, index=df.index)
    metric = pd.Series("", index=df.index)
    source = pd.Series("", index=df.index)
    for col, kind in SIGNALS:
        if col in df.columns:
            take = (signal.isna()) & (source == "") & (df[col] != "")
            values, bad = _numbers(df[col])
            flag(keep & take & bad, col, "not a number", df[col])
            signal = signal.where(~take, values)
            metric = metric.where(~take, kind)
            source = source.where(~take, col)
    if layout == "opencellid":
        values, bad = _numbers(column("signal"))
        take = (source == "") & (column("signal") != "")
        flag(keep & take & bad, "signal", "not a number", column("signal"))
        asu = take & (values >= 0)
        flag(keep & asu & (tech != "4G"), "signal", "an ASU value is only read for LTE: give dBm", column("signal"))
        flag(keep & asu & (values == 99), "signal", "unknown (ASU 99)", column("signal"))
        flag(keep & asu & (values > 97) & (values != 99), "signal", "out of range (LTE ASU 0 to 97)",
             column("signal"))
        signal = signal.where(~take, values.where(~asu, values - LTE_ASU_OFFSET_DB))
        metric = metric.where(~take, np.where(tech == "5G", "ss_rsrp", "rsrp"))
        source = source.where(~take, "signal")
    flag(keep & (source == ""), signal_cols[0], "missing: no signal value")
    low, high = SIGNAL_RANGE_DBM
    out_of_range = keep & signal.notna() & ((signal < low) | (signal > high))
    for i in np.flatnonzero(out_of_range.to_numpy()):
        issue(RowIssue(int(rows[i]), source.iloc[i], f"{signal.iloc[i]:g}",
                       f"out of range ({low:g} to {high:g} dBm)"))
    keep &= ~out_of_range

    cell = column("cell_id")
    pci, bad_pci = _numbers(column("pci"))
    earfcn, bad_earfcn = _numbers(column("earfcn"))
    arfcn, bad_arfcn = _numbers(column("arfcn"))
    for name, bad in (("pci", bad_pci), ("earfcn", bad_earfcn), ("arfcn", bad_arfcn)):
        flag(keep & bad, name, "not a number", column(name))
    keyed = (cell != "") | (pci.notna() & (earfcn.notna() | arfcn.notna()))
    flag(keep & ~keyed, "cell_id", "missing: no serving cell (cell_id, or pci with earfcn/arfcn)")
    flag(keep & pci.notna() & ((pci < 0) | (pci > 1007) | (pci % 1 != 0)), "pci", "not a PCI (0 to 1007)",
         column("pci"))
    flag(keep & pci.notna() & (tech == "4G") & (pci > 503), "pci", "not an LTE PCI (0 to 503)", column("pci"))
    if sites is not None:
        unknown = keep & (cell != "") & ~cell.isin(set(sites["cell_id"].astype(str)))
        flag(unknown, "cell_id", "not a cell of the site list", cell)
        by_pci = keep & (cell == "") & keyed
        if by_pci.any():
            freq = pd.Series(np.where(earfcn.notna(), earfcn_to_mhz(earfcn.fillna(-1)),
                                      nr_arfcn_to_mhz(arfcn.fillna(-1))), index=df.index)
            channel = pd.Series(np.where(earfcn.notna(), "earfcn", "arfcn"), index=df.index)
            for name in ("earfcn", "arfcn"):
                flag(by_pci & freq.isna() & (channel == name), name, "not a channel number of a known band "
                     "(LTE bands " + ", ".join(map(str, LTE_BANDS)) + "; any NR-ARFCN)", column(name))
            by_pci &= keep
            matched = pd.Series(match_by_pci(lon, lat, pci, freq, sites, tech.fillna("")), index=df.index)
            flag(by_pci & (matched == ""), "pci", f"no cell of the site list with this PCI on this channel within "
                 f"{MAX_MATCH_KM:g} km", column("pci"))
            cell = cell.where(~(by_pci & (matched != "")), matched)

    time = pd.Series(pd.NaT, index=df.index, dtype="datetime64[ns, UTC]")
    if "time" in df.columns:
        text = df["time"].str.strip('"')
        time = pd.to_datetime(text.where(text != ""), errors="coerce", utc=True, format="mixed")
        flag(keep & (text != "") & time.isna(), "time", "not a date and time", df["time"])
    speed = pd.Series(np.nan, index=df.index)
    for name, factor in (("speed_kmh", 1.0), ("speed_ms", 3.6)):
        if name in df.columns:
            values, bad = _numbers(df[name])
            flag(keep & bad, name, "not a number", df[name])
            flag(keep & (values < 0), name, "negative", df[name])
            speed = speed.fillna(values * factor)

    # an NR sample's "RSRP" is its SS-RSRP (what every NR drive-test tool means by it)
    metric = metric.where(~((tech == "5G") & (metric == "rsrp")), "ss_rsrp")
    report.issues.sort(key=lambda s: (s.row, s.column))
    samples = pd.DataFrame({"row": rows, "lon": lon, "lat": lat, "signal_dbm": signal, "metric": metric,
                            "technology": tech.replace("", np.nan).fillna(metric.map({"rsrp": "4G", "ss_rsrp": "5G"})),
                            "cell_id": cell, "pci": pci, "earfcn": earfcn, "arfcn": arfcn, "time": time,
                            "operator": column("operator"), "speed_kmh": speed, "route": column("route")})
    report.samples = samples[keep].reset_index(drop=True)
    return report


def _site_table(sites) -> pd.DataFrame | None:
    if sites is None or isinstance(sites, pd.DataFrame):
        return sites
    from ..sites.read import read_sites
    return read_sites(sites)


def validate_measurements(path, sites=None, sheet: str | None = None) -> MeasurementReport:
    """Check every row of a measurement file (CSV, Excel, GeoPackage...); a :class:`MeasurementReport`.

    ``sites`` (a site list, optional) also requires every serving cell to be one of its cells.
    Raises only when the file cannot be read.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from phusong.measurements import validate_measurements
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "drive.csv"
    >>> _ = f.write_text("longitude,latitude,rsrp,cell_id\\n106.76,21.85,-97.5,A1\\n106.77,21.86,abc,A1\\n")
    >>> report = validate_measurements(f)
    >>> report.ok, [str(i) for i in report.issues], len(report.samples)
    (False, ["row 2, column rsrp_dbm: not a number (value 'abc')"], 1)
    """
    path = Path(path)
    raw = read_raw_table(path, sheet, what="measurement file")
    report = validate_table(raw, path, _site_table(sites))
    if raw.attrs.get("generated"):   # a leading "# SYNTHETIC" / "# GENERATED" comment
        report.synthetic = f"{path.name}: synthetic measurements"
    return report


def read_measurements(path, sites=None, sheet: str | None = None) -> gpd.GeoDataFrame:
    """The serving-cell 4G/5G samples of a valid measurement file as EPSG:4326 points, with ``signal_dbm``,
    ``metric`` (rsrp, ss_rsrp, rssi), ``technology``, ``cell_id``/``pci``/``earfcn``/``arfcn``, ``time``
    (UTC), ``operator``, ``speed_kmh``, ``route`` and the file's ``row``; an :class:`InputError` naming the
    first problem and their count when any row is wrong.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from phusong import read_measurements
    >>> f = pathlib.Path(tempfile.mkdtemp()) / "drive.csv"
    >>> _ = f.write_text("lat,lon,ss_rsrp,nci,tech\\n21.85,106.76,-97.5,C5,NR\\n21.86,106.77,-99,C5,NR\\n")
    >>> s = read_measurements(f)
    >>> s[["signal_dbm", "metric", "technology", "cell_id"]].values.tolist(), s.crs.to_epsg()
    ([[-97.5, 'ss_rsrp', '5G', 'C5'], [-99.0, 'ss_rsrp', '5G', 'C5']], 4326)
    """
    report = validate_measurements(path, sites, sheet)
    if not report.ok:
        first = report.issues[0]
        check = f"phusong measurements validate {path}" + (f" --sites {sites}" if isinstance(sites, (str, Path))
                                                             else "")
        more = f" and {len(report.issues) - 1} more; `{check}` lists them all" if len(report.issues) > 1 else ""
        raise InputError(f"{len(report.issues)} problem(s) in the measurements: {first}{more}", path=path)
    samples = report.samples if report.samples is not None else pd.DataFrame(columns=COLUMNS)
    out = gpd.GeoDataFrame(samples, geometry=gpd.points_from_xy(samples["lon"], samples["lat"]), crs="EPSG:4326")
    out.attrs["layout"], out.attrs["skipped"] = report.layout, dict(report.skipped)
    out.attrs["path"] = str(path)   # (for errors found later, in calibration)
    if report.synthetic:
        out.attrs["synthetic"] = report.synthetic
    return out
