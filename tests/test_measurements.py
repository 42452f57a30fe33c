"""`phusong measurements validate` and the reader: every layout, every bad row, values converted by hand."""
import math

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
               '21.87,106.78,452,4,,,12001,,6880000001,,,402,60,,"2026-03-01 08:00:02.000Z",5,0,90,NR,"Pixel"\n'
               '21.88,106.79,452,4,,,12001,,26881027,,,312,99,,"2026-03-01 08:00:03.000Z",5,0,90,LTE,"Pixel"\n'
               '21.89,106.80,452,4,,,12001,,26881028,,,313,98,,"2026-03-01 08:00:04.000Z",5,0,90,LTE,"Pixel"\n')
    report = validate_measurements(f)
    assert report.layout == "opencellid"
    # an NR ASU is not guessed; 99 is Android's "unknown"; LTE ASU stops at 97
    assert [(i.row, i.column, i.reason) for i in report.issues] == [
        (3, "signal", "an ASU value is only read for LTE: give dBm"), (4, "signal", "unknown (ASU 99)"),
        (5, "signal", "out of range (LTE ASU 0 to 97)")]
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


def test_channel_numbers_to_frequency_by_the_3gpp_tables():
    from phusong.measurements.cells import earfcn_to_mhz, nr_arfcn_to_mhz

    # TS 36.101 Table 5.7.3-1: F = F_DL_low + 0.1 (N - N_offs)
    assert earfcn_to_mhz([300, 1300, 3725, 9360, 38950, 40620, 0, 599, 70000]).tolist()[:8] == pytest.approx(
        [2110 + 30, 1805 + 10, 925 + 27.5, 758 + 15, 2300 + 30, 2496 + 97, 2110, 2169.9])
    assert math.isnan(earfcn_to_mhz(70000)) and math.isnan(earfcn_to_mhz(2000))     # 2000: band 4, not listed
    # TS 38.104 §5.4.2.1: 5 kHz below 3 GHz, 15 kHz to 24.25 GHz, 60 kHz above
    assert nr_arfcn_to_mhz([428000, 599999, 600000, 636666, 2016667, 2070833]).tolist() == pytest.approx(
        [2140.0, 2999.995, 3000.0, 3549.99, 24250.08, 24250.08 + 0.06 * 54166])
    assert math.isnan(nr_arfcn_to_mhz(3_279_166))


def test_samples_keyed_by_pci_and_channel_take_the_nearest_matching_cell(tmp_path):
    sites = _write(tmp_path / "sites.csv",
                   "site_id,cell_id,lon,lat,technology,frequency_mhz,antenna_height_m,tx_power_dbm,bandwidth_mhz,pci\n"
                   "A,A-L18,106.70,21.80,4G,1815,30,46,20,7\n"      # band 3, channel 1805-1825 MHz
                   "B,B-L18,107.10,21.80,4G,1815,30,46,20,7\n"      # the same PCI 41 km east
                   "A,A-L21,106.70,21.80,4G,2140,30,46,10,7\n"      # band 1, 2135-2145 MHz
                   "A,A-N78,106.70,21.80,5G,3550,30,49,100,300\n")  # n78, 3500-3600 MHz
    f = _write(tmp_path / "m.csv",
               "lon,lat,rsrp,pci,earfcn,arfcn,technology,cell_id\n"
               "106.71,21.80,-90,7,1300,,LTE,\n"       # row 1: band 3 at 1815 MHz -> A-L18 (B is 40 km away)
               "107.09,21.80,-90,7,1250,,LTE,\n"       # row 2: 1810 MHz, within B's channel -> B-L18
               "106.71,21.80,-90,7,300,,LTE,\n"        # row 3: band 1 at 2140 MHz -> A-L21
               "106.71,21.80,-90,300,,636666,NR,\n"    # row 4: 3549.99 MHz -> A-N78
               "106.71,21.80,-90,8,1300,,LTE,\n"       # row 5: no cell with PCI 8
               "106.90,21.80,-90,7,550,,LTE,\n"        # row 6: 2165 MHz, in no channel of PCI 7
               "106.71,21.80,-90,7,70000,,LTE,\n"      # row 7: not a known EARFCN
               "106.71,21.80,-90,1200,1300,,LTE,\n"    # row 8: not a PCI
               "106.71,21.80,-90,9,1300,,LTE,A-L21\n"  # row 9: a cell_id wins over the PCI
               "106.71,21.80,-90,300,1300,,LTE,\n"     # row 10: PCI 300 is a 5G cell's, not on LTE band 3
               "106.71,21.80,-90,600,1300,,LTE,\n")    # row 11: not an LTE PCI (0 to 503)
    report = validate_measurements(f, sites=sites)
    assert [(i.row, i.column) for i in report.issues] == [(5, "pci"), (6, "pci"), (7, "earfcn"), (8, "pci"),
                                                          (10, "pci"), (11, "pci")]
    assert report.samples["cell_id"].tolist() == ["A-L18", "B-L18", "A-L21", "A-N78", "A-L21"]
    far = _write(tmp_path / "far.csv", "lon,lat,rsrp,pci,earfcn\n107.50,21.80,-90,7,1300\n")   # 42 km from B
    assert [i.column for i in validate_measurements(far, sites=sites).issues] == ["pci"]
    bad = _write(tmp_path / "bad_sites.csv", sites.read_text().replace(",7\n", ",7.5\n", 1))
    result = CliRunner().invoke(cli, ["sites", "validate", str(bad)])
    assert result.exit_code == 2 and "row 1, column pci: not a whole number (value '7.5')" in result.output


