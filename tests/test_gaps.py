"""Gap analysis on the real Lạng Sơn boundaries, against geometric and conserved truths."""
import json
import shutil
import sqlite3
import subprocess

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
import pytest
import rasterio
import shapely
from affine import Affine
from click.testing import CliRunner

from phusong._raster import Grid, write_geotiff
from phusong.cli import cli
from phusong.gaps.rules import analyse, points_covered
from phusong.data.boundaries import read_communes, read_population
from phusong.data.targets import load_targets

from .conftest import shared_path

UTM = "EPSG:32648"
RES = 50.0


@pytest.fixture(scope="module")
def langson(tmp_path_factory):
    """Single-layer inputs cut from the shared GeoPackage, as a user would pass them."""
    gpkg = shared_path("data", "langson", "communes_2025.gpkg")
    folder = tmp_path_factory.mktemp("langson")
    for layer in ("communes", "commune_centres", "province"):
        gdf = pyogrio.read_dataframe(gpkg, layer=layer)
        pyogrio.write_dataframe(gdf, folder / f"{layer}.gpkg", layer=layer)
    zones = pd.read_csv(shared_path("data", "langson", "industrial_zones_approx.csv"))
    zones.insert(0, "code", [f"IZ{i + 1:02d}" for i in range(len(zones))])
    zones.to_csv(folder / "zones.csv", index=False)
    communes = read_communes(folder / "communes.gpkg", UTM)
    left, bottom, right, top = communes.total_bounds
    left, top = np.floor(left / RES) * RES - RES, np.ceil(top / RES) * RES + RES
    width, height = int((right - left) / RES) + 2, int((top - bottom) / RES) + 2
    grid = Grid(height, width, Affine(RES, 0, left, 0, -RES, top), communes.crs)
    return folder, communes, grid


def _run_folder(path, grid, covered_5g, covered_4g=None):
    path.mkdir(parents=True, exist_ok=True)
    write_geotiff(path / "covered_5g.tif", covered_5g.astype(np.uint8), grid, nodata=255)
    write_geotiff(path / "covered_4g.tif", (covered_4g if covered_4g is not None else covered_5g).astype(np.uint8),
                  grid, nodata=255)
    return path


def test_all_and_nothing(langson):
    _, communes, grid = langson
    targets = load_targets()
    full = analyse({"5G": np.ones((grid.height, grid.width), np.uint8)}, grid, communes, targets)
    none = analyse({"5G": np.zeros((grid.height, grid.width), np.uint8)}, grid, communes, targets)
    assert (full.communes["covered_area_pct_5g"] == 100).all()
    assert (none.communes["covered_area_pct_5g"] == 0).all()
    assert full.communes["centre_covered_5g"].all() and not none.communes["centre_covered_5g"].any()
    t_full = full.targets.set_index("target_id")
    assert t_full.loc["T25-5G-CENTRES", "value"] == 100 and t_full.loc["T25-5G-CENTRES", "met"]
    assert none.targets.set_index("target_id").loc["T25-5G-CENTRES", "gap"] == 65


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.7])
def test_half_plane_matches_exact_geometric_shares(langson, fraction):
    """Three cuts split 22 communes; on 50 m cells the share is within 0.03 points of exact geometry
    (measured worst: 0.019, from commune edges, plus the 0.005 of rounding to two decimals)."""
    _, communes, grid = langson
    cx = grid.transform.c + RES * int(grid.width * fraction)   # on a cell edge: the raster is exact there
    xs = grid.xy(0, np.arange(grid.width))[0]
    covered = np.broadcast_to((xs < cx).astype(np.uint8), (grid.height, grid.width)).copy()
    result = analyse({"5G": covered}, grid, communes, load_targets())
    minx, miny, maxx, maxy = communes.total_bounds
    half = shapely.box(minx - 1e4, miny - 1e4, cx, maxy + 1e4)
    exact = 100.0 * communes.geometry.intersection(half).area / communes.geometry.area
    np.testing.assert_allclose(result.communes["covered_area_pct_5g"], exact, atol=0.03)
    assert ((exact > 1) & (exact < 99)).sum() >= 5


