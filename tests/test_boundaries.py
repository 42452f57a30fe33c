import numpy as np
import pytest
import rasterio

from phusong._raster import Grid
from phusong.data.boundaries import read_communes, read_points, read_population, read_zones
from phusong.data.terrain import working_grid
from phusong.errors import InputError

from .conftest import shared_path

UTM = "EPSG:32648"


def test_real_communes_keep_codes_and_vietnamese_names():
    gpkg = shared_path("data", "langson", "communes_2025.gpkg")
    communes = read_communes(gpkg, UTM, layer="communes")
    assert len(communes) == 65 and communes["code"].is_unique
    assert communes["code"].str.fullmatch(r"\d{5}").all()
    names = set(communes["name"])
    assert any("ơ" in n or "ư" in n or "ạ" in n for n in names)  # diacritics intact
    assert communes.crs.to_epsg() == 32648
    assert communes.geometry.area.sum() / 1e6 == pytest.approx(8307, rel=0.01)


def test_missing_id_field_names_the_file_and_field():
    gpkg = shared_path("data", "langson", "communes_2025.gpkg")
    with pytest.raises(InputError, match=r"communes_2025.gpkg: column ma_xa: field 'ma_xa' not found"):
        read_communes(gpkg, UTM, layer="communes", id_field="ma_xa")


def test_centres_are_points():
    centres = read_points(shared_path("data", "langson", "communes_2025.gpkg"), UTM, layer="commune_centres")
    assert len(centres) == 65 and set(centres.geom_type) == {"Point"}


def test_point_zones_become_discs_of_their_area(caplog):
    csv = shared_path("data", "langson", "industrial_zones_approx.csv")
    zones = read_zones(csv, UTM, id_field="code", name_field="name")
    assert "row 6 (CCN Na Dương 2): no area_ha; using a disc of 50 ha" in caplog.text
    assert zones.geometry.area.iloc[5] / 1e4 == pytest.approx(50, rel=0.01)
    assert len(zones) == 8 and zones["approximate"].all()
    known = zones["area_ha"].notna()
    assert known.sum() == 7
    area_ha = zones.loc[known].geometry.area / 1e4
    np.testing.assert_allclose(area_ha, zones.loc[known, "area_ha"], rtol=0.01)  # 64-gon vs circle
    assert zones["name"].str.contains("Đồng Bành").any()


def test_population_total_is_conserved_on_a_finer_grid():
    path = shared_path("data", "langson", "population_worldpop_2020_1km.tif")
    with rasterio.open(path) as src:
        data = src.read(1)
        total = data[data != src.nodata].sum()
        grid = working_grid(Grid(src.height, src.width, src.transform, src.crs), UTM, 250.0)
    people = read_population(path, grid)
    assert people.sum() == pytest.approx(total, rel=1e-3)


def test_a_multi_layer_file_without_a_layer_name_reads_its_first_layer_with_a_warning(tmp_path, caplog):
    import logging

    import geopandas as gpd
    import shapely

    from phusong.data.boundaries import read_area

    path = tmp_path / "two.gpkg"
    for name, x in (("province", 0.0), ("communes", 10.0)):
        gpd.GeoDataFrame({"code": ["1"], "name": [name]}, geometry=[shapely.box(x, 0, x + 1, 1)],
                         crs="EPSG:32648").to_file(path, layer=name)
    with caplog.at_level(logging.WARNING, logger="phusong"):
        first = read_area(path, "EPSG:32648")
    assert list(first["name"]) == ["province"]
    assert any("reading its first layer 'province' of province, communes" in r.getMessage() for r in caplog.records)