# ---------------------------------------------------------------------------------------------- the check
def test_wilson_interval_by_hand_and_against_scipy():
    from scipy.stats import binomtest

    from phusong.measurements import wilson_interval

    z = 1.959963984540054
    for k, n in ((60, 100), (2, 3), (0, 10), (10, 10), (1, 1)):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        low, high = wilson_interval(k, n)
        assert (low, high) == pytest.approx((centre - half, centre + half), abs=1e-12)
        peer = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert (low, high) == pytest.approx((peer.low, peer.high), abs=1e-9)
    assert np.isnan(wilson_interval(0, 0)[0])


def _check_study(tmp_path):
    """A 10 x 10 grid of 100 m cells: 5G covered in columns 0-4 (communes A and C), not in 5-9 (B); D has
    no sample. A: 100 SS-RSRP samples, 60 at -100 dBm and 40 at -110; B: 10 at -110; C: 3, two at -100."""
    from affine import Affine
    from pyproj import Transformer

    from phusong._raster import Grid, write_geotiff

    x0, y0 = 700_000.0, 2_400_000.0
    grid = Grid(10, 10, Affine(100.0, 0, x0, 0, -100.0, y0 + 1000.0), "EPSG:32648")
    covered = np.zeros((10, 10), np.uint8)
    covered[:, :5] = 1
    run = tmp_path / "run"
    run.mkdir()
    write_geotiff(run / "covered_5g.tif", covered, grid, nodata=255)
    write_geotiff(run / "rsrp_5g.tif", np.where(covered == 1, -90.0, -120.0).astype(np.float32), grid, nodata=np.nan)
    viettel = np.zeros((10, 10), np.uint8)
    viettel[:, :2] = 1                                        # Viettel covers columns 0-1 (x < 200 m) only
    write_geotiff(run / "covered_5g_viettel.tif", viettel, grid, nodata=255)
    def box(c0, r0, c1, r1):
        return shapely.box(x0 + 100 * c0, y0 + 1000 - 100 * r1, x0 + 100 * c1, y0 + 1000 - 100 * r0)
    communes = gpd.GeoDataFrame({"code": ["A", "B", "C", "D"], "name": ["Xã A", "Xã B", "Xã C", "Xã D"]},
                                geometry=[box(0, 3, 5, 10), box(5, 0, 10, 9), box(0, 0, 5, 3), box(5, 9, 10, 10)],
                                crs="EPSG:32648")
    pyogrio.write_dataframe(communes, tmp_path / "communes.gpkg")
    to_lonlat = Transformer.from_crs("EPSG:32648", "EPSG:4326", always_xy=True)
    rows = ["lon,lat,ss_rsrp_dbm,rsrp_dbm,cell_id,technology,operator"]

    def add(x, y, ss="", lte="", tech="NR", operator="VNPT"):
        lon, lat = to_lonlat.transform(x, y)
        rows.append(f"{lon:.9f},{lat:.9f},{ss},{lte},C1,{tech},{operator}")
    rng = np.random.default_rng(1)
    for i in range(100):   # A: x 0..500 m, y 0..700 m from the south edge
        add(x0 + 10 + rng.uniform(0, 480), y0 + 10 + rng.uniform(0, 680), ss=-100 if i < 60 else -110,
            operator="Viettel" if i % 2 else "VNPT")
    for _ in range(10):   # B: x 500..1000 m, y 100..1000 m (D holds y 0..100 m)
        add(x0 + 510 + rng.uniform(0, 480), y0 + 110 + rng.uniform(0, 880), ss=-110)
    for s in (-100, -100, -110):
        add(x0 + 250, y0 + 850, ss=s)
    add(x0 + 250, y0 + 300, lte=-70, tech="LTE")    # a 4G sample in A: not part of the 5G check
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return run, tmp_path / "communes.gpkg", tmp_path / "m.csv"


