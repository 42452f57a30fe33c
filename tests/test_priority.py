"""`gaps --priority`: the plan's priority places (points, lines, polygons) against coverage, counted by hand —
road length on real Lạng Sơn communes cut exactly at the covered cells' edge."""
from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import shapely
from affine import Affine
from click.testing import CliRunner
from rasterio.crs import CRS

import phusong
from phusong._raster import Grid
from phusong.cli import cli
from phusong.coverage.layers import LayerResult
from phusong.coverage.network import ANY, Coverage
from phusong.data.boundaries import read_communes
from phusong.errors import InputError
from phusong.settings import Settings, parse_layer_spec, parse_priority

from .conftest import shared_path

RES = 100.0


def _half_covered(communes):
    """5G covers the cells west of a cell edge ``mid``; 4G covers everything."""
    x0, y0, x1, y1 = (float(v) for v in communes.total_bounds)
    left, top = np.floor(x0 / RES) * RES - RES, np.ceil(y1 / RES) * RES + RES
    width, height = int((x1 - left) / RES) + 2, int((top - y0) / RES) + 2
    grid = Grid(height, width, Affine(RES, 0, left, 0, -RES, top), CRS.from_epsg(32648))
    half = np.zeros((height, width), np.uint8)
    half[:, : width // 2] = 1
    rsrp = np.full((height, width), -80, np.float32)
    layers = [LayerResult("5G", ANY, rsrp, None, None, None, half),
              LayerResult("4G", ANY, rsrp, None, None, None, np.ones_like(half))]
    return Coverage(grid, layers, pd.DataFrame(), Settings()), left + (width // 2) * RES


def test_priority_places_on_real_communes_by_hand():
    communes = read_communes(shared_path("data", "langson", "communes_2025.gpkg"), "EPSG:32648", layer="communes")
    coverage, mid = _half_covered(communes)
    cx, cy = communes.union_all().centroid.coords[0]
    # two roads: one east-west through the province's centre and on for 150 km beyond it (only the part inside
    # the communes counts), one diagonal
    east_west = shapely.LineString([(cx - 20_000, cy), (cx + 150_000, cy)])
    diagonal = shapely.LineString([(cx - 5_000, cy - 8_000), (cx + 9_000, cy + 6_000)])
    roads = gpd.GeoDataFrame({"name": ["QL1A", "ĐT 229"]}, geometry=[east_west, diagonal], crs="EPSG:32648")
    west = shapely.box(-1e9, -1e9, mid, 1e9)
    hospitals = gpd.GeoDataFrame({"name": ["BV A", "BV B", "TYT C"]},
                                 geometry=[shapely.Point(mid - 150, cy), shapely.Point(mid + 50, cy + 10),
                                           shapely.Point(mid - 1, cy - 500)], crs="EPSG:32648")
    # a park half each side of mid (cells aligned), and a plaza smaller than a cell east of mid
    parks = gpd.GeoDataFrame({"name": ["half", "tiny"]},
                             geometry=[shapely.box(mid - 500, cy, mid + 500, cy + 400),
                                       shapely.box(mid + 320, cy + 20, mid + 340, cy + 40)], crs="EPSG:32648")
    gaps = phusong.analyse(coverage, communes, priority={"roads": roads, "health": hospitals, "parks": parks},
                           polygons=False)
    r = gaps.priority["roads"].set_index("name")
    study = communes.union_all()
    assert r.loc["QL1A", "length_m"] < east_west.length - 50_000
    for name, line in zip(roads["name"], roads.geometry):
        line = line.intersection(study)
        assert r.loc[name, "length_m"] == pytest.approx(line.length)
        assert r.loc[name, "covered_m_5g"] == pytest.approx(line.intersection(west).length, abs=1e-6)
        assert r.loc[name, "covered_m_mbb"] == pytest.approx(line.intersection(shapely.box(*coverage.grid.bounds)).length,
                                                             abs=1e-6)
    by = gaps.priority_by_commune.set_index("commune_code")
    for code, poly in zip(communes["code"], communes.geometry):
        inside = [line.intersection(poly) for line in roads.geometry]
        length = sum(p.length for p in inside)
        if length == 0:
            assert code not in by.index
            continue
        assert by.loc[code, "length_m"] == pytest.approx(length, abs=1e-6)
        assert by.loc[code, "covered_m_5g"] == pytest.approx(sum(p.intersection(west).length for p in inside), abs=1e-6)
    assert len(by) >= 3       # the roads cross several communes
    for name, line in zip(roads["name"], roads.geometry):   # a road's commune: where its longest piece lies
        longest = max(zip(communes["code"], communes.geometry), key=lambda cg: line.intersection(cg[1]).length)[0]
        assert r.loc[name, "commune_code"] == longest
    h = gaps.priority["health"].set_index("name")
    assert h["covered_5g"].to_dict() == {"BV A": True, "BV B": False, "TYT C": True} and h["covered_mbb"].all()
    p = gaps.priority["parks"].set_index("name")
    assert p.loc["half", "covered_area_pct_5g"] == 50.0 and p.loc["tiny", "covered_area_pct_5g"] == 0.0
    s = gaps.priority_summary.set_index(["layer", "service"])
    assert s.loc[("health", "5G"), "covered_pct"] == pytest.approx(200 / 3, abs=0.01)
    inside_km = sum(line.intersection(study).length for line in (east_west, diagonal)) / 1000
    assert s.loc[("roads", "5G"), "total"] == pytest.approx(round(inside_km, 3))
    assert s.loc[("roads", "MBB"), "unit"] == "km" and s.loc[("parks", "5G"), "unit"] == "km²"


def test_layer_specs_and_names():
    assert parse_priority("health=osm.gpkg:health") == ("health", {"path": "osm.gpkg", "layer": "health"})
    assert parse_priority("roads = /data/roads.shp") == ("roads", {"path": "/data/roads.shp"})
    assert parse_layer_spec("C:/x/y.gpkg:z") == {"path": "C:/x/y.gpkg", "layer": "z"}
    for bad in ("health", "=x.gpkg", "x="):
        with pytest.raises(InputError, match="NAME=FILE"):
            parse_priority(bad)
    s = Settings.from_dict({"inputs": {"priority": {"health": "osm.gpkg:health",
                                                    "roads": {"path": "r.gpkg", "layer": "main"}}}}, base="/data")
    assert s.inputs.priority["health"].path.as_posix() == "/data/osm.gpkg"
    assert s.inputs.priority["roads"].layer == "main"


def _example_run(tmp_path):
    cov = phusong.Coverage.example()
    cov.to_run_folder(tmp_path / "run")
    x0, y0, x1, y1 = cov.grid.bounds
    xm = (x0 + x1) / 2
    communes = gpd.GeoDataFrame({"code": ["00001", "00002"], "name": ["Xã Một", "Xã Hai"]},
                                geometry=[shapely.box(x0, y0, xm, y1), shapely.box(xm, y0, x1, y1)], crs=cov.grid.crs)
    pyogrio.write_dataframe(communes, tmp_path / "communes.gpkg")
    return cov, (x0, y0, x1, y1)


def test_gaps_priority_through_the_cli_into_gpkg_scorecard_and_map(tmp_path):
    cov, (x0, y0, x1, y1) = _example_run(tmp_path)
    xm, ym = (x0 + x1) / 2, (y0 + y1) / 2
    hostile = "<img src=x onerror=alert(1)>"
    points = gpd.GeoDataFrame({"name": ["Trạm y tế", hostile]},   # the corner lies beyond the example's 2.5 km
                              geometry=[shapely.Point(xm, ym), shapely.Point(x0 + 10, y0 + 10)], crs=cov.grid.crs)
    pyogrio.write_dataframe(points.to_crs("EPSG:4326"), tmp_path / "osm.gpkg", layer="health")
    roads = gpd.GeoDataFrame({"name": ["QL4B"]}, geometry=[shapely.LineString([(x0 + 50, ym), (x1 - 50, ym)])],
                             crs=cov.grid.crs)
    pyogrio.write_dataframe(roads, tmp_path / "osm.gpkg", layer="roads", append=True)
    out = tmp_path / "gaps.gpkg"
    result = CliRunner().invoke(cli, ["gaps", "--run", str(tmp_path / "run"), "--communes", str(tmp_path / "communes.gpkg"),
                                      "--priority", f"health={tmp_path / 'osm.gpkg'}:health",
                                      "--priority", f"roads={tmp_path / 'osm.gpkg'}:roads",
                                      "--out", str(out), "--report", str(tmp_path / "report"), "--lang", "en", "-q"])
    assert result.exit_code == 0, result.output
    assert "priority health (2 points): 5G" in result.output and "priority roads (1 lines): 5G" in result.output
    layers = {name for name, _ in pyogrio.list_layers(out)}
    assert {"priority_health", "priority_roads", "priority_summary", "priority_by_commune"} <= layers
    styles = pyogrio.read_dataframe(out, layer="layer_styles").set_index("f_table_name")["styleQML"]
    assert 'type="line"' in styles["priority_roads"] and 'type="marker"' in styles["priority_health"]
    back = phusong.GapResult.from_geopackage(out)
    assert set(back.priority) == {"health", "roads"} and len(back.priority_summary) == 4
    assert back.priority["health"]["covered_5g"].dtype == bool
    html = (tmp_path / "report" / "scorecard.html").read_text(encoding="utf-8")
    assert "Priority places" in html and hostile not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    md = (tmp_path / "report" / "scorecard.md").read_text(encoding="utf-8")
    assert "## Priority places" in md and hostile not in md and "without 5G (1)" in md
    data = json.loads((tmp_path / "report" / "scorecard.json").read_text(encoding="utf-8"))
    assert {r["layer"] for r in data["priority"]} == {"health", "roads"}
    from phusong.outputs.maps import build_map
    page = build_map(cov, back, lang="en").get_root().render()
    assert "Priority: health" in page and "Priority: roads" in page and hostile not in page


def test_bad_priority_layers_exit_2(tmp_path):
    cov, (x0, y0, x1, y1) = _example_run(tmp_path)
    mixed = gpd.GeoDataFrame({"name": ["a", "b"]}, geometry=[shapely.Point(x0, y0), shapely.box(x0, y0, x0 + 9, y0 + 9)],
                             crs=cov.grid.crs)
    pyogrio.write_dataframe(mixed, tmp_path / "mixed.gpkg")
    base = ["gaps", "--run", str(tmp_path / "run"), "--communes", str(tmp_path / "communes.gpkg"), "--out",
            str(tmp_path / "g.gpkg"), "-q"]
    for spec, message in ((f"ok={tmp_path / 'mixed.gpkg'}", "one kind of geometry"),
                          (f"Bad-Name={tmp_path / 'mixed.gpkg'}", "priority layer name 'Bad-Name'"),
                          (f"x={tmp_path / 'none.gpkg'}", "none.gpkg: no such file"),
                          ("justaname", "expected NAME=FILE[:LAYER]")):
        result = CliRunner().invoke(cli, base + ["--priority", spec])
        assert result.exit_code == 2 and message in result.output, (spec, result.output)
        assert not (tmp_path / "g.gpkg").exists()


def test_borders_and_overlaps_count_once_each():
    """Two square communes sharing the border x = 1000: a point on the border has a commune, a road along the
    border counts once, overlapping polygons each keep their cells."""
    communes = gpd.GeoDataFrame({"code": ["A", "B"], "name": ["A", "B"]},
                                geometry=[shapely.box(0, 0, 1000, 1000), shapely.box(1000, 0, 2000, 1000)],
                                crs="EPSG:32648")
    grid = Grid(10, 20, Affine(RES, 0, 0, 0, -RES, 1000), CRS.from_epsg(32648))
    covered = np.zeros((10, 20), np.uint8)
    covered[:, :10] = 1                                  # 5G over commune A only
    rsrp = np.full((10, 20), -80, np.float32)
    coverage = Coverage(grid, [LayerResult("5G", ANY, rsrp, None, None, None, covered)], pd.DataFrame(), Settings())
    border = gpd.GeoDataFrame({"name": ["border road"]}, geometry=[shapely.LineString([(1000, 100), (1000, 900)])],
                              crs="EPSG:32648")
    points = gpd.GeoDataFrame({"name": ["on the border"]}, geometry=[shapely.Point(1000, 500)], crs="EPSG:32648")
    parks = gpd.GeoDataFrame({"name": ["big", "small"]}, geometry=[shapely.box(500, 0, 1500, 1000),
                                                                    shapely.box(800, 0, 1200, 1000)], crs="EPSG:32648")
    crossing = gpd.GeoDataFrame({"name": ["crossing"]}, geometry=[shapely.LineString([(500, 300), (1500, 300)])],
                                crs="EPSG:32648")
    gaps = phusong.analyse(coverage, communes, priority={"roads": border, "stops": points, "parks": parks,
                                                         "crossing": crossing}, polygons=False)
    assert gaps.priority["crossing"][["length_m", "covered_m_5g"]].iloc[0].tolist() == pytest.approx([1000.0, 500.0])
    by = gaps.priority_by_commune[gaps.priority_by_commune["layer"] == "roads"]
    assert by["length_m"].sum() == pytest.approx(800.0) and len(by) == 1
    assert gaps.priority["stops"]["commune_code"].tolist() == ["A"]
    p = gaps.priority["parks"].set_index("name")
    assert p.loc["big", "covered_area_pct_5g"] == 50.0 and p.loc["small", "covered_area_pct_5g"] == 50.0
    s = gaps.priority_summary.set_index(["layer", "service"])
    assert s.loc[("parks", "5G"), "covered"] == pytest.approx(0.5 + 0.2)     # km²: half of 1.0 and of 0.4


def test_polygons_at_the_grid_edge_keep_their_edge_cells():
    """A polygon over the grid's first column and row: its share counts those cells (a window that started one
    cell in would lose them)."""
    communes = gpd.GeoDataFrame({"code": ["A"], "name": ["A"]}, geometry=[shapely.box(0, 0, 1000, 1000)],
                                crs="EPSG:32648")
    grid = Grid(10, 10, Affine(RES, 0, 0, 0, -RES, 1000), CRS.from_epsg(32648))
    covered = np.zeros((10, 10), np.uint8)
    covered[0, :] = 1                                   # the first row
    covered[:, 0] = 1                                   # and the first column
    rsrp = np.full((10, 10), -80, np.float32)
    coverage = Coverage(grid, [LayerResult("5G", ANY, rsrp, None, None, None, covered)], pd.DataFrame(), Settings())
    corner = gpd.GeoDataFrame({"name": ["corner", "west strip"]},
                              geometry=[shapely.box(0, 800, 200, 1000), shapely.box(0, 0, 100, 1000)], crs="EPSG:32648")
    p = phusong.analyse(coverage, communes, priority={"parks": corner}, polygons=False).priority["parks"].set_index("name")
    assert p.loc["corner", "covered_area_pct_5g"] == 75.0        # 3 of its 4 cells lie in the first row or column
    assert p.loc["west strip", "covered_area_pct_5g"] == 100.0


def test_priority_names_and_layers_are_never_guessed(tmp_path):
    cov, (x0, y0, x1, y1) = _example_run(tmp_path)
    pts = gpd.GeoDataFrame({"name": ["a"]}, geometry=[shapely.Point(x0 + 100, y0 + 100)], crs=cov.grid.crs)
    pyogrio.write_dataframe(pts, tmp_path / "two.gpkg", layer="one")
    pyogrio.write_dataframe(pts, tmp_path / "two.gpkg", layer="two", append=True)
    (tmp_path / "p.csv").write_text("name,lon,lat\na,106.7,21.8\n", encoding="utf-8")
    base = ["gaps", "--run", str(tmp_path / "run"), "--communes", str(tmp_path / "communes.gpkg"), "--out",
            str(tmp_path / "g.gpkg"), "-q"]
    for specs, message in (([f"a={tmp_path / 'two.gpkg'}"], "has 2 layers (one, two): name one"),
                           ([f"a={tmp_path / 'p.csv'}:foo"], "a .csv file has no layers"),
                           ([f"a={tmp_path / 'two.gpkg'}:one", f"a={tmp_path / 'two.gpkg'}:two"], "given twice")):
        result = CliRunner().invoke(cli, base + [arg for spec in specs for arg in ("--priority", spec)])
        assert result.exit_code == 2 and message in result.output, (specs, result.output)
    ok = CliRunner().invoke(cli, base + ["--priority", f"a={tmp_path / 'two.gpkg'}:two"])
    assert ok.exit_code == 0, ok.output
    styles = pyogrio.read_dataframe(tmp_path / "g.gpkg", layer="layer_styles")
    assert "priority_a" in set(styles["f_table_name"])
