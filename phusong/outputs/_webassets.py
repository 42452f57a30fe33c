"""The JavaScript and CSS of the HTML maps, inlined so that a map works with no network.

They come from npm packages installed beside phusong (``make web-assets``, run by
``make demo``/``make test``), never from this repository. phusong looks, in order, in
``$PHUSONG_WEB_ASSETS`` (a ``node_modules`` folder), ``<prefix>/share/phusong/web-assets/node_modules``
and the source checkout's ``build/web-assets/node_modules``. Without them a map links the
public CDNs instead (it then needs the internet) and says so on the page if they fail to load.
"""
from __future__ import annotations

import base64
import json
import logging
import os
import re
import sys
from pathlib import Path

log = logging.getLogger(__name__)

# (npm package, file in it, kind, the CDN address used when the package is not installed)
ASSETS = (
    ("leaflet", "dist/leaflet.css", "css", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.css"),
    ("leaflet", "dist/leaflet.js", "js", "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/leaflet.js"),
    ("leaflet.fullscreen", "Control.FullScreen.css", "css",
     "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.css"),
    ("leaflet.fullscreen", "Control.FullScreen.js", "js",
     "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js"),
)
MIME = {".png": "image/png", ".svg": "image/svg+xml", ".gif": "image/gif", ".jpg": "image/jpeg"}


def asset_folders() -> list[Path]:
    """Where phusong looks for the npm packages, in order."""
    folders = []
    if os.environ.get("PHUSONG_WEB_ASSETS"):
        folders.append(Path(os.environ["PHUSONG_WEB_ASSETS"]))
    folders.append(Path(sys.prefix) / "share" / "phusong" / "web-assets" / "node_modules")
    folders.append(Path(__file__).resolve().parents[2] / "build" / "web-assets" / "node_modules")
    return folders


def find_assets() -> Path | None:
    """The first folder holding every file the maps need, or None."""
    for folder in asset_folders():
        if all((folder / package / name).is_file() for package, name, _, _ in ASSETS):
            return folder
    return None


def _inline_urls(css: str, base: Path) -> str:
    """The CSS with its relative ``url(...)`` images embedded as data URLs (nothing fetched later)."""
    def embed(match):
        target = (base / match.group(2)).resolve()
        if match.group(2).startswith(("data:", "http:", "https:", "#")) or target.suffix not in MIME \
                or not target.is_file():
            return match.group(0)
        data = base64.b64encode(target.read_bytes()).decode()
        return f'url("data:{MIME[target.suffix]};base64,{data}")'
    return re.sub(r"""url\((['"]?)([^)'"]+)\1\)""", embed, css)


def _script_safe(text: str) -> str:
    # an inline script ends at the first "</script", whatever the JavaScript means by it
    return re.sub(r"</(script)", r"<\\/\1", text, flags=re.IGNORECASE).replace("<!--", "<\\!--")


def head_html() -> str:
    """``<style>`` and ``<script>`` elements holding the maps' libraries (with their licences named), or
    links to the CDNs when the packages are not installed (logged as a warning)."""
    folder = find_assets()
    if folder is None:
        log.warning("the map's JavaScript libraries are not installed (run `make web-assets`, or set "
                    "PHUSONG_WEB_ASSETS to a node_modules folder holding leaflet and leaflet.fullscreen): "
                    "this map loads them from the internet")
        return "".join(f'<link rel="stylesheet" href="{url}">' if kind == "css" else f'<script src="{url}"></script>'
                       for _, _, kind, url in ASSETS)
    parts = []
    for package in dict.fromkeys(p for p, _, _, _ in ASSETS):
        meta = json.loads((folder / package / "package.json").read_text(encoding="utf-8"))
        parts.append(f"<!-- {package} {meta.get('version', '?')} ({meta.get('license', 'see package')}), "
                     f"inlined from npm -->")
    for package, name, kind, _ in ASSETS:
        path = folder / package / name
        text = path.read_text(encoding="utf-8")
        if kind == "css":
            css = _inline_urls(text, path.parent).replace("</", "<\\/")
            parts.append(f"<style>{css}</style>")
        else:
            parts.append(f"<script>{_script_safe(text)}</script>")
    return "\n".join(parts)
