"""Malformed files, generated: every reader, through its command, either accepts a file or refuses it
with exit code 2 and one line naming the file, no traceback, and nothing written.

Each example takes a valid file and damages it the way real files get damaged: truncated, emptied,
cut to its header, saved with another delimiter or a legacy encoding, a number replaced by text,
NaN, inf, a huge or negative value, a column doubled or dropped, lon and lat swapped, projected
coordinates where degrees belong, random bytes.
"""
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from phusong._raster import write_geotiff
from phusong.cli import cli

from .test_gap_rules import COMMUNES, GRID, write_run_folder

SITES = ("site_id,cell_id,lon,lat,technology,frequency_mhz,antenna_height_m,tx_power_dbm,operator\n"
         "S1,S1-1,105.0018,21.6802,4G,1800,30,46,Viettel Lạng Sơn\n"
         "S1,S1-2,105.0018,21.6802,5G,3500,30,49,Viettel Lạng Sơn\n"
         "S2,S2-1,105.0030,21.6790,4G,1800,25,43,VNPT\n")
POINTS = "code,name,lon,lat\nC1,Xã Tân Thành,105.0010,21.6800\nC2,Phường Đông Kinh,105.0050,21.6760\n"
INDICATORS = "target_id,value,source,date\nT25-SPEED-2X,1.4,Đo kiểm,2026-01\n"
PROFILE = "d_km,h_m\n0,120\n0.5,160\n1.0,140\n1.5,180\n2.0,130\n"
TARGETS = ('[[target]]\nid = "A"\ndeadline = "2025"\nmeasure = "centres_5g"\ngoal = 100.0\nunit = "%"\n'
           'text_vi = "Trung tâm xã"\ntext_en = "Centres"\n')

