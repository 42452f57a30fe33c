"""The HTML maps in a real browser: headless Debian Chromium driven by Playwright.

The maps load Leaflet & co. from public CDNs, which the test machines cannot reach:
the test serves local copies from npm packages that `make test` installs into
build/web-assets (intercepting the requests). Basemap tiles are the only requests
allowed to fail.
"""
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from phusong.cli import cli

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "build" / "web-assets" / "node_modules"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
LOCAL = {
    "https://cdn.jsdelivr.net/npm/leaflet@1.9.3/dist/": ASSETS / "leaflet/dist/",
    "https://code.jquery.com/jquery-3.7.1.min.js": ASSETS / "jquery/dist/jquery.min.js",
    "https://cdn.jsdelivr.net/npm/bootstrap@5.2.2/dist/": ASSETS / "bootstrap/dist/",
    "https://cdnjs.cloudflare.com/ajax/libs/leaflet.markercluster/1.1.0/": ASSETS / "leaflet.markercluster/dist/",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/Control.FullScreen.min.js":
        ASSETS / "leaflet.fullscreen/Control.FullScreen.js",
    "https://cdn.jsdelivr.net/npm/leaflet.fullscreen@3.0.0/": ASSETS / "leaflet.fullscreen/",
}
TYPES = {".js": "application/javascript", ".css": "text/css", ".png": "image/png", ".svg": "image/svg+xml"}

playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed (dev extra)")
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not found (`make test` installs it as root)"),
    pytest.mark.skipif(not ASSETS.exists(), reason="build/web-assets missing (`make test` installs it with npm)"),
]


def _local_file(url: str):
    for prefix, target in LOCAL.items():
        if url == prefix or (prefix.endswith("/") and url.startswith(prefix)):
            path = target if not prefix.endswith("/") else target / url[len(prefix):].split("?")[0]
            return path if path.is_file() else None
    return None


@pytest.fixture(scope="module")
def maps(tmp_path_factory):
    out = tmp_path_factory.mktemp("browser") / "demo"
    assert CliRunner().invoke(cli, ["demo", "--out", str(out), "-q"]).exit_code == 0
    commune = str(__import__("pyogrio").read_dataframe(out / "gaps.gpkg", layer="communes")["code"].iloc[0])
    one = out.parent / "commune.html"
    result = CliRunner().invoke(cli, ["map", "--run", str(out), "--gaps", str(out / "gaps.gpkg"), "--out", str(one),
                                      "--commune", commune, "--lang", "en"])
    assert result.exit_code == 0, result.output
    return out / "map.html", one, commune


def _open(browser, path, problems):
    page = browser.new_page(viewport={"width": 1200, "height": 850})

    def route(r):
        url = r.request.url
        local = _local_file(url)
        if local is not None:
            return r.fulfill(path=str(local), content_type=TYPES.get(local.suffix, "application/octet-stream"))
        if "tile.openstreetmap.org" in url:
            return r.abort()  # basemap tiles: the only requests allowed to fail
        if url.startswith(("http://", "https://")):
            problems.append(f"unexpected request {url}")
            return r.abort()
        return r.continue_()

    page.route("**/*", route)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" and
            "tile.openstreetmap.org" not in m.text and "ERR_FAILED" not in m.text else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: None if "tile.openstreetmap.org" in r.url else
            problems.append(f"failed request {r.url}"))
    page.goto(path.as_uri())
    page.wait_for_selector(".leaflet-control-layers", timeout=30000)
    page.wait_for_function("() => document.querySelector('.leaflet-overlay-pane canvas, .leaflet-overlay-pane svg')")
    return page


def _click_until_popup(page, var, lat, lon, attempts=3):
    """Click the map at (lat, lon) once it has stopped moving, until a popup opens.

    Under load the first click can land while the initial fit-to-bounds is still
    animating; each attempt waits for the map to settle and recomputes the pixel."""
    where = ""
    for _ in range(attempts):
        page.wait_for_function(f"() => !{var}._animatingZoom && !({var}._panAnim && {var}._panAnim._inProgress)")
        page.wait_for_timeout(300)
        point = page.evaluate(f"""() => {{
            const pt = {var}.latLngToContainerPoint([{lat}, {lon}]);
            const box = document.getElementById('{var}').getBoundingClientRect();
            return {{x: pt.x + box.left, y: pt.y + box.top}};
        }}""")
        page.mouse.click(point["x"], point["y"])
        try:
            page.wait_for_selector(".leaflet-popup-content", timeout=4000)
            return
        except Exception:  # playwright's TimeoutError: say what the click hit
            where = page.evaluate(f"() => document.elementFromPoint({point['x']}, {point['y']})?.outerHTML?.slice(0, 200)")
    raise AssertionError(f"no popup after {attempts} clicks at ({lat:.5f}, {lon:.5f}); the last hit: {where}")