def test_population_is_conserved(langson):
    _, communes, grid = langson
    path = shared_path("data", "langson", "population_worldpop_2020_1km.tif")
    people = read_population(path, grid)
    result = analyse({"5G": np.ones((grid.height, grid.width), np.uint8)}, grid, communes, load_targets(),
                     population=people)
    # independent truth: split each WorldPop cell into 20 x 20 parts, count parts whose centre is inside
    with rasterio.open(path) as src:
        pop = src.read(1).astype(float)
        pop[pop == src.nodata] = 0
        t = src.transform
    province = communes.to_crs("EPSG:4326").union_all()
    rows, cols = np.nonzero(pop > 0)
    k = 20
    sub = (np.arange(k) + 0.5) / k
    total = 0.0
    for r, c in zip(rows, cols):
        x = t.c + (c + sub[None, :]) * t.a
        y = t.f + (r + sub[:, None]) * t.e
        inside = shapely.contains_xy(province, np.broadcast_to(x, (k, k)), np.broadcast_to(y, (k, k)))
        total += pop[r, c] * inside.mean()
    assert result.communes["population"].sum() == pytest.approx(total, rel=1e-3)
    assert result.targets.set_index("target_id").loc["T30-5G-POP", "value"] == pytest.approx(100.0)


def test_codes_and_names_come_through(langson, tmp_path):
    folder, communes, grid = langson
    run = _run_folder(tmp_path / "run", grid, np.ones((grid.height, grid.width), np.uint8))
    out = tmp_path / "gaps.gpkg"
    result = CliRunner().invoke(cli, ["gaps", "--run", str(run), "--communes", str(folder / "communes.gpkg"),
                                      "--centres", str(folder / "commune_centres.gpkg"), "--out", str(out)])
    assert result.exit_code == 0, result.output
    raw = pyogrio.read_dataframe(folder / "communes.gpkg")
    got = pyogrio.read_dataframe(out, layer="communes")
    assert dict(zip(got["code"], got["name"])) == dict(zip(raw["code"].astype(str), raw["name"]))
    assert len(got) == 65


