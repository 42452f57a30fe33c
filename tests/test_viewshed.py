"""Line of sight against GDAL's gdal_viewshed on the same grid, observer and curvature."""
import shutil
import subprocess

import numpy as np
import pytest
import rasterio

from phusong._raster import write_geotiff
from phusong.propagation.footprint import site_footprint
from phusong.pipeline import load_site_terrain as site_terrain

from .conftest import shared_path

EARTH_RADIUS_KM = 8500.0


@pytest.mark.skipif(shutil.which("gdal_viewshed") is None,
                    reason="gdal_viewshed not found (Debian gdal-bin; `make test` installs it as root)")
@pytest.mark.parametrize("los_only", [False, True])
def test_los_agrees_with_gdal_viewshed(tmp_path, los_only):
    tile = shared_path("data", "terrain", "N44W072.hgt")
    terrain, x, y = site_terrain([tile], -71.4, 44.45, 20.0, "EPSG:32619", 30.0)
    dem = tmp_path / "dem.tif"
    write_geotiff(dem, terrain.array, terrain.grid)
    # GDAL lowers targets by cc·d²/D with D the ellipsoid's diameter: cc = R_earth / R_effective
    cc = 6378.137 / EARTH_RADIUS_KM
    out = tmp_path / "viewshed.tif"
    subprocess.run(["gdal_viewshed", "-q", "-ox", str(x), "-oy", str(y), "-oz", "30", "-tz", "1.5",
                    "-md", "20000", "-cc", str(cc), "-vv", "1", "-iv", "0", "-ov", "2", str(dem), str(out)],
                   check=True)
    with rasterio.open(out) as src:
        gdal = src.read(1)
        r0, c0 = (int(round(float(v))) for v in terrain.grid.rowcol(src.transform.c + src.transform.a / 2,
                                                                      src.transform.f + src.transform.e / 2))
    fp = site_footprint(terrain.array, terrain.grid, x, y, 30.0, 1800.0, 20.0, rx_height_m=1.5,
                        earth_radius_km=EARTH_RADIUS_KM, los_only=los_only)
    full = np.full(terrain.array.shape, 2, np.uint8)
    full[r0:r0 + gdal.shape[0], c0:c0 + gdal.shape[1]] = gdal
    theirs = full[fp.row0:fp.row0 + fp.grid.height, fp.col0:fp.col0 + fp.grid.width]
    both = (fp.los != 255) & (theirs != 2)
    assert both.sum() > 1_000_000
    agree = np.mean((fp.los[both] == 1) == (theirs[both] == 1))
    assert agree >= 0.99
