"""The HTML maps in a real browser: headless Debian Chromium driven by Playwright, with the network
blocked entirely.

The maps inline their libraries (from the npm packages `make test` installs into build/web-assets)
and need no network: any request that tries to leave the machine fails the test. The screenshots
(build/screenshots) are checked for what a reader sees: the signal's colours through the commune layer.
"""
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from phusong.cli import cli

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                "--disable-component-update", "--disable-sync"]
# What the legend promises (README, "Maps"): 5G area covered per commune as the outline's colour
COMMUNE_CLASSES = [(25, "#b2182b"), (50, "#ef8a62"), (75, "#67a9cf"), (100, "#2166ac")]
BACKGROUND = (0xF4, 0xF1, 0xEA)

playwright = pytest.importorskip("playwright.sync_api", reason="playwright not installed (dev extra)")


def _assets_missing():
    from phusong.outputs._webassets import find_assets
    return find_assets() is None


pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not found (`make test` installs it as root)"),
    pytest.mark.skipif(_assets_missing(), reason="the maps' npm packages are missing (`make web-assets`)"),
]


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


def _open(browser, path, problems, settle=True):
    """``path`` in a new page with every network request refused (and recorded in ``problems``)."""
    page = browser.new_page(viewport={"width": 1200, "height": 850})

    def route(r):
        if r.request.url.startswith(("http://", "https://", "ws://", "wss://")):
            problems.append(f"request left the machine: {r.request.url}")
            return r.abort()
        return r.continue_()

    page.route("**/*", route)
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed request {r.url}"))
    page.goto(path.as_uri())
    if settle:
        page.wait_for_selector(".leaflet-control-layers", timeout=30000)
        page.wait_for_function("() => document.querySelector('.leaflet-overlay-pane canvas, .leaflet-overlay-pane svg')")
        page.wait_for_function("() => [...document.querySelectorAll('img.leaflet-image-layer')]"
                               ".every(i => i.complete && i.naturalWidth > 0)")
    return page


def _click_until_popup(page, var, lat, lon, attempts=3):
    """Click the map at (lat, lon) once it has stopped moving, until a popup opens.

    Under load the first click can land while the initial fit-to-bounds is still
    animating; each attempt waits for the map to settle and recomputes the pixel."""
    where = ""
    for _ in range(attempts):
        _settle(page, var)
        point = _pixel(page, var, lat, lon)
        page.mouse.click(point["x"], point["y"])
        try:
            page.wait_for_selector(".leaflet-popup-content", timeout=4000)
            return
        except Exception:  # playwright's TimeoutError: say what the click hit
            where = page.evaluate(f"() => document.elementFromPoint({point['x']}, {point['y']})?.outerHTML?.slice(0, 200)")
    raise AssertionError(f"no popup after {attempts} clicks at ({lat:.5f}, {lon:.5f}); the last hit: {where}")


def _settle(page, var):
    page.wait_for_function(f"() => !{var}._animatingZoom && !({var}._panAnim && {var}._panAnim._inProgress)")
    page.wait_for_timeout(300)


def _pixel(page, var, lat, lon):
    return page.evaluate(f"""() => {{
        const pt = {var}.latLngToContainerPoint([{lat}, {lon}]);
        const box = document.getElementById('{var}').getBoundingClientRect();
        return {{x: pt.x + box.left, y: pt.y + box.top}};
    }}""")


def _map_var(page):
    return page.evaluate("() => Object.keys(window).find(k => k.startsWith('map_'))")


def _toggle(page, label):
    page.locator(".leaflet-control-layers label", has_text=label).locator("input").click()


def _rgb(hex_colour):
    return np.array([int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)], float)


