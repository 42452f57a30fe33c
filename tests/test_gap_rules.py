"""The gap rules on a 10 x 10 grid where every answer is counted by hand.

Grid: 100 m cells, x 0..1000, y 0..1000 (row 0 is the north edge, y 900..1000). Communes: W (x < 500)
and E (x >= 500). 5G covers columns 0-7 except the cell (row 9, col 0); 4G covers rows 0-4 (north).
"""
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from affine import Affine

from phusong._raster import Grid
from phusong.data.targets import load_targets
from phusong.gaps.rules import analyse, points_covered

CRS = "EPSG:32648"
GRID = Grid(10, 10, Affine(100.0, 0, 0.0, 0, -100.0, 1000.0), CRS)


def _covered():
    five = np.zeros((10, 10), np.uint8)
    five[:, :8] = 1
    five[9, 0] = 0                      # the south-west corner cell: inside zone Z1
    four = np.zeros((10, 10), np.uint8)
    four[:5, :] = 1
    return {"5G": five, "4G": four}


def _gdf(rows, geoms):
    return gpd.GeoDataFrame(pd.DataFrame(rows), geometry=geoms, crs=CRS)


COMMUNES = _gdf({"code": ["W", "E"], "name": ["Xã Tây", "Xã Đông"]},
                [shapely.box(0, 0, 500, 1000), shapely.box(500, 0, 1000, 1000)])
# Z1: 3 x 3 cells in the south-west, 8 of 9 covered by 5G (88.9%); Z2: 4 x 4 cells in the north-east,
# 5G on its two western columns only (50%), 4G all; Z3: smaller than a cell, at a covered cell's centre.
ZONES = _gdf({"code": ["Z1", "Z2", "Z3"], "name": ["KCN Một", "KCN Hai", "CCN Ba"]},
             [shapely.box(0, 0, 300, 300), shapely.box(600, 600, 1000, 1000), shapely.box(640, 140, 660, 160)])


def _sites():
    # a 5G site inside Z2, a 4G site inside Z1, a 5G site just outside Z1 (x = 310)
    return _gdf({"site_id": ["S5in", "S4in", "S5out"], "technology": ["5G", "4G", "5G"]},
                [shapely.Point(900, 900), shapely.Point(150, 150), shapely.Point(310, 150)])


def write_run_folder(folder):
    """The grid's coverage as a run folder (covered_4g.tif, covered_5g.tif), for the command-line tests."""
    from phusong._raster import write_geotiff

    folder.mkdir(parents=True, exist_ok=True)
    for tech, arr in _covered().items():
        write_geotiff(folder / f"covered_{tech.lower()}.tif", arr, GRID, nodata=255)
    return folder


def _analyse(**kw):
    return analyse(_covered(), GRID, COMMUNES, load_targets(), **kw)


def test_zone_share_rule_site_rule_and_zone_gaps():
    r = _analyse(zones=ZONES, sites=_sites())
    z = r.zones.set_index("code")
    assert z.loc["Z1", "covered_area_pct_5g"] == pytest.approx(100 * 8 / 9, abs=0.01)
    assert z.loc["Z2", "covered_area_pct_5g"] == 50.0 and z.loc["Z3", "covered_area_pct_5g"] == 100.0
    assert z["covered_5g"].tolist() == [False, False, True]           # 88.9% and 50% are below 90%
    # IoT-grade = NB-IoT or 4G or 5G: Z1 8/9 by 5G (4G covers none of it), Z2 all by 4G
    assert z.loc["Z1", "covered_area_pct_iot"] == pytest.approx(100 * 8 / 9, abs=0.01)
    assert z["covered_iot"].tolist() == [False, True, True]
    assert z["has_5g_site"].tolist() == [False, True, False]          # S5out lies outside Z1, S4in is 4G
    assert z["sites_5g"].tolist() == [0, 1, 0] and z["sites_5g"].dtype.kind == "i"
    t = r.targets.set_index("target_id")
    # T25-IZ-5G-BTS: 50% of 3 zones need a 5G site -> ceil(1.5) = 2 zones; 1 has one -> gap 1
    assert t.loc["T25-IZ-5G-BTS", "value"] == pytest.approx(100 / 3, abs=0.01)
    assert t.loc["T25-IZ-5G-BTS", "gap"] == 1 and t.loc["T25-IZ-5G-BTS", "status"] == "not met"
    assert t.loc["T25-IZ-5G-BTS", "failing_units"] == "Z1 KCN Một; Z3 CCN Ba"
    # T25-IZ-IOT: goal 20%; 2 of 3 covered -> met, gap 0
    assert t.loc["T25-IZ-IOT", "value"] == pytest.approx(200 / 3, abs=0.01) and t.loc["T25-IZ-IOT", "gap"] == 0
    # T30-IZ-5G-IOT: every zone needs both: only Z3 -> 1 of 3, gap 2
    assert t.loc["T30-IZ-5G-IOT", "value"] == pytest.approx(100 / 3, abs=0.01)
    assert t.loc["T30-IZ-5G-IOT", "gap"] == 2
    # the share threshold is a setting: at 85% Z1 counts as covered
    z85 = _analyse(zones=ZONES, sites=_sites(), zone_share_pct=85.0).zones.set_index("code")
    assert z85["covered_5g"].tolist() == [True, False, True]


