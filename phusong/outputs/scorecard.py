"""The scorecard of a gap analysis in four formats: Markdown, HTML (with a map and a chart), CSV and JSON."""
from __future__ import annotations

import base64
import datetime as dt
import io
import json

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure  # no pyplot: never touches the user's backend
import pandas as pd

from .. import __version__
from .._atomic import atomic_path, write_text
from .._tables import write_csv
from .._markup import html_text, markdown_text as md, mathtext_safe


def _fmt(v, nd=1, lang="en"):
    """A number for a reader: thousands grouped, ``nd`` decimals unless whole; Vietnamese groups with "."
    and writes the decimal comma."""
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "—"
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and float(v).is_integer()):
        text = f"{int(v):,}"
    else:
        text = f"{v:,.{nd}f}"
    return text.translate(str.maketrans(",.", ".,")) if lang == "vi" else text


def scorecard_markdown(result) -> str:
    """The scorecard as Markdown (every user string escaped)."""
    title, demonstration = result.title, bool(result.demonstration)
    lines = [f"# {md(title)}", ""]
    if demonstration:
        lines += ["> **DEMONSTRATION** — computed on synthetic or generated inputs (stand-in terrain and/or "
                  "generated sites). Not a prediction for any real network. Why: "
                  + "; ".join(md(r) for r in result.demonstration) + ".", ""]
    lines += [f"phusong {__version__}, {dt.date.today().isoformat()}.", ""]
    if result.credits:
        lines += ["Data: " + "; ".join(md(c) for c in result.credits) + ".", ""]
    lines += [f"- {md(note)}" for note in result.notes] + ([""] if result.notes else [])
    lines += ["## Targets", "",
              "| target | deadline | target (vi) | target (en) | value | goal | gap | status |",
              "|---|---|---|---|---|---|---|---|"]
    for _, r in result.targets.iterrows():
        gap = "—" if pd.isna(r["gap"]) else f"{_fmt(r['gap'])} {md(r['gap_unit'])}".strip()
        lines.append(f"| {md(r['target_id'])} | {md(r['deadline'])} | {md(r['text_vi'])} | {md(r['text_en'])} | "
                     f"{_fmt(r['value'])} | {_fmt(r['goal'])} | {gap} | {md(r['status'])} |")
    lines += ["", "## Failing units", ""]
    for _, r in result.targets.iterrows():
        if r["status"] == "not met" and r["failing_units"]:
            lines += [f"### {md(r['target_id'])} — {md(r['text_en'])}", "",
                      "  \n".join(md(u) for u in r["failing_units"].split("; ")), ""]
    if result.priority_summary is not None:
        lines += ["## Priority places", "", "| layer | kind | features | service | covered | of | unit | % |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in result.priority_summary.itertuples(index=False):
            lines.append(f"| {md(r.layer)} | {r.kind} | {r.features} | {r.service} | {_fmt(r.covered, 2)} | "
                         f"{_fmt(r.total, 2)} | {r.unit} | {_fmt(r.covered_pct)} |")
        for name, missing in _without_5g(result):
            lines += ["", f"### {md(name)}: without 5G ({len(missing)})", "",
                      "  \n".join(md(n or f"#{i}") for n, i in zip(missing["name"], missing["feature_id"]))]
        lines.append("")
    lines += ["## Communes", "", "| code | name | 4G area % | 5G area % | 5G population % | missed targets |",
              "|---|---|---|---|---|---|"]
    c = result.communes.sort_values("covered_area_pct_5g" if "covered_area_pct_5g" in result.communes else "code")
    for _, r in c.iterrows():
        lines.append(f"| {md(r['code'])} | {md(r['name'])} | {_fmt(r.get('covered_area_pct_4g'))} | "
                     f"{_fmt(r.get('covered_area_pct_5g'))} | {_fmt(r.get('covered_pop_pct_5g'))} | "
                     f"{md(r['missed_targets'])} |")
    return "\n".join(lines) + "\n"


def write_scorecard(path, result, overwrite: bool = True):
    """Write scorecard.md atomically."""
    write_text(path, scorecard_markdown(result), overwrite)


def targets_table(result) -> pd.DataFrame:
    """The targets with their values, gaps and failing units (and the demonstration label)."""
    cols = ["target_id", "deadline", "text_vi", "text_en", "unit", "value", "goal", "gap", "gap_unit", "met",
            "status", "failing_units"]
    table = result.targets[cols].copy()
    if result.demonstration:
        table["demonstration"] = "; ".join(result.demonstration)
    return table


def write_scorecard_csv(path, result, overwrite: bool = True):
    """Write scorecard.csv atomically."""
    with atomic_path(path, overwrite) as tmp:
        write_csv(targets_table(result), tmp)


def _without_5g(result):
    """(layer name, its points without 5G) for each point priority layer with any."""
    for name, f in result.priority.items():
        if "covered_5g" in f.columns and (~f["covered_5g"].astype(bool)).any():
            yield name, f[~f["covered_5g"].astype(bool)]


def scorecard_json(result) -> dict:
    """The scorecard as a JSON-ready dict: targets, communes and the failing units."""
    title = result.title
    def records(df, cols):
        if df is None:
            return []
        keep = [c for c in cols if c in df.columns]
        return json.loads(pd.DataFrame(df[keep]).to_json(orient="records", force_ascii=False))

    communes = result.communes
    return {"title": title, "phusong": __version__, "date": dt.date.today().isoformat(),
            "demonstration": bool(result.demonstration), "demonstration_reasons": list(result.demonstration),
            "data_credits": list(result.credits),
            "notes": result.notes,
            "targets": json.loads(targets_table(result).to_json(orient="records", force_ascii=False)),
            "communes": records(communes, ["code", "name", "population", "covered_area_pct_4g", "covered_area_pct_5g",
                                           "covered_pop_pct_4g", "covered_pop_pct_5g", "sites_4g", "sites_5g",
                                           "centre_covered_5g", "missed_targets"]),
            "failing_centres": records(result.centres[~result.centres["covered_5g"].astype(bool)], ["code", "name"]),
            "failing_villages": records(None if result.villages is None else
                                        result.villages[result.villages["counted"] & ~result.villages["covered_mbb"]],
                                        ["code", "name", "commune_code"]),
            "failing_zones": records(None if result.zones is None else
                                     result.zones[~(result.zones["covered_5g"] & result.zones["covered_iot"])],
                                     ["code", "name", "covered_area_pct_5g", "has_5g_site"]),
            "priority": records(result.priority_summary, ["layer", "kind", "features", "service", "unit", "total",
                                                          "covered", "covered_pct"]),
            "priority_by_commune": records(result.priority_by_commune, list(getattr(result.priority_by_commune,
                                                                                    "columns", [])))}


def write_scorecard_json(path, result, overwrite: bool = True):
    """Write scorecard.json atomically."""
    write_text(path, json.dumps(scorecard_json(result), ensure_ascii=False, indent=2),
               overwrite)


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


HTML_TEXT: dict[str, dict] = {
    "vi": {"demo_why": "Lý do",
           "demo": "MINH HỌA — tính trên dữ liệu tổng hợp hoặc được sinh ra (địa hình thay thế và/hoặc danh sách "
                   "trạm giả định). Không phải dự báo cho mạng thực tế nào.",
           "made": "Lập bằng phusong {v}, ngày {d}", "targets": "Chỉ tiêu",
           "head": ("Mã chỉ tiêu", "Thời hạn", "Chỉ tiêu", "Kết quả", "Mục tiêu", "Còn thiếu", "Đánh giá"),
           "status": {"met": "đạt", "not met": "chưa đạt", "no data": "chưa có số liệu"},
           "units": {"centres": "trung tâm xã", "villages": "thôn, bản", "zones": "khu", "people": "người"},
           "map": "Bản đồ", "map_alt": "Các xã theo tỷ lệ diện tích phủ 5G", "chart": "Tỷ lệ phủ theo xã",
           "chart_alt": "Tỷ lệ diện tích phủ theo xã", "failing": "Đơn vị chưa đạt",
           "area": "Diện tích phủ {t} (%)", "centre_ok": "trung tâm xã có sóng 5G",
           "centre_miss": "trung tâm xã chưa có sóng 5G",
           "settlements": "{n} điểm dân cư, {p} người", "settlement": "{n} điểm dân cư, {p} người",
           "proxy_unit": "điểm dân cư", "source": "nguồn", "title": "Bảng đánh giá phủ sóng",
           "priority": "Địa điểm ưu tiên", "priority_head": ("Lớp", "Loại", "Số đối tượng", "Dịch vụ", "Được phủ",
                                                               "Tổng", "Đơn vị", "%"),
           "kinds": {"points": "điểm", "lines": "tuyến", "polygons": "vùng"}, "no_5g": "chưa có 5G",
           "data": "Dữ liệu"},
    "en": {"demo_why": "Why",
           "demo": "DEMONSTRATION — computed on synthetic or generated inputs (stand-in terrain and/or generated "
                   "sites). Not a prediction for any real network.",
           "made": "Made with phusong {v} on {d}", "targets": "Targets",
           "head": ("Target", "Deadline", "Target text", "Value", "Goal", "Gap", "Status"),
           "status": {"met": "met", "not met": "not met", "no data": "no data"},
           "units": {"centres": "centres", "villages": "villages", "zones": "zones", "people": "people"},
           "map": "Map", "map_alt": "Communes by 5G area covered", "chart": "Coverage per commune",
           "chart_alt": "Area covered per commune", "failing": "Failing units",
           "area": "{t} area covered (%)", "centre_ok": "centre covered by 5G", "centre_miss": "centre without 5G",
           "settlements": "{n} settlements, {p} people", "settlement": "{n} settlement, {p} people",
           "proxy_unit": "settlements", "source": "source", "title": "Coverage scorecard",
           "priority": "Priority places", "priority_head": ("Layer", "Kind", "Features", "Service", "Covered",
                                                            "Total", "Unit", "%"),
           "kinds": {"points": "points", "lines": "lines", "polygons": "polygons"}, "no_5g": "without 5G",
           "data": "Data"},
}


def _bar_chart(communes, text) -> str:
    field = "covered_area_pct_5g" if "covered_area_pct_5g" in communes else "covered_area_pct_4g"
    c = communes.sort_values(field)
    fig = Figure(figsize=(8, max(3.0, 0.16 * len(c))))
    ax = fig.subplots()
    colours = [colormaps["RdYlGn"](v / 100.0) for v in c[field].fillna(0)]
    # one bar per commune, labelled by name (positions, not names, keep two communes of one name apart)
    ax.barh(np.arange(len(c)), c[field], color=colours)
    ax.set_yticks(np.arange(len(c)), [mathtext_safe(n) for n in c["name"]])
    ax.set_xlabel(text["area"].format(t=field[-2:].upper()))
    ax.set_xlim(0, 100)
    ax.tick_params(axis="y", labelsize=6)
    return _png(fig)


def _thumbnail(result, text) -> str:
    field = "covered_area_pct_5g" if "covered_area_pct_5g" in result.communes else "covered_area_pct_4g"
    fig = Figure(figsize=(6, 6))
    ax = fig.subplots()
    result.communes.plot(column=field, cmap="RdYlGn", vmin=0, vmax=100, edgecolor="#444", linewidth=0.3, ax=ax,
                         legend=True, legend_kwds={"label": text["area"].format(t=field[-2:].upper()), "shrink": 0.6})
    ok = result.centres["covered_5g"].astype(bool)
    # filled circles and crosses: told apart without colour
    for these, style in ((ok, dict(color="#0072B2", markersize=10, label=text["centre_ok"])),
                         (~ok, dict(color="#D55E00", markersize=18, marker="x", label=text["centre_miss"]))):
        if these.any():
            result.centres[these].plot(ax=ax, **style)
    if len(result.centres):
        ax.legend(loc="lower left", fontsize=7)
    ax.set_axis_off()
    return _png(fig)


def _failing_items(result, row, text, lang) -> list[str]:
    """The failing units of one target as HTML list items, in the page's language."""
    if result.villages_are_proxy and row["gap_unit"] == "villages" and result.villages is not None \
            and "counted" in result.villages:
        return [f"{html_text(r.code)} {html_text(r.name)}: " + text["settlement" if r.units == 1 else "settlements"]
                .format(n=r.units, p=_fmt(round(r.people), 0, lang))
                for r in result.failing_villages_by_commune().itertuples()]
    units = row["failing_units"]
    if units.startswith("source: "):
        units = text["source"] + units[len("source"):]
    return [html_text(u) for u in units.split("; ")]


def scorecard_html(result, lang: str = "vi") -> str:
    """The scorecard as one self-contained HTML page in ``lang`` (``vi`` or ``en``; every user string escaped)."""
    if lang not in HTML_TEXT:
        from ..errors import InputError
        raise InputError(f"language must be vi or en, got {lang!r}", argument="language")
    text = HTML_TEXT[lang]
    title, demonstration = result.title, bool(result.demonstration)
    if title.startswith(HTML_TEXT["en"]["title"]):   # the default title, in the page's language
        title = text["title"] + title[len(HTML_TEXT["en"]["title"]):]
    why = html_text(f'{text["demo_why"]}: {"; ".join(result.demonstration)}.')
    banner = f'<p class="demo">{html_text(text["demo"])}<br>{why}</p>' if demonstration else ""
    target_text = "text_vi" if lang == "vi" else "text_en"
    rows = []
    for _, r in result.targets.iterrows():
        cls = {"met": "met", "not met": "miss"}.get(r["status"], "nodata")
        unit = text["units"].get(r["gap_unit"], r["gap_unit"])
        if r["gap_unit"] == "villages" and result.villages_are_proxy:
            unit = text["proxy_unit"]
        gap = "—" if pd.isna(r["gap"]) else f"{_fmt(r['gap'], 1, lang)} {html_text(unit)}"
        rows.append(f'<tr class="{cls}"><td>{html_text(r["target_id"])}</td><td>{html_text(r["deadline"])}</td>'
                    f'<td>{html_text(r[target_text])}</td><td>{_fmt(r["value"], 1, lang)}</td><td>{_fmt(r["goal"], 1, lang)}</td>'
                    f'<td>{gap}</td><td>{html_text(text["status"].get(r["status"], r["status"]))}</td></tr>')
    failing = []
    for _, r in result.targets.iterrows():
        if r["status"] == "not met" and r["failing_units"]:
            items = "".join(f"<li>{item}</li>" for item in _failing_items(result, r, text, lang))
            failing.append(f"<h3>{html_text(r['target_id'])} — {html_text(r[target_text])}</h3><ul>{items}</ul>")
    priority = ""
    if result.priority_summary is not None:
        cells = "".join(
            f"<tr><td>{html_text(r.layer)}</td><td>{html_text(text['kinds'].get(r.kind, r.kind))}</td>"
            f"<td>{r.features}</td><td>{html_text(r.service)}</td><td>{_fmt(r.covered, 2, lang)}</td>"
            f"<td>{_fmt(r.total, 2, lang)}</td><td>{html_text(r.unit)}</td><td>{_fmt(r.covered_pct, 1, lang)}</td></tr>"
            for r in result.priority_summary.itertuples(index=False))
        ths = "".join(f"<th>{html_text(h)}</th>" for h in text["priority_head"])
        lists = ""
        for name, missing in _without_5g(result):
            items = "".join(f"<li>{html_text(n or f'#{i}')}</li>" for n, i in zip(missing["name"], missing["feature_id"]))
            lists += f"<h3>{html_text(name)}: {html_text(text['no_5g'])} ({len(missing)})</h3><ul>{items}</ul>"
        priority = f"<h2>{html_text(text['priority'])}</h2><table><tr>{ths}</tr>{cells}</table>{lists}"
    notes = "".join(f"<li>{html_text(getattr(n, lang, n))}</li>" for n in result.notes)
    credits = (f'<p class="credits">{html_text(text["data"])}: ' + "; ".join(html_text(c) for c in result.credits)
               + "</p>") if result.credits else ""
    head = "".join(f"<th>{html_text(h)}</th>" for h in text["head"])
    made = html_text(text["made"].format(v=__version__, d=dt.date.today().isoformat()))
    return f"""<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8"><title>{html_text(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 6px;font-size:13px}}tr.met td:last-child{{background:#c7e9c0}}
tr.miss td:last-child{{background:#fcbba1}}tr.nodata td:last-child{{color:#777}}
.demo{{background:#fff3cd;border:1px solid #c90;padding:6px;font-weight:bold}}</style></head><body>
<h1>{html_text(title)}</h1>{banner}<p>{made}</p>{credits}<ul>{notes}</ul>
<h2>{html_text(text["targets"])}</h2><table><tr>{head}</tr>{''.join(rows)}</table>{priority}
<h2>{html_text(text["map"])}</h2><img alt="{html_text(text["map_alt"])}" src="{_thumbnail(result, text)}">
<h2>{html_text(text["chart"])}</h2><img alt="{html_text(text["chart_alt"])}" src="{_bar_chart(result.communes, text)}">
<h2>{html_text(text["failing"])}</h2>{''.join(failing)}</body></html>
"""


def write_scorecard_html(path, result, overwrite: bool = True, lang: str = "vi"):
    """Write scorecard.html (in ``lang``) atomically."""
    write_text(path, scorecard_html(result, lang), overwrite)


def write_report(folder, result, overwrite: bool = True, lang: str = "vi"):
    """The scorecard in its four formats: scorecard.md, .html (in ``lang``), .csv, .json (each written
    atomically)."""
    from pathlib import Path
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    write_scorecard(folder / "scorecard.md", result, overwrite)
    write_scorecard_html(folder / "scorecard.html", result, overwrite, lang)
    write_scorecard_csv(folder / "scorecard.csv", result, overwrite)
    write_scorecard_json(folder / "scorecard.json", result, overwrite)