def _uniform_signal_spot(run, commune, avoid, margin_m=60.0):
    """(class, lon/lat point): a point well inside ``commune`` whose surroundings (a square of ±margin_m)
    all fall in one signal class of the 5G overlay (the legend's 10 dB steps up from the coverage level),
    away from every point or site in ``avoid``; the class with the most such points."""
    import geopandas as gpd
    import rasterio
    from scipy.ndimage import minimum_filter

    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    level = min(record["coverage_levels_dbm"].values())
    with rasterio.open(run / "rsrp_5g.tif") as rsrp, rasterio.open(run / "covered_5g.tif") as cov:
        signal, covered = rsrp.read(1), cov.read(1) == 1
        transform, res = rsrp.transform, rsrp.res[0]
    classes = np.digitize(signal, [level + 10, level + 20, level + 30])
    k = 2 * int(np.ceil(margin_m / res)) + 1
    best = None
    for c in range(4):
        # 1 dB inside the class's edges, so that resampling on screen cannot cross into the next class
        strict = covered & (classes == c) & (np.digitize(signal - 1, [level + 10, level + 20, level + 30]) == c) & \
            (np.digitize(signal + 1, [level + 10, level + 20, level + 30]) == c)
        rows, cols = np.nonzero(minimum_filter(strict.astype(np.uint8), size=k, mode="constant") == 1)
        xs, ys = transform @ (cols + 0.5, rows + 0.5)
        spots = gpd.GeoSeries(gpd.points_from_xy(xs, ys), crs=commune.crs)
        spots = spots[spots.within(commune.geometry.iloc[0].buffer(-2 * margin_m)) &
                      (spots.distance(avoid.union_all()) > 2 * margin_m)]
        if best is None or len(spots) > len(best[1]):
            best = (c, spots)
    assert best is not None and len(best[1]), "no spot of uniform 5G signal to look at"
    return best[0], best[1].to_crs("EPSG:4326").iloc[len(best[1]) // 2]


def test_province_and_commune_maps_in_chromium_offline(maps):
    from PIL import Image
    from playwright.sync_api import sync_playwright
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    province, commune_map, code = maps
    run = province.parent
    html = province.read_text(encoding="utf-8")
    assert "<script src=" not in html and 'rel="stylesheet" href="http' not in html  # libraries inlined
    assert province.stat().st_size < 5e6 and commune_map.stat().st_size < 1e6
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    shots = ROOT / "build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            problems = []
            page = _open(browser, province, problems)
            control = page.inner_text(".leaflet-control-layers")
            for label in ("Tín hiệu 4G", "Tín hiệu 5G", "Xã, phường", "Trung tâm xã", "Thôn, bản",
                          "Khu, cụm công nghiệp", "Trạm BTS", "Địa hình", "OpenStreetMap"):
                assert label in control, (label, control)
            # shown: the relief and the 5G signal, as images carried in the page
            assert page.locator("img.leaflet-image-layer").count() == 2
            assert page.locator(".leaflet-tile").count() == 0   # no basemap tile is even asked for
            assert page.locator(".leaflet-control-scale").count() == 1
            assert page.locator("[class*=fullscreen]").count() >= 1
            legend = page.inner_text("#phusong-legend")
            assert "MINH HỌA" in legend
            for tech, level in record["coverage_levels_dbm"].items():   # the coverage level, on the legend
                assert f"{tech} {level:.0f} dBm" in page.inner_text("#phusong-level"), (tech, level)
            assert legend.count("%") >= 5                                 # the commune colour classes
            # click inside the largest commune: its popup opens with its name, and its outline has its class colour
            communes = pyogrio.read_dataframe(run / "gaps.gpkg", layer="communes")
            biggest = communes.loc[communes.geometry.area.idxmax()]
            inside = gpd.GeoSeries([biggest.geometry.point_on_surface()], crs=communes.crs).to_crs("EPSG:4326").iloc[0]
            var = _map_var(page)
            _click_until_popup(page, var, inside.y, inside.x)
            popup = page.inner_text(".leaflet-popup-content")
            assert biggest["name"] in popup and str(biggest["code"]) in popup  # that commune, by its unique code
            pct = biggest["covered_area_pct_5g"]
            assert re.search(rf"Diện tích phủ 5G \(%\)\s+{re.escape(f'{pct:g}')}(\s|$)", popup), (pct, popup)
            outline = page.evaluate(f"""() => {{
                let colour = null;
                {var}.eachLayer(l => {{ if (l.feature && String(l.feature.properties.code) === {str(biggest['code'])!r})
                                          colour = l.options.color; }});
                return colour; }}""")
            expected = "#053061" if pct >= 100 else next(c for upper, c in COMMUNE_CLASSES if pct < upper)
            assert outline == expected, (pct, outline)
            page.wait_for_timeout(600)  # let the popup finish fading in
            page.screenshot(path=str(shots / "province-map.png"))
            assert page.locator(".phusong-load-error").count() == 0
            assert not problems, problems

            problems = []
            page = _open(browser, commune_map, problems)
            legend = page.inner_text("#phusong-legend")
            mine = communes[communes["code"].astype(str) == str(code)]
            assert f"Targets missed by {mine['name'].iloc[0]}" in legend
            missed = [m.strip() for m in str(mine["missed_targets"].iloc[0] or "").split(",") if m.strip()]
            listed = [li.split(":")[0] for li in page.locator("#phusong-gaps li").all_inner_texts()]
            assert listed == (missed or ["None"]), (listed, missed)
            assert "5G signal" in page.inner_text(".leaflet-control-layers")
            # what a reader sees at a spot of uniform 5G signal, with the relief switched off: the signal's
            # colour over the page background, through the commune layer's faint fill, and no other class's
            var = _map_var(page)
            _toggle(page, "Terrain")
            layers = [pyogrio.read_dataframe(run / "gaps.gpkg", layer=n) for n in ("villages", "commune_centres", "sites")]
            avoid = gpd.GeoDataFrame(geometry=pd.concat([g.geometry for g in layers]), crs=communes.crs)
            cls, spot = _uniform_signal_spot(run, mine, avoid)
            _settle(page, var)
            page.screenshot(path=str(shots / "commune-map.png"))
            point = _pixel(page, var, spot.y, spot.x)
            image = np.asarray(Image.open(shots / "commune-map.png").convert("RGB"), float)
            seen = image[int(point["y"]) - 2:int(point["y"]) + 3, int(point["x"]) - 2:int(point["x"]) + 3].mean((0, 1))
            alpha, fill = 170 / 255, 0.04
            outline = _rgb(page.evaluate(f"""() => {{ let c = null; {var}.eachLayer(l => {{
                if (l.feature && String(l.feature.properties.code) === {str(code)!r}) c = l.options.color; }});
                return c; }}"""))
            colours = ("#fde725", "#5ec962", "#21918c", "#3b528b")   # the legend's viridis classes, weak to strong
            composite = {c: (alpha * _rgb(c) + (1 - alpha) * np.array(BACKGROUND)) * (1 - fill) + fill * outline
                         for c in colours}
            nearest = min(composite, key=lambda c: np.abs(composite[c] - seen).sum())
            assert nearest == colours[cls] and np.abs(composite[nearest] - seen).max() < 12, (cls, seen, composite)
            assert page.locator(".phusong-load-error").count() == 0
            assert not problems, problems
        finally:
            browser.close()


def test_a_map_without_its_libraries_says_so_on_the_page(tmp_path, monkeypatch):
    """Without the offline libraries the map links the CDNs; offline, the page shows a message instead of
    a blank page."""
    from playwright.sync_api import sync_playwright

    import phusong
    from phusong.outputs import _webassets

    monkeypatch.setattr(_webassets, "asset_folders", lambda: [tmp_path / "nowhere"])
    path = tmp_path / "map.html"
    phusong.coverage_map(phusong.Coverage.example(), phusong.GapResult.example(), lang="en").save(str(path))
    assert 'src="https://cdn.jsdelivr.net/npm/leaflet@' in path.read_text(encoding="utf-8")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
        try:
            problems = []
            page = _open(browser, path, problems, settle=False)
            page.wait_for_selector(".phusong-load-error", timeout=15000)
            message = page.inner_text(".phusong-load-error")
            assert "could not load its display libraries" in message and "make web-assets" in message
            assert any("leaflet" in p for p in problems)   # it tried the CDN, and was refused
        finally:
            browser.close()


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
                                            'name = "Study </title><script>window.__pwned=8</script>"')
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
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=BROWSER_ARGS)
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
