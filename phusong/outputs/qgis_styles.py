"""QGIS layer styles embedded in a GeoPackage (the ``layer_styles`` table QGIS reads on open).

Communes open graduated by 5G area covered (red = gap), points categorised covered /
not covered, zones outlined by 5G coverage, coverage polygons as a light fill.
"""
from __future__ import annotations

import sqlite3
from xml.sax.saxutils import escape

RED, ORANGE, YELLOW, LIGHTGREEN, GREEN = "215,25,28,255", "253,174,97,255", "255,255,191,255", "166,217,106,255", \
    "26,150,65,255"


def _fill(name, colour, outline="60,60,60,255", width="0.26", alpha="0.75"):
    return (f'<symbol type="fill" name="{name}" alpha="{alpha}" clip_to_extent="1" force_rhr="0">'
            f'<layer class="SimpleFill" enabled="1" locked="0" pass="0"><Option type="Map">'
            f'<Option type="QString" name="color" value="{colour}"/>'
            f'<Option type="QString" name="outline_color" value="{outline}"/>'
            f'<Option type="QString" name="outline_width" value="{width}"/>'
            f'<Option type="QString" name="style" value="solid"/></Option></layer></symbol>')


def _marker(name, colour, size="2.6", shape="circle"):
    return (f'<symbol type="marker" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
            f'<layer class="SimpleMarker" enabled="1" locked="0" pass="0"><Option type="Map">'
            f'<Option type="QString" name="color" value="{colour}"/>'
            f'<Option type="QString" name="name" value="{shape}"/>'
            f'<Option type="QString" name="outline_color" value="35,35,35,255"/>'
            f'<Option type="QString" name="size" value="{size}"/></Option></layer></symbol>')


def _line(name, colour, width="0.9"):
    return (f'<symbol type="line" name="{name}" alpha="1" clip_to_extent="1" force_rhr="0">'
            f'<layer class="SimpleLine" enabled="1" locked="0" pass="0"><Option type="Map">'
            f'<Option type="QString" name="line_color" value="{colour}"/>'
            f'<Option type="QString" name="line_width" value="{width}"/></Option></layer></symbol>')


def _qml(renderer: str, labels_field: str | None = None) -> str:
    labels = ""
    if labels_field:
        labels = (f'<labeling type="simple"><settings calloutType="simple"><text-style fieldName="{labels_field}" '
                  f'fontSize="8" textColor="20,20,20,255"/></settings></labeling>')
    return ("<!DOCTYPE qgis PUBLIC 'http://mrcc.com/qgis.dtd' 'SYSTEM'>"
            f'<qgis version="3.28.0" styleCategories="Symbology|Labeling">{renderer}{labels}</qgis>')


def graduated(field: str, breaks=(0, 50, 80, 95, 99.99, 100), line: bool = False) -> str:
    """A QGIS graduated renderer over ``field`` (classes and colours given): fills labelled by name, or lines."""
    colours = (RED, ORANGE, YELLOW, LIGHTGREEN, GREEN)
    ranges = "".join(f'<range lower="{lo}" upper="{hi}" label="{lo:g}–{hi:g} %" symbol="{i}" render="true"/>'
                     for i, (lo, hi) in enumerate(zip(breaks[:-1], breaks[1:])))
    symbols = "".join((_line if line else _fill)(str(i), c) for i, c in enumerate(colours))
    return _qml(f'<renderer-v2 type="graduatedSymbol" attr="{field}" graduatedMethod="GraduatedColor" '
                f'symbollevels="0" enableorderby="0" forceraster="0"><ranges>{ranges}</ranges>'
                f'<symbols>{symbols}</symbols></renderer-v2>', labels_field=None if line else "name")


def categorised(field: str, kind: str = "marker", yes="covered", no="not covered") -> str:
    """A QGIS categorised renderer over ``field`` (one symbol per value)."""
    sym = _marker if kind == "marker" else (lambda n, c: _fill(n, c, outline=c, width="0.6", alpha="0.35"))
    cats = (f'<categories><category value="1" label="{escape(yes)}" symbol="0" render="true"/>'
            f'<category value="0" label="{escape(no)}" symbol="1" render="true"/></categories>')
    return _qml(f'<renderer-v2 type="categorizedSymbol" attr="{field}" symbollevels="0" enableorderby="0" '
                f'forceraster="0">{cats}<symbols>{sym("0", GREEN)}{sym("1", RED)}</symbols></renderer-v2>')


def single_fill(colour="43,131,186,255") -> str:
    """A QGIS single-symbol fill renderer."""
    return _qml(f'<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
                f'<symbols>{_fill("0", colour, outline=colour, width="0.1", alpha="0.35")}</symbols></renderer-v2>')


def default_styles(layers: list[str]) -> dict[str, str]:
    """QML per layer name, for the layers phusong writes."""
    out = {}
    for name in layers:
        if name == "communes":
            out[name] = graduated("covered_area_pct_5g")
        elif name == "commune_centres":
            out[name] = categorised("covered_5g", yes="5G covered", no="no 5G")
        elif name in ("villages", "settlements"):
            out[name] = categorised("covered_mbb", yes="mobile broadband", no="no mobile broadband")
        elif name == "industrial_zones":
            out[name] = categorised("covered_5g", kind="fill", yes="5G covered", no="5G gap")
        elif name.startswith("coverage_"):
            out[name] = single_fill()
        elif name == "sites":
            out[name] = _qml('<renderer-v2 type="singleSymbol" symbollevels="0" enableorderby="0" forceraster="0">'
                             f'<symbols>{_marker("0", "8,81,156,255", size="2", shape="triangle")}</symbols>'
                             '</renderer-v2>')
    return out


def embed_styles(gpkg_path, styles: dict[str, str], geometry_column: str = "geom") -> None:
    """Create QGIS's ``layer_styles`` table (as QGIS itself does) and register it as attributes."""
    with sqlite3.connect(gpkg_path) as db:
        db.execute("CREATE TABLE IF NOT EXISTS layer_styles (id INTEGER PRIMARY KEY AUTOINCREMENT, "
                   "f_table_catalog TEXT(256), f_table_schema TEXT(256), f_table_name TEXT(256), "
                   "f_geometry_column TEXT(256), styleName TEXT(30), styleQML TEXT, styleSLD TEXT, "
                   "useAsDefault BOOLEAN, description TEXT, owner TEXT(30), ui TEXT(30), "
                   "update_time DATETIME DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')))")
        db.execute("INSERT OR REPLACE INTO gpkg_contents (table_name, data_type, identifier, description, "
                   "last_change) VALUES ('layer_styles', 'attributes', 'layer_styles', 'QGIS layer styles', "
                   "strftime('%Y-%m-%dT%H:%M:%fZ','now'))")
        for table, qml in styles.items():
            db.execute("INSERT INTO layer_styles (f_table_catalog, f_table_schema, f_table_name, f_geometry_column, "
                       "styleName, styleQML, styleSLD, useAsDefault, description, owner, ui) "
                       "VALUES ('', '', ?, ?, ?, ?, '', 1, 'phusong default style', '', NULL)",
                       (table, geometry_column, f"phusong {table}", qml))
