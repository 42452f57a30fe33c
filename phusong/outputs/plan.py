"""A rollout plan's files: plan.gpkg (QGIS), sites_after.csv (input for ``simulate``), plan.md, plan.html, plan.json.

Written into a temporary folder and renamed, like every phusong output; every user-supplied
string (site ids, operators, commune names, titles) is escaped where it becomes Markdown or HTML.
"""
from __future__ import annotations

import datetime as dt
import io
import json
import math
from pathlib import Path

import numpy as np
import pyogrio
from matplotlib.figure import Figure

from .. import __version__
from .._atomic import atomic_dir
from .._markup import html_text, markdown_text as md
from .._tables import write_csv
from .geopackage import _plain
from .qgis_styles import _marker, _qml, categorised, embed_styles, graduated
from .scorecard import _fmt

DEMO_TEXT = ("DEMONSTRATION — computed on synthetic or generated inputs (stand-in terrain and/or generated sites). "
             "Not a plan for any real network.")


def _styles() -> dict[str, str]:
    star = _qml('<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
                f'<symbols>{_marker("0", "123,50,148,255", size="4", shape="star")}</symbols></renderer-v2>',
                labels_field="order")
    cross = _qml('<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
                 f'<symbols>{_marker("0", "20,20,20,255", size="3", shape="cross2")}</symbols></renderer-v2>')
    return {"actions": star, "candidates": categorised("selected", yes="selected", no="not selected"),
            "unreachable": cross, "communes": graduated("covered_pop_pct_5g_after")}


def _money(plan, v) -> str:
    return f"{v:,.0f} {plan.currency}"


def _gap_text(plan) -> str:
    if plan.gap_pct is None:
        return "no bound (the LP relaxation did not solve)"
    if plan.budget_mode:
        return (f"{plan.gap_pct:.2f}% below the best attainment possible within the limits "
                f"(upper bound {plan.bound:.3f} of {len(plan.targets)} targets)")
    return f"{plan.gap_pct:.2f}% (cost lower bound {_money(plan, plan.bound)})"


def plan_markdown(plan) -> str:
    """plan.md: targets before → after, cost, optimality gap, actions in build order, unreachable units."""
    lines = [f"# {md(plan.title)}", ""]
    if plan.demonstration:
        lines += [f"> **{DEMO_TEXT}**", ""]
    lines += [f"phusong {__version__}, {dt.date.today().isoformat()}. Costs: {md(plan.costs_source)}.", "",
              f"- **Total cost**: {_money(plan, plan.total_cost)} for {len(plan.actions)} actions "
              f"({', '.join(f'{n} {a}' for a, n in plan.actions['action'].value_counts().items()) or 'none'}).",
              f"- **Optimality gap**: {_gap_text(plan)}; solved by {md(plan.method)}.",
              "- After-values come from a full re-run of the network with the plan's sites (`simulate` + gaps), "
              "not from the selection model.", ""]
    lines += [f"- {md(n)}" for n in plan.notes] + ([""] if plan.notes else [])
    lines += ["## Targets", "", "| target | goal (%) | before (%) | after (%) | status after | the candidates can add |",
              "|---|---|---|---|---|---|"]
    for r in plan.targets.itertuples(index=False):
        lines.append(f"| {md(r.target_id)} {md(r.text_en)} | {_fmt(r.goal)} | {_fmt(r.before)} | {_fmt(r.after)} | "
                     f"{md(r.status_after)} | {_fmt(r.reachable, 0)} {md(r.counted_in)} |")
    gain_cols = [c for c in plan.actions.columns if c.startswith("gain_")]
    lines += ["", "## Actions in build order", "",
              f"| # | action | site | operator | technology | commune | cost ({md(plan.currency)}) | "
              f"cumulative ({md(plan.currency)}) | "
              + " | ".join(md(c[5:]) for c in gain_cols) + " |",
              "|---" * (8 + len(gain_cols)) + "|"]
    for d in plan.actions.to_dict("records"):
        lines.append(f"| {d['order']} | {md(d['action'])} | {md(d['site_id'])} | {md(d['operator'])} | "
                     f"{md(d['technology'])} | {md(_text(d.get('commune_name')))} | {_fmt(d['cost'], 0)} | "
                     f"{_fmt(d['cumulative_cost'], 0)} | " + " | ".join(_fmt(d[c]) for c in gain_cols) + " |")
    lines += ["", "## Unreachable by the candidates (needs a new candidate, another technology or satellite service)", ""]
    un = plan.unreachable
    if len(un) == 0:
        lines.append("Every unit of the chosen targets can be reached by some candidate.")
    else:
        lines += ["| target | kind | unit | name | commune | people |", "|---|---|---|---|---|---|"]
        for r in un.itertuples(index=False):
            lines.append(f"| {md(r.target_id)} | {md(r.kind)} | {md(r.unit_id)} | {md(_text(r.name))} | "
                         f"{md(_text(r.commune_code))} | {_fmt(r.people, 0)} |")
    return "\n".join(lines) + "\n"


