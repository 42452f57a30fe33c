import logging
import warnings

import numpy as np
import pytest
import rasterio
import rasterio.shutil
from rasterio.crs import CRS
from rasterio.transform import from_origin

from phusong._raster import Grid, write_geotiff
from phusong.data.terrain import load_terrain, read_mosaic
from phusong.errors import InputError

from .conftest import shared_path


def test_srtm_void_count_and_fill(caplog):
    path = shared_path("data", "terrain", "N46E008.hgt")
    heights, grid, voids = read_mosaic(path)
    assert heights.shape == (1201, 1201)
    assert voids == 103_743
    assert np.isnan(heights).sum() == 103_743
    with caplog.at_level(logging.WARNING):
        t = load_terrain(path, "EPSG:32632", 90.0)
    assert "103743 void cells" in caplog.text
    assert t.void_count == 103_743
    assert t.grid.crs.to_epsg() == 32632 and t.grid.res_m == 90.0
    h, w = t.array.shape
    assert np.isfinite(t.array[h // 10: -h // 10, w // 10: -w // 10]).all()  # voids filled inside the tile
    assert np.isnan(t.array[0, 0])  # the corner of the UTM box lies outside the rotated tile
    assert 150 < np.nanmin(t.array) and np.nanmax(t.array) < 4300  # Alps: SRTM range 187–4173 m


def test_zipped_tile_reads_like_the_plain_one(tmp_path):
    zipped = shared_path("data", "terrain", "N00E010.hgt.zip")
    heights, grid, voids = read_mosaic(zipped)
    assert heights.shape == (1201, 1201) and voids == 0
    assert grid.crs.to_epsg() == 4326
    assert heights.min() == 1 and heights.max() == 1005  # README of the tiles
    import zipfile
    with zipfile.ZipFile(zipped) as zf:
        zf.extract("N00E010.hgt", tmp_path)
    plain, plain_grid, plain_voids = read_mosaic(tmp_path / "N00E010.hgt")
    np.testing.assert_array_equal(heights, plain)
    assert (grid.transform, voids) == (plain_grid.transform, plain_voids)
    a = load_terrain(zipped, "EPSG:32632", 90.0)
    b = load_terrain(tmp_path / "N00E010.hgt", "EPSG:32632", 90.0)
    assert a.grid.crs.is_projected and a.grid.transform == b.grid.transform
    np.testing.assert_array_equal(a.array, b.array)


def test_tile_cut_in_four_mosaics_back_exactly(tmp_path):
    path = shared_path("data", "terrain", "N44W072.hgt")
    with rasterio.open(path) as src:
        full = src.read(1)
        t = src.transform
        crs = src.crs
    pieces = []
    half = 600  # pieces overlap by one row/column, like neighbouring SRTM tiles
    for r0, r1 in ((0, half + 1), (half, 1201)):
        for c0, c1 in ((0, half + 1), (half, 1201)):
            p = tmp_path / f"piece_{r0}_{c0}.tif"
            grid = Grid(r1 - r0, c1 - c0, t @ t.translation(c0, r0), crs)
            write_geotiff(p, full[r0:r1, c0:c1], grid, nodata=-32768)
            pieces.append(p)
    heights, grid, voids = read_mosaic(pieces[::-1])
    assert voids == 0
    np.testing.assert_array_equal(heights, full.astype(np.float32))
    assert grid.transform.almost_equals(t)


def test_reprojection_to_utm_keeps_heights(shared):
    path = shared("data", "terrain", "N44W072.hgt")
    t = load_terrain(path, "EPSG:32619", 30.0)
    assert t.grid.crs.to_epsg() == 32619
    assert abs(t.grid.transform.a - 30.0) < 1e-9
    # Mt Washington (1,908 m in this tile) survives bilinear resampling within a few metres
    assert 1880 < np.nanmax(t.array) <= 1908


def test_esri_ascii_grid_and_same_grid_passthrough(tmp_path):
    asc = tmp_path / "dem.asc"
    z = np.arange(20, dtype=float).reshape(4, 5) * 10
    header = "ncols 5\nnrows 4\nxllcorner 500000\nyllcorner 2400000\ncellsize 30\nNODATA_value -9999\n"
    asc.write_text(header + "\n".join(" ".join(f"{v:g}" for v in row) for row in z))
    (tmp_path / "dem.prj").write_text(rasterio.crs.CRS.from_epsg(32648).to_wkt())
    t = load_terrain(asc, "EPSG:32648", 30.0)
    np.testing.assert_array_equal(t.array, z.astype(np.float32))  # own grid, unchanged
    assert t.grid.transform == from_origin(500000, 2400120, 30, 30)


def test_dem_not_covering_study_area_is_a_clear_error(tmp_path):
    grid = Grid(10, 10, from_origin(500000, 2400300, 30, 30), rasterio.crs.CRS.from_epsg(32648))
    p = tmp_path / "small.tif"
    write_geotiff(p, np.full((10, 10), 100, np.float32), grid)
    with pytest.raises(InputError, match="does not cover the study area"):
        load_terrain(p, "EPSG:32648", 30.0, bounds=(499000, 2399000, 501000, 2401000))


def test_unreadable_and_missing_files(tmp_path):
    bad = tmp_path / "x.tif"
    bad.write_text("not a tiff")
    with pytest.raises(InputError, match="x.tif"):
        read_mosaic(bad)
    with pytest.raises(InputError, match="no such file"):
        read_mosaic(tmp_path / "missing.hgt")


def test_geographic_working_crs_is_refused(shared):
    with pytest.raises(InputError, match="not projected"):
        load_terrain(shared("data", "terrain", "N44W072.hgt"), "EPSG:4326", 30.0)


def test_void_fill_values_are_weighted_averages_of_the_edge():
    """Inverse-distance weighting: a constant plateau fills exactly; any hole stays within the range of the
    heights around it (a weighted average cannot leave it); valid cells are untouched; no NaN is left."""
    from phusong.data.terrain import fill_voids

    flat = np.full((40, 40), 250.0, np.float32)
    flat[10:20, 10:20] = np.nan
    np.testing.assert_array_equal(fill_voids(flat), np.full((40, 40), 250.0, np.float32))
    y, x = np.mgrid[0:50, 0:50]
    plane = (100 + 2 * x + 3 * y).astype(np.float32)
    holed = plane.copy()
    holed[5:12, 5:12] = np.nan
    filled = fill_voids(holed)
    ring = plane[4:13, 4:13]
    assert np.isfinite(filled).all()
    assert ring.min() <= filled[5:12, 5:12].min() and filled[5:12, 5:12].max() <= ring.max()
    np.testing.assert_array_equal(filled[~np.isnan(holed)], plane[~np.isnan(holed)])


@pytest.mark.parametrize("tile, epsg", [(("data", "langson", "terrain_standin_3arcsec.tif"), "EPSG:32648"),
                                        (("data", "terrain", "N44W072.hgt"), "EPSG:32619"),
                                        (("data", "terrain", "N00E010.hgt.zip"), "EPSG:32632")])
def test_crs_auto_is_the_terrains_utm_zone(tile, epsg):
    from click.testing import CliRunner

    from phusong.cli import cli

    path = shared_path(*tile)
    result = CliRunner().invoke(cli, ["terrain", "info", str(path), "--resolution-m", "300"])
    assert result.exit_code == 0, result.output
    assert f"in {epsg}" in result.output


def test_a_grid_far_from_its_crs_zone_is_refused_before_allocating():
    """N00E010 (Gabon) in UTM 48N would be a grid of hundreds of GiB: one line, exit 2, nothing allocated."""
    from click.testing import CliRunner

    from phusong.cli import cli

    path = shared_path("data", "terrain", "N00E010.hgt.zip")
    result = CliRunner().invoke(cli, ["terrain", "info", str(path), "--crs", "EPSG:32648"])
    assert result.exit_code == 2
    assert "the working grid would be" in result.output and "GiB of heights" in result.output
    assert "use --crs auto" in result.output


@pytest.mark.parametrize("slope, facing_deg", [(0.5, 270.0), (0.5, 90.0), (1.0, 0.0), (0.25, 135.0)])
def test_hillshade_of_a_plane_is_lamberts_law(slope, facing_deg):
    """A plane of known slope facing a known direction, lit from 315°/45°: every interior cell is
    1 + 254·cos(angle between the surface normal and the light), written out from vectors."""
    from affine import Affine

    from phusong._raster import Grid, hillshade

    res = 30.0
    grid = Grid(60, 80, Affine(res, 0, 500_000.0, 0, -res, 2_400_000.0), "EPSG:32648")
    x, y = grid.xy(*np.indices((60, 80)))
    down = np.radians(facing_deg)                      # the direction the slope faces (downhill)
    z = (-slope * (x * np.sin(down) + y * np.cos(down))).astype(np.float32)
    relief = hillshade(z - z.min(), grid)
    normal = np.array([slope * np.sin(down), slope * np.cos(down), 1.0]) / np.sqrt(1 + slope ** 2)
    light = np.array([np.sin(np.radians(315)) * np.cos(np.radians(45)),
                      np.cos(np.radians(315)) * np.cos(np.radians(45)), np.sin(np.radians(45))])
    expected = round(1 + 254 * max(normal @ light, 0.0))
    assert np.all(np.abs(relief.array[1:-1, 1:-1].astype(int) - expected) <= 1), (expected, relief.array[30, 40])
    assert relief.grid == grid


def test_hillshade_is_averaged_down_and_marks_missing_terrain():
    from affine import Affine

    from phusong._raster import Grid, hillshade

    grid = Grid(1000, 500, Affine(30.0, 0, 0.0, 0, -30.0, 30_000.0), "EPSG:32648")
    heights = np.zeros((1000, 500), np.float32)
    heights[:, :100] = np.nan
    relief = hillshade(heights, grid, max_px=250)      # 4 cells to a side become one
    assert relief.array.shape == (250, 125) and relief.grid.res_m == 120.0
    assert (relief.array[:, :25] == 0).all()                      # no terrain: nodata
    assert (relief.array[:, 26:] == round(1 + 254 * np.sin(np.radians(45)))).all()   # flat ground


def test_the_relief_is_kept_in_the_cache_and_read_back_without_shading_again(tmp_path, monkeypatch):
    """FootprintCache.relief: the first call shades and keeps the relief, a second with the same terrain key reads
    it back exactly (hillshade not called), another key or a damaged file is shaded again, no temporary is left,
    and the relief of a grid larger than the basemap's size is averaged down as hillshade's own."""
    from phusong._raster import Grid, hillshade
    from phusong.coverage import cache as cache_module
    from phusong.coverage.cache import FootprintCache

    rng = np.random.default_rng(4)
    heights = (rng.random((2600, 900)) * 300).astype(np.float32)
    heights[:40, :] = np.nan
    grid = Grid(2600, 900, from_origin(500_000, 2_400_000, 30, 30), "EPSG:32648")
    expected = hillshade(heights, grid)
    assert expected.array.shape == (1300, 450)      # (2 cells to a side become one)
    cache = FootprintCache(tmp_path)
    first = cache.relief("terrain-1", heights, grid)
    np.testing.assert_array_equal(first.array, expected.array)
    assert first.grid == expected.grid and first.nodata == 0
    calls = []
    monkeypatch.setattr(cache_module, "hillshade", lambda *a, **k: (calls.append(1), hillshade(*a, **k))[1])
    again = cache.relief("terrain-1", heights, grid)
    assert calls == [] and again.grid == expected.grid
    np.testing.assert_array_equal(again.array, expected.array)
    cache.relief("terrain-2", heights, grid)
    assert calls == [1]
    kept = list((tmp_path / "relief").iterdir())
    assert len(kept) == 2 and all(p.suffix == ".npy" and not p.name.startswith(".") for p in kept)
    for path in kept:
        path.write_bytes(b"not an array")
    np.testing.assert_array_equal(cache.relief("terrain-1", heights, grid).array, expected.array)
    assert calls == [1, 1]
    for path in (tmp_path / "relief").glob("*.npy"):
        path.write_bytes(b"")   # (an empty file: np.load raises EOFError)
    assert cache.relief("terrain-1", heights, grid).nodata == 0 and calls == [1, 1, 1]


def test_rasters_identical_to_kept_ones_are_linked_and_any_difference_is_written(tmp_path, monkeypatch):
    """FootprintCache.write_raster: the file write_geotiff writes; the same cells and metadata again give a hard
    link to the kept file without encoding; a changed cell, grid, nodata, tag or description is written anew (the
    bytes write_geotiff gives); a kept file changed in place is not reused; only the newest few are kept."""
    from phusong import _raster
    from phusong.coverage import cache as cache_module
    from phusong.coverage.cache import FootprintCache

    rng = np.random.default_rng(5)
    array = rng.normal(-90, 10, (300, 260)).astype(np.float32)
    array[:20] = np.nan
    grid = Grid(300, 260, from_origin(500_000, 2_400_000, 30, 30), "EPSG:32648")
    options = dict(nodata=np.nan, tags={"DESCRIPTION": "a study"}, band_description="rsrp")
    cache = FootprintCache(tmp_path / "cache")

    def fresh(name, a, g, **kw):   # what write_geotiff alone writes
        write_geotiff(tmp_path / f"fresh-{name}.tif", a, g, **kw)
        return (tmp_path / f"fresh-{name}.tif").read_bytes()

    assert cache.write_raster(tmp_path / "first.tif", array, grid, **options) is False
    assert (tmp_path / "first.tif").read_bytes() == fresh("first", array, grid, **options)
    calls = []
    monkeypatch.setattr(_raster, "write_geotiff", lambda *a, **k: (calls.append(1), write_geotiff(*a, **k))[1])
    assert cache.write_raster(tmp_path / "again.tif", array.copy(), grid, **options) is True
    assert calls == [] and (tmp_path / "again.tif").samefile(tmp_path / "first.tif")

    changed = array.copy()
    changed[150, 100] += 0.01
    moved = Grid(300, 260, from_origin(500_030, 2_400_000, 30, 30), "EPSG:32648")
    # two datum shifts of one projection, which rasterio's str() names alike
    utm48 = "+proj=utm +zone=48 +ellps=WGS84 +units=m +no_defs +towgs84="
    shifted = [Grid(300, 260, grid.transform, CRS.from_proj4(utm48 + shift))
               for shift in ("-191.9,-39.3,-111.4,-0.009,0.0197,-0.0042,0.2529", "0,0,0")]
    assert str(shifted[0].crs) == str(shifted[1].crs)
    variants = {"cell": (changed, grid, options), "grid": (array, moved, options),
                "datum": (array, shifted[0], options), "other datum": (array, shifted[1], options),
                "dtype": (array.astype(np.float64), grid, options),
                "shape": (array.reshape(260, 300), Grid(260, 300, grid.transform, grid.crs), options),
                "nodata": (array, grid, {**options, "nodata": -999.0}),
                "tag": (array, grid, {**options, "tags": {"DESCRIPTION": "another study"}}),
                "description": (array, grid, {**options, "band_description": "rsrp2"})}
    for name, (a, g, kw) in variants.items():
        assert cache.write_raster(tmp_path / f"{name}.tif", a, g, **kw) is False, name
        assert (tmp_path / f"{name}.tif").read_bytes() == fresh(name, a, g, **kw), name
    assert len(calls) == len(variants)

    with open(tmp_path / "first.tif", "r+b") as fh:   # (the run's file, and so the kept link, changed in place)
        fh.seek(0, 2)
        fh.write(b"x")
    assert cache.write_raster(tmp_path / "third.tif", array, grid, **options) is False
    assert (tmp_path / "third.tif").read_bytes() == fresh("third", array, grid, **options)
    assert cache.write_raster(tmp_path / "fourth.tif", array, grid, **options) is True

    monkeypatch.setattr(cache_module, "KEEP_RASTERS", 2)
    cache.write_raster(tmp_path / "last.tif", array + 1.0, grid, **options)
    kept = sorted(p.name for p in (tmp_path / "cache" / "rasters").iterdir())
    assert len(kept) == 4 and {p.rsplit(".", 1)[1] for p in kept} == {"json", "tif"}
    assert {p.rsplit(".", 1)[0] for p in kept if p.endswith(".tif")} == {p.rsplit(".", 1)[0] for p in kept
                                                                         if p.endswith(".json")}

    # a run of more rasters than KEEP_RASTERS keeps them all (its what-if finds every one)
    run = [array + float(k) for k in range(2, 7)]
    for k, a in enumerate(run):
        assert cache.write_raster(tmp_path / f"run-{k}.tif", a, grid, keep_at_least=10, **options) is False
    assert all(cache.write_raster(tmp_path / f"what-if-{k}.tif", a, grid, keep_at_least=10, **options)
               for k, a in enumerate(run))

    # where hard links fail, the raster is written and nothing is left in the cache for it
    def no_link(*args):
        raise OSError(18, "Invalid cross-device link")
    monkeypatch.setattr(cache_module.os, "link", no_link)
    fresh_cache = FootprintCache(tmp_path / "no-links")
    assert fresh_cache.write_raster(tmp_path / "unlinked.tif", array, grid, **options) is False
    assert (tmp_path / "unlinked.tif").read_bytes() == fresh("unlinked", array, grid, **options)
    assert not list((tmp_path / "no-links" / "rasters").glob("*"))


def test_rasters_are_cloud_optimised_with_exact_cells_and_averaged_overviews(tmp_path):
    """write_geotiff: a COG (GDAL's own LAYOUT mark, 256-cell tiles, ZSTD) whose cells read back exactly,
    with overviews down to one tile: block means of the float cells (NaN left out) and, for integers, one of
    the block's own values. GDAL's command-line gdalinfo (a separate build) reads the layout too."""
    import shutil
    import subprocess

    rng = np.random.default_rng(3)
    rsrp = rng.normal(-90, 10, (700, 600)).astype(np.float32)
    rsrp[100:300, 50:90] = np.nan
    rsrp[:256, 256:512] = np.nan                 # a tile with no value: left out of the file, read back as nodata
    server = rng.integers(-1, 50, (700, 600)).astype(np.int32)
    server[256:512, :256] = -1
    grid = Grid(700, 600, from_origin(500_000, 2_400_000, 30, 30), "EPSG:32648")
    for name, array, empty in (("rsrp.tif", rsrp, (0, 1)), ("server.tif", server, (1, 0))):
        write_geotiff(tmp_path / name, array, grid, nodata=-1 if array.dtype.kind == "i" else np.nan)
        with rasterio.open(tmp_path / name) as ds:
            assert ds.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
            assert ds.profile["compress"].lower() == "zstd" and ds.block_shapes == [(256, 256)]
            assert ds.overviews(1) == [2, 4]
            np.testing.assert_array_equal(ds.read(1), array)
            # GDAL's TIFF metadata gives each tile's byte count (none for a tile left out): only the empty one is
            sizes = {ij: ds.get_tag_item(f"BLOCK_SIZE_{ij[1]}_{ij[0]}", "TIFF", bidx=1) for ij, _ in ds.block_windows(1)}
            assert sizes.pop(empty) is None and all(int(v) > 0 for v in sizes.values())
            half = ds.read(1, out_shape=(350, 300))
        blocks = array.reshape(350, 2, 300, 2).transpose(0, 2, 1, 3).reshape(350, 300, 4)
        if array.dtype.kind == "f":
            with np.errstate(invalid="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                expected = np.nanmean(blocks.astype(np.float64), axis=2)
            np.testing.assert_allclose(half, expected, rtol=1e-6)
        else:
            assert (blocks == half[..., None]).any(axis=2).all()
        if shutil.which("gdalinfo"):
            info = subprocess.run(["gdalinfo", str(tmp_path / name)], capture_output=True, text=True, check=True)
            assert "LAYOUT=COG" in info.stdout and "COMPRESSION=ZSTD" in info.stdout
            assert "Overviews: 300x350, 150x175" in info.stdout


def test_a_raster_made_in_memory_is_the_file_gdal_writes_itself(tmp_path):
    """write_geotiff makes the COG in memory and writes it past the page cache: the bytes GDAL's COG driver
    writes to a file from the same tiled image and overviews."""
    from rasterio.enums import Resampling
    from rasterio.io import MemoryFile

    from phusong._raster import COG_BLOCK, overview_factors

    rsrp = np.random.default_rng(8).normal(-90, 10, (900, 700)).astype(np.float32)
    rsrp[:300, :400] = np.nan
    grid = Grid(900, 700, from_origin(500_000, 2_400_000, 30, 30), "EPSG:32648")
    write_geotiff(tmp_path / "ours.tif", rsrp, grid, nodata=np.nan, tags={"A": "b"}, band_description="RSRP")
    with MemoryFile() as mem:
        with mem.open(driver="GTiff", height=900, width=700, count=1, dtype="float32", crs=grid.crs,
                      transform=grid.transform, nodata=np.nan, tiled=True, blockxsize=COG_BLOCK,
                      blockysize=COG_BLOCK, sparse_ok=True) as ds:
            ds.write(rsrp, 1)
            ds.update_tags(A="b")
            ds.set_band_description(1, "RSRP")
            ds.build_overviews(overview_factors(rsrp.shape), Resampling.average)
        with mem.open() as src:
            rasterio.shutil.copy(src, tmp_path / "gdal.tif", driver="COG", compress="ZSTD", level=1,
                                 num_threads="ALL_CPUS", blocksize=COG_BLOCK, overviews="FORCE_USE_EXISTING",
                                 sparse_ok="TRUE")
    assert (tmp_path / "ours.tif").read_bytes() == (tmp_path / "gdal.tif").read_bytes()


def test_a_kept_reprojection_is_read_back_exactly_and_follows_the_tiles(tmp_path, monkeypatch):
    import os

    from phusong.data import terrain as terrain_module
    from phusong.data.demo import example_inputs

    with rasterio.open(example_inputs().dem) as src:
        profile, heights = src.profile, src.read(1)
    profile.update(driver="GTiff")
    dem = tmp_path / "dem.tif"

    def write(z):
        with rasterio.open(dem, "w", **profile) as ds:
            ds.write(z, 1)

    write(heights)
    keep = tmp_path / "kept"
    first = load_terrain(dem, "EPSG:32648", 150.0, cache_dir=keep)
    assert len(list(keep.iterdir())) == 1 and len(list(keep.glob("*.npy"))) == 1   # no temporary left
    calls = []
    real = terrain_module.reproject
    monkeypatch.setattr(terrain_module, "reproject", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    again = load_terrain(dem, "EPSG:32648", 150.0, cache_dir=keep)
    assert calls == [] and again.grid == first.grid
    np.testing.assert_array_equal(again.array, first.array)
    # the tile changed (its modification time): reprojected again, from the new heights
    write(heights + 10)
    os.utime(dem, ns=(dem.stat().st_atime_ns, dem.stat().st_mtime_ns + 10**9))
    moved = load_terrain(dem, "EPSG:32648", 150.0, cache_dir=keep)
    assert calls == [1]
    np.testing.assert_allclose(moved.array, first.array + 10, atol=1e-3)
    # a damaged file is reprojected again; another grid is kept apart
    for path in keep.glob("*.npy"):
        path.write_bytes(b"not an array")
    np.testing.assert_array_equal(load_terrain(dem, "EPSG:32648", 150.0, cache_dir=keep).array, moved.array)
    assert calls == [1, 1]
    for path in keep.glob("*.npy"):
        path.write_bytes(b"")   # (an empty file: np.load raises EOFError)
    np.testing.assert_array_equal(load_terrain(dem, "EPSG:32648", 150.0, cache_dir=keep).array, moved.array)
    assert calls == [1, 1, 1]
    load_terrain(dem, "EPSG:32648", 200.0, cache_dir=keep)
    assert len(list(keep.glob("*.npy"))) == 3


def test_heights_for_many_passes_are_copied_into_huge_page_memory():
    """huge_page_array: the same values, C-contiguous, writable, a copy, and, where the kernel has transparent
    huge pages, in a mapping it may back with them (/proc/self/smaps: THPeligible) whatever NumPy's
    own advice; small arrays stay as they are."""
    import mmap
    import pathlib

    from phusong._raster import HUGE_PAGE, huge_page_array

    small = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert huge_page_array(small) is small
    heights = np.random.default_rng(1).normal(300, 50, (1500, 1200)).astype(np.float32)[:, ::-1]   # not contiguous
    copy = huge_page_array(heights)
    np.testing.assert_array_equal(copy, heights)
    assert copy.flags.c_contiguous and copy.flags.writeable and copy.dtype == np.float32
    if not hasattr(mmap, "MADV_HUGEPAGE"):
        return   # (not Linux: a plain copy)
    assert copy.base is not None and not np.shares_memory(copy, heights)
    lines = pathlib.Path("/proc/self/smaps").read_text().splitlines()
    heads = [n for n, line in enumerate(lines) if not line.split()[0].endswith(":")]   # "lo-hi perms ..." lines
    [head] = [n for n in heads if int(lines[n].split()[0].split("-")[0], 16) <= copy.ctypes.data
              < int(lines[n].split()[0].split("-")[1], 16)]
    fields = dict(line.split(":", 1) for line in lines[head + 1:next((n for n in heads if n > head), len(lines))])
    if _transparent_huge_pages_of(HUGE_PAGE) and "THPeligible" in fields:
        assert fields["THPeligible"].strip() == "1"


def _transparent_huge_pages_of(size: int) -> bool:
    """Whether this process may get transparent huge pages of ``size`` bytes in a region advised for them: the
    kernel's PMD size, its global and per-size policies, and the process's own switch (prctl)."""
    import pathlib

    thp = pathlib.Path("/sys/kernel/mm/transparent_hugepage")

    def chosen(path):
        text = path.read_text() if path.exists() else ""
        return text.partition("[")[2].partition("]")[0]

    pmd = thp / "hpage_pmd_size"
    if not pmd.exists() or int(pmd.read_text()) != size or chosen(thp / "enabled") not in ("always", "madvise"):
        return False
    per_size = chosen(thp / f"hugepages-{size // 1024}kB" / "enabled")
    if per_size not in ("", "inherit", "always", "madvise"):
        return False
    status = pathlib.Path("/proc/self/status").read_text()
    return "THP_enabled:\t0" not in status