def test_villages_count_only_those_with_power():
    villages = _gdf({"code": ["V1", "V2", "V3", "V4"], "name": ["Bản A", "Bản B", "Bản C", "Bản D"],
                     "has_power": [1, 1, 0, 1]},
                    # V1 north (4G), V2 south-east x=950 (no 5G, no 4G), V3 same cell without power,
                    # V4 south at x=50,y=50: the uncovered corner cell
                    [shapely.Point(50, 950), shapely.Point(950, 50), shapely.Point(960, 60), shapely.Point(50, 50)])
    r = _analyse(villages=villages)
    v = r.villages.set_index("code")
    assert v["covered_mbb"].tolist() == [True, False, False, False]
    assert v["counted"].tolist() == [True, True, False, True]
    assert v["commune_code"].tolist() == ["W", "E", "E", "W"]
    t = r.targets.set_index("target_id").loc["T25-MBB-VILLAGES"]
    assert t["value"] == pytest.approx(100 / 3, abs=0.01)               # V1 of V1, V2, V4 (V3 has no power)
    assert t["gap"] == 2 and t["failing_units"] == "V2 Bản B; V4 Bản D"
    missed = dict(zip(r.communes["code"], r.communes["missed_targets"]))
    assert "T25-MBB-VILLAGES" in missed["W"] and "T25-MBB-VILLAGES" in missed["E"]


def test_population_weighted_coverage_by_hand():
    people = np.zeros((10, 10), np.float32)
    people[0, 9] = 300.0     # E, north-east: 4G only (5G stops at column 7)
    people[5, 5] = 100.0     # E: 5G
    people[9, 0] = 50.0      # W: the uncovered corner
    people[2, 2] = 150.0     # W: 5G
    r = _analyse(population=people)
    c = r.communes.set_index("code")
    assert c.loc["W", "population"] == 200 and c.loc["E", "population"] == 400
    assert c.loc["W", "covered_pop_pct_5g"] == 75.0 and c.loc["E", "covered_pop_pct_5g"] == 25.0
    assert c.loc["W", "covered_pop_pct_4g"] == 75.0 and c.loc["E", "covered_pop_pct_4g"] == 75.0
    t = r.targets.set_index("target_id").loc["T30-5G-POP"]
    assert t["value"] == pytest.approx(100 * 250 / 600, abs=0.01) and t["gap"] == 350   # people without 5G
    assert t["failing_units"] == "W Xã Tây; E Xã Đông"


def test_real_centres_under_partial_coverage_and_the_failing_list():
    centres = _gdf({"code": ["W", "E"], "name": ["Xã Tây", "Xã Đông"]},
                   [shapely.Point(250, 550), shapely.Point(850, 550)])     # E's centre: column 8, no 5G
    r = _analyse(centres=centres)
    assert r.centres["covered_5g"].tolist() == [True, False]
    assert r.communes["centre_covered_5g"].tolist() == [True, False]
    t = r.targets.set_index("target_id").loc["T25-5G-CENTRES"]
    assert t["value"] == 50.0 and t["gap"] == 1 and t["failing_units"] == "E Xã Đông"
    assert r.communes.set_index("code").loc["E", "missed_targets"].startswith("T25-5G-CENTRES")
    assert "T25-5G-CENTRES" not in r.communes.set_index("code").loc["W", "missed_targets"]


def test_points_on_cell_edges_belong_east_and_south():
    only = np.zeros((10, 10), np.uint8)
    only[5, 5] = 1                      # the cell x 500..600, y 400..500
    pts = gpd.GeoSeries([shapely.Point(500, 450),    # on its west edge: east of the edge -> this cell
                         shapely.Point(550, 500),    # on its north edge: south of the edge -> this cell
                         shapely.Point(600, 450),    # on its east edge: belongs to the cell east
                         shapely.Point(550, 400),    # on its south edge: belongs to the cell south
                         shapely.Point(500, 500)],   # its north-west corner -> this cell
                        crs=CRS)
    assert points_covered(only, GRID, pts).tolist() == [True, True, False, False, True]


def test_area_shares_equal_cell_counts():
    r = _analyse()
    c = r.communes.set_index("code")
    # W: columns 0-4, 5G everywhere but one cell -> 49/50; E: columns 5-9, 5G in columns 5-7 -> 30/50
    assert c.loc["W", "covered_area_pct_5g"] == 98.0 and c.loc["E", "covered_area_pct_5g"] == 60.0
    assert c.loc["W", "covered_area_km2_5g"] == pytest.approx(49 * 0.01) and c.loc["E", "covered_area_pct_4g"] == 50.0


def test_coverage_polygons_hold_the_covered_area():
    r = _analyse()
    five = r.coverage["5G"]
    assert list(five.columns) == ["technology", "area_km2", "geometry"] and five["technology"].iloc[0] == "5G"
    assert five.crs == GRID.crs
    assert five["area_km2"].iloc[0] == pytest.approx(79 * 0.01)          # 79 covered cells of 100 m
    assert five.geometry.iloc[0].area == pytest.approx(79 * 100.0 ** 2, rel=0.05)   # simplified by one cell
    assert r.coverage["4G"]["area_km2"].iloc[0] == pytest.approx(0.5)