def _map_var(page):
    return page.evaluate("() => Object.keys(window).find(k => k.startsWith('map_'))")


def test_province_and_commune_maps_in_chromium(maps):
    from playwright.sync_api import sync_playwright

    province, commune_map, code = maps
    shots = ROOT / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        try:
            problems = []
            page = _open(browser, province, problems)
            control = page.inner_text(".leaflet-control-layers")
            for label in ("Tín hiệu 4G", "Tín hiệu 5G", "Xã, phường", "Trung tâm xã", "Thôn, bản",
                          "Khu, cụm công nghiệp", "Trạm BTS"):
                assert label in control, (label, control)
            assert page.locator(".leaflet-control-scale").count() == 1
            assert page.locator(".leaflet-control-zoom-fullscreen, .leaflet-fullscreen-on, "
                                "[class*=fullscreen]").count() >= 1
            assert "MINH HỌA" in page.inner_text("#phusong-legend")
            # click inside the largest commune (a point surely inside it): its popup opens with its name
            import pyogrio
            communes = pyogrio.read_dataframe(province.parent / "gaps.gpkg", layer="communes")
            biggest = communes.loc[communes.geometry.area.idxmax()]
            inside = __import__("geopandas").GeoSeries([biggest.geometry.point_on_surface()],
                                                       crs=communes.crs).to_crs("EPSG:4326").iloc[0]
            _click_until_popup(page, _map_var(page), inside.y, inside.x)
            popup = page.inner_text(".leaflet-popup-content")
            assert biggest["name"] in popup and str(biggest["code"]) in popup  # that commune, by its unique code
            pct = f"{biggest['covered_area_pct_5g']:g}"
            assert pct in popup, (pct, popup)
            page.wait_for_timeout(600)  # let the popup finish fading in
            page.screenshot(path=str(shots / "province-map.png"))
            assert not problems, problems

            problems = []
            page = _open(browser, commune_map, problems)
            legend = page.inner_text("#phusong-legend")
            mine = communes[communes["code"].astype(str) == str(code)].iloc[0]
            assert f"Targets missed by {mine['name']}" in legend
            missed = [m.strip() for m in str(mine["missed_targets"] or "").split(",") if m.strip()]
            listed = [li.split(":")[0] for li in page.locator("#phusong-gaps li").all_inner_texts()]
            assert listed == (missed or ["None"]), (listed, missed)
            assert "5G signal" in page.inner_text(".leaflet-control-layers")
            page.screenshot(path=str(shots / "commune-map.png"))
            assert not problems, problems
        finally:
            browser.close()
    assert province.stat().st_size < 15e6


# Every user string of a study carries one of these. Each would set window.__pwned (or open a dialog)
# if it ran: as HTML, as an attribute, inside a <script>, or inside Folium's JavaScript template literals.
PAYLOADS = ['<img src=x onerror="window.__pwned=1">', "<script>window.__pwned=2</script>",
            "${window.__pwned=3}", "`+(window.__pwned=4)+`", "</script><script>window.__pwned=5</script>",
            "\" onmouseover=\"window.__pwned=6", "<svg onload=alert(7)>"]