def _text(value) -> str:
    """A table cell's text: empty for a missing value (an action outside every commune has no commune; pandas
    holds it as NaN, which would print as "nan")."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def _curve_svg(plan) -> str:
    fig = Figure(figsize=(7, 3.4))
    ax = fig.add_subplot()
    curve = plan.curve
    for col in [c for c in curve.columns if c.endswith("_pct")]:
        ax.step(curve["cumulative_cost"], curve[col], where="post", label=col[:-4])
    ax.set_xlabel(f"cumulative cost ({plan.currency.replace('$', '')})")
    ax.set_ylabel("target value (%)")
    ax.set_ylim(0, 101)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.StringIO()
    fig.savefig(buf, format="svg")
    svg = buf.getvalue()
    return svg[svg.find("<svg"):]


def plan_html(plan) -> str:
    """plan.html: the same as plan.md, with the cost-versus-coverage curve (inline SVG)."""
    banner = f'<p class="demo">{DEMO_TEXT}</p>' if plan.demonstration else ""
    trows = "".join(
        f'<tr class="{"met" if r.status_after == "met" else "miss"}"><td>{html_text(r.target_id)}</td>'
        f'<td>{html_text(r.text_en)}</td><td lang="vi">{html_text(r.text_vi)}</td><td>{_fmt(r.goal)}</td>'
        f'<td>{_fmt(r.before)}</td><td>{_fmt(r.after)}</td><td>{html_text(r.status_after)}</td>'
        f'<td>{_fmt(r.reachable, 0)} {html_text(r.counted_in)}</td></tr>' for r in plan.targets.itertuples(index=False))
    gain_cols = [c for c in plan.actions.columns if c.startswith("gain_")]
    arows = "".join(
        "<tr>" + "".join(f"<td>{v}</td>" for v in (
            d["order"], html_text(d["action"]), html_text(d["site_id"]), html_text(d["operator"]),
            html_text(d["technology"]), html_text(_text(d.get("commune_name"))), _fmt(d["cost"], 0),
            _fmt(d["cumulative_cost"], 0), *(_fmt(d[c]) for c in gain_cols))) + "</tr>"
        for d in plan.actions.to_dict("records"))
    urows = "".join(
        f"<tr><td>{html_text(r.target_id)}</td><td>{html_text(r.kind)}</td><td>{html_text(r.unit_id)}</td>"
        f"<td>{html_text(_text(r.name))}</td><td>{html_text(_text(r.commune_code))}</td><td>{_fmt(r.people, 0)}</td></tr>"
        for r in plan.unreachable.itertuples(index=False))
    notes = "".join(f"<li>{html_text(n)}</li>" for n in plan.notes)
    heads = "".join(f"<th>{html_text(c[5:])}</th>" for c in gain_cols)
    currency = html_text(plan.currency)
    return f"""<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html_text(plan.title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 6px;font-size:13px}}tr.met td:nth-child(7){{background:#c7e9c0}}
tr.miss td:nth-child(7){{background:#fcbba1}}.demo{{background:#fff3cd;border:1px solid #c90;padding:6px;font-weight:bold}}
</style></head><body><h1>{html_text(plan.title)}</h1>{banner}
<p>phusong {__version__}, {dt.date.today().isoformat()}. Costs: {html_text(plan.costs_source)}.</p>
<ul><li><b>Total cost</b>: {html_text(_money(plan, plan.total_cost))} for {len(plan.actions)} actions</li>
<li><b>Optimality gap</b>: {html_text(_gap_text(plan))}; solved by {html_text(plan.method)}</li>
<li>After-values come from a full re-run of the network with the plan's sites, not from the selection model.</li>
{notes}</ul>
<h2>Targets / Chỉ tiêu</h2><table><tr><th>target</th><th>target (en)</th><th>chỉ tiêu (vi)</th><th>goal</th>
<th>before</th><th>after</th><th>status after</th><th>the candidates can add</th></tr>{trows}</table>
<h2>Cost versus coverage (build in this order for the earliest gains)</h2>{_curve_svg(plan)}
<h2>Actions in build order</h2><table><tr><th>#</th><th>action</th><th>site</th><th>operator</th><th>technology</th>
<th>commune</th><th>cost ({currency})</th><th>cumulative ({currency})</th>{heads}</tr>{arows}</table>
<h2>Unreachable by the candidates (needs a new candidate, another technology or satellite service)</h2>
<table><tr><th>target</th><th>kind</th><th>unit</th><th>name</th><th>commune</th><th>people</th></tr>{urows}</table>
</body></html>
"""


def plan_json(plan) -> dict:
    """plan.json: the summary for scripts."""
    def clean(v):
        return None if isinstance(v, float) and not np.isfinite(v) else v
    return {"phusong": __version__, "title": plan.title, "demonstration": list(plan.demonstration),
            "total_cost": plan.total_cost, "currency": plan.currency, "method": plan.method,
            "bound": plan.bound, "gap_pct": plan.gap_pct, "budget_mode": plan.budget_mode,
            "actions": len(plan.actions), "notes": plan.notes, "timings": plan.timings,
            "targets": [{k: clean(v) for k, v in r.items()} for r in plan.targets.to_dict("records")]}


def write_plan(folder, plan, overwrite: bool = False) -> Path:
    """Write every file of a plan into ``folder`` at once (see the module notes)."""
    folder = Path(folder)
    label = "; ".join(plan.demonstration)
    with atomic_dir(folder, overwrite) as tmp:
        gpkg = tmp / "plan.gpkg"
        for name, gdf in (("actions", plan.actions), ("candidates", plan.candidates),
                          ("unreachable", plan.unreachable), ("communes", plan.communes)):
            gdf = _plain(gdf)
            if label:
                gdf["demonstration"] = label
            pyogrio.write_dataframe(gdf, gpkg, layer=name, driver="GPKG", encoding="UTF-8")
        for name, table in (("targets", plan.targets), ("curve", plan.curve)):
            table = table.copy()
            if label:
                table["demonstration"] = label
            pyogrio.write_dataframe(table, gpkg, layer=name, driver="GPKG")
        embed_styles(gpkg, _styles())
        write_csv(plan.sites_after, tmp / "sites_after.csv",
                  comments=["GENERATED site list after a demonstration plan: not a real operator's sites"]
                  if plan.generated_sites or plan.demonstration else ())
        (tmp / "plan.md").write_text(plan_markdown(plan), encoding="utf-8")
        (tmp / "plan.html").write_text(plan_html(plan), encoding="utf-8")
        (tmp / "plan.json").write_text(json.dumps(plan_json(plan), indent=2, ensure_ascii=False, default=float),
                                       encoding="utf-8")
    return folder


def read_plan_actions(folder):
    """The actions layer of a plan folder (for ``phusong map --plan``)."""
    from ..errors import InputError

    path = Path(folder) / "plan.gpkg"
    if not path.is_file():
        raise InputError("no plan.gpkg here (write it with `phusong plan`)", path=folder, argument="plan_dir")
    return pyogrio.read_dataframe(path, layer="actions")
