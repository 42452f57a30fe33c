"""Folium HTML maps for a province or one commune, from a coverage and its gap analysis.

Signal overlays per technology (coloured by signal class, transparent where not
covered) over the terrain's shaded relief, communes outlined by 5G area covered with
tooltips and popups, centres, villages/settlements, industrial zones, and sites drawn
as sector wedges. Vietnamese labels by default, English with ``lang="en"``.

A map needs no network: its libraries are inlined (:mod:`._webassets`), its images are
data URLs and its basemap is the relief kept with the run; the OpenStreetMap layer is an
option that needs the internet. Covered and not covered differ in shape (filled, hollow)
as well as colour (Okabe–Ito blue and vermillion), for colour-blind readers.
"""
from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import folium
import geopandas as gpd
import numpy as np
import rasterio
import shapely
from affine import Affine
from folium import plugins
from PIL import Image
from rasterio.warp import Resampling, calculate_default_transform, reproject

from .._atomic import write_text
from .._markup import html_frame, html_text
from ..errors import InputError
from ..sites.schema import TECH_SLUG
from ._webassets import head_html

SIGNAL_EDGES_DBM = (-100.0, -90.0, -80.0)
SIGNAL_COLOURS = ("#fde725", "#5ec962", "#21918c", "#3b528b")   # viridis, weak → strong
SIGNAL_ALPHA = 170
MAX_OVERLAY_PX = 1400
# 5G area covered per commune, drawn as the commune's outline: upper bounds (%) and ColorBrewer RdBu
# colours (safe for colour-blind readers); a commune at 100% has its own class.
COMMUNE_CLASSES = ((25.0, "#b2182b"), (50.0, "#ef8a62"), (75.0, "#67a9cf"), (100.0, "#2166ac"))
COMMUNE_FULL, COMMUNE_NODATA = "#053061", "#777777"
COVERED, NOT_COVERED = "#0072B2", "#D55E00"   # Okabe–Ito blue and vermillion
BACKGROUND = "#f4f1ea"