SETTLE = settings(max_examples=30, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def _damage(text: str, kind: str, at: float) -> bytes:
    lines = text.splitlines()
    header, rows = lines[0], lines[1:]
    cells = [r.split(",") for r in rows]
    col = int(at * (len(header.split(",")) - 1) + 0.5)
    if kind == "truncate":
        raw = text.encode("utf-8")
        return raw[:int(at * len(raw))]
    if kind == "empty":
        return b""
    if kind == "header_only":
        return (header + "\n").encode()
    if kind == "delimiter":
        return text.replace(",", "|").encode()
    if kind == "cp1258":
        return text.encode("cp1258", errors="replace")
    if kind == "random_bytes":
        return bytes(np.random.default_rng(int(at * 1e6)).integers(0, 256, 300, dtype=np.uint8))
    if kind in ("text_in_number", "nan", "inf", "huge", "negative"):
        value = {"text_in_number": "abc", "nan": "nan", "inf": "inf", "huge": "1e308", "negative": "-5e4"}[kind]
        for c in cells:
            if col < len(c):
                c[col] = value
        return "\n".join([header] + [",".join(c) for c in cells]).encode()
    if kind == "duplicate_column":
        names = header.split(",")
        return "\n".join([header + "," + names[col]] + [r + "," + c[col] for r, c in zip(rows, cells)]).encode()
    if kind == "drop_column":
        drop = lambda parts: ",".join(p for i, p in enumerate(parts) if i != col)  # noqa: E731
        return "\n".join([drop(header.split(","))] + [drop(c) for c in cells]).encode()
    if kind == "swap_lonlat":
        return text.replace("lon,lat", "lat,lon").encode()
    if kind == "projected":
        return text.replace("105.00", "641234.").replace("21.6", "2396512.").encode()
    raise AssertionError(kind)


TEXT_DAMAGE = st.sampled_from(["truncate", "empty", "header_only", "delimiter", "cp1258", "random_bytes",
                               "text_in_number", "nan", "inf", "huge", "negative", "duplicate_column",
                               "drop_column", "swap_lonlat", "projected"])
FRACTION = st.floats(0.0, 1.0)


def _check(result, path: Path, outputs=()):
    """Accepted (0), or refused (2) with one line naming the file; never a traceback; nothing half-written."""
    assert result.exit_code in (0, 2), (result.exit_code, result.output)
    assert "Traceback" not in result.output
    if result.exit_code == 2:
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.output
        assert path.name in lines[0], result.output
        for out in outputs:
            assert not Path(out).exists(), out
    for out in outputs:
        leftovers = [p.name for p in Path(out).parent.glob(f".{Path(out).name}.*")]
        assert not leftovers, leftovers


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("badinput")
    write_run_folder(folder / "run")
    COMMUNES.to_crs("EPSG:4326").to_file(folder / "communes.geojson", driver="GeoJSON")
    return folder


def _gaps(run_folder, out, *extra):
    return CliRunner().invoke(cli, ["gaps", "--run", str(run_folder / "run"), "--communes",
                                    str(run_folder / "communes.geojson"), *extra, "--out", str(out)])


@SETTLE
@given(kind=TEXT_DAMAGE, at=FRACTION)
def test_damaged_site_lists(kind, at):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sites.csv"
        path.write_bytes(_damage(SITES, kind, at))
        result = CliRunner().invoke(cli, ["sites", "validate", str(path)])
        assert result.exit_code in (0, 2) and "Traceback" not in result.output, result.output
        if result.exit_code == 2:
            for line in result.output.strip().splitlines():     # one line per problem, each naming the file
                assert line.startswith((str(path), "Error: ")) and path.name in line, result.output


@SETTLE
@given(kind=TEXT_DAMAGE, at=FRACTION)
def test_damaged_points_indicators_and_profiles(kind, at, run_folder):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        centres = tmp / "centres.csv"
        centres.write_bytes(_damage(POINTS, kind, at))
        out = tmp / "g.gpkg"
        result = _gaps(run_folder, out, "--centres", str(centres))
        _check(result, centres, [out])
        indicators = tmp / "ind.csv"
        indicators.write_bytes(_damage(INDICATORS, kind, at))
        out2 = tmp / "g2.gpkg"
        result = _gaps(run_folder, out2, "--indicators", str(indicators))
        _check(result, indicators, [out2])
        profile = tmp / "profile.csv"
        profile.write_bytes(_damage(PROFILE, kind, at))
        result = CliRunner().invoke(cli, ["path", "--profile", str(profile), "--freq-mhz", "1800",
                                          "--tx-height-m", "30", "--json"])
        _check(result, profile)
        if result.exit_code == 0:
            assert all(np.isfinite(v) for v in json.loads(result.output).values() if isinstance(v, float))


@SETTLE
@given(kind=st.sampled_from(["truncate", "empty", "random_bytes", "bad_value", "bad_key", "wrong_type"]),
       at=FRACTION)
def test_damaged_scenarios_and_catalogues(kind, at, run_folder):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        catalogue = tmp / "targets.toml"
        text = {"bad_value": TARGETS.replace("100.0", '"all"'), "bad_key": TARGETS.replace("goal", "gaol"),
                "wrong_type": TARGETS.replace('"centres_5g"', "5")}.get(kind)
        catalogue.write_bytes(text.encode() if text else _damage(TARGETS + "\n", kind, at))
        out = tmp / "g.gpkg"
        result = _gaps(run_folder, out, "--targets", str(catalogue))
        _check(result, catalogue, [out])
        scenario = tmp / "study.toml"
        valid = '[study]\nresolution_m = 100\n[model]\nradius_km = 5\n[coverage]\nlocation_probability = 0.9\n'
        text = {"bad_value": valid.replace("100", '"fine"'), "bad_key": valid.replace("radius_km", "radius"),
                "wrong_type": valid.replace("5\n", "[5]\n")}.get(kind)
        scenario.write_bytes(text.encode() if text else _damage(valid, kind, at))
        result = CliRunner().invoke(cli, ["run", str(scenario), "--out", str(tmp / "o")])
        assert result.exit_code == 2 and "Traceback" not in result.output   # no inputs: never runs
        assert len(result.output.strip().splitlines()) == 1 and not (tmp / "o").exists()


@SETTLE
@given(kind=st.sampled_from(["truncate", "empty", "random_bytes", "no_crs"]), at=st.floats(0.05, 0.95))
@example(kind="truncate", at=0.625)   # cut in the GeoTIFF tags: GDAL's warnings and rasterio's once leaked out
def test_damaged_rasters(kind, at, run_folder):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        good = tmp / "good.tif"
        write_geotiff(good, np.full((40, 40), 120.0, np.float32), GRID, nodata=-9999.0)
        raw = good.read_bytes()
        bad = tmp / "dem.tif"
        if kind == "no_crs":
            import rasterio
            with rasterio.open(bad, "w", driver="GTiff", width=5, height=5, count=1, dtype="float32") as dst:
                dst.write(np.zeros((1, 5, 5), np.float32))
        else:
            bad.write_bytes({"truncate": raw[:int(at * len(raw))], "empty": b"",
                             "random_bytes": bytes(range(256)) * 3}[kind])
        result = CliRunner().invoke(cli, ["terrain", "info", str(bad), "--resolution-m", "100"])
        _check(result, bad)
        out = tmp / "g.gpkg"
        out = tmp / f"g-{kind}.gpkg"
        result = _gaps(run_folder, out, "--population", str(bad))
        _check(result, bad, [out])


def test_a_layer_that_is_not_there_and_a_raster_elsewhere(run_folder, tmp_path):
    import geopandas as gpd
    from affine import Affine

    from phusong._raster import Grid

    gpkg = tmp_path / "communes.gpkg"
    gpd.read_file(run_folder / "communes.geojson").to_file(gpkg, layer="communes")
    base = ["gaps", "--run", str(run_folder / "run"), "--communes", str(gpkg)]
    result = CliRunner().invoke(cli, [*base, "--communes-layer", "xa", "--out", str(tmp_path / "a.gpkg")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert f"{gpkg}: cannot read layer 'xa'" in result.output and not (tmp_path / "a.gpkg").exists()
    # a population raster in another CRS, on the other side of the world: refused, not zero people
    elsewhere = Grid(10, 10, Affine(0.01, 0, -71.5, 0, -0.01, 44.5), "EPSG:4326")
    pop = tmp_path / "pop.tif"
    write_geotiff(pop, np.full((10, 10), 50.0, np.float32), elsewhere, nodata=-1.0)
    result = CliRunner().invoke(cli, [*base, "--population", str(pop), "--out", str(tmp_path / "b.gpkg")])
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1
    assert "the population raster (EPSG:4326) does not overlap the study area (EPSG:32648)" in result.output
