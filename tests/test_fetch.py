"""`phusong data fetch` against a real HTTP server on loopback (started here) serving small synthetic files in
the publishers' exact URL layouts: success, resume after a cut connection, 404, checksum mismatch, timeout,
the cache reused, a folder mirror. Nothing here reaches the internet."""
from __future__ import annotations

import gzip
import json
import threading
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pyogrio
import pytest
import rasterio
from affine import Affine
from click.testing import CliRunner

from phusong.cli import cli
from phusong.fetch import Downloader, FetchError, NotFound
from phusong.fetch import sources
from phusong.fetch.osm import overpass_query, parse_overpass

BBOX = (106.55, 21.62, 106.85, 21.88)


class Server:
    """Files under ``root`` at ``/HOST/PATH``; ``faults[path]`` in ("cut", "404", "slow", "corrupt")."""

    def __init__(self, root: Path):
        self.root, self.faults, self.requests, self.post_answer = root, {}, [], None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                server.requests.append(("POST", self.path, None))
                answer = (server.root / self.path.lstrip("/")).with_suffix(".json")
                if b"admin_level" in body:
                    answer = answer.with_name("boundaries.json")
                data = answer.read_bytes() if answer.exists() else b'{"elements": []}'
                if server.post_answer is not None:
                    data = server.post_answer
                assert body.startswith(b"data=")
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                path = urlsplit(self.path).path
                server.requests.append(("GET", path, self.headers.get("Range")))
                fault = server.faults.get(path)
                file = server.root / path.lstrip("/")
                if fault == "404" or not file.is_file():
                    self.send_error(404)
                    return
                if fault == "slow":
                    time.sleep(1.5)
                data = file.read_bytes()
                if fault == "corrupt":
                    data = data[:-1] + bytes([data[-1] ^ 0xFF])
                start = 0
                rng = self.headers.get("Range") if fault != "norange" else None
                if rng and int(rng.split("=")[1].split("-")[0]) >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if fault == "nolength":          # no Content-Length, and the connection drops half-way (once)
                    server.faults.pop(path)
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(data[:len(data) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                if rng:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(data) - start))
                self.end_headers()
                if fault == "cut":              # the first answer stops half-way; the next ones are whole
                    server.faults.pop(path)
                    self.wfile.write(data[start:start + (len(data) - start) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.wfile.write(data[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def gets(self, fragment=""):
        return [r for r in self.requests if r[0] == "GET" and fragment in r[1]]


def _place(root: Path, url: str) -> Path:
    parts = urlsplit(url)
    path = root / parts.netloc / parts.path.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _raster(path, west, north, size, res, dtype, value_fn, nodata=None):
    yy, xx = np.mgrid[0:size, 0:size]
    with rasterio.open(path, "w", driver="GTiff", width=size, height=size, count=1, dtype=dtype, crs="EPSG:4326",
                       transform=Affine(res, 0, west, 0, -res, north), nodata=nodata) as ds:
        ds.write(value_fn(yy, xx).astype(dtype)[None])
        ds.update_tags(SYNTHETIC="test fixture in the publisher's layout")


@pytest.fixture
def publishers(tmp_path):
    """A loopback server holding synthetic files at the publishers' paths for a box around Lạng Sơn city."""
    root = tmp_path / "www"
    # Copernicus GLO-30: tile N21E106 present; N21E107 missing (falls back to SRTM), others absent (sea)
    _raster(_place(root, sources.copernicus_url(21, 106)), 106.0, 22.0, 120, 1 / 120, "float32",
            lambda y, x: 200.0 + x + y)
    srtm = _place(root, sources.srtm_url(21, 107))
    n = 1201                                            # a 1-degree .hgt at 3": 1201 x 1201 big-endian int16
    srtm.write_bytes(gzip.compress((np.full((n, n), 500, ">i2")).tobytes()))
    # WorldCover tile N21E105 (3 x 3 degrees)
    _raster(_place(root, sources.worldcover_url(21, 105)), 105.0, 24.0, 300, 0.01, "uint8",
            lambda y, x: np.where(x % 2 == 0, 10, 50), nodata=0)
    # WorldPop VNM 1 km: a small raster over the box
    _raster(_place(root, sources.worldpop_url("VNM")), 106.0, 22.5, 150, 1 / 120, "float32",
            lambda y, x: np.full(y.shape, 12.5), nodata=-99999.0)
    overpass = {"elements": [
        {"type": "node", "id": 1, "lat": 21.85, "lon": 106.76, "tags": {"place": "village", "name": "Bản <b>Nà</b>"}},
        {"type": "node", "id": 2, "lat": 21.70, "lon": 106.70, "tags": {"place": "hamlet", "name:vi": "Thôn Hai"}},
        {"type": "way", "id": 10, "tags": {"highway": "trunk", "ref": "QL1A", "name": "Quốc lộ 1A"},
         "geometry": [{"lat": 21.65, "lon": 106.60}, {"lat": 21.80, "lon": 106.80}]},
        {"type": "way", "id": 11, "tags": {"highway": "residential"},
         "geometry": [{"lat": 21.65, "lon": 106.60}, {"lat": 21.66, "lon": 106.61}]},
        {"type": "node", "id": 3, "lat": 21.84, "lon": 106.75, "tags": {"amenity": "hospital", "name": "BV Đa khoa"}},
        {"type": "way", "id": 12, "tags": {"amenity": "school", "name": "THPT"},
         "geometry": [{"lat": 21.80, "lon": 106.70}, {"lat": 21.80, "lon": 106.72}, {"lat": 21.82, "lon": 106.72}]},
        {"type": "node", "id": 4, "lat": 21.83, "lon": 106.77, "tags": {"railway": "station", "name": "Ga Lạng Sơn"}},
    ]}
    answer = _place(root, sources.OVERPASS_URL).with_suffix(".json")
    answer.write_text(json.dumps(overpass, ensure_ascii=False), encoding="utf-8")

    def way(*points):
        return {"type": "way", "geometry": [{"lon": x, "lat": y} for x, y in points]}

    province = {"type": "relation", "id": 100, "tags": {"boundary": "administrative", "admin_level": "4",
                                                         "name": "Tỉnh Lạng Sơn"},
                "members": [dict(way((106.5, 21.6), (106.9, 21.6), (106.9, 21.9)), role="outer"),   # a ring in two ways
                            dict(way((106.9, 21.9), (106.5, 21.9), (106.5, 21.6)), role="outer")]}
    west = {"type": "relation", "id": 101, "tags": {"boundary": "administrative", "admin_level": "8", "name": "Xã Tây",
                                                     "ref": "06001"},
            "members": [dict(way((106.5, 21.6), (106.7, 21.6), (106.7, 21.9), (106.5, 21.9), (106.5, 21.6)),
                             role="outer"),
                        dict(way((106.55, 21.7), (106.6, 21.7), (106.6, 21.75), (106.55, 21.7)), role="inner")]}
    east = {"type": "relation", "id": 102, "tags": {"boundary": "administrative", "admin_level": "8", "name": "Phường Đông"},
            "members": [dict(way((106.7, 21.6), (106.9, 21.6), (106.9, 21.9), (106.7, 21.9), (106.7, 21.6)),
                             role="outer")]}
    neighbour = {"type": "relation", "id": 103, "tags": {"boundary": "administrative", "admin_level": "8",
                                                      "name": "Xã bên Cao Bằng"},    # shares the north border only
                 "members": [dict(way((106.5, 21.9), (106.9, 21.9), (106.9, 22.1), (106.5, 22.1), (106.5, 21.9)),
                                  role="outer")]}
    answer.with_name("boundaries.json").write_text(json.dumps({"elements": [province, west, east, neighbour]},
                                                              ensure_ascii=False), encoding="utf-8")
    server = Server(root)
    yield server
    server.httpd.shutdown()


def _fetch(server, out, cache, *extra):
    return CliRunner().invoke(cli, ["data", "fetch", "--bbox", ",".join(map(str, BBOX)), "--out", str(out),
                                    "--mirror", server.url, "--cache-dir", str(cache), "--pad-km", "5", "-q",
                                    "--timeout-s", "1", *extra])


def test_templates_follow_the_publishers_layouts():
    assert sources.copernicus_url(21, 106) == ("https://copernicus-dem-30m.s3.amazonaws.com/Copernicus_DSM_COG_10_N21_00_"
                                               "E106_00_DEM/Copernicus_DSM_COG_10_N21_00_E106_00_DEM.tif")
    assert sources.copernicus_url(-1, -72, 90).endswith("Copernicus_DSM_COG_30_S01_00_W072_00_DEM.tif")
    assert sources.worldcover_url(21, 105).endswith("/v200/2021/map/ESA_WorldCover_10m_2021_v200_N21E105_Map.tif")
    assert sources.srtm_url(21, 107) == "https://elevation-tiles-prod.s3.amazonaws.com/skadi/N21/N21E107.hgt.gz"
    assert sources.worldpop_url("vnm", "100m").endswith("/2020/VNM/vnm_ppp_2020_UNadj.tif")
    assert sources.degree_cells((106.2, 21.3, 107.4, 22.6)) == [(21, 106), (21, 107), (22, 106), (22, 107)]
    assert sources.degree_cells((106.2, 21.3, 107.4, 22.6), 3) == [(21, 105)]
    assert '["place"~"^(village|hamlet|isolated_dwelling)$"](21.620000,106.550000,21.880000,106.850000)' in \
        overpass_query(BBOX)


def test_fetch_writes_every_input_a_manifest_and_a_runnable_scenario(publishers, tmp_path):
    out = tmp_path / "inputs"
    result = _fetch(publishers, out, tmp_path / "cache")
    assert result.exit_code == 0, result.output
    assert f"next: add the site list to {out / 'scenario.toml'}" in result.output   # (the DEM is in it)
    assert {"dem.tif", "landcover.tif", "population.tif", "osm.gpkg", "area.gpkg", "manifest.json", "scenario.toml",
            "CREDITS.txt"} <= {p.name for p in out.iterdir()}
    with rasterio.open(out / "dem.tif") as ds:
        west, south, east, north = ds.bounds
        assert west < BBOX[0] and east > BBOX[2] and south < BBOX[1] and north > BBOX[3]   # padded by 5 km
        heights = ds.read(1)
        row, col = ds.index(106.6, 21.8)
        assert heights[row, col] == pytest.approx(200.0 + (106.6 - 106.0) * 120 + (22.0 - 21.8) * 120, abs=2)
        assert np.isclose(heights[ds.index(106.84, 21.7)], 200 + 0.84 * 120 + 0.3 * 120, atol=2)
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    files = {f["file"]: f for f in manifest["files"]}
    assert files["dem.tif"]["sources"] == ["Copernicus DEM GLO-30"]
    assert files["landcover.tif"]["licences"] == ["CC BY 4.0"] and files["osm.gpkg"]["licences"] == ["ODbL 1.0"]
    assert all(d["sha256"] and len(d["sha256"]) == 64 for f in manifest["files"] for d in f["downloads"])
    layers = dict(pyogrio.list_layers(out / "osm.gpkg"))
    assert set(layers) == {"villages", "roads", "health", "education", "transport"}
    roads = pyogrio.read_dataframe(out / "osm.gpkg", layer="roads")
    assert roads["ref"].tolist() == ["QL1A"]                  # the residential way is not a main road
    villages = pyogrio.read_dataframe(out / "osm.gpkg", layer="villages")
    assert villages["name"].tolist() == ["Bản <b>Nà</b>", "Thôn Hai"]
    school = pyogrio.read_dataframe(out / "osm.gpkg", layer="education").geometry.iloc[0]
    assert school.x == pytest.approx((106.70 + 106.72 + 106.72) / 3) and school.y == pytest.approx((21.80 * 2 + 21.82) / 3)
    assert "© OpenStreetMap contributors" in (out / "CREDITS.txt").read_text(encoding="utf-8")
    text = (out / "scenario.toml").read_text(encoding="utf-8")
    scenario = tomllib.loads(text)
    assert scenario["inputs"]["terrain"] == ["dem.tif"] and scenario["inputs"]["priority"]["roads"] == "osm.gpkg:roads"
    # the scenario is complete but for the site list
    from phusong.settings import Settings
    (out / "scenario.toml").write_text(text.replace('# sites = "sites.csv"', 'sites = "sites.csv"'), encoding="utf-8")
    s = Settings.from_toml(out / "scenario.toml")
    assert s.inputs.sites == out / "sites.csv" and s.inputs.villages.id_field == "osm_id"
    assert set(s.inputs.priority) == {"roads", "health", "education", "transport"}


def test_fetch_falls_back_to_srtm_and_reuses_the_cache(publishers, tmp_path):
    wide = ["--bbox", "106.9,21.62,107.2,21.88"]    # the box over N21E107: no Copernicus tile there
    result = CliRunner().invoke(cli, ["data", "fetch", *wide, "--out", str(tmp_path / "a"), "--mirror", publishers.url,
                                      "--cache-dir", str(tmp_path / "cache"), "--pad-km", "1", "--what", "dem", "-q"])
    assert result.exit_code == 0, result.output
    assert "no Copernicus GLO30 tile; SRTM used" in result.output
    with rasterio.open(tmp_path / "a" / "dem.tif") as ds:
        assert ds.read(1)[ds.index(107.1, 21.7)] == 500
    before = len(publishers.gets())
    again = CliRunner().invoke(cli, ["data", "fetch", *wide, "--out", str(tmp_path / "b"), "--mirror", publishers.url,
                                     "--cache-dir", str(tmp_path / "cache"), "--pad-km", "1", "--what", "dem", "-q"])
    assert again.exit_code == 0 and "from the cache" in again.output
    assert len(publishers.gets("skadi")) == 1 and len(publishers.gets()) - before == 1   # only the 404 asked again


def test_a_cut_connection_resumes_where_it_stopped(publishers, tmp_path):
    url = sources.worldpop_url("VNM")
    path = "/" + urlsplit(url).netloc + urlsplit(url).path
    publishers.faults[path] = "cut"
    d = Downloader(tmp_path / "cache", mirror=publishers.url, backoff_s=0.01)
    got = d.fetch(url)
    original = (publishers.root / path.lstrip("/")).read_bytes()
    assert got.read_bytes() == original
    asked = publishers.gets(path)
    assert len(asked) == 2 and asked[0][2] is None and asked[1][2] == f"bytes={len(original) // 2}-"
    assert not list((tmp_path / "cache").rglob("*.part"))


def test_404_checksum_and_timeout_are_clear_and_leave_nothing(publishers, tmp_path):
    d = Downloader(tmp_path / "cache", mirror=publishers.url, retries=1, timeout_s=0.5, backoff_s=0.01)
    missing = sources.copernicus_url(10, 10)
    with pytest.raises(NotFound, match=r"Copernicus_DSM_COG_10_N10_00_E010_00_DEM.tif: not found \(HTTP 404"):
        d.fetch(missing)
    url = sources.worldcover_url(21, 105)
    with pytest.raises(FetchError, match="checksum mismatch"):
        d.fetch(url, sha256="0" * 64)
    assert not d.cache_path(url).exists() and not list((tmp_path / "cache").rglob("*.part"))
    slow = sources.worldpop_url("VNM")
    publishers.faults["/" + urlsplit(slow).netloc + urlsplit(slow).path] = "slow"
    with pytest.raises(FetchError, match=r"timed out after 2 attempt\(s\)"):
        d.fetch(slow)
    assert not d.cache_path(slow).exists()
    # through the CLI: exit 1, one line, no output folder
    publishers.faults["/" + urlsplit(slow).netloc + urlsplit(slow).path] = "404"
    result = _fetch(publishers, tmp_path / "out", tmp_path / "cache2", "--what", "population")
    assert result.exit_code == 1 and "vnm_ppp_2020_1km_Aggregated_UNadj.tif: not found (HTTP 404" in result.output
    assert not (tmp_path / "out").exists()


def test_a_folder_mirror_and_bad_arguments(publishers, tmp_path):
    result = CliRunner().invoke(cli, ["data", "fetch", "--bbox", ",".join(map(str, BBOX)), "--out", str(tmp_path / "o"),
                                      "--mirror", str(publishers.root), "--cache-dir", str(tmp_path / "c"),
                                      "--what", "landcover,population", "-q"])
    assert result.exit_code == 0, result.output
    with rasterio.open(tmp_path / "o" / "landcover.tif") as ds:
        assert set(np.unique(ds.read(1))) == {10, 50}
    # no DEM fetched: the next step asks for the terrain as well as the site list
    assert "next: add the terrain ([inputs] terrain" in result.output and "and the site list" in result.output
    box = ["--bbox", "106,21,107,22"]
    for args, message in ((["--bbox", "107,21,106,22"], "west < east"), (["--bbox", "a,b"], "W,S,E,N"),
                          ([], "--area FILE_OR_NAME or as --bbox"), ([*box, "--what", "dem,roads"], "--what takes"),
                          ([*box, "--what", ","], "got nothing"), ([*box, "--country", "../x"], "alpha-3"),
                          ([*box, "--mirror", str(tmp_path / "nowhere")], "no such folder")):
        bad = CliRunner().invoke(cli, ["data", "fetch", "--out", str(tmp_path / "x"), "--mirror", str(publishers.root),
                                       "--cache-dir", str(tmp_path / "c"), "-q", *args])
        assert bad.exit_code == 2 and message in bad.output, (args, bad.output)
    assert parse_overpass('{"elements": []}')["roads"].empty


def test_an_area_named_in_openstreetmap_brings_its_communes(publishers, tmp_path):
    out = tmp_path / "ls"
    result = CliRunner().invoke(cli, ["data", "fetch", "--area", "Lạng Sơn", "--out", str(out), "--mirror", publishers.url,
                                      "--cache-dir", str(tmp_path / "cache"), "--what", "osm", "-q"])
    assert result.exit_code == 0, result.output
    assert "2 communes at admin_level 8 from OpenStreetMap" in result.output and "1 July 2025" in result.output
    communes = pyogrio.read_dataframe(out / "boundaries.gpkg", layer="communes").set_index("name")
    assert communes.loc["Xã Tây", "code"] == "06001" and communes.loc["Phường Đông", "code"] == "osm-102"
    assert communes.loc["Xã Tây"].geometry.area == pytest.approx(0.2 * 0.3 - 0.05 * 0.05 / 2)   # less the hole
    area = pyogrio.read_dataframe(out / "boundaries.gpkg", layer="area")
    assert area.geometry.iloc[0].area == pytest.approx(0.4 * 0.3)                                # one ring of two ways
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["bbox"] == pytest.approx([106.5, 21.6, 106.9, 21.9])
    from phusong.data.boundaries import read_communes
    scenario = tomllib.loads((out / "scenario.toml").read_text(encoding="utf-8"))
    assert scenario["inputs"]["communes"] == {"path": "boundaries.gpkg", "layer": "communes"}
    assert scenario["study"]["name"] == "Lạng Sơn"
    assert len(read_communes(out / "boundaries.gpkg", "EPSG:32648", layer="communes")) == 2
    missing = CliRunner().invoke(cli, ["data", "fetch", "--area", "communes.gpkg", "--out", str(tmp_path / "m"),
                                       "--mirror", publishers.url, "--cache-dir", str(tmp_path / "cache"), "-q"])
    assert missing.exit_code == 2 and "communes.gpkg: no such file" in missing.output


def test_the_fetched_scenario_runs_with_a_site_list_and_credits_its_data(publishers, tmp_path):
    out = tmp_path / "inputs"
    assert _fetch(publishers, out, tmp_path / "cache").exit_code == 0
    (out / "sites.csv").write_text(
        "# GENERATED: two test sites\nsite_id,cell_id,lon,lat,technology,frequency_mhz,antenna_height_m,tx_power_dbm\n"
        "A,A-5G,106.75,21.84,5G,3500,30,49\nB,B-4G,106.65,21.70,4G,1800,30,46\n", encoding="utf-8")
    text = (out / "scenario.toml").read_text(encoding="utf-8")
    text = text.replace('# sites = "sites.csv"', 'sites = "sites.csv"').replace("[study]\n", "[study]\nresolution_m = 250\n")
    (out / "scenario.toml").write_text(text + "\n[model]\nradius_km = 6\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["run", str(out / "scenario.toml"), "--out", str(tmp_path / "run"), "-q",
                                      "--lang", "en"])
    assert result.exit_code == 0, result.output
    run = tmp_path / "run"
    record = json.loads((run / "run.json").read_text(encoding="utf-8"))
    assert any("Copernicus DEM GLO-30" in c for c in record["simulation"]["data_credits"])
    page = (run / "scorecard.html").read_text(encoding="utf-8")
    assert "© OpenStreetMap contributors" in page and "Copernicus DEM GLO-30" in page and "WorldPop" in page
    assert "Priority places" in page and "phusong-credits" in (run / "map.html").read_text(encoding="utf-8")
    layers = {name for name, _ in pyogrio.list_layers(run / "gaps.gpkg")}
    assert {"priority_roads", "priority_health", "villages", "credits"} <= layers


def test_truncated_or_foreign_parts_never_enter_the_cache(publishers, tmp_path):
    url = sources.worldcover_url(21, 105)
    path = "/" + urlsplit(url).netloc + urlsplit(url).path
    original = (publishers.root / path.lstrip("/")).read_bytes()
    d = Downloader(tmp_path / "cache", mirror=publishers.url, retries=0, backoff_s=0.01)
    # a cut with no Content-Length looks complete: the raster check catches it and nothing is kept
    publishers.faults[path] = "nolength"
    from phusong.fetch.inputs import _valid_raster
    with pytest.raises(FetchError, match="not a valid file"):
        d.fetch(url, validate=_valid_raster)
    assert not d.cache_path(url).exists() and not list((tmp_path / "cache").rglob("*.part"))
    assert d.fetch(url, validate=_valid_raster).read_bytes() == original
    # a part longer than the file (another version) meets 416: thrown away, fetched again whole
    d2 = Downloader(tmp_path / "cache2", mirror=publishers.url, retries=1, backoff_s=0.01)
    part = d2.cache_path(url).with_name(d2.cache_path(url).name + ".part")
    part.parent.mkdir(parents=True)
    part.write_bytes(b"x" * (len(original) + 10))
    assert d2.fetch(url).read_bytes() == original
    # a server that ignores Range and answers 200: the part restarts from byte 0, not appended to
    d3 = Downloader(tmp_path / "cache3", mirror=publishers.url, backoff_s=0.01)
    part3 = d3.cache_path(url).with_name(d3.cache_path(url).name + ".part")
    part3.parent.mkdir(parents=True)
    part3.write_bytes(original[:1000])
    publishers.faults[path] = "norange"
    assert d3.fetch(url).read_bytes() == original


def test_a_failed_overpass_answer_is_not_cached(publishers, tmp_path):
    publishers.post_answer = b'{"elements": [], "remark": "runtime error: Query timed out in \\"query\\" at line 3"}'
    result = _fetch(publishers, tmp_path / "o", tmp_path / "cache", "--what", "osm")
    assert result.exit_code == 1 and "Overpass: runtime error: Query timed out" in result.output
    assert not list((tmp_path / "cache").rglob("*.json"))
    publishers.post_answer = b"<html>busy</html>"
    assert _fetch(publishers, tmp_path / "o", tmp_path / "cache", "--what", "osm").exit_code == 1
    publishers.post_answer = None
    assert _fetch(publishers, tmp_path / "o", tmp_path / "cache", "--what", "osm").exit_code == 0


def test_rasters_are_clipped_to_the_padded_area(publishers, tmp_path):
    from phusong.fetch.inputs import padded

    assert _fetch(publishers, tmp_path / "o", tmp_path / "cache", "--what", "dem,population").exit_code == 0
    w, s, e, n = padded(BBOX, 5.0)
    for name, res in (("dem.tif", 1 / 120), ("population.tif", 1 / 120)):
        with rasterio.open(tmp_path / "o" / name) as ds:
            b = ds.bounds
            assert b.left <= w and b.bottom <= s and b.right >= e and b.top >= n
            assert b.left > w - 2 * res and b.bottom > s - 2 * res and b.right < e + 2 * res and b.top < n + 2 * res