def test_the_commune_check_by_hand(tmp_path):
    from phusong.coverage.network import Coverage
    from phusong.data.boundaries import read_communes
    from phusong.measurements import check_communes

    run, communes, measurements = _check_study(tmp_path)
    coverage = Coverage.from_run_folder(run)
    result, used = check_communes(coverage, read_measurements(measurements), read_communes(communes, "EPSG:32648"))
    r = result.set_index("code")
    assert r["samples"].to_dict() == {"A": 100, "B": 10, "C": 3, "D": 0} and len(used) == 113
    assert r.loc["A", "measured_share_pct"] == 60.0 and r.loc["A", "predicted_share_pct"] == 100.0
    assert r.loc["A", "claimed_min_share_pct"] == 90.0          # location probability 0.9 of a fully covered share
    assert r.loc["A", "ci_high_pct"] == pytest.approx(69.06, abs=0.01) and r.loc["A", "status"] == "refuted"
    assert r.loc["B", "status"] == "consistent" and r.loc["B", "claimed_min_share_pct"] == 0.0
    # C: 2 of 3 (66.7%, interval up to 93.9%) cannot refute 90%; about 16 samples could
    assert r.loc["C", "status"] == "too few samples" and r.loc["C", "ci_high_pct"] == pytest.approx(93.85, abs=0.01)
    # the fewest samples at which 2/3 measured would refute 90%: the Wilson bound by hand crosses it there
    needed = int(r.loc["C", "samples_needed"])
    z = 1.959963984540054

    def upper(n, p=2 / 3):
        return (p + z * z / (2 * n) + z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))) / (1 + z * z / n)
    assert upper(needed) < 0.9 <= upper(needed - 1)
    assert r.loc["D", "status"] == "no samples" and np.isnan(r.loc["D", "measured_share_pct"])


def test_samples_needed_is_where_the_wilson_bound_crosses_the_claim():
    from phusong.measurements import wilson_interval
    from phusong.measurements.check import samples_needed

    for share, claimed in ((0.1, 0.2), (0.0, 0.1), (0.5, 0.9), (0.85, 0.9)):
        n = samples_needed(share, claimed)
        assert wilson_interval(share * n, n)[1] < claimed <= wilson_interval(share * (n - 1), n - 1)[1]
    assert samples_needed(0.1, 0.2) > 40            # 4 of 40 at 10% cannot yet refute 20%
    assert samples_needed(0.9, 0.9) == 0 and samples_needed(0.95, 0.9) == 0


