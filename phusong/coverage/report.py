"""Write a gap analysis: QGIS-ready GeoPackage and a Markdown scorecard."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pyogrio

from .. import __version__
from .._atomic import atomic_path, write_text
from .gaps import GapResult


def _plain(gdf):
    """Booleans as integers (GeoPackage has no boolean type QGIS shows well)."""
    out = gdf.copy()
    for col in out.columns:
        if out[col].dtype == bool:
            out[col] = out[col].astype("int8")
    return out


def write_gpkg(path, result: GapResult, overwrite: bool = True, demonstration: bool = False) -> None:
    """Layers: communes, commune_centres, villages|settlements, industrial_zones, sites, targets."""
    layers = [("communes", result.communes), ("commune_centres", result.centres)]
    if result.villages is not None:
        layers.append(("settlements" if result.villages_are_proxy else "villages", result.villages))
    if result.zones is not None:
        layers.append(("industrial_zones", result.zones))
    if result.sites is not None:
        layers.append(("sites", result.sites))
    with atomic_path(path, overwrite) as tmp:
        for name, gdf in layers:
            gdf = _plain(gdf)
            if demonstration:
                gdf["demonstration"] = 1
            pyogrio.write_dataframe(gdf, tmp, layer=name, driver="GPKG", encoding="UTF-8")
        targets = result.targets.copy()
        targets["met"] = targets["met"].map({True: 1, False: 0})
        pyogrio.write_dataframe(targets, tmp, layer="targets", driver="GPKG")


def _fmt(v, nd=1):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "—"
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and float(v).is_integer()):
        return f"{int(v):,}"
    return f"{v:,.{nd}f}"


def scorecard_markdown(result: GapResult, title: str, demonstration: bool = False) -> str:
    lines = [f"# {title}", ""]
    if demonstration:
        lines += ["> **DEMONSTRATION** — computed on synthetic terrain, boundaries, population and "
                  "generated sites. Not a prediction for any real place.", ""]
    lines += [f"phusong {__version__}, {dt.date.today().isoformat()}.", ""]
    lines += [f"- {note}" for note in result.notes] + ([""] if result.notes else [])
    lines += ["## Targets", "",
              "| target | deadline | target (vi) | target (en) | value | goal | gap | status |",
              "|---|---|---|---|---|---|---|---|"]
    for _, r in result.targets.iterrows():
        gap = "—" if pd.isna(r["gap"]) else f"{_fmt(r['gap'], 0)} {r['gap_unit']}".strip()
        lines.append(f"| {r['target_id']} | {r['deadline']} | {r['text_vi']} | {r['text_en']} | "
                     f"{_fmt(r['value'])} | {_fmt(r['goal'])} | {gap} | {r['status']} |")
    lines += ["", "## Failing units", ""]
    for _, r in result.targets.iterrows():
        if r["status"] == "not met" and r["failing_units"]:
            lines += [f"### {r['target_id']} — {r['text_en']}", "", r["failing_units"].replace("; ", "  \n"), ""]
    lines += ["## Communes", "", "| code | name | 4G area % | 5G area % | 5G population % | missed targets |",
              "|---|---|---|---|---|---|"]
    c = result.communes.sort_values("covered_area_pct_5g" if "covered_area_pct_5g" in result.communes else "code")
    for _, r in c.iterrows():
        lines.append(f"| {r['code']} | {r['name']} | {_fmt(r.get('covered_area_pct_4g'))} | "
                     f"{_fmt(r.get('covered_area_pct_5g'))} | {_fmt(r.get('covered_pop_pct_5g'))} | "
                     f"{r['missed_targets']} |")
    return "\n".join(lines) + "\n"


def write_scorecard(path, result: GapResult, title: str, demonstration: bool = False, overwrite: bool = True):
    write_text(path, scorecard_markdown(result, title, demonstration), overwrite)