def test_population_field_with_gaps_and_a_one_cell_commune():
    """Counts spread evenly; a missing or non-numeric count is 0 people; a commune of one cell holds its
    whole count in that cell."""
    from phusong.gaps.rules import spread_counts

    communes = _gdf({"code": ["A", "B", "C", "D", "E"], "name": ["A", "B", "C", "D", "E"],
                     "dan_so": [400, None, "n/a", 70, 5]},
                    [shapely.box(0, 0, 400, 1000), shapely.box(400, 0, 900, 900),
                     shapely.box(900, 100, 1000, 1000), shapely.box(900, 0, 1000, 100),
                     shapely.box(410, 910, 440, 940)])   # E holds no cell centre: its 5 people have no cell
    from phusong.gaps.rules import polygon_ids
    ids = polygon_ids(communes.geometry, GRID)
    people = spread_counts(communes, "dan_so", ids)
    assert people.dtype == np.float32
    assert people[ids == 1].tolist() == [10.0] * 40          # 400 over 40 cells
    assert (people[ids == 2] == 0).all() and (people[ids == 3] == 0).all()   # missing, "n/a": nobody
    assert people[ids == 4].tolist() == [70.0]               # one cell holds all 70
    assert (ids == 5).sum() == 0 and (ids == 0).sum() == 5    # E has no cell; 5 cells (y > 900) lie outside
    assert (people[ids == 0] == 0).all()                       # nobody outside the communes
    assert float(people.sum()) == 470.0


def test_every_target_row_is_complete_with_or_without_data():
    r = _analyse()      # no villages, zones or population: those targets have no data
    t = r.targets.set_index("target_id")
    from phusong.data.targets import load_targets as targets
    for target in targets():
        row = t.loc[target.id]
        assert (row["deadline"], row["text_vi"], row["text_en"], row["unit"], row["goal"]) == \
            (target.deadline, target.text_vi, target.text_en, target.unit, target.goal)
    nodata = t.loc["T25-MBB-VILLAGES"]
    assert nodata["status"] == "no data" and nodata["gap_unit"] == "" and nodata["failing_units"] == ""
    assert nodata["met"] is None and np.isnan(nodata["value"]) and np.isnan(nodata["gap"])
    # the interior points of W and E (x = 250, 750) lie in 5G columns: both centres covered
    assert t.loc["T25-5G-CENTRES", "gap_unit"] == "centres" and t.loc["T25-5G-CENTRES", "met"] is True
    assert t.loc["T25-5G-CENTRES", "status"] == "met" and t.loc["T25-5G-CENTRES", "gap"] == 0
    units = _analyse(zones=ZONES, sites=_sites(), population=np.ones((10, 10), np.float32),
                     villages=_gdf({"code": ["V"], "name": ["V"]}, [shapely.Point(50, 950)])).targets
    assert dict(zip(units["target_id"], units["gap_unit"])) == {
        "T25-5G-CENTRES": "centres", "T25-MBB-VILLAGES": "villages", "T25-IZ-5G-BTS": "zones", "T25-IZ-IOT": "zones",
        "T30-5G-POP": "people", "T30-IZ-5G-IOT": "zones", **{i: "" for i in units["target_id"] if i[4:] in (
            "SPEED-2X", "FBB-1G-60", "IOT-1", "FBB-1G-100", "SIGN-30", "IPV6-90", "IOT-4", "CLOUD", "6G-READY",
            "TWIN")}}
    assert set(units.loc[units["status"] == "no data", "target_id"]) == {
        i for i in units["target_id"] if i[4:] in ("SPEED-2X", "FBB-1G-60", "IOT-1", "FBB-1G-100", "SIGN-30",
                                                     "IPV6-90", "IOT-4", "CLOUD", "6G-READY", "TWIN")}


def test_nbiot_counts_for_iot_grade_areas_and_stand_in_centres():
    """NB-IoT alone makes a zone IoT-grade; commune areas in km²; people rounded to whole persons; without a
    centre layer an interior point of each commune stands in, noted as a proxy."""
    covered = _covered()
    nb = np.zeros((10, 10), np.uint8)
    nb[7:10, 0:3] = 1                                  # exactly zone Z1's 9 cells
    covered["NB-IoT"] = nb
    people = np.full((10, 10), 0.613, np.float32)      # 0.613 x 50 cells = 30.65 people per commune
    r = analyse(covered, GRID, COMMUNES, load_targets(), zones=ZONES, population=people)
    z = r.zones.set_index("code")
    assert z.loc["Z1", "covered_area_pct_iot"] == 100.0 and z.loc["Z1", "covered_iot"]   # 5G 8/9, NB-IoT 9/9
    c = r.communes.set_index("code")
    assert c["area_km2"].tolist() == [0.5, 0.5]
    assert c.loc["W", "covered_area_pct_nbiot"] == 18.0 and c.loc["E", "covered_area_pct_nbiot"] == 0.0
    assert c["population"].tolist() == [31.0, 31.0]    # whole persons
    centres = r.centres.set_index("code")
    for code, geom in zip(COMMUNES["code"], COMMUNES.geometry):
        assert centres.loc[code, "geometry"].equals(geom.representative_point())
    assert any("No commune-centre layer" in n and "proxy" in n for n in r.notes)


