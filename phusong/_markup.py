"""Escape user-supplied text where it becomes HTML or Markdown.

Names, ids, operators, titles and target texts come from files phusong does not
control. Every HTML or Markdown writer passes them through these functions at the
point where data becomes markup, so that a commune called
``<img src=x onerror=alert(1)>`` is shown as those characters and runs nothing.
Vietnamese text is left intact.
"""
from __future__ import annotations

import html
import re

import pandas as pd

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>|#!~&])")


# Folium puts tooltip text inside a JavaScript template literal: a backtick or "${" there would
# end the literal or run code, so those characters (and the backslash) become entities too.
_JS_LITERAL = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;"})


def html_text(value) -> str:
    """``value`` as HTML text: ``& < > " '`` escaped, and `` ` $ \\`` as entities (safe in attributes and in
    the JavaScript template literals Folium wraps tooltips in)."""
    return html.escape("" if value is None else str(value), quote=True).translate(_JS_LITERAL)


def markdown_text(value) -> str:
    """``value`` as Markdown text: characters Markdown would render (or treat as HTML) backslash-escaped,
    line breaks folded to spaces so that a value cannot end a table row."""
    text = "" if value is None else str(value)
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("\r", " ").replace("\n", " "))


def mathtext_safe(value) -> str:
    """``value`` for a matplotlib label: ``$`` escaped, so that a name is never parsed as mathtext."""
    return str(value).replace("$", r"\$")


def html_frame(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` with every text cell HTML-escaped (numbers, booleans and geometry untouched).

    For Folium's GeoJson tooltips and popups, which insert property values as HTML.
    """
    out = df.copy()
    for col in out.columns:
        if col == getattr(out, "_geometry_column_name", None):
            continue
        if out[col].dtype == object or pd.api.types.is_string_dtype(out[col]):
            out[col] = out[col].map(lambda v: html_text(v) if isinstance(v, str) else v)
    return out