def hostile_study(folder: Path) -> Path:
    """The demo study with a payload in every name, id, operator, target text and the title."""
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    from phusong.data.demo import generate
    from phusong.data.targets import DEFAULT_CATALOGUE, load_targets
    from phusong.data.demo import demo_scenario_toml

    paths = generate(folder / "inputs")
    layers = [name for name, _ in pyogrio.list_layers(paths.areas)]
    frames = {name: gpd.read_file(paths.areas, layer=name) for name in layers}
    for name, gdf in frames.items():
        gdf["name"] = [f"{n} {PAYLOADS[i % len(PAYLOADS)]}" for i, n in enumerate(gdf["name"])]
        if name == "industrial_zones":
            gdf["code"] = [f"Z{i}{PAYLOADS[i % len(PAYLOADS)]}" for i in range(len(gdf))]
    paths.areas.unlink()
    for name, gdf in frames.items():
        gdf.to_file(paths.areas, layer=name, engine="pyogrio")
    text = paths.sites.read_text(encoding="utf-8")
    comments = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
    sites = pd.read_csv(paths.sites, comment="#", dtype=str, keep_default_na=False)
    sites["site_id"] = [f"{s}{PAYLOADS[i % len(PAYLOADS)]}" for i, s in enumerate(sites["site_id"])]
    sites["cell_id"] = [f"{c}{PAYLOADS[(i + 1) % len(PAYLOADS)]}" for i, c in enumerate(sites["cell_id"])]
    sites["operator"] = sites["operator"] + " " + PAYLOADS[0]
    paths.sites.write_text(comments + sites.to_csv(index=False), encoding="utf-8")
    catalogue = folder / "targets.toml"
    import dataclasses

    import tomli_w
    targets = [{**dataclasses.asdict(t), "text_vi": f"{t.text_vi} {PAYLOADS[i % len(PAYLOADS)]}",
                "text_en": f"{t.text_en} {PAYLOADS[i % len(PAYLOADS)]}"}
               for i, t in enumerate(load_targets(DEFAULT_CATALOGUE))]
    catalogue.write_text(tomli_w.dumps({"target": targets}), encoding="utf-8")
    scenario = demo_scenario_toml().replace('name = "Demonstration region (synthetic)"',
                                            'name = "Study <script>window.__pwned=8</script>"')
    scenario = scenario.replace(f'targets = "{DEFAULT_CATALOGUE}"', 'targets = "targets.toml"')
    (folder / "scenario.toml").write_text(scenario, encoding="utf-8")
    return folder / "scenario.toml"


def test_no_input_string_runs_in_any_html_output(tmp_path):
    """Payloads in names, ids, operators, targets and the title: every HTML output shows them as text
    (in tooltips and popups too) and runs none of them."""
    from playwright.sync_api import sync_playwright
    import pyogrio

    scenario = hostile_study(tmp_path)
    out = tmp_path / "run"
    result = CliRunner().invoke(cli, ["run", str(scenario), "--out", str(out), "-q"])
    assert result.exit_code == 0, result.output
    communes = pyogrio.read_dataframe(out / "gaps.gpkg", layer="communes")
    code = str(communes["code"].iloc[1])
    one = tmp_path / "commune.html"
    assert CliRunner().invoke(cli, ["map", "--run", str(out), "--gaps", str(out / "gaps.gpkg"), "--out", str(one),
                                    "--commune", code]).exit_code == 0
    pages = [out / "map.html", one, out / "scorecard.html"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            for page_path in pages:
                problems, dialogs = [], []
                if page_path.name == "scorecard.html":
                    page = browser.new_page()
                    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                    page.goto(page_path.as_uri())
                    texts = [page.inner_text("body")]
                else:
                    page = _open(browser, page_path, problems)
                    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
                    # open every popup and tooltip of every feature and marker, and keep what they show
                    texts = page.evaluate(f"""() => {{
                        const map = window[{_map_var(page)!r}], seen = [];
                        const leaves = [];
                        const walk = l => {{ if (l.getLayers) l.getLayers().forEach(walk); else leaves.push(l); }};
                        map.eachLayer(walk);
                        Object.values(window).forEach(v => {{ if (v && v._featureGroup) v.getLayers().forEach(walk); }});
                        for (const l of leaves) {{
                            const ll = l.getLatLng ? l.getLatLng() : (l.getBounds ? l.getBounds().getCenter() : null);
                            if (!ll) continue;
                            l.fire('click', {{latlng: ll}}, true);
                            const pop = document.querySelector('.leaflet-popup-content');
                            if (pop) seen.push(pop.innerText);
                            if (l.getTooltip && l.getTooltip()) {{
                                // as Leaflet shows it: the content set as HTML (a marker still in a cluster has no element)
                                const box = document.createElement('div');
                                const content = l.getTooltip().getContent();
                                box.innerHTML = typeof content === 'function' ? content(l) : content;
                                document.body.appendChild(box);
                                seen.push(box.innerText);
                                box.remove();
                            }}
                            l.fire('mouseover', {{latlng: ll}}, true);
                            document.querySelectorAll('.leaflet-tooltip').forEach(t => seen.push(t.innerText));
                            map.closePopup();
                        }}
                        seen.push(document.getElementById('phusong-legend').innerText);
                        return seen;
                    }}""")
                page.wait_for_timeout(300)
                pwned = page.evaluate("() => window.__pwned || null")
                assert pwned is None and not dialogs, (page_path.name, pwned, dialogs)
                shown = "\n".join(texts)
                expected = [communes["name"].iloc[1]] if page_path == one else PAYLOADS
                for text in expected:  # each shown literally, as the characters of the input
                    assert text in shown, (page_path.name, text)
                assert not [p for p in problems if "page error" in p], problems
        finally:
            browser.close()