def test_a_commune_is_found_by_code_without_leading_zeros_or_by_name():
    """Excel drops the leading zero of 05986; people type names without diacritics."""
    import geopandas as gpd
    import shapely

    from phusong.errors import InputError
    from phusong.outputs.maps import find_commune

    communes = gpd.GeoDataFrame({"code": ["05986", "06001", "06004", "06007"],
                                 "name": ["Xã Đồng Đăng", "Phường Lương Văn Tri", "Xã Hữu Lũng", "Xã Hữu Lũng Hai"]},
                                geometry=[shapely.box(i, 0, i + 1, 1) for i in range(4)], crs="EPSG:32648")
    for text, expect in [("05986", 0), ("5986", 0), (" 6001 ", 1), ("Xã Đồng Đăng", 0), ("xa dong dang", 0),
                         ("Đồng Đăng", 0), ("dong dang", 0), ("PHƯỜNG LƯƠNG VĂN TRI", 1), ("luong van tri", 1),
                         ("Hữu Lũng", 2), ("huu lung hai", 3)]:
        assert find_commune(communes, text) == expect, text
    with pytest.raises(InputError, match="no commune with code or name 'Lộc Bình'"):
        find_commune(communes, "Lộc Bình")
    twins = communes.assign(name=["Xã A", "Phường A", "Xã B", "Xã C"])
    with pytest.raises(InputError, match="names more than one commune"):
        find_commune(twins, "a")


def _brute_points(covered, grid, xs, ys, rule):
    """Every cell centre of the grid measured against every point: no windows, no index arithmetic."""
    t = grid.transform
    rows, cols = np.mgrid[0:grid.height, 0:grid.width]
    cx, cy = t.c + (cols + 0.5) * t.a, t.f + (rows + 0.5) * t.e
    out = []
    for x, y in zip(xs, ys):
        if rule[0] == "cell":
            hit = (x >= cx - t.a / 2) & (x < cx + t.a / 2) & (y <= cy - t.e / 2) & (y > cy + t.e / 2)
            out.append(bool(covered[hit].any()) if hit.any() else False)
        else:
            near = np.hypot(cx - x, cy - y) <= rule[1]
            out.append(bool(near.any()) and 100.0 * covered[near].mean() >= rule[2])
    return np.array(out)


def test_points_against_brute_force_on_a_projected_grid():
    """Cell and buffer rules on a grid far from the origin (as UTM is), with points outside it, on its
    edges and on cell edges, radii that fall exactly on cell centres and shares exactly at the threshold."""
    grid = Grid(12, 9, Affine(30.0, 0, 612_345.0, 0, -30.0, 2_412_000.0), CRS)
    rng = np.random.default_rng(7)
    covered = (rng.random((12, 9)) < 0.5).astype(np.uint8)
    x0, y1 = grid.transform.c, grid.transform.f
    xs = np.concatenate([rng.uniform(x0 - 60, x0 + 330, 60), x0 + 30.0 * np.arange(10), [x0 - 0.1, x0 + 270.0]])
    ys = np.concatenate([rng.uniform(y1 - 420, y1 + 60, 60), y1 - 30.0 * np.arange(10), [y1 - 15, y1 - 15]])
    points = gpd.GeoSeries(gpd.points_from_xy(xs, ys), crs=CRS)
    for rule in [("cell",), ("buffer", 30.0, 50.0), ("buffer", 45.0, 40.0), ("buffer", 60.0, 50.25),
                 ("buffer", 90.0, 60.0), ("buffer", 15.0, 100.0)]:
        np.testing.assert_array_equal(points_covered(covered, grid, points, rule),
                                      _brute_points(covered, grid, xs, ys, rule), err_msg=str(rule))
    # exactly at the threshold: 2 of the 4 cells within 30 m of a cell corner
    corner = gpd.GeoSeries([shapely.Point(x0 + 60.0, y1 - 60.0)], crs=CRS)
    block = np.zeros((12, 9), np.uint8)
    block[1, 1] = block[2, 2] = 1                 # the four cells meeting at the corner: (1,1) (1,2) (2,1) (2,2)
    radius = 30.0 * np.sqrt(0.5) + 1e-9           # exactly reaches their four centres
    assert points_covered(block, grid, corner, ("buffer", radius, 50.0))[0]
    assert not points_covered(block, grid, corner, ("buffer", radius, 50.25))[0]


def test_percentages_are_rounded_to_two_decimals_and_met_targets_have_no_gap():
    """1 of 3 centres is 33.33% (not 33.333...); a population target met has a gap of 0 people and no
    failing commune; communes below it list it among their missed targets."""
    centres = _gdf({"code": ["c1", "c2", "c3"], "name": ["A", "B", "C"]},
                   [shapely.Point(50, 950), shapely.Point(950, 50), shapely.Point(950, 150)])
    people = np.zeros((10, 10), np.float32)
    people[:, :5] = 1.0                         # everyone in W, all under 5G (5G misses only row 9, col 0 ...)
    people[9, 0] = 0.0                          # ... where nobody lives
    result = _analyse(centres=centres, population=people)
    t = result.targets.set_index("target_id")
    assert t.loc["T25-5G-CENTRES", "value"] == 33.33
    pop = t.loc["T30-5G-POP"]
    assert pop["value"] == 100.0 and pop["met"] and pop["gap"] == 0
    assert "T30-5G-POP" not in result.communes.set_index("code").loc["W", "missed_targets"]
    people[0, 9] = 3.0                          # three people in E, where 5G does not reach
    result = _analyse(centres=centres, population=people)
    pop = result.targets.set_index("target_id").loc["T30-5G-POP"]
    assert pop["value"] == round(100.0 * 49 / 52, 2) and pop["gap"] == 3
    missed = result.communes.set_index("code")["missed_targets"]
    assert "T30-5G-POP" in missed["E"] and "T30-5G-POP" not in missed["W"]