def test_layers_of_one_multi_layer_geopackage(langson, tmp_path):
    """GIS staff pass the shared GeoPackage itself: each input names its layer."""
    folder, communes, grid = langson
    gpkg = shared_path("data", "langson", "communes_2025.gpkg")
    run = _run_folder(tmp_path / "run", grid, np.ones((grid.height, grid.width), np.uint8))
    out = tmp_path / "gaps.gpkg"
    args = ["gaps", "--run", str(run), "--communes", str(gpkg), "--communes-layer", "communes",
            "--centres", str(gpkg), "--out", str(out)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "expected Point geometries, found MultiPolygon" in result.output
    assert "commune_centres (Point)" in result.output
    result = CliRunner().invoke(cli, args + ["--centres-layer", "commune_centres"])
    assert result.exit_code == 0, result.output
    got = pyogrio.read_dataframe(out, layer="commune_centres")
    assert len(got) == len(pyogrio.read_dataframe(folder / "commune_centres.gpkg")) and got["covered_5g"].all()


def test_centre_on_a_coverage_edge_follows_the_rule():
    grid = Grid(4, 4, Affine(100.0, 0, 0.0, 0, -100.0, 400.0), "EPSG:32648")
    covered = np.zeros((4, 4), np.uint8)
    covered[:, 2:] = 1                                   # east half covered; edge at x = 200
    on_edge = gpd.GeoSeries([shapely.Point(200.0, 250.0)], crs=grid.crs)
    # documented: a point on a cell edge belongs to the cell east (or south) of it
    assert points_covered(covered, grid, on_edge).tolist() == [True]
    west = gpd.GeoSeries([shapely.Point(199.999, 250.0)], crs=grid.crs)
    assert points_covered(covered, grid, west).tolist() == [False]
    # buffer rule: 150 m around the edge point sees half covered cells
    assert points_covered(covered, grid, on_edge, ("buffer", 150.0, 50.0)).tolist() == [True]
    assert points_covered(covered, grid, on_edge, ("buffer", 150.0, 60.0)).tolist() == [False]


@pytest.fixture(scope="module")
def full_gaps(langson, tmp_path_factory):
    folder, communes, grid = langson
    tmp = tmp_path_factory.mktemp("gaps")
    xs = grid.xy(0, np.arange(grid.width))[0]
    five = np.broadcast_to((xs < grid.transform.c + RES * (grid.width // 3)).astype(np.uint8),
                           (grid.height, grid.width)).copy()
    run = _run_folder(tmp / "run", grid, five, np.ones_like(five))
    out, report = tmp / "gaps.gpkg", tmp / "report"
    args = ["gaps", "--run", str(run), "--communes", str(folder / "communes.gpkg"),
            "--centres", str(folder / "commune_centres.gpkg"), "--zones", str(folder / "zones.csv"),
            "--population", str(shared_path("data", "langson", "population_worldpop_2020_1km.tif")),
            "--targets", "langson-2025-2030", "--id-field", "code", "--name-field", "name",
            "--out", str(out), "--report", str(report)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    return out, report


def test_geopackage_layers_fields_and_styles(full_gaps):
    out, _ = full_gaps
    layers = dict(pyogrio.list_layers(out))
    for name in ("communes", "commune_centres", "settlements", "industrial_zones", "coverage_4g", "coverage_5g",
                 "targets", "layer_styles"):
        assert name in layers, name
    communes = pyogrio.read_dataframe(out, layer="communes")
    for f in ("covered_area_pct_5g", "covered_pop_pct_5g", "centre_covered_5g", "missed_targets", "population"):
        assert f in communes.columns
    settlements = pyogrio.read_dataframe(out, layer="settlements")
    assert (settlements["proxy"] == 1).all() and settlements["name"].str.contains("proxy").all()
    with sqlite3.connect(out) as db:
        styled = dict(db.execute("SELECT f_table_name, styleQML FROM layer_styles WHERE useAsDefault = 1"))
        tables = {r[0] for r in db.execute("SELECT table_name FROM gpkg_contents")}
    assert set(styled) <= tables and {"communes", "commune_centres", "industrial_zones"} <= set(styled)
    assert 'attr="covered_area_pct_5g"' in styled["communes"] and 'attr="covered_5g"' in styled["commune_centres"]


@pytest.mark.skipif(shutil.which("ogrinfo") is None, reason="ogrinfo not found (Debian gdal-bin)")
def test_ogrinfo_opens_the_geopackage(full_gaps):
    out, _ = full_gaps
    info = subprocess.run(["ogrinfo", "-ro", "-so", str(out)], capture_output=True, text=True, check=True).stdout
    for name in ("communes", "commune_centres", "industrial_zones", "targets"):
        assert name in info


def test_scorecard_formats_agree_with_the_geopackage(full_gaps):
    out, report = full_gaps
    targets = pyogrio.read_dataframe(out, layer="targets").set_index("target_id")
    card = json.loads((report / "scorecard.json").read_text(encoding="utf-8"))
    csv = pd.read_csv(report / "scorecard.csv").set_index("target_id")
    md = (report / "scorecard.md").read_text(encoding="utf-8")
    html = (report / "scorecard.html").read_text(encoding="utf-8")
    assert len(card["targets"]) == len(targets) == 16
    for t in card["targets"]:
        tid = t["target_id"]
        if t["value"] is not None:
            assert t["value"] == pytest.approx(targets.loc[tid, "value"])
            assert csv.loc[tid, "value"] == pytest.approx(targets.loc[tid, "value"])
            row = next(line for line in md.splitlines() if line.startswith(f"| {tid} |"))
            assert float(row.split("|")[5].replace(",", "")) == pytest.approx(t["value"], abs=0.05)
        assert t["text_vi"] in html
    assert "Lạng Sơn" in html or "phủ sóng" in html
    assert html.count("data:image/png;base64,") == 2
    centres = pyogrio.read_dataframe(out, layer="commune_centres")
    assert targets.loc["T25-5G-CENTRES", "value"] == pytest.approx(100 * centres["covered_5g"].mean(), abs=0.01)
