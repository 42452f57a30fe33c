import geopandas as gpd
import pytest
from click.testing import CliRunner

from phusong.cli import cli
from phusong.errors import InputError
from phusong.sites import read_sites, validate_sites

HEADER = "site_id,cell_id,lon,lat,technology,frequency_mhz,antenna_height_m,tx_power_dbm,azimuth_deg,status\n"
GOOD = "S1,C1,106.7,21.8,4G,1800,30,46,0,existing\n"

# Ten different faults, one per row after a good one: (row text, column, reason fragment)
FAULTS = [
    ("S1,C1,106.7,21.8,4G,1800,30,46,120,existing", "cell_id", "duplicate cell_id"),
    (",C3,106.7,21.8,4G,1800,30,46,240,existing", "site_id", "missing"),
    ("S2,C4,abc,21.8,4G,1800,30,46,,existing", "lon", "not a number"),
    ("S2,C5,106.7,95,4G,1800,30,46,,existing", "lat", "out of range"),
    ("S2,C6,106.7,21.8,6G,1800,30,46,,existing", "technology", "unknown technology"),
    ("S2,C7,106.7,21.8,5G,,30,46,,existing", "frequency_mhz", "missing"),
    ("S2,C8,106.7,21.8,5G,3500,-5,46,,existing", "antenna_height_m", "out of range"),
    ("S2,C9,106.7,21.8,5G,3500,30,46,400,existing", "azimuth_deg", "out of range"),
    ("S2,C10,106.7,21.8,5G,3500,30,46,,retired", "status", "unknown status"),
    ("S3,C11,120.0,21.8,5G,3500,30,46,,existing", "lon,lat", "outside the terrain"),
]
TERRAIN_LONLAT = (106.0, 21.0, 107.5, 22.6)


@pytest.fixture
def bad_csv(tmp_path):
    p = tmp_path / "sites.csv"
    p.write_text(HEADER + GOOD + "\n".join(f for f, _, _ in FAULTS) + "\n", encoding="utf-8")
    return p


def test_every_fault_is_reported_with_row_and_column(bad_csv):
    report = validate_sites(bad_csv, TERRAIN_LONLAT)
    assert len(report.issues) == 10
    for issue, (_, column, reason) in zip(report.issues, FAULTS):
        assert issue.column == column
        assert reason in issue.reason
    assert [i.row for i in report.issues] == list(range(2, 12))
    assert report.lines()[0].startswith(f"{bad_csv}: row 2, column cell_id")


def test_valid_file_gets_documented_defaults(tmp_path):
    p = tmp_path / "ok.csv"
    p.write_text(HEADER + GOOD + "S1,C2,106.7,21.8,5G,3500,30,49,,planned\n")
    sites = read_sites(p)
    assert len(sites) == 2 and sites.crs.to_epsg() == 4326
    sector, omni = sites.iloc[0], sites.iloc[1]
    assert sector["antenna_gain_dbi"] == 17.0 and omni["antenna_gain_dbi"] == 11.0
    assert sector["bandwidth_mhz"] == 20.0 and omni["bandwidth_mhz"] == 100.0
    assert sector["feeder_loss_db"] == 0.5 and sector["beamwidth_h_deg"] == 65.0
    assert sector["operator"] == "unknown" and omni["status"] == "planned"


def test_missing_required_column(tmp_path):
    p = tmp_path / "cols.csv"
    p.write_text("site_id,cell_id,lon,lat\nS1,C1,106,21\n")
    report = validate_sites(p)
    assert {i.column for i in report.issues} == {"technology", "frequency_mhz", "antenna_height_m", "tx_power_dbm"}
    with pytest.raises(InputError, match="required column is missing"):
        read_sites(p)


@pytest.mark.parametrize("driver,suffix", [("GPKG", ".gpkg"), ("GeoJSON", ".geojson")])
def test_point_geometry_formats(tmp_path, driver, suffix):
    gdf = gpd.GeoDataFrame({"site_id": ["Trạm Đồng Đăng"], "cell_id": ["C1"], "technology": ["5G"],
                            "frequency_mhz": [3500.0], "antenna_height_m": [30.0], "tx_power_dbm": [49.0]},
                           geometry=gpd.points_from_xy([106.7], [21.9]), crs="EPSG:4326").to_crs("EPSG:32648")
    p = tmp_path / f"sites{suffix}"
    gdf.to_file(p, driver=driver)
    sites = read_sites(p)
    assert sites["site_id"].iloc[0] == "Trạm Đồng Đăng"
    assert sites["lon"].iloc[0] == pytest.approx(106.7) and sites["lat"].iloc[0] == pytest.approx(21.9)


def test_cli_validate_reports_all_and_exits_2(bad_csv, tmp_path):
    from rasterio.transform import from_origin

    import numpy as np
    from phusong._raster import Grid, write_geotiff
    dem = tmp_path / "dem.tif"
    write_geotiff(dem, np.zeros((16, 15), np.float32),
                  Grid(16, 15, from_origin(106.0, 22.6, 0.1, 0.1), "EPSG:4326"))
    result = CliRunner().invoke(cli, ["sites", "validate", str(bad_csv), "--dem", str(dem)])
    assert result.exit_code == 2
    assert result.output.count("sites.csv: row") == 10


def test_cli_validate_ok(tmp_path):
    p = tmp_path / "ok.csv"
    p.write_text(HEADER + GOOD)
    result = CliRunner().invoke(cli, ["sites", "validate", str(p)])
    assert result.exit_code == 0 and "no problems" in result.output