TEXT: dict[str, dict] = {
    "vi": {"signal": "Tín hiệu {t}", "communes": "Xã, phường (viền: tỷ lệ diện tích phủ 5G)", "centres": "Trung tâm xã",
           "villages": "Thôn, bản", "settlements": "Điểm dân cư (ước tính)", "zones": "Khu, cụm công nghiệp",
           "sites": "Trạm BTS", "commune": "Xã", "code": "Mã", "covered": "có sóng", "not_covered": "không có sóng",
           "area": "Diện tích phủ {t} (%)", "pop": "Dân số được phủ {t} (%)", "population": "Dân số",
           "missed": "Chỉ tiêu chưa đạt", "legend": "Tín hiệu (dBm)", "gaps": "Chỉ tiêu chưa đạt của {n}",
           "none": "Không có", "demo": "MINH HỌA — dữ liệu tổng hợp, không phải dự báo thực tế",
           "demo_why": "Lý do",
           "site": "Trạm", "status": "Tình trạng",
           "site_name": "Tên trạm", "cell": "Cell", "operator": "Nhà mạng", "tech": "Công nghệ", "height": "Độ cao (m)",
           "power": "Công suất (dBm)", "azimuth": "Hướng (°)", "tilt": "Góc ngẩng/cụp (°)", "signal_at": "Tín hiệu 5G",
           "plan": "Trạm đề xuất (kế hoạch)", "actions": {"new": "xây mới", "share": "dùng chung cột",
                                                          "upgrade": "nâng cấp"}, "cost": "chi phí",
           "relief": "Địa hình (bóng đổ)", "osm": "Bản đồ OpenStreetMap (cần Internet)",
           "level": "Có sóng từ mức", "weaker": "yếu hơn: không tô màu", "commune_legend": "Xã: diện tích phủ 5G",
           "points": "Điểm (trung tâm xã: sóng 5G; thôn, bản: sóng 4G hoặc 5G)",
           "nbiot": "NB-IoT: suy hao ghép nối ≤ {mcl:.0f} dB",
           "indoor": "Trong nhà: đã trừ suy hao vào nhà ITU-R P.2109 ({b}, {p:g}% công trình)",
           "no_data": "không có dữ liệu", "zone_ok": "khu có sóng 5G trên đủ diện tích",
           "zone_miss": "khu chưa đủ diện tích có sóng 5G", "zone_pct": "Diện tích phủ 5G (%)",
           "zone_site": "Có trạm 5G trong khu", "zone_covered": "Đủ diện tích phủ 5G", "zone": "Khu",
           "load_error": "Bản đồ không tải được thư viện hiển thị: bản sao này cần Internet "
                         "(cài thư viện ngoại tuyến bằng `make web-assets`).",
           "tile_error": "Không tải được nền OpenStreetMap (không có Internet?): nền địa hình vẫn hiển thị.",
           "script_error": "Lỗi khi hiển thị bản đồ", "priority": "Ưu tiên: {n}", "name": "Tên",
           "pct_5g": "Phủ 5G (%)", "pct_mbb": "Phủ 4G/5G (%)", "data": "Dữ liệu"},
    "en": {"signal": "{t} signal", "communes": "Communes (outline: 5G area covered)", "centres": "Commune centres",
           "villages": "Villages", "settlements": "Settlements (proxy)", "zones": "Industrial zones",
           "sites": "Sites", "commune": "Commune", "code": "Code", "covered": "covered", "not_covered": "not covered",
           "area": "{t} area covered (%)", "pop": "{t} population covered (%)", "population": "Population",
           "missed": "Missed targets", "legend": "Signal (dBm)", "gaps": "Targets missed by {n}", "none": "None",
           "demo": "DEMONSTRATION — synthetic data, not a real prediction",
           "demo_why": "Why", "site": "Site", "status": "Status",
           "site_name": "Site name", "cell": "Cell",
           "operator": "Operator", "tech": "Technology", "height": "Height (m)", "power": "Power (dBm)",
           "azimuth": "Azimuth (°)", "tilt": "Tilt (°)", "signal_at": "5G signal",
           "plan": "Proposed sites (plan)", "actions": {"new": "new site", "share": "shared mast",
                                                        "upgrade": "upgrade"}, "cost": "cost",
           "relief": "Terrain (shaded relief)", "osm": "OpenStreetMap basemap (needs the internet)",
           "level": "Covered from", "weaker": "weaker: not drawn", "commune_legend": "Communes: 5G area covered",
           "points": "Points (centres: 5G; villages: 4G or 5G)",
           "nbiot": "NB-IoT: coupling loss ≤ {mcl:.0f} dB",
           "indoor": "Indoors: less ITU-R P.2109 building entry loss ({b}, {p:g}% of buildings)",
           "no_data": "no data", "zone_ok": "zone with 5G over its required share",
           "zone_miss": "zone with 5G under its required share", "zone_pct": "5G area covered (%)",
           "zone_site": "5G site in the zone", "zone_covered": "5G over the required share", "zone": "Zone",
           "load_error": "The map could not load its display libraries: this copy needs the internet "
                         "(install the offline libraries with `make web-assets`).",
           "tile_error": "The online OpenStreetMap basemap could not load (no internet?): the terrain relief stays.",
           "script_error": "The map failed to draw", "priority": "Priority: {n}", "name": "Name",
           "pct_5g": "5G covered (%)", "pct_mbb": "4G/5G covered (%)", "data": "Data"},
}

# Runs before anything else on the page: a library that fails to load, a script error or an unreachable
# tile server becomes a visible banner instead of a blank page.
LOAD_CHECK = """<script>
(function () {
  var text = %s, shown = {};
  function say(key, message) {
    if (shown[key]) { return; }
    shown[key] = true;
    function put() {
      var box = document.createElement("div");
      box.className = "phusong-load-error";
      box.setAttribute("role", "alert");
      box.textContent = message;
      box.style.cssText = "position:fixed;top:0;left:60px;right:60px;z-index:10000;background:#fde0dd;" +
        "color:#67000d;border:2px solid #67000d;padding:8px 12px;font:14px sans-serif";
      document.body.appendChild(box);
    }
    if (document.body) { put(); } else { document.addEventListener("DOMContentLoaded", put); }
  }
  window.addEventListener("error", function (event) {
    var el = event.target;
    if (el && (el.tagName === "SCRIPT" || el.tagName === "LINK")) { say("load", text.load_error); }
    else if (el && el.tagName === "IMG" && el.classList.contains("leaflet-tile")) { say("tiles", text.tile_error); }
    else if (event.message && !window.L) { say("load", text.load_error); }
    else if (event.message) { say("script", text.script_error + ": " + event.message); }
  }, true);
  document.addEventListener("DOMContentLoaded", function () { if (!window.L) { say("load", text.load_error); } });
})();
</script>"""
PAGE_CSS = (f"<style>.leaflet-container{{background:{BACKGROUND}}}.leaflet-relief-pane{{mix-blend-mode:multiply}}"
            ".phusong-plan{width:22px;height:22px;background:#9e9ac8;border:2px solid #54278f;transform:rotate(45deg);"
            "display:flex;align-items:center;justify-content:center}.phusong-plan span{transform:rotate(-45deg);"
            "font:bold 11px sans-serif;color:#1b0f3b}</style>")