def test_check_through_the_cli(tmp_path):
    run, communes, measurements = _check_study(tmp_path)
    out = tmp_path / "check.gpkg"
    result = CliRunner().invoke(cli, ["check", "--run", str(run), "--measurements", str(measurements), "--communes",
                                      str(communes), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "113 5G samples in 3 of 4 communes" in result.output and "1 refuted, 1 too few samples" in result.output
    assert "refuted: A Xã A: measured 60% (up to 69.06%) against a claimed 90% or more" in result.output
    layers = {name for name, _ in pyogrio.list_layers(out)}
    assert layers == {"communes", "samples"}
    samples = pyogrio.read_dataframe(out, layer="samples")
    assert samples["reaches_threshold"].sum() == 62 and samples["predicted_covered"].sum() == 103
    assert "demonstration" not in samples and "DEMONSTRATION" not in result.output   # real run, plain file
    # measurements marked SYNTHETIC make the check a demonstration, with its reason, in both layers
    marked = tmp_path / "marked.csv"
    marked.write_text("# SYNTHETIC drive test\n" + measurements.read_text(encoding="utf-8"), encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", "--run", str(run), "--measurements", str(marked), "--communes",
                                      str(communes), "--out", str(tmp_path / "m.gpkg")])
    assert result.exit_code == 0, result.output
    for layer in ("communes", "samples"):
        label = pyogrio.read_dataframe(tmp_path / "m.gpkg", layer=layer)["demonstration"]
        assert label.str.contains("marked.csv").all(), layer
    assert "DEMONSTRATION: " in result.output and "marked.csv" in result.output
    # communes whose id and name fields are named otherwise: --id-field and --name-field say which
    other = pyogrio.read_dataframe(communes).rename(columns={"code": "ma_xa", "name": "ten_xa"})
    pyogrio.write_dataframe(other, tmp_path / "other.gpkg")
    args = ["check", "--run", str(run), "--measurements", str(measurements), "--communes", str(tmp_path / "other.gpkg")]
    refused = CliRunner().invoke(cli, args + ["--out", str(tmp_path / "o1.gpkg")])
    assert refused.exit_code == 2 and "'code'" in refused.output
    named = CliRunner().invoke(cli, args + ["--id-field", "ma_xa", "--name-field", "ten_xa", "--out",
                                            str(tmp_path / "o2.gpkg")])
    assert named.exit_code == 0, named.output
    assert "refuted: A Xã A: measured 60% (up to 69.06%)" in named.output
    # --sites keeps only samples of its cells: C1 is not a demo cell, so none is used (and each is counted)
    from phusong.data.demo import example_inputs
    result = CliRunner().invoke(cli, ["check", "--run", str(run), "--measurements", str(measurements), "--communes",
                                      str(communes), "--sites", str(example_inputs().sites), "--out",
                                      str(tmp_path / "s.gpkg")])
    assert result.exit_code == 0, result.output
    assert "114 samples read; 0 used" in result.output and "114 not from a cell of sites_demo.csv" in result.output
    assert "4 no samples" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("lon,lat,ss_rsrp_dbm,cell_id\n106.7,21.8,loud,C1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["check", "--run", str(run), "--measurements", str(bad), "--communes",
                                      str(communes), "--out", str(tmp_path / "x.gpkg")])
    assert result.exit_code == 2 and "row 1, column ss_rsrp_dbm: not a number" in result.output
    assert not (tmp_path / "x.gpkg").exists()


def test_check_of_one_operator_uses_its_samples_and_its_layer(tmp_path):
    from phusong.coverage.network import Coverage
    from phusong.data.boundaries import read_communes
    from phusong.measurements import check_communes

    run, communes, measurements = _check_study(tmp_path)
    result, used = check_communes(Coverage.from_run_folder(run), read_measurements(measurements),
                                  read_communes(communes, "EPSG:32648"), operator="viettel")
    r = result.set_index("code")
    assert r["samples"].to_dict() == {"A": 50, "B": 0, "C": 0, "D": 0} and set(used["operator"]) == {"Viettel"}
    # Viettel's own layer covers x < 200 m: its predicted share is the share of its samples there
    table = pd.read_csv(measurements)
    mine = table[table["operator"] == "Viettel"]
    from pyproj import Transformer
    x, _ = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True).transform(mine["lon"], mine["lat"])
    share = float(np.mean(np.asarray(x) < 700_200.0))
    assert 0 < share < 1 and r.loc["A", "predicted_share_pct"] == pytest.approx(100 * share, abs=0.01)
    result = CliRunner().invoke(cli, ["check", "--run", str(run), "--measurements", str(measurements), "--communes",
                                      str(communes), "--operator", "Mobifone", "--out", str(tmp_path / "m.gpkg")])
    assert result.exit_code == 2 and "no 5G layer of operator 'Mobifone'" in result.output


