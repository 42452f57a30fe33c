"""`phusong measurements validate` and the reader: every layout, every bad row, values converted by hand."""
import numpy as np
import pandas as pd
import pyogrio
import pytest
import geopandas as gpd
import shapely
from click.testing import CliRunner

from phusong.cli import cli
from phusong.errors import InputError
from phusong.measurements import read_measurements, validate_measurements


def _write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_generic_layout_with_common_spellings(tmp_path):
    f = _write(tmp_path / "drive.csv",
               "Longitude,Latitude,RSRP,SS_RSRP,cellid,timestamp,tech,speed_kmh,operator\n"
               "106.761,21.853,-97.5,,A1,2026-03-01T08:00:00Z,LTE,32,Viettel\n"
               "106.762,21.854,,-101,B1,2026-03-01 08:00:01+07:00,NR,0,VNPT\n"
               "106.763,21.855,-88,-90,A1,,,,\n")
    s = read_measurements(f)
    assert s["signal_dbm"].tolist() == [-97.5, -101.0, -88.0]         # RSRP first when both are given
    assert s["metric"].tolist() == ["rsrp", "ss_rsrp", "rsrp"]
    assert s["technology"].tolist() == ["4G", "5G", "4G"]
    assert s["cell_id"].tolist() == ["A1", "B1", "A1"] and s["row"].tolist() == [1, 2, 3]
    assert s["time"].iloc[1] == pd.Timestamp("2026-03-01T01:00:01Z")  # converted to UTC
    assert pd.isna(s["time"].iloc[2]) and s["speed_kmh"].tolist()[:2] == [32.0, 0.0]
    assert s.crs.to_epsg() == 4326 and s.geometry.x.tolist() == [106.761, 106.762, 106.763]
    assert s.attrs["layout"] == "generic"


def test_every_bad_row_is_reported_and_nothing_is_read(tmp_path):
    f = _write(tmp_path / "bad.csv",
               "lon,lat,rsrp_dbm,cell_id,time,speed_kmh,technology\n"
               "106.7,21.8,-95,A1,2026-03-01T08:00:00Z,10,4G\n"       # fine
               "abc,21.8,-95,A1,,,\n"                                  # row 2: lon not a number
               "106.7,95,-95,A1,,,\n"                                  # row 3: lat out of range
               "106.7,21.8,-5,A1,,,\n"                                 # row 4: signal out of range
               "106.7,21.8,,A1,,,\n"                                   # row 5: no signal
               "106.7,21.8,-95,,,,\n"                                  # row 6: no serving cell
               "106.7,21.8,-95,A1,yesterday,,\n"                       # row 7: time
               "106.7,21.8,-95,A1,,-3,\n"                              # row 8: negative speed
               "106.7,21.8,-95,A1,,,6G\n"                              # row 9: unknown technology
               "0,0,-95,A1,,,\n"                                       # row 10: no position fix
               "106.7,21.8,-95,A1,,,GSM\n")                            # row 11: 2G, left out (not an error)
    report = validate_measurements(f)
    found = {(i.row, i.column) for i in report.issues}
    assert found == {(2, "lon"), (3, "lat"), (4, "rsrp_dbm"), (5, "rsrp_dbm"), (6, "cell_id"), (7, "time"),
                     (8, "speed_kmh"), (9, "technology"), (10, "lon")}
    assert report.samples["row"].tolist() == [1] and report.skipped == {"2G/3G samples": 1}
    result = CliRunner().invoke(cli, ["measurements", "validate", str(f)])
    assert result.exit_code == 2
    assert f"{f}: row 4, column rsrp_dbm: out of range (-160 to -20 dBm) (value '-5')" in result.output
    assert "9 problem(s) in 11 row(s)" in result.output
    with pytest.raises(InputError, match=r"bad.csv: 9 problem\(s\) in the measurements: row 2, column lon"):
        read_measurements(f)


def test_a_header_without_signal_or_cell_says_what_it_needs(tmp_path):
    f = _write(tmp_path / "h.csv", "lon,lat,value\n106.7,21.8,-95\n")
    result = CliRunner().invoke(cli, ["measurements", "validate", str(f)])
    assert result.exit_code == 2
    assert "no signal column: rsrp_dbm, ss_rsrp_dbm or rssi_dbm" in result.output
    assert "no serving-cell key: cell_id, or pci with earfcn or arfcn" in result.output