def test_failing_units_without_names_and_indicators_without_source_or_date():
    villages = _gdf({"code": ["v1", "v2", "v3"]}, [shapely.Point(950, 50), shapely.Point(50, 950),
                                                   shapely.Point(850, 150)])
    indicators = pd.DataFrame({"target_id": ["T25-SPEED-2X", "T30-IPV6-90"], "value": [150.0, 40.0],
                               "source": ["MIC", None], "date": [None, "2026-06"]})
    result = _analyse(villages=villages, indicators=indicators)
    t = result.targets.set_index("target_id")
    assert t.loc["T25-MBB-VILLAGES", "failing_units"] == "v1; v3"
    speed = t.loc["T25-SPEED-2X"]
    assert speed["failing_units"] == "source: MIC ()" and speed["gap_unit"] == speed["unit"]
    assert t.loc["T30-IPV6-90", "failing_units"] == "source:  (2026-06)"
    bare = pd.DataFrame({"target_id": ["T25-SPEED-2X"], "value": [150.0]})       # the API: no source, no date
    assert _analyse(indicators=bare).targets.set_index("target_id").loc["T25-SPEED-2X", "failing_units"] == \
        "source:  ()"


def test_zone_count_for_a_goal_that_is_not_a_whole_number_of_zones():
    """67% of 3 zones is 2.01 zones: 3 are needed (rounding up), so with one 5G site the gap is 2."""
    import dataclasses

    targets = [dataclasses.replace(t, goal=67.0) if t.id == "T25-IZ-5G-BTS" else t for t in load_targets()]
    result = analyse(_covered(), GRID, COMMUNES, targets, zones=ZONES, sites=_sites())
    row = result.targets.set_index("target_id").loc["T25-IZ-5G-BTS"]
    assert row["gap"] == 2 and not row["met"]


def test_a_buffer_radius_exactly_at_cell_centres_includes_them():
    """A point at a cell centre, radius one cell: the cell and its four neighbours (distance exactly 30 m)."""
    grid = Grid(5, 5, Affine(30.0, 0, 612_000.0, 0, -30.0, 2_412_000.0), CRS)
    covered = np.zeros((5, 5), np.uint8)
    covered[2, 1] = covered[2, 3] = covered[1, 2] = 1      # 3 of the 5 cells within 30 m
    point = gpd.GeoSeries([shapely.Point(*grid.xy(2, 2))], crs=CRS)
    assert points_covered(covered, grid, point, ("buffer", 30.0, 60.0))[0]        # 3/5 = 60%
    assert not points_covered(covered, grid, point, ("buffer", 29.999, 60.0))[0]  # the centre cell alone: 0%


def test_a_commune_without_people_does_not_fail_the_population_target():
    people = np.zeros((10, 10), np.float32)
    people[:, 5:] = 1.0                        # everyone in E; W is empty
    result = _analyse(population=people)
    missed = result.communes.set_index("code")["missed_targets"]
    assert "T30-5G-POP" in missed["E"] and "T30-5G-POP" not in missed["W"]
    people[9, 0] = 1.0                         # one person in W, in its only cell without 5G
    missed = _analyse(population=people).communes.set_index("code")["missed_targets"]
    assert "T30-5G-POP" in missed["W"]


def test_population_field_with_a_commune_smaller_than_a_cell():
    """Its count lands on no cell (none is its own): nothing breaks, the others are spread evenly."""
    communes = _gdf({"code": ["W", "E", "tiny"], "name": ["W", "E", "tiny"], "pop": [500.0, 200.0, 7.0]},
                    [shapely.box(0, 0, 500, 1000), shapely.box(500, 0, 1000, 1000), shapely.box(10, 10, 20, 20)])
    result = analyse(_covered(), GRID, communes, load_targets(), population_field="pop")
    people = result.communes.set_index("code")["population"]
    assert people["W"] == 500 and people["E"] == 200 and people["tiny"] == 0


SETTLEMENTS = _gdf({"code": ["S1", "S2", "S3", "S4", "S5"], "people": [100.0, 200.0, 300.0, 40.0, 10.0],
                    "name": [f"settlement S{i} (proxy)" for i in range(1, 6)]},
                   # S1 north-west (5G), S2 and S3 south-east (neither 5G nor 4G), S4 the uncovered
                   # south-west corner cell, S5 north-east (4G only)
                   [shapely.Point(50, 950), shapely.Point(950, 50), shapely.Point(850, 150),
                    shapely.Point(50, 50), shapely.Point(960, 940)])


