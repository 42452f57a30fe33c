"""A calibration's report folder: the errors before and after as tables (CSV, HTML), the bins as a
GeoPackage for QGIS, and two plots (error against distance, predicted against measured)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pyogrio
from matplotlib.figure import Figure  # no pyplot: never touches the user's backend
from matplotlib.ticker import FormatStrFormatter, NullFormatter

from .. import __version__
from .._atomic import atomic_dir
from .._markup import html_text
from .._tables import write_csv

PLOTS = {"error_vs_distance.png": "Error (predicted − measured) against distance",
         "predicted_vs_measured.png": "Predicted against measured (Lee-averaged bins)"}


def _scatter(size, x, before, after):
    """A figure with the bins before (orange) and after (blue, cross-validated), Okabe-Ito colours."""
    fig = Figure(figsize=size)
    ax = fig.add_subplot()
    ax.scatter(x, before, s=4, alpha=0.35, color="#E69F00", label="before", linewidths=0)
    ax.scatter(x, after, s=4, alpha=0.35, color="#0072B2", label="after (cross-validated)", linewidths=0)
    return fig, ax


def _save(fig, ax, folder: Path, name: str, xlabel: str, ylabel: str, label: str) -> None:
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(PLOTS[name] + label, fontsize=10)
    ax.legend(markerscale=3, fontsize=8)
    fig.tight_layout()
    fig.savefig(folder / name, dpi=110)


def _plots(folder: Path, bins, label: str) -> None:
    d = bins["distance_km"].to_numpy()
    after = bins["error_after_db"].to_numpy()
    fig, ax = _scatter((7.5, 4.2), d, bins["error_db"].to_numpy(), after)
    ax.axhline(0, color="black", lw=0.8)
    ax.set_xscale("log")
    ticks = [t for t in (0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) if d.min() / 1.5 <= t <= d.max() * 1.5]
    ax.set_xticks(ticks)
    ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(NullFormatter())
    _save(fig, ax, folder, "error_vs_distance.png", "distance from the site (km)", "predicted − measured (dB)", label)

    measured = bins["measured_dbm"].to_numpy()
    fig, ax = _scatter((5.2, 5.0), measured, bins["predicted_dbm"].to_numpy(), measured + after)
    lo, hi = np.nanmin(measured) - 5, np.nanmax(measured) + 5
    ax.plot([lo, hi], [lo, hi], color="black", lw=0.8)
    ax.set_xlim(lo, hi)
    _save(fig, ax, folder, "predicted_vs_measured.png", "measured (dBm)", "predicted (dBm)", label)


def _table_html(df: pd.DataFrame) -> str:
    shown = df.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    return shown.to_html(index=False, escape=True, border=0)   # escape: cell ids come from the site list


def calibration_html(calibration, title: str) -> str:
    """The report page (every user-supplied text escaped)."""
    c = calibration.correction
    se = calibration.standard_errors
    rows = [("offset (dB)", f"{c.offset_db:.2f} ± {se['offset_db']:.2f}"),
            ("slope (dB per decade of distance)", f"{c.slope_db_per_decade:.2f} ± {se['slope_db_per_decade']:.2f}"),
            ("reference distance (km)", f"{c.reference_distance_km:.3g}"),
            ("distances fitted (km)", f"{c.distance_range_km[0]:.3g} – {c.distance_range_km[1]:.3g}")]
    totals = se.get("class_total_db", {})
    rows += [(f"land-cover class {k}: offset + class offset (dB)",
              f"{c.offset_db + v:.2f} ± {totals.get(str(k), float('nan')):.2f}") for k, v in c.class_offsets_db.items()]
    fitted = "".join(f"<tr><th>{html_text(k)}</th><td>{html_text(v)}</td></tr>" for k, v in rows)
    counts = "".join(f"<tr><th>{html_text(k)}</th><td>{v:,}</td></tr>" for k, v in calibration.counts.items())
    notes = "".join(f"<li>{html_text(n)}</li>" for n in calibration.notes)
    banner = (f'<p class="demo">DEMONSTRATION: {html_text("; ".join(calibration.demonstration))}</p>'
              if calibration.demonstration else "")
    plots = "".join(f'<figure><img src="{name}" alt="{html_text(text)}"><figcaption>{html_text(text)}</figcaption>'
                    "</figure>" for name, text in PLOTS.items())
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html_text(title)}</title>
<style>body{{font-family:sans-serif;max-width:70em;margin:1em auto;padding:0 1em}}table{{border-collapse:collapse}}
td,th{{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}}th{{text-align:left}}
.demo{{background:#fde0c5;padding:.5em;font-weight:bold}}figure{{display:inline-block;margin:0 1em 1em 0}}</style>
</head><body><h1>{html_text(title)}</h1>{banner}
<p>phusong {html_text(__version__)}, {dt.date.today().isoformat()}. Model {html_text(c.model)}
{html_text("with clutter " + c.clutter if c.clutter else "")}. Error = predicted − measured; the correction is
added to the model's path loss (<code>phusong simulate --calibration</code>). Errors <em>after</em> are
{html_text(calibration.validation)}{': each is predicted by a fit that did not see it' if calibration.folds >= 2 else ''}.</p>
<h2>Correction (± standard error, delete-one-route jackknife)</h2><table>{fitted}</table>
<h2>Samples and bins</h2><table>{counts}</table>{f"<ul>{notes}</ul>" if notes else ""}
<h2>Errors before and after</h2>{_table_html(calibration.summary)}
<h2>Plots</h2>{plots}</body></html>
"""


def write_calibration_report(folder, calibration, title: str = "phusong calibration",
                             overwrite: bool = False) -> Path:
    """Write ``report.html``, ``summary.csv``, ``bins.gpkg`` and the plots into ``folder`` (atomically)."""
    folder = Path(folder)
    label = " (DEMONSTRATION)" if calibration.demonstration else ""
    comments = [f"DEMONSTRATION: {'; '.join(calibration.demonstration)}"] if calibration.demonstration else []
    with atomic_dir(folder, overwrite) as tmp:
        write_csv(calibration.summary, tmp / "summary.csv", comments=comments)
        bins = calibration.bins.assign(demonstration="; ".join(calibration.demonstration)) \
            if calibration.demonstration else calibration.bins
        pyogrio.write_dataframe(bins, tmp / "bins.gpkg", layer="bins", driver="GPKG")
        _plots(tmp, calibration.bins, label)
        (tmp / "report.html").write_text(calibration_html(calibration, title), encoding="utf-8")
    return folder