def _to_lonlat(array: np.ndarray, grid, bounds_xy, nodata, resampling, max_px=MAX_OVERLAY_PX):
    """``array`` on ``grid`` (cut to ``bounds_xy`` when given) warped to longitude/latitude, at most
    ``max_px`` a side; with its [[south, west], [north, east]] bounds."""
    transform, crs = grid.transform, grid.crs
    if bounds_xy is not None:
        window = rasterio.windows.from_bounds(*bounds_xy, transform=transform).round_offsets().round_lengths()
        window = window.intersection(rasterio.windows.Window(0, 0, grid.width, grid.height))
        rows, cols = window.toslices()
        array = array[rows, cols]
        transform = rasterio.windows.transform(window, transform)
    height, width = array.shape
    left, top = transform.c, transform.f
    right, bottom = left + transform.a * width, top + transform.e * height
    dst, w, h = calculate_default_transform(crs, "EPSG:4326", width, height, left, bottom, right, top)
    scale = max(1.0, max(w, h) / max_px)
    w, h = max(int(w / scale), 1), max(int(h / scale), 1)
    dst = dst @ Affine.scale(scale)
    out = np.full((h, w), nodata, array.dtype)
    reproject(array, out, src_transform=transform, src_crs=crs, dst_transform=dst, dst_crs="EPSG:4326",
              src_nodata=nodata, dst_nodata=nodata, resampling=resampling)
    west, north = dst @ (0, 0)
    east, south = dst @ (w, h)
    return out, [[south, west], [north, east]]


def _data_url(image: Image.Image, fmt: str, **save) -> str:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **save)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


def signal_edges(levels: dict) -> tuple[float, ...]:
    """The signal classes' upper edges (dBm): 10 dB steps from the lowest coverage level, so that the
    weakest colour starts where "covered" starts (4G/5G's levels: NB-IoT's deep-coverage level would push
    them all into one class); fixed edges when there is no level."""
    if not levels:
        return SIGNAL_EDGES_DBM
    base = min(v for k, v in levels.items() if k != "NB-IoT") if set(levels) - {"NB-IoT"} else min(levels.values())
    return tuple(base + 10.0 * k for k in range(1, len(SIGNAL_COLOURS)))


def _overlay(rsrp: np.ndarray, covered: np.ndarray, grid, bounds_xy=None, edges=SIGNAL_EDGES_DBM):
    """PNG data URL and lat/lon bounds: signal classes (upper ``edges``) where covered, transparent
    elsewhere (a four-colour palette image: a fraction of the size of full colour)."""
    signal = np.where(covered == 1, rsrp, np.nan).astype(np.float32)
    out, bounds = _to_lonlat(signal, grid, bounds_xy, np.nan, Resampling.nearest)
    index = np.where(np.isfinite(out), np.digitize(out, edges), len(SIGNAL_COLOURS)).astype(np.uint8)
    image = Image.fromarray(index, "P")
    image.putpalette([int(c[j:j + 2], 16) for c in SIGNAL_COLOURS for j in (1, 3, 5)] + [0, 0, 0])
    alpha = bytes([SIGNAL_ALPHA] * len(SIGNAL_COLOURS) + [0])
    return _data_url(image, "PNG", optimize=True, transparency=alpha), bounds