def test_proxy_settlements_are_reported_per_commune():
    r = _analyse(settlements=SETTLEMENTS)
    assert r.villages_are_proxy
    t = r.targets.set_index("target_id").loc["T25-MBB-VILLAGES"]
    assert t["value"] == 40.0 and t["gap"] == 3                        # S1 and S5 of five; three settlements short
    # one line per commune, most settlements first: E has S2 and S3 (500 people), W has S4 (40)
    assert t["failing_units"] == "E Xã Đông: 2 settlements, 500 people; W Xã Tây: 1 settlement, 40 people"


def test_the_html_scorecard_is_in_one_language():
    from phusong.outputs.scorecard import scorecard_html

    r = _analyse(settlements=SETTLEMENTS, zones=ZONES, sites=_sites())
    vi, en = scorecard_html(r, "vi"), scorecard_html(r, "en")
    assert '<html lang="vi">' in vi and '<html lang="en">' in en
    for word in ("Chỉ tiêu", "chưa đạt", "Đơn vị chưa đạt", "Xã Đông: 2 điểm dân cư, 500 người", "Không có lớp thôn",
                 "Không có lớp trung tâm xã", "W Xã Tây: 1 điểm dân cư, 40 người"):
        assert word in vi and word not in en, word
    for word in ("Targets", "not met", "Failing units", "Xã Đông: 2 settlements, 500 people", "No village layer",
                 "No commune-centre layer", "W Xã Tây: 1 settlement, 40 people"):
        assert word in en and word not in vi, word
    targets = load_targets()
    assert all(t.text_vi in vi and t.text_en not in vi for t in targets)   # the targets' own text, in the page's language
    assert all(t.text_en in en for t in targets)


# ---------------------------------------------------------------------------------------------------------
# analyse()'s own bookkeeping, each value counted by hand (the third mutation round: see TESTING.md)

def test_one_technology_alone():
    """Only 5G: mobile broadband is 5G's coverage; only 4G: no centre has 5G and no zone any 5G area."""
    five, four = _covered()["5G"], _covered()["4G"]
    villages = _gdf({"code": ["V1", "V2"], "name": ["A", "B"]}, [shapely.Point(850, 950), shapely.Point(50, 50)])
    r5 = analyse({"5G": five}, GRID, COMMUNES, load_targets(), villages=villages, zones=ZONES)
    assert r5.villages["covered_mbb"].tolist() == [False, False]     # V1: column 8 (no 5G), V2: the corner
    assert r5.centres["covered_mbb"].tolist() == r5.centres["covered_5g"].tolist()
    r4 = analyse({"4G": four}, GRID, COMMUNES, load_targets(), villages=villages, zones=ZONES)
    assert r4.villages["covered_mbb"].tolist() == [True, False]      # V1 in the north: 4G
    assert r4.centres["covered_5g"].tolist() == [False, False] and "rsrp_5g_dbm" not in r4.centres
    assert (r4.zones["covered_area_pct_5g"] == 0).all()
    assert r4.zones["covered_area_pct_iot"].tolist() == [0.0, 100.0, 0.0]


def test_centres_signal_and_mobile_broadband_and_the_buffer_rule():
    signal = np.full((10, 10), -120.0, np.float32)
    signal[4, 2] = -87.26                                              # W's centre cell (250, 550)
    centres = _gdf({"code": ["W", "E"], "name": ["Xã Tây", "Xã Đông"]},
                   [shapely.Point(250, 550), shapely.Point(850, 450)])   # E: column 8, row 5 (south half)
    r = _analyse(centres=centres, rsrp={"5G": signal})
    assert r.centres["rsrp_5g_dbm"].tolist() == pytest.approx([-87.3, -120.0], abs=1e-4)   # its cell, to 0.1 dB
    assert r.centres["covered_5g"].tolist() == [True, False]
    assert r.centres["covered_mbb"].tolist() == [True, False]         # E's cell: no 5G, 4G only north of row 5
    # the buffer rule: the 9 cells within 150 m of E's centre are columns 7-9 of rows 4-6; 5G covers
    # column 7 only (3 of 9, 33.3%), 4G row 4 (3 more: 6 of 9 for mobile broadband)
    rb = _analyse(centres=centres, centre_rule="buffer:150:33")
    assert rb.centres["covered_5g"].tolist() == [True, True] and rb.centres["covered_mbb"].tolist() == [True, True]
    rb = _analyse(centres=centres, centre_rule="buffer:150:34")
    assert rb.centres["covered_5g"].tolist() == [True, False] and rb.centres["covered_mbb"].tolist() == [True, True]
    rb = _analyse(centres=centres, centre_rule="buffer:150:67")
    assert rb.centres["covered_mbb"].tolist() == [True, False]