def test_the_commune_check_on_real_lang_son_communes_by_hand():
    """Samples placed inside three real communes, counted by construction; the run covers the western
    half of a grid over them (cell edges at a known x), so the predicted share is counted from x alone."""
    from affine import Affine
    from rasterio.crs import CRS

    from phusong._raster import Grid
    from phusong.coverage.layers import LayerResult
    from phusong.coverage.network import ANY, Coverage
    from phusong.data.boundaries import read_communes
    from phusong.measurements import check_communes
    from phusong.settings import Settings

    from .conftest import shared_path

    communes = read_communes(shared_path("data", "langson", "communes_2025.gpkg"), "EPSG:32648", layer="communes")
    chosen = communes.sort_values("code").iloc[[3, 20, 40]].reset_index(drop=True)
    x0, y0, x1, y1 = (float(v) for v in chosen.total_bounds)
    res = 100.0
    left, top = np.floor(x0 / res) * res - res, np.ceil(y1 / res) * res + res
    width, height = int((x1 - left) / res) + 2, int((top - y0) / res) + 2
    mid = left + (width // 2) * res                      # a cell edge
    grid = Grid(height, width, Affine(res, 0, left, 0, -res, top), CRS.from_epsg(32648))
    covered = np.zeros((height, width), np.uint8)
    covered[:, : width // 2] = 1
    layer = LayerResult("5G", ANY, np.full((height, width), -80, np.float32), None, None, None, covered)
    coverage = Coverage(grid, [layer], pd.DataFrame(), Settings())

    rng = np.random.default_rng(11)
    sizes, good = [40, 25, 12], [30, 5, 12]              # samples per commune and how many at -90 dBm (the rest -115)
    frames = []
    for k, (n, g) in enumerate(zip(sizes, good)):
        pts = gpd.GeoSeries([chosen.geometry.iloc[k]], crs=chosen.crs).sample_points(n, rng=rng).explode()
        pts = pts[pts.within(chosen.geometry.iloc[k].buffer(-1.0))]   # never on an edge
        frames.append(gpd.GeoDataFrame({"signal_dbm": [-90.0] * g + [-115.0] * (len(pts) - g)},
                                       geometry=pts.to_numpy(), crs=chosen.crs))
    samples = pd.concat(frames, ignore_index=True).to_crs("EPSG:4326")
    samples = samples.assign(row=np.arange(1, len(samples) + 1), metric="ss_rsrp", technology="5G", cell_id="X",
                             operator="", time=pd.NaT)
    result, used = check_communes(coverage, samples, chosen)
    r = result.set_index("code")
    for k, frame in enumerate(frames):
        code = chosen["code"].iloc[k]
        n, ok = len(frame), int((frame["signal_dbm"] >= -105).sum())
        west = int((frame.geometry.x < mid).sum())
        assert r.loc[code, "samples"] == n
        assert r.loc[code, "measured_share_pct"] == round(100 * ok / n, 2)
        assert r.loc[code, "predicted_share_pct"] == round(100 * west / n, 2)
        assert r.loc[code, "claimed_min_share_pct"] == round(90 * west / n, 2)
        z, p = 1.959963984540054, ok / n                 # Wilson 1927, by hand
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
        assert r.loc[code, "ci_low_pct"] == pytest.approx(round(100 * (centre - half), 2), abs=0.006)
        assert r.loc[code, "ci_high_pct"] == pytest.approx(round(100 * (centre + half), 2), abs=0.006)
    assert len(used) == sum(len(f) for f in frames)


def test_pci_matching_respects_technology_and_the_channel_edges():
    """Killed mutants of match_by_pci: the technology filter, and the channel's edges (± half the bandwidth,
    inclusive)."""
    from phusong.measurements.cells import match_by_pci

    sites = pd.DataFrame({"cell_id": ["L21", "N1", "L18"], "technology": ["4G", "5G", "4G"],
                          "frequency_mhz": [2140.0, 2140.0, 1815.0], "bandwidth_mhz": [10.0, 20.0, 20.0],
                          "pci": [7, 7, 9], "lon": [106.70, 106.80, 106.70], "lat": [21.80, 21.80, 21.80]})
    lon = np.array([106.79, 106.71, 106.79, 106.70, 106.70, 106.70])
    lat = np.full(6, 21.80)
    pci = np.array([7, 7, 7, 9, 9, 9])
    freq = np.array([2140.0, 2140.0, 2140.0, 1825.0, 1826.0, 1830.0])
    tech = np.array(["4G", "5G", "", "4G", "4G", "4G"], dtype=object)
    got = match_by_pci(lon, lat, pci, freq, sites, tech).tolist()
    # an LTE sample next to the NR cell takes the LTE cell; an NR sample next to the LTE cell takes the NR cell;
    # a sample of unknown technology takes the nearest; 1825 MHz is the channel's edge (in), 1826 and 1830 are out
    assert got == ["L21", "N1", "N1", "L18", "", ""]
    assert match_by_pci(lon, lat, pci, freq, sites).tolist() == ["N1", "L21", "N1", "L18", "", ""]