def test_towercollector_export(tmp_path):
    """TowerCollector's CSV export header; LTE and NR serving cells kept, a neighbour and a GSM row left out,
    speed from m/s."""
    f = _write(tmp_path / "tc.csv",
               "mcc,mnc,lac,cell_id,psc,asu,dbm,ta,lat,lon,accuracy,speed,bearing,altitude,measured_at,"
               "net_type,neighboring,device\r\n"
               '452,4,12001,26881025,310,43,-97,3,21.853,106.761,5,10,90,300,"2026-03-01T08:00:00.000Z",LTE,false,"Pixel"\r\n'
               '452,4,12001,26881026,311,38,-102,,21.853,106.761,5,10,90,300,"2026-03-01T08:00:00.000Z",LTE,true,"Pixel"\r\n'
               '452,4,12001,5001,,20,-85,,21.854,106.762,5,0,0,300,"2026-03-01T08:00:05.000Z",GSM,false,"Pixel"\r\n'
               '452,4,12001,6880000001,402,50,-90,,21.855,106.763,4,2.5,0,300,"2026-03-01T08:00:09.000Z",NR,false,"Pixel"\r\n')
    report = validate_measurements(f)
    assert report.ok and report.layout == "towercollector"
    s = report.samples
    assert s["cell_id"].tolist() == ["26881025", "6880000001"] and s["row"].tolist() == [1, 4]
    assert s["signal_dbm"].tolist() == [-97.0, -90.0] and s["metric"].tolist() == ["rsrp", "ss_rsrp"]
    assert s["speed_kmh"].tolist() == [36.0, 9.0]
    assert report.skipped == {"neighbouring cells": 1, "2G/3G samples": 1}
    assert s["time"].tolist() == [pd.Timestamp("2026-03-01T08:00:00Z"), pd.Timestamp("2026-03-01T08:00:09Z")]


def test_opencellid_upload_signal_in_asu_or_dbm(tmp_path):
    f = _write(tmp_path / "ocid.csv",
               "lat,lon,mcc,mnc,sid,lac,tac,nid,cellid,bid,psc,pci,signal,ta,measured_at,rating,speed,direction,act,devn\n"
               '21.85,106.76,452,4,,,12001,,26881025,,,310,43,,"2026-03-01 08:00:00.000Z",5,10,90,LTE,"Pixel"\n'
               '21.86,106.77,452,4,,,12001,,26881026,,,311,-99,,"2026-03-01 08:00:01.000Z",5,0,90,LTE,"Pixel"\n'
               '21.87,106.78,452,4,,,12001,,6880000001,,,402,60,,"2026-03-01 08:00:02.000Z",5,0,90,NR,"Pixel"\n')
    report = validate_measurements(f)
    assert report.layout == "opencellid"
    assert [(i.row, i.column) for i in report.issues] == [(3, "signal")]   # an NR ASU is not guessed
    assert report.samples["signal_dbm"].tolist() == [43 - 140.0, -99.0]    # LTE: RSRP = ASU - 140
    assert report.samples["speed_kmh"].tolist() == [36.0, 0.0]


def test_serving_cells_are_checked_against_the_site_list(tmp_path):
    from phusong.data.demo import example_inputs

    sites = pd.read_csv(example_inputs().sites, comment="#")
    known = str(sites["cell_id"].iloc[0])
    f = _write(tmp_path / "m.csv", f"lon,lat,rsrp,cell_id\n106.7,21.8,-95,{known}\n106.7,21.8,-95,NOPE\n")
    report = validate_measurements(f, sites=example_inputs().sites)
    assert [(i.row, i.column, i.value) for i in report.issues] == [(2, "cell_id", "NOPE")]
    result = CliRunner().invoke(cli, ["measurements", "validate", str(f), "--sites", str(example_inputs().sites)])
    assert result.exit_code == 2 and "row 2, column cell_id: not a cell of the site list (value 'NOPE')" in result.output
    ok = _write(tmp_path / "ok.csv", f"lon,lat,rsrp,cell_id\n106.7,21.8,-95,{known}\n")
    result = CliRunner().invoke(cli, ["measurements", "validate", str(ok), "--sites", str(example_inputs().sites)])
    assert result.exit_code == 0 and "1 samples (generic layout); 4G rsrp: 1" in result.output


def test_a_geopackage_of_points_with_pci_and_earfcn(tmp_path):
    gdf = gpd.GeoDataFrame({"rsrp_dbm": [-91.0, -93.5], "pci": [17, 18], "earfcn": [1850, 1850]},
                           geometry=[shapely.Point(106.7, 21.8), shapely.Point(106.71, 21.81)], crs="EPSG:4326")
    pyogrio.write_dataframe(gdf.to_crs("EPSG:32648"), tmp_path / "m.gpkg")     # any CRS: read back in WGS 84
    s = read_measurements(tmp_path / "m.gpkg")
    np.testing.assert_allclose(s[["lon", "lat"]].to_numpy(), [[106.7, 21.8], [106.71, 21.81]], atol=1e-9)
    assert s["pci"].tolist() == [17, 18] and s["earfcn"].tolist() == [1850, 1850]
    assert s["signal_dbm"].tolist() == [-91.0, -93.5]
