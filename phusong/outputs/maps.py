"""Folium HTML maps for a province or one commune, from a coverage and its gap analysis.

Signal overlays per technology (coloured by signal class, transparent where not
covered), communes coloured by 5G area covered with tooltips and popups, centres,
villages/settlements (clustered), industrial zones, and sites drawn as sector
wedges. Vietnamese labels by default, English with ``lang="en"``.
"""
from __future__ import annotations

import base64
import io
import math
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import rasterio
from affine import Affine
from folium import plugins
from matplotlib import colormaps
from PIL import Image
from rasterio.warp import Resampling, calculate_default_transform, reproject

from .._atomic import write_text
from .._markup import html_frame, html_text
from ..errors import InputError
from ..sites.schema import TECH_SLUG

SIGNAL_EDGES_DBM = (-100.0, -90.0, -80.0)
SIGNAL_COLOURS = ("#fde725", "#5ec962", "#21918c", "#3b528b")   # weak → strong
MAX_OVERLAY_PX = 1400
# Only what these maps use, so that a page needs few outside files (tests serve them locally).
JS = [("leaflet", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"),
      ("jquery", "https://code.jquery.com/jquery-3.7.1.min.js"),
      ("bootstrap", "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/js/bootstrap.bundle.min.js")]
CSS = [("leaflet_css", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"),
       ("bootstrap_css", "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/css/bootstrap.min.css")]

TEXT: dict[str, dict] = {
    "vi": {"signal": "Tín hiệu {t}", "communes": "Xã, phường (tỷ lệ diện tích phủ 5G)", "centres": "Trung tâm xã",
           "villages": "Thôn, bản", "settlements": "Điểm dân cư (ước tính)", "zones": "Khu, cụm công nghiệp",
           "sites": "Trạm BTS", "commune": "Xã", "code": "Mã", "covered": "có sóng", "not_covered": "không có sóng",
           "area": "Diện tích phủ {t} (%)", "pop": "Dân số được phủ {t} (%)", "population": "Dân số",
           "missed": "Chỉ tiêu chưa đạt", "legend": "Tín hiệu (dBm)", "gaps": "Chỉ tiêu chưa đạt của {n}",
           "none": "Không có", "demo": "MINH HỌA — dữ liệu tổng hợp, không phải dự báo thực tế",
           "site": "Trạm",
           "site_name": "Tên trạm", "cell": "Cell", "operator": "Nhà mạng", "tech": "Công nghệ", "height": "Độ cao (m)",
           "power": "Công suất (dBm)", "azimuth": "Hướng (°)", "tilt": "Góc ngẩng/cụp (°)", "signal_at": "Tín hiệu 5G",
           "plan": "Trạm đề xuất (kế hoạch)", "actions": {"new": "xây mới", "share": "dùng chung cột",
                                                          "upgrade": "nâng cấp"}, "cost": "chi phí"},
    "en": {"signal": "{t} signal", "communes": "Communes (5G area covered)", "centres": "Commune centres",
           "villages": "Villages", "settlements": "Settlements (proxy)", "zones": "Industrial zones",
           "sites": "Sites", "commune": "Commune", "code": "Code", "covered": "covered", "not_covered": "not covered",
           "area": "{t} area covered (%)", "pop": "{t} population covered (%)", "population": "Population",
           "missed": "Missed targets", "legend": "Signal (dBm)", "gaps": "Targets missed by {n}", "none": "None",
           "demo": "DEMONSTRATION — synthetic data, not a real prediction", "site": "Site",
           "site_name": "Site name", "cell": "Cell",
           "operator": "Operator", "tech": "Technology", "height": "Height (m)", "power": "Power (dBm)",
           "azimuth": "Azimuth (°)", "tilt": "Tilt (°)", "signal_at": "5G signal",
           "plan": "Proposed sites (plan)", "actions": {"new": "new site", "share": "shared mast",
                                                        "upgrade": "upgrade"}, "cost": "cost"},
}


def _overlay(rsrp: np.ndarray, covered: np.ndarray, grid, bounds_xy=None):
    """PNG data URL and lat/lon bounds: signal classes where covered, transparent elsewhere."""
    transform, crs = grid.transform, grid.crs
    if bounds_xy is not None:
        window = rasterio.windows.from_bounds(*bounds_xy, transform=transform).round_offsets().round_lengths()
        window = window.intersection(rasterio.windows.Window(0, 0, grid.width, grid.height))
        rows, cols = window.toslices()
        rsrp, covered = rsrp[rows, cols], covered[rows, cols]
        transform = rasterio.windows.transform(window, transform)
    signal = np.where(covered == 1, rsrp, np.nan).astype(np.float32)
    height, width = signal.shape
    left, top = transform.c, transform.f
    right, bottom = left + transform.a * width, top + transform.e * height
    dst, w, h = calculate_default_transform(crs, "EPSG:4326", width, height, left, bottom, right, top)
    scale = max(1.0, max(w, h) / MAX_OVERLAY_PX)
    w, h = max(int(w / scale), 1), max(int(h / scale), 1)
    dst = dst @ Affine.scale(scale)
    out = np.full((h, w), np.nan, np.float32)
    reproject(signal, out, src_transform=transform, src_crs=crs, dst_transform=dst, dst_crs="EPSG:4326",
              src_nodata=np.nan, dst_nodata=np.nan, resampling=Resampling.nearest)
    rgba = np.zeros((h, w, 4), np.uint8)
    cls = np.digitize(out, SIGNAL_EDGES_DBM)
    for i, colour in enumerate(SIGNAL_COLOURS):
        rgba[(cls == i) & np.isfinite(out)] = [int(colour[j:j + 2], 16) for j in (1, 3, 5)] + [160]
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=True)
    west, north = dst @ (0, 0)
    east, south = dst @ (w, h)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(), [[south, west], [north, east]]


def _legend(t: dict, demonstration: bool, extra_html: str = "") -> str:
    edges = ("< " + str(int(SIGNAL_EDGES_DBM[0])),) + tuple(
        f"{int(a)} … {int(b)}" for a, b in zip(SIGNAL_EDGES_DBM[:-1], SIGNAL_EDGES_DBM[1:])) + (
        "≥ " + str(int(SIGNAL_EDGES_DBM[-1])),)
    rows = "".join(f'<div><span style="display:inline-block;width:14px;height:10px;background:{c};'
                   f'margin-right:4px"></span>{e}</div>' for c, e in zip(SIGNAL_COLOURS, edges))
    demo = (f'<div style="background:#fff3cd;border:1px solid #c90;padding:3px;margin-bottom:4px;'
            f'font-weight:bold">{html_text(t["demo"])}</div>') if demonstration else ""
    return (f'<div id="phusong-legend" style="position:fixed;bottom:60px;left:10px;z-index:1000;background:white;'
            f'padding:6px 8px;border:1px solid #888;font:12px sans-serif;max-width:320px">{demo}'
            f'<b>{html_text(t["legend"])}</b>{rows}{extra_html}</div>')


def _wedges(sites: gpd.GeoDataFrame, radius_m: float) -> gpd.GeoDataFrame:
    """Sector wedges (omnidirectional cells: circles) in the sites' metric CRS."""
    import shapely
    polys = []
    for _, s in sites.iterrows():
        x, y = s.geometry.x, s.geometry.y
        az = s.get("azimuth_deg")
        if az is None or not np.isfinite(az):
            polys.append(shapely.Point(x, y).buffer(radius_m * 0.4))
            continue
        half = min(float(s.get("beamwidth_h_deg", 65.0) or 65.0), 120.0) / 2
        angles = np.radians(np.linspace(az - half, az + half, 9))
        ring = [(x, y)] + [(x + radius_m * math.sin(a), y + radius_m * math.cos(a)) for a in angles] + [(x, y)]
        polys.append(shapely.Polygon(ring))
    return sites.set_geometry(polys)


def _plain_name(text: str) -> str:
    """Lower case without diacritics (đ as d), for matching names typed without Vietnamese accents."""
    import unicodedata
    t = unicodedata.normalize("NFD", str(text).strip().casefold().replace("đ", "d"))
    return " ".join("".join(ch for ch in t if not unicodedata.combining(ch)).split())


def find_commune(communes, text) -> int:
    """The position of the commune ``text`` names: its code (leading zeros optional, as Excel drops them),
    its name, or its name without the "xã"/"phường" prefix, with or without diacritics."""
    text = str(text).strip()
    codes = communes["code"].astype(str).str.strip()
    hits = [i for i, c in enumerate(codes) if c == text]
    if not hits and text.isdigit():
        hits = [i for i, c in enumerate(codes) if c.lstrip("0") == text.lstrip("0") and c.isdigit()]
    if not hits and "name" in communes:
        wanted = _plain_name(text)
        names = [_plain_name(n) for n in communes["name"]]
        hits = [i for i, n in enumerate(names) if n == wanted]
        if not hits:
            bare = [n.split(" ", 1)[1] if n.split(" ", 1)[0] in ("xa", "phuong", "thi") and " " in n else n
                    for n in names]
            hits = [i for i, n in enumerate(bare) if n == wanted]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        both = "; ".join(f"{codes.iloc[i]} {communes['name'].iloc[i]}" for i in hits[:5])
        raise InputError(f"{text!r} names more than one commune ({both}): give its code", argument="commune")
    raise InputError(f"no commune with code or name {text!r}", argument="commune")


def build_map(coverage, gaps, commune: str | None = None, lang: str = "vi", plan_actions=None) -> folium.Map:
    """A Folium map of ``coverage`` (a :class:`~phusong.coverage.network.Coverage`) and ``gaps``
    (a :class:`~phusong.gaps.GapResult`): the province, or the commune whose code is ``commune``.
    ``plan_actions`` (the ``actions`` layer of a plan) adds the proposed sites, numbered in build order.

    Signal overlays per technology, communes with tooltips and popups, centres, villages,
    industrial zones and sites; labels in Vietnamese (``lang="vi"``) or English. Every string
    from the inputs is escaped. ``.save("map.html")`` writes it; in Jupyter it shows inline.

    Examples
    --------
    >>> import phusong
    >>> gaps = phusong.GapResult.example()
    >>> fmap = phusong.coverage_map(phusong.Coverage.example(), gaps, commune="00002", lang="en")
    >>> "Targets missed by Xã Hai" in fmap.get_root().render()
    True
    """
    if lang not in TEXT:
        raise InputError(f"language must be vi or en, got {lang!r}", argument="lang")
    t = TEXT[lang]
    communes = gaps.communes.copy()
    communes["code"] = communes["code"].astype(str)
    demonstration = bool(gaps.demonstration or coverage.demonstration)
    metric_crs = communes.crs
    focus = None
    if commune is not None:
        focus = communes.iloc[[find_commune(communes, commune)]]
        communes = focus
    area = communes.union_all()
    clip = area.buffer(2000) if focus is not None else None

    def keep(gdf):
        if gdf is None or clip is None:
            return gdf
        return gdf[gdf.intersects(clip)]

    wgs = communes.to_crs("EPSG:4326")
    minx, miny, maxx, maxy = wgs.total_bounds
    fmap = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=9, control_scale=True,
                      tiles="OpenStreetMap", prefer_canvas=True)
    fmap.default_js, fmap.default_css = JS, CSS
    plugins.Fullscreen(position="topleft").add_to(fmap)

    bounds_xy = clip.bounds if clip is not None else None
    covered, rsrp = coverage.covered, coverage.rsrp_dbm
    for tech in TECH_SLUG:
        if tech in covered:
            url, bounds = _overlay(rsrp[tech], covered[tech], coverage.grid, bounds_xy)
            folium.raster_layers.ImageOverlay(url, bounds, name=t["signal"].format(t=tech), show=tech == "5G",
                                              opacity=1.0).add_to(fmap)

    cmap = colormaps["RdYlGn"]
    field = "covered_area_pct_5g" if "covered_area_pct_5g" in communes else None

    def style(feature):
        v = feature["properties"].get(field) if field else None
        colour = "#999999" if v is None else "#" + "".join(f"{int(255 * c):02x}" for c in cmap(v / 100.0)[:3])
        return {"fillColor": colour, "color": "#333", "weight": 1, "fillOpacity": 0.35}

    popup_fields, aliases = ["name", "code"], [t["commune"], t["code"]]
    for tech, slug in TECH_SLUG.items():
        for key, label in ((f"covered_area_pct_{slug}", "area"), (f"covered_pop_pct_{slug}", "pop")):
            if key in communes:
                popup_fields.append(key)
                aliases.append(t[label].format(t=tech))
    if "population" in communes:
        popup_fields.append("population")
        aliases.append(t["population"])
    popup_fields.append("missed_targets")
    aliases.append(t["missed"])
    cols = [c for c in popup_fields if c in communes.columns] + ["geometry"]
    folium.GeoJson(html_frame(wgs[cols]), name=t["communes"], style_function=style,
                   tooltip=folium.GeoJsonTooltip(["name", "code"], aliases=[t["commune"], t["code"]]),
                   popup=folium.GeoJsonPopup([c for c in cols if c != "geometry"],
                                             aliases=[a for c, a in zip(popup_fields, aliases) if c in cols]),
                   highlight_function=lambda f: {"weight": 3, "color": "#000"}).add_to(fmap)

    centres = keep(gaps.centres)
    if centres is not None and len(centres):
        layer = folium.FeatureGroup(name=t["centres"])
        for _, r in centres.to_crs("EPSG:4326").iterrows():
            ok = bool(r.get("covered_5g", 0))
            sig = r.get("rsrp_5g_dbm")
            sig_text = "" if sig is None or not np.isfinite(sig) else f", {t['signal_at']} {sig:.0f} dBm"
            folium.CircleMarker([r.geometry.y, r.geometry.x], radius=6, color="#1a9641" if ok else "#d7191c",
                                fill=True, fill_opacity=0.9, weight=2,
                                tooltip=f"{html_text(r['name'])}: 5G {t['covered'] if ok else t['not_covered']}{sig_text}"
                                ).add_to(layer)
        layer.add_to(fmap)

    lname = "settlements" if gaps.villages_are_proxy else "villages"
    points = keep(gaps.villages)
    if points is not None and len(points):
        cluster = plugins.MarkerCluster(name=t[lname], show=False, options={"disableClusteringAtZoom": 13})
        for _, r in points.to_crs("EPSG:4326").iterrows():
            ok = bool(r.get("covered_mbb", 0))
            folium.CircleMarker([r.geometry.y, r.geometry.x], radius=4, color="#1a9641" if ok else "#d7191c",
                                fill=True, fill_opacity=0.8, weight=1,
                                tooltip=f"{html_text(r['name'])}: {t['covered'] if ok else t['not_covered']}"
                                ).add_to(cluster)
        cluster.add_to(fmap)

    zones = keep(gaps.zones)
    if zones is not None and len(zones):
        zcols = [c for c in ("name", "code", "covered_area_pct_5g", "has_5g_site", "covered_5g") if c in zones]
        folium.GeoJson(html_frame(zones[zcols + ["geometry"]].to_crs("EPSG:4326")), name=t["zones"],
                       style_function=lambda f: {"color": "#1a9641" if f["properties"].get("covered_5g") else
                                                 "#d7191c", "weight": 2, "fillOpacity": 0.15},
                       tooltip=folium.GeoJsonTooltip(zcols)).add_to(fmap)

    sites = keep(gaps.sites)
    if sites is not None and len(sites):
        sites = sites.to_crs(metric_crs)
        wedges = _wedges(sites, 350.0).to_crs("EPSG:4326")
        fields = [("site_id", t["site"]), ("site_name", t["site_name"]), ("cell_id", t["cell"]), ("operator", t["operator"]),
                  ("technology", t["tech"]), ("antenna_height_m", t["height"]), ("tx_power_dbm", t["power"]),
                  ("azimuth_deg", t["azimuth"]), ("electrical_tilt_deg", t["tilt"])]
        fields = [(f, a) for f, a in fields if f in wedges]
        folium.GeoJson(html_frame(wedges[[f for f, _ in fields] + ["geometry"]]), name=t["sites"], show=focus is not None,
                       style_function=lambda f: {"color": "#08519c" if f["properties"].get("technology") == "4G"
                                                 else "#6a3d9a", "weight": 1, "fillOpacity": 0.5},
                       popup=folium.GeoJsonPopup([f for f, _ in fields], aliases=[a for _, a in fields])).add_to(fmap)

    proposed = keep(plan_actions.to_crs(metric_crs)) if plan_actions is not None else None
    if proposed is not None and len(proposed):
        layer = folium.FeatureGroup(name=t["plan"])
        for _, r in proposed.to_crs("EPSG:4326").iterrows():
            action = t["actions"].get(str(r["action"]), str(r["action"]))
            tip = (f"#{int(r['order'])} {html_text(action)}: {html_text(r['site_id'])} ({html_text(r['operator'])}, "
                   f"{html_text(r['technology'])}), {t['cost']} {float(r['cost']):,.0f}")
            folium.RegularPolygonMarker([r.geometry.y, r.geometry.x], number_of_sides=4, rotation=45, radius=9,
                                        color="#54278f", weight=2, fill=True, fill_color="#9e9ac8", fill_opacity=0.9,
                                        tooltip=tip).add_to(layer)
        layer.add_to(fmap)

    extra = ""
    if focus is not None:
        missed = str(focus.iloc[0].get("missed_targets") or "")
        targets = gaps.targets
        text = {}
        if targets is not None and len(targets):
            text = dict(zip(targets["target_id"], targets["text_vi" if lang == "vi" else "text_en"]))
        items = "".join(f"<li>{html_text(m)}: {html_text(text.get(m, ''))}</li>"
                        for m in filter(None, (s.strip() for s in missed.split(","))))
        extra = (f'<hr style="margin:4px 0"><b>{html_text(t["gaps"].format(n=focus.iloc[0]["name"]))}</b>'
                 f'<ul id="phusong-gaps" style="padding-left:16px;margin:2px 0">{items or "<li>" + t["none"] + "</li>"}'
                 f'</ul>')
    fmap.get_root().html.add_child(folium.Element(_legend(t, demonstration, extra)))  # type: ignore[attr-defined]
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


def write_map(path, coverage, gaps, commune=None, lang="vi", overwrite=True, plan_actions=None) -> Path:
    """Write :func:`build_map`'s map as one HTML file, atomically."""
    fmap = build_map(coverage, gaps, commune, lang, plan_actions)
    write_text(path, fmap.get_root().render(), overwrite)
    return Path(path)