def test_areas_km2_and_rounding_on_a_30_m_grid_and_at_province_scale():
    grid = Grid(3, 3, Affine(30.0, 0, 0.0, 0, -30.0, 90.0), CRS)
    communes = _gdf({"code": ["A"], "name": ["A"]}, [shapely.box(0, 0, 90, 90)])
    one = np.zeros((3, 3), np.uint8)
    one[0, 0] = 1
    people = np.ones((3, 3), np.float32)
    c = analyse({"5G": one}, grid, communes, load_targets(), population=people).communes.iloc[0]
    assert c["covered_area_km2_5g"] == 0.001                           # 0.0009 km2, to three decimals
    assert c["covered_area_pct_5g"] == 11.11 and c["covered_pop_pct_5g"] == 11.11   # 1/9, to two decimals
    big = Grid(40, 40, Affine(1000.0, 0, 0.0, 0, -1000.0, 40_000.0), CRS)
    communes = _gdf({"code": ["A"], "name": ["A"]}, [shapely.box(0, 0, 40_000, 40_000)])
    c = analyse({"5G": np.ones((40, 40), np.uint8)}, big, communes, load_targets()).communes.iloc[0]
    assert c["covered_area_km2_5g"] == 1600.0 and c["covered_area_pct_5g"] == 100.0


def test_communes_of_no_cell_one_cell_no_people_and_half_a_person():
    communes = _gdf({"code": ["W", "E", "dot", "one"], "name": ["W", "E", "dot", "one"]},
                    [shapely.box(0, 100, 500, 1000), shapely.box(500, 0, 1000, 1000), shapely.box(10, 10, 20, 20),
                     shapely.box(100, 0, 200, 100)])      # "dot" holds no cell centre; "one" exactly one (covered)
    people = np.zeros((10, 10), np.float32)
    people[9, 1] = 0.5                                    # half a person in "one"
    r = analyse(_covered(), GRID, communes, load_targets(), population=people).communes.set_index("code")
    assert np.isnan(r.loc["dot", "covered_area_pct_5g"]) and r.loc["one", "covered_area_pct_5g"] == 100.0
    assert r.loc["one", "covered_pop_pct_5g"] == 100.0                # 0.5 of 0.5 people
    assert np.isnan(r.loc["W", "covered_pop_pct_5g"])                 # nobody lives there: no share


def test_site_counts_proxy_centres_and_the_result_s_layers():
    r = _analyse(sites=_sites())
    c = r.communes.set_index("code")
    assert c["sites_5g"].tolist() == [1, 1] and c["sites_4g"].tolist() == [1, 0]   # E has no 4G site: 0, not NaN
    assert c["sites_5g"].dtype.kind == "i"
    assert r.sites is not None and len(r.sites) == 3 and r.sites.crs == GRID.crs
    # no centre layer: an interior point of each commune, with its name, in the communes' CRS
    assert r.centres["name"].tolist() == ["Xã Tây", "Xã Đông"] and r.centres.crs == COMMUNES.crs
    assert all(p.within(g) for p, g in zip(r.centres.geometry, COMMUNES.geometry))
    assert any(n.startswith("No commune-centre layer") for n in r.notes)
    centres = _gdf({"code": ["W", "E"], "name": ["W", "E"]}, [shapely.Point(250, 550), shapely.Point(850, 550)])
    villages = _gdf({"code": ["V"], "name": ["V"]}, [shapely.Point(950, 50)])      # E, south-east: nothing
    missed = _analyse(centres=centres, villages=villages).communes.set_index("code")["missed_targets"]
    assert missed["E"] == "T25-5G-CENTRES, T25-MBB-VILLAGES" and missed["W"] == ""
    assert r.coverage and not _analyse(polygons=False).coverage


def test_villages_bookkeeping():
    villages = _gdf({"code": ["V1", "V2", "V3"], "name": ["A", "B", "C"], "commune_code": ["W", "X", None]},
                    [shapely.Point(50, 950), shapely.Point(5000, 5000), shapely.Point(950, 950)])
    r = _analyse(villages=villages)
    assert not r.villages_are_proxy
    assert r.villages["covered_mbb"].tolist() == [True, False, True]  # V2 lies off the grid: not covered
    assert r.villages["commune_code"].tolist()[:2] == ["W", "X"]      # the layer's own codes are kept
    assert pd.isna(r.villages["commune_code"].iloc[2])
    s = _analyse(settlements=SETTLEMENTS)
    assert s.villages_are_proxy and "index" not in s.villages.columns
    assert any(n.startswith("No village layer") for n in s.notes)
    p = analyse(_covered(), GRID, _gdf({"code": ["W"], "name": ["W"], "pop": [10.0]}, [shapely.box(0, 0, 500, 1000)]),
                load_targets(), population_field="pop")
    assert any(n.startswith("Population: the communes' 'pop' counts") and n.vi.startswith("Dân số: số liệu 'pop'")
               for n in p.notes)
    import copy
    import pickle
    for again in (copy.deepcopy(p.notes), pickle.loads(pickle.dumps(p.notes))):   # notebooks, multiprocessing
        assert again == p.notes and [n.vi for n in again] == [n.vi for n in p.notes]