def _relief(relief, bounds_xy=None):
    """JPEG data URL and bounds of the shaded relief (white where there is no terrain)."""
    out, bounds = _to_lonlat(relief.array, relief.grid, bounds_xy, 0, Resampling.bilinear)
    # half contrast, so that the relief (multiplied onto what is under it) stays a background
    soft = np.where(out == 0, 255, 128 + out // 2).astype(np.uint8)
    return _data_url(Image.fromarray(soft, "L"), "JPEG", quality=70), bounds


def _commune_colour(pct) -> str:
    if pct is None or not np.isfinite(pct):
        return COMMUNE_NODATA
    if pct >= 100.0:
        return COMMUNE_FULL
    return next(colour for upper, colour in COMMUNE_CLASSES if pct < upper)


def _light(gdf: gpd.GeoDataFrame, tolerance_m: float) -> gpd.GeoDataFrame:
    """``gdf`` (metric CRS) simplified by ``tolerance_m``, in longitude/latitude rounded to 1e-5° (about a
    metre): what a browser needs, at a fraction of the file size."""
    out = gdf.copy()
    if tolerance_m > 0:
        out.geometry = out.geometry.simplify(tolerance_m)
    out = out.to_crs("EPSG:4326")
    out.geometry = shapely.set_precision(out.geometry.values, 1e-5)
    return out


def _legend(t: dict, demonstration: tuple, levels: dict, extra_html: str = "", nbiot_mcl_db=None,
            indoor=None) -> str:
    swatch = '<span style="display:inline-block;width:14px;height:10px;margin-right:4px;{}"></span>'
    upper = signal_edges(levels)
    lowest = f"{upper[0] - 10:.0f} … {upper[0]:.0f}" if levels else f"< {upper[0]:.0f}"
    edges = (lowest,) + tuple(f"{a:.0f} … {b:.0f}" for a, b in zip(upper[:-1], upper[1:])) + (f"≥ {upper[-1]:.0f}",)
    rows = "".join(f"<div>{swatch.format(f'background:{c};opacity:{SIGNAL_ALPHA / 255:.2f}')}{e}</div>"
                   for c, e in zip(SIGNAL_COLOURS, edges))
    level = ", ".join(f"{tech} {value:.0f} dBm" for tech, value in levels.items())
    rows += (f'<div id="phusong-level" style="border-top:2px solid #000;margin-top:2px">'
             f'{html_text(t["level"])}: <b>{level}</b><br><i>{html_text(t["weaker"])}</i></div>') if level else ""
    if indoor is not None:
        rows += f'<div id="phusong-indoor">{html_text(t["indoor"].format(b=indoor[0], p=indoor[1]))}</div>'
    if nbiot_mcl_db is not None:
        rows += f'<div>{html_text(t["nbiot"].format(mcl=nbiot_mcl_db))}</div>'
    bounds = [f"< {COMMUNE_CLASSES[0][0]:g}"] + [f"{a:g} … < {b:g}" for (a, _), (b, _) in
                                                 zip(COMMUNE_CLASSES[:-1], COMMUNE_CLASSES[1:])] + ["100"]
    colours = [c for _, c in COMMUNE_CLASSES] + [COMMUNE_FULL]
    communes = "".join(f"<div>{swatch.format(f'border:3px solid {c};height:6px')}{b} %</div>"
                       for c, b in zip(colours, bounds))
    communes += f"<div>{swatch.format(f'border:3px solid {COMMUNE_NODATA};height:6px')}{html_text(t['no_data'])}</div>"
    dot = '<span style="display:inline-block;width:10px;height:10px;border-radius:50%;margin-right:6px;{}"></span>'
    points = (f"<div>{dot.format(f'background:{COVERED};border:2px solid {COVERED}')}{html_text(t['covered'])}</div>"
              f"<div>{dot.format(f'background:#fff;border:3px solid {NOT_COVERED}')}{html_text(t['not_covered'])}</div>"
              f"<div>{swatch.format(f'border:2px solid {COVERED}')}{html_text(t['zone_ok'])}</div>"
              f"<div>{swatch.format(f'border:2px dashed {NOT_COVERED}')}{html_text(t['zone_miss'])}</div>")
    demo = (f'<div style="background:#fff3cd;border:1px solid #c90;padding:3px;margin-bottom:4px">'
            f'<b>{html_text(t["demo"])}</b><br>{html_text(t["demo_why"] + ": " + "; ".join(demonstration))}</div>'
            ) if demonstration else ""
    return (f'<div id="phusong-legend" style="position:fixed;bottom:50px;left:10px;z-index:1000;background:white;'
            f'padding:6px 8px;border:1px solid #888;font:12px sans-serif;max-width:300px;max-height:80vh;'
            f'overflow:auto">{demo}<b>{html_text(t["legend"])}</b>{rows}'
            f'<div id="phusong-commune-legend"><b>{html_text(t["commune_legend"])}</b>{communes}</div>'
            f'<div id="phusong-point-legend"><b>{html_text(t["points"])}</b>{points}</div>{extra_html}</div>')


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
        angles = np.radians(np.linspace(az - half, az + half, 7))
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


def _points(gdf, name: str, t: dict, flag: str, show: bool, tooltip_fields, aliases) -> folium.GeoJson:
    """Points as circle markers, filled where ``flag`` is true and hollow where it is not."""
    def style(feature):
        ok = bool(feature["properties"].get(flag))
        return {"color": COVERED if ok else NOT_COVERED, "fillColor": COVERED if ok else "#ffffff",
                "fillOpacity": 0.9, "weight": 2 if ok else 3}
    keep = [c for c in tooltip_fields if c in gdf.columns]
    return folium.GeoJson(html_frame(gdf[keep + ([flag] if flag not in keep else []) + ["geometry"]]), name=name,
                          show=show, marker=folium.CircleMarker(radius=5, fill=True), style_function=style,
                          tooltip=folium.GeoJsonTooltip(keep, aliases=[a for c, a in zip(tooltip_fields, aliases)
                                                                      if c in keep]))


def _priority_layer(features: gpd.GeoDataFrame, name: str, t: dict, tolerance_m: float):
    """A priority layer (see :mod:`phusong.gaps.priority`): points filled where 5G covers them, lines and
    polygons coloured by the share 5G covers (the communes' classes)."""
    label = t["priority"].format(n=name)     # names are [a-z0-9_]: checked when read
    if "covered_5g" in features.columns:     # points
        shown = _light(features, 0)
        shown["status"] = np.where(shown["covered_5g"].astype(bool), f"5G {t['covered']}", f"5G {t['not_covered']}")
        return _points(shown, label, t, "covered_5g", True, ["name", "status"], [t["name"], t["status"]])
    pct = "covered_pct_5g" if "covered_pct_5g" in features.columns else "covered_area_pct_5g"
    other = pct.replace("5g", "mbb")
    shown = _light(features[["name", pct, other, "geometry"]], tolerance_m)

    def style(feature):
        colour = _commune_colour(feature["properties"].get(pct))
        return {"color": colour, "weight": 4, "fillColor": colour, "fillOpacity": 0.25}
    return folium.GeoJson(html_frame(shown), name=label, style_function=style,
                          tooltip=folium.GeoJsonTooltip(["name", pct, other], aliases=[t["name"], t["pct_5g"],
                                                                                       t["pct_mbb"]]))


def build_map(coverage, gaps, commune: str | None = None, lang: str = "vi", plan_actions=None) -> folium.Map:
    """A Folium map of ``coverage`` (a :class:`~phusong.coverage.network.Coverage`) and ``gaps``
    (a :class:`~phusong.gaps.GapResult`): the province, or the commune whose code is ``commune``.
    ``plan_actions`` (the ``actions`` layer of a plan) adds the proposed sites, numbered in build order.

    Signal overlays per technology over the terrain's shaded relief, communes with tooltips and
    popups, centres, villages, industrial zones and sites; labels in Vietnamese (``lang="vi"``) or
    English. Every string from the inputs is escaped; the page needs no network (see the module).
    ``.save("map.html")`` writes it; in Jupyter it shows inline.

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
    # why the map is a demonstration: the reasons of the run and of the gap inputs, each once
    demonstration = tuple(dict.fromkeys((*coverage.demonstration, *gaps.demonstration)))
    metric_crs = communes.crs
    focus = None
    if commune is not None:
        focus = communes.iloc[[find_commune(communes, commune)]]
        if not focus.to_crs(coverage.grid.crs).intersects(shapely.box(*coverage.grid.bounds)).any():
            label = " ".join(str(focus[c].iloc[0]) for c in ("code", "name") if c in focus)
            raise InputError(f"commune {label} lies outside the run's grid, which has no signal there: simulate "
                             "with --area covering it (the province's communes), then map it", argument="commune")
        communes = focus
    area = communes.union_all()
    clip = area.buffer(2000) if focus is not None else None
    minx_m, miny_m, maxx_m, maxy_m = communes.total_bounds
    tolerance_m = max(maxx_m - minx_m, maxy_m - miny_m) / 5000.0   # ~ a fifth of a screen pixel at full view

    def keep(gdf):
        if gdf is None or clip is None:
            return gdf
        return gdf[gdf.intersects(clip)]

    wgs = _light(communes, tolerance_m)
    minx, miny, maxx, maxy = wgs.total_bounds
    fmap = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=9, control_scale=True,
                      tiles=None, prefer_canvas=True)
    fullscreen = plugins.Fullscreen(position="topleft")
    for element in (fmap, fullscreen):   # the libraries are inlined below, not linked
        element.default_js, element.default_css = [], []
    fullscreen.add_to(fmap)
    header = fmap.get_root().header  # type: ignore[attr-defined]
    header.add_child(folium.Element(LOAD_CHECK % json.dumps(
        {k: t[k] for k in ("load_error", "tile_error", "script_error")}, ensure_ascii=False)), name="phusong_check")
    header.add_child(folium.Element(head_html()), name="phusong_libraries")
    header.add_child(folium.Element(PAGE_CSS), name="phusong_css")

    bounds_xy = clip.bounds if clip is not None else None
    folium.TileLayer("OpenStreetMap", name=t["osm"], overlay=True, show=False).add_to(fmap)
    if coverage.relief is not None:
        folium.map.CustomPane("relief", z_index=250, pointer_events=False).add_to(fmap)
        url, bounds = _relief(coverage.relief, bounds_xy)
        folium.raster_layers.ImageOverlay(url, bounds, name=t["relief"], pane="relief").add_to(fmap)
    covered, rsrp = coverage.covered, coverage.rsrp_dbm
    levels = {tech: level for tech, level in coverage.coverage_levels_dbm.items() if tech in TECH_SLUG}
    for tech in TECH_SLUG:
        if tech in covered:
            url, bounds = _overlay(rsrp[tech], covered[tech], coverage.grid, bounds_xy, signal_edges(levels))
            folium.raster_layers.ImageOverlay(url, bounds, name=t["signal"].format(t=tech), show=tech == "5G",
                                              opacity=1.0).add_to(fmap)

    field = "covered_area_pct_5g" if "covered_area_pct_5g" in communes else None

    def style(feature):
        colour = _commune_colour(feature["properties"].get(field) if field else None)
        return {"color": colour, "weight": 3 if focus is not None else 2.5, "fillColor": colour, "fillOpacity": 0.04}

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
                   highlight_function=lambda f: {"weight": 5}).add_to(fmap)

    zones = keep(gaps.zones)
    if zones is not None and len(zones):
        labels = {"name": t["zone"], "code": t["code"], "covered_area_pct_5g": t["zone_pct"],
                  "has_5g_site": t["zone_site"], "covered_5g": t["zone_covered"]}
        zcols = [c for c in labels if c in zones]
        shown = zones[zcols + ["geometry"]].copy()
        for flag in ("has_5g_site", "covered_5g"):   # yes/no in the page's language, not True/False
            if flag in shown:
                shown[flag + "_text"] = np.where(shown[flag].astype(bool), "✓", "✗")
        tips = [c + "_text" if c in ("has_5g_site", "covered_5g") else c for c in zcols]
        folium.GeoJson(html_frame(_light(shown, tolerance_m)), name=t["zones"],
                       style_function=lambda f: {"color": COVERED, "weight": 2, "fillOpacity": 0.1}
                       if f["properties"].get("covered_5g") else
                       {"color": NOT_COVERED, "weight": 2.5, "dashArray": "6 4", "fillOpacity": 0.1},
                       tooltip=folium.GeoJsonTooltip(tips, aliases=[labels[c] for c in zcols])).add_to(fmap)

    for pname, features in gaps.priority.items():
        features = keep(features)
        if features is not None and len(features):
            _priority_layer(features, pname, t, tolerance_m).add_to(fmap)

    sites = keep(gaps.sites)
    if sites is not None and len(sites):
        sites = sites.to_crs(metric_crs)
        wedges = _light(_wedges(sites, 350.0), 0)
        fields = [("site_id", t["site"]), ("site_name", t["site_name"]), ("cell_id", t["cell"]), ("operator", t["operator"]),
                  ("technology", t["tech"]), ("antenna_height_m", t["height"]), ("tx_power_dbm", t["power"]),
                  ("azimuth_deg", t["azimuth"]), ("electrical_tilt_deg", t["tilt"])]
        fields = [(f, a) for f, a in fields if f in wedges]
        folium.GeoJson(html_frame(wedges[[f for f, _ in fields] + ["geometry"]]), name=t["sites"], show=focus is not None,
                       style_function=lambda f: {"color": "#08519c" if f["properties"].get("technology") == "4G"
                                                 else "#6a3d9a", "weight": 1, "fillOpacity": 0.5},
                       popup=folium.GeoJsonPopup([f for f, _ in fields], aliases=[a for _, a in fields])).add_to(fmap)

    lname = "settlements" if gaps.villages_are_proxy else "villages"
    points = keep(gaps.villages)
    if points is not None and len(points):
        points = _light(points, 0)
        points["status"] = np.where(points["covered_mbb"].astype(bool), t["covered"], t["not_covered"])
        _points(points, t[lname], t, "covered_mbb", focus is not None, ["name", "commune_code", "status"],
                [t[lname], t["commune"], t["status"]]).add_to(fmap)

    centres = keep(gaps.centres)
    if centres is not None and len(centres):
        centres = _light(centres, 0)
        ok = centres["covered_5g"].astype(bool)
        sig = centres["rsrp_5g_dbm"] if "rsrp_5g_dbm" in centres else np.full(len(centres), np.nan)
        centres["status"] = [f"5G {t['covered'] if c else t['not_covered']}" +
                             (f", {t['signal_at']} {v:.0f} dBm" if np.isfinite(v) else "") for c, v in zip(ok, sig)]
        _points(centres, t["centres"], t, "covered_5g", True, ["name", "status"],
                [t["centres"], t["status"]]).add_to(fmap)

    proposed = keep(plan_actions.to_crs(metric_crs)) if plan_actions is not None else None
    if proposed is not None and len(proposed):
        layer = folium.FeatureGroup(name=t["plan"])
        for _, r in proposed.to_crs("EPSG:4326").iterrows():
            action = t["actions"].get(str(r["action"]), str(r["action"]))
            tip = (f"#{int(r['order'])} {html_text(action)}: {html_text(r['site_id'])} ({html_text(r['operator'])}, "
                   f"{html_text(r['technology'])}), {t['cost']} {float(r['cost']):,.0f}")
            icon = folium.DivIcon(html=f'<div class="phusong-plan"><span>{int(r["order"])}</span></div>',
                                  icon_size=(26, 26), icon_anchor=(13, 13))
            folium.Marker([r.geometry.y, r.geometry.x], icon=icon, tooltip=tip).add_to(layer)
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
    credits = sorted(set(coverage.stats.get("data_credits", ())) | set(getattr(gaps, "credits", ())))
    if credits:
        extra += (f'<div id="phusong-credits" style="font-size:10px;color:#555;margin-top:4px">'
                  f'{html_text(t["data"])}: ' + "; ".join(html_text(c) for c in credits) + "</div>")
    mcl = coverage.settings.coverage.nbiot_mcl_db if "NB-IoT" in covered else None
    from ..settings import parse_indoor
    indoor = parse_indoor(coverage.settings.coverage.indoor)
    fmap.get_root().html.add_child(folium.Element(  # type: ignore[attr-defined]
        _legend(t, demonstration, levels, extra, mcl, indoor)))
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


def write_map(path, coverage, gaps, commune=None, lang="vi", overwrite=True, plan_actions=None) -> Path:
    """Write :func:`build_map`'s map as one HTML file, atomically."""
    fmap = build_map(coverage, gaps, commune, lang, plan_actions)
    write_text(path, fmap.get_root().render(), overwrite)
    return Path(path)
