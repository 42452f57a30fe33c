"""Folium HTML map of a study: signal overlays, communes by 5G coverage, centres, zones, sites."""
from __future__ import annotations

import base64
import io

import folium
import numpy as np
from affine import Affine
from matplotlib import colormaps
from PIL import Image
from rasterio.warp import Resampling, calculate_default_transform, reproject

from .._atomic import write_text
from .._raster import Grid
from .gaps import GapResult

SIGNAL_CLASSES_DBM = (-110.0, -100.0, -90.0, -80.0)   # edges of the displayed classes
SIGNAL_COLOURS = ("#fde725", "#5ec962", "#21918c", "#3b528b", "#440154")


def _overlay_png(rsrp: np.ndarray, grid: Grid, threshold_dbm: float, max_px: int = 1200):
    """Reproject to EPSG:4326, classify, and encode as PNG (transparent where not covered)."""
    dst_crs = "EPSG:4326"
    transform, width, height = calculate_default_transform(grid.crs, dst_crs, grid.width, grid.height,
                                                           *grid.bounds)
    scale = max(1.0, max(width, height) / max_px)
    width, height = int(width / scale), int(height / scale)
    transform = transform @ Affine.scale(scale)
    out = np.full((height, width), np.nan, np.float32)
    reproject(rsrp.astype(np.float32), out, src_transform=grid.transform, src_crs=grid.crs, dst_transform=transform,
              dst_crs=dst_crs, src_nodata=np.nan, dst_nodata=np.nan, resampling=Resampling.nearest)
    cls = np.digitize(out, SIGNAL_CLASSES_DBM)
    rgba = np.zeros((height, width, 4), np.uint8)
    for i, colour in enumerate(SIGNAL_COLOURS):
        rgb = [int(colour[j:j + 2], 16) for j in (1, 3, 5)]
        rgba[cls == i] = rgb + [170]
    rgba[~(out >= threshold_dbm)] = 0
    buf = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buf, format="PNG", optimize=True)
    west, north = transform @ (0, 0)
    east, south = transform @ (width, height)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode(), [[south, west], [north, east]]


def build_map(result: GapResult, grid: Grid, rsrp: dict[str, np.ndarray], thresholds: dict[str, float],
              demonstration: bool = False) -> folium.Map:
    communes = result.communes.to_crs("EPSG:4326")
    minx, miny, maxx, maxy = communes.total_bounds
    fmap = folium.Map(location=[(miny + maxy) / 2, (minx + maxx) / 2], zoom_start=10, control_scale=True,
                      tiles="OpenStreetMap")
    if demonstration:
        fmap.get_root().html.add_child(folium.Element(
            '<div style="position:fixed;top:10px;left:60px;z-index:9999;background:#fff3cd;padding:4px 8px;'
            'border:1px solid #c90;font:bold 13px sans-serif">DEMONSTRATION — synthetic data, not a real '
            'prediction</div>'))
    for tech, arr in rsrp.items():
        url, bounds = _overlay_png(arr, grid, thresholds[tech])
        folium.raster_layers.ImageOverlay(url, bounds, name=f"{tech} signal (≥ {thresholds[tech]:g} dBm)",
                                          show=tech == "5G").add_to(fmap)
    cmap = colormaps["RdYlGn"]
    field = "covered_area_pct_5g" if "covered_area_pct_5g" in communes else None

    def style(feature):
        v = feature["properties"].get(field) if field else None
        colour = "#999999" if v is None else "#%02x%02x%02x" % tuple(int(255 * c) for c in cmap(v / 100.0)[:3])
        return {"fillColor": colour, "color": "#333", "weight": 1, "fillOpacity": 0.45}

    cols = [c for c in communes.columns if c == "geometry" or c in ("code", "name", "missed_targets")
            or c.startswith(("covered_", "population", "sites_"))]
    popup_fields = [c for c in cols if c != "geometry"]
    folium.GeoJson(communes[cols], name="Communes (5G area covered)", style_function=style,
                   tooltip=folium.GeoJsonTooltip(["name", "code"], aliases=["Commune", "Code"]),
                   popup=folium.GeoJsonPopup(popup_fields)).add_to(fmap)
    centres = result.centres.to_crs("EPSG:4326")
    layer = folium.FeatureGroup(name="Commune centres (5G)")
    for _, r in centres.iterrows():
        ok = bool(r["covered_5g"])
        folium.CircleMarker([r.geometry.y, r.geometry.x], radius=5, color="#1a7f37" if ok else "#cf222e",
                            fill=True, fill_opacity=0.9,
                            tooltip=f"{r['name']}: {'5G covered' if ok else 'no 5G'}").add_to(layer)
    layer.add_to(fmap)
    if result.zones is not None:
        zones = result.zones.to_crs("EPSG:4326")
        keep = [c for c in zones.columns if c in ("code", "name", "covered_area_pct_5g", "has_5g_site", "geometry")]
        folium.GeoJson(zones[keep].assign(has_5g_site=zones["has_5g_site"].astype(int)),
                       name="Industrial zones",
                       style_function=lambda f: {"color": "#8250df", "weight": 2, "fillOpacity": 0.2},
                       tooltip=folium.GeoJsonTooltip(["name", "covered_area_pct_5g"])).add_to(fmap)
    if result.sites is not None:
        sites = result.sites.to_crs("EPSG:4326").drop_duplicates("site_id")
        layer = folium.FeatureGroup(name="Sites", show=False)
        for _, r in sites.iterrows():
            folium.CircleMarker([r.geometry.y, r.geometry.x], radius=3, color="#0969da",
                                tooltip=f"{r['site_id']} ({r.get('operator', '')})").add_to(layer)
        layer.add_to(fmap)
    folium.LayerControl(collapsed=False).add_to(fmap)
    fmap.fit_bounds([[miny, minx], [maxy, maxx]])
    return fmap


def write_map(path, result: GapResult, grid: Grid, rsrp, thresholds, demonstration=False, overwrite=True):
    write_text(path, build_map(result, grid, rsrp, thresholds, demonstration).get_root().render(), overwrite)