def test_zones_without_a_cell_the_share_threshold_and_no_sites():
    zones = _gdf({"code": ["Z1", "Z2", "Zc", "Zo", "Zu"], "name": ["a", "b", "c", "o", "u"]},
                 # Z1: ten cells (row 0, columns 0-9 of a grid where 9 are covered): exactly 90%;
                 # Z2: a whole row; Zc and Zu: smaller than a cell, off the cell centres, the last in the list
                 [shapely.box(0, 900, 1000, 1000), shapely.box(0, 800, 1000, 900), shapely.box(120, 420, 130, 430),
                  shapely.box(5000, 5000, 5010, 5010), shapely.box(920, 20, 930, 30)])   # Zo: off the grid
    five = np.zeros((10, 10), np.uint8)
    five[:, :9] = 1                                                   # all but column 9
    r = analyse({"5G": five}, GRID, COMMUNES, load_targets(), zones=zones)
    z = r.zones.set_index("code")
    assert z.loc["Z1", "covered_area_pct_5g"] == 90.0 and z.loc["Z1", "covered_5g"]    # at the threshold: covered
    assert z.loc["Z1", "covered_iot"]
    assert z.loc["Zc", "covered_area_pct_5g"] == 100.0 and z.loc["Zu", "covered_area_pct_5g"] == 0.0  # centroid cell
    assert z.loc["Zc", "covered_area_pct_iot"] == 100.0 and z.loc["Zu", "covered_area_pct_iot"] == 0.0
    assert z.loc["Zo", "covered_area_pct_5g"] == 0.0 and z.loc["Zo", "covered_area_pct_iot"] == 0.0
    assert (z["sites_5g"] == 0).all() and z["sites_5g"].dtype.kind == "i" and not z["has_5g_site"].any()
    # a share to two decimals: Z1 of the hand-counted grid is 8/9 covered
    assert _analyse(zones=ZONES).zones.set_index("code").loc["Z1", "covered_area_pct_5g"] == 88.89


def test_a_commune_outside_the_run_s_grid_is_a_clear_error_not_a_crash():
    """A commune map of a commune the run's grid does not reach has no signal to show: an input error naming
    the commune (exit code 2 from the CLI), not rasterio's empty-window error."""
    import dataclasses

    import shapely

    import phusong
    from phusong.errors import InputError

    coverage, gaps = phusong.Coverage.example(), phusong.GapResult.example()
    far = gaps.communes.copy()
    far.loc[far.index[1], "geometry"] = shapely.affinity.translate(far.geometry.iloc[1], 50_000.0, 0.0)
    with pytest.raises(InputError, match="commune 00002 .*outside the run's grid"):
        phusong.coverage_map(coverage, dataclasses.replace(gaps, communes=far), commune="00002")
    # half outside still maps (its part inside has signal); the commune the example keeps inside too
    half = gaps.communes.copy()
    width = half.geometry.iloc[1].bounds[2] - half.geometry.iloc[1].bounds[0]
    half.loc[half.index[1], "geometry"] = shapely.affinity.translate(half.geometry.iloc[1], 0.5 * width, 0.0)
    for communes in (half, gaps.communes):
        fmap = phusong.coverage_map(coverage, dataclasses.replace(gaps, communes=communes), commune="00002", lang="en")
        assert "Xã Hai" in fmap.get_root().render()


def test_communes_beyond_the_run_s_grid_are_noted_and_warned(caplog):
    """A run simulated without --area covers only its sites' reach: communes beyond its grid get a note in
    every report (English and Vietnamese) and a warning, naming them and the area outside; none when every
    commune lies on the grid."""
    import logging

    import shapely

    import phusong
    from phusong.data.targets import load_targets
    from phusong.gaps.rules import analyse

    coverage, example = phusong.Coverage.example(), phusong.GapResult.example()
    communes = example.communes[["code", "name", "geometry"]]
    with caplog.at_level(logging.WARNING, logger="phusong"):
        inside = analyse(coverage.covered, coverage.grid, communes, load_targets())
    assert not any("where the run has no values" in n for n in inside.notes) and not caplog.records
    moved = communes.copy()   # the second commune 1.2 km east: 3.6 of its 9 km² off the 6 km grid
    moved.loc[moved.index[1], "geometry"] = shapely.affinity.translate(moved.geometry.iloc[1], 1200.0, 0.0)
    with caplog.at_level(logging.WARNING, logger="phusong"):
        result = analyse(coverage.covered, coverage.grid, moved, load_targets())
    note = next(n for n in result.notes if "where the run has no values" in n)
    assert note.startswith("1 of 4 communes lie partly or wholly where the run has no values, beyond its grid or its "
                           "study area (Xã Hai; 4 km²)")
    assert "ngoài lưới" in note.vi
    assert [r.getMessage() for r in caplog.records] == [str(note)]
    # on the grid but outside the run's study area (covered 255: no value) counts too: the east half here
    caplog.clear()
    half = {tech: raster.copy() for tech, raster in coverage.covered.items()}
    for raster in half.values():
        raster[:, raster.shape[1] // 2:] = 255
    with caplog.at_level(logging.WARNING, logger="phusong"):
        east = analyse(half, coverage.grid, communes, load_targets())
    assert any(n.startswith("2 of 4 communes lie partly or wholly where the run has no values") and
               "(Xã Hai, Phường Bốn; 18 km²)" in n for n in east.notes)
    # a self-intersecting (invalid) commune polygon is no error
    bowtie = communes.copy()
    x0, y0, x1, y1 = bowtie.geometry.iloc[0].bounds
    bowtie.loc[bowtie.index[0], "geometry"] = shapely.Polygon([(x0, y0), (x1, y1), (x1, y0), (x0, y1)])
    analyse(coverage.covered, coverage.grid, bowtie, load_targets())
