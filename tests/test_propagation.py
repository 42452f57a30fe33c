import csv
import functools
import math
import warnings

import numpy as np
import pytest
from affine import Affine
from pyproj import Transformer
from scipy.special import fresnel

from phusong._raster import Grid
from phusong.data.terrain import load_terrain
from phusong.propagation.antenna import pattern_db
from phusong.propagation.footprint import site_footprint, site_footprints
from phusong.propagation.linkbudget import power_per_re_dbm
from phusong.propagation.p525 import free_space_loss_db
from phusong.propagation.p526 import delta_bullington, knife_edge_loss_db
from phusong.propagation.reference import reference_loss

from .conftest import shared_path


def _itu_cases():
    folder = shared_path("reference", "delta_bullington_itu")
    with open(folder / "expected.csv") as fh:
        for row in csv.DictReader(fh):
            yield folder / row["path_file"], row


def test_delta_bullington_matches_all_20_itu_cases():
    cases = list(_itu_cases())
    assert len(cases) == 20
    for path, row in cases:
        prof = np.loadtxt(path, delimiter=",", skiprows=1)
        res = delta_bullington(prof[:, 0], prof[:, 1], float(row["htg_m"]), float(row["hrg_m"]), float(row["f_MHz"]))
        for ours, theirs in ((res.bullington_actual_db, "Lba_dB"), (res.spherical_earth_db, "Lsph_dB"),
                             (res.bullington_smooth_db, "Lbs_dB"), (res.diffraction_db, "Ldelta_bull_dB"),
                             (res.hts_prime_m, "hts_prime_m"), (res.hrs_prime_m, "hrs_prime_m")):
            # the README's claim: every loss within 0.006 dB, the effective heights within a micrometre
            tol = 1e-6 if theirs.endswith("_m") else 0.006
            assert ours == pytest.approx(float(row[theirs]), abs=tol), (path.name, row["f_MHz"], theirs)


def test_free_space_closed_form():
    for d_km, f_mhz in ((1.0, 1000.0), (0.05, 3500.0), (37.5, 700.0)):
        lam = 299_792_458.0 / (f_mhz * 1e6)
        assert free_space_loss_db(d_km, f_mhz) == pytest.approx(20 * math.log10(4 * math.pi * d_km * 1e3 / lam), abs=1e-9)
    assert free_space_loss_db(1.0, 1000.0) == pytest.approx(92.45, abs=0.01)


def test_knife_edge_against_fresnel_integrals():
    """P.526-15 eq. (31) approximates the exact J(ν) = −20 log(|1 − (1−j)(C + jS)... |) within ~0.5 dB."""
    nu = np.linspace(-0.7, 5.0, 200)
    s, c = fresnel(nu)
    exact = -20 * np.log10(np.hypot(1 - c - s, c - s) / 2)
    approx = knife_edge_loss_db(nu)
    assert np.max(np.abs(approx - exact)) < 0.6
    assert knife_edge_loss_db(0.0) == pytest.approx(6.03, abs=0.01)  # grazing edge: about 6 dB
    assert knife_edge_loss_db(-0.78) == 0.0 and knife_edge_loss_db(-2.0) == 0.0


def test_antenna_pattern_closed_form():
    assert pattern_db(0.0, 0.0, 65.0, 10.0, 0.0) == pytest.approx(0.0)
    assert pattern_db(32.5, 0.0, 65.0, 10.0, 0.0) == pytest.approx(-3.0)      # half the beamwidth
    assert pattern_db(0.0, 9.0, 65.0, 10.0, 4.0) == pytest.approx(-3.0)       # 5° below a 4° tilt
    assert pattern_db(180.0, 0.0, 65.0, 10.0, 0.0) == pytest.approx(-30.0)    # front-to-back Am
    assert pattern_db(180.0, 40.0, 65.0, 10.0, 0.0) == pytest.approx(-30.0)   # total capped at Am
    assert pattern_db(-150.0, 0.0, 65.0, 10.0, 0.0) == pattern_db(150.0, 0.0, 65.0, 10.0, 0.0)
    assert pattern_db(123.0, 2.5, 65.0, 10.0, 0.0, omni=True) == pytest.approx(-12 * 0.25 ** 2 * 1.0, abs=1e-9)


def test_power_per_resource_element():
    assert power_per_re_dbm(46.0, "4G", 20.0, 1800.0) == pytest.approx(46 - 10 * math.log10(1200))
    assert power_per_re_dbm(49.0, "5G", 100.0, 3500.0) == pytest.approx(49 - 10 * math.log10(273 * 12))
    assert power_per_re_dbm(43.0, "5G", 20.0, 1800.0) == pytest.approx(43 - 10 * math.log10(106 * 12))


def _flat_grid(n=401, res=30.0):
    from affine import Affine
    return Grid(n, n, Affine(res, 0, 500_000.0, 0, -res, 2_400_000.0 + n * res), "EPSG:32648")


def test_kernel_on_flat_ground_is_free_space_near_the_site():
    grid = _flat_grid()
    heights = np.zeros((grid.height, grid.width), np.float32)
    x, y = grid.xy(200, 200)
    fp = site_footprint(heights, grid, float(x), float(y), 30.0, 1800.0, 5.0, rx_height_m=1.5)
    rows, cols = np.nonzero(np.isfinite(fp.loss_db))
    gx, gy = fp.grid.xy(rows, cols)
    d_km = np.hypot(gx - x, gy - y) / 1000
    near = (d_km > 0.2) & (d_km < 1.0)  # well inside the radio horizon and the first Fresnel zone clears
    slant = np.hypot(d_km, 28.5 / 1000)
    np.testing.assert_allclose(fp.loss_db[rows, cols][near], free_space_loss_db(slant[near], 1800.0), atol=0.05)
    assert (fp.los[rows, cols] == 1).all()


def test_kernel_shadow_behind_a_ridge():
    grid = _flat_grid()
    heights = np.zeros((grid.height, grid.width), np.float32)
    heights[:, 260] = 200.0  # a north–south wall 60 cells (1.8 km) east of the site
    x, y = grid.xy(200, 200)
    fp = site_footprint(heights, grid, float(x), float(y), 30.0, 900.0, 5.0, rx_height_m=1.5)
    r = 200 - fp.row0
    east_far = fp.los[r, 300 - fp.col0]
    west = fp.los[r, 120 - fp.col0]
    assert west == 1 and east_far == 0
    # Behind the wall the loss is free space plus a large knife-edge loss
    gx, _ = fp.grid.xy(r, 300 - fp.col0)
    fs = free_space_loss_db((gx - x) / 1000, 900.0)
    assert fp.loss_db[r, 300 - fp.col0] - fs > 20


def _kernel_vs_reference(terrain, x, y, radius_km, n_cells=300, seed=1):
    fp = site_footprint(terrain.array, terrain.grid, x, y, 30.0, 1800.0, radius_km)
    valid = np.argwhere(np.isfinite(fp.loss_db))
    sel = valid[np.random.default_rng(seed).choice(len(valid), n_cells, replace=False)]
    ref, ref_los = reference_loss(terrain.array, terrain.grid, x, y, sel[:, 0] + fp.row0, sel[:, 1] + fp.col0,
                                  30.0, 1800.0)
    diff = np.abs(fp.loss_db[sel[:, 0], sel[:, 1]] - ref)
    los_agree = np.mean((fp.los[sel[:, 0], sel[:, 1]] == 1) == ref_los)
    return diff, los_agree


@pytest.mark.slow
def test_kernel_matches_reference_on_real_rugged_terrain():
    tile = shared_path("data", "terrain", "N44W072.hgt")
    terrain = load_terrain(tile, "EPSG:32619", 30.0)
    x, y = Transformer.from_crs(4326, 32619, always_xy=True).transform(-71.4, 44.45)
    diff, los_agree = _kernel_vs_reference(terrain, x, y, 12.0, n_cells=1000)
    assert np.median(diff) <= 0.3
    assert np.mean(diff <= 1.0) >= 0.99
    assert los_agree >= 0.98


@pytest.mark.slow
def test_kernel_matches_reference_on_langson_standin():
    dem = shared_path("data", "langson", "terrain_standin_3arcsec.tif")
    x, y = Transformer.from_crs(4326, 32648, always_xy=True).transform(106.76, 21.85)
    bounds = (x - 13_000, y - 13_000, x + 13_000, y + 13_000)
    terrain = load_terrain(dem, "EPSG:32648", 30.0, bounds=bounds)
    diff, los_agree = _kernel_vs_reference(terrain, x, y, 12.0, n_cells=2000, seed=3)
    assert np.median(diff) <= 0.3
    assert np.mean(diff <= 1.0) >= 0.99
    assert los_agree >= 0.98


def _rough_terrain(size, seed):
    rng = np.random.default_rng(seed)
    base = np.cumsum(np.cumsum(rng.standard_normal((size, size)), axis=0), axis=1)
    return (300 + 400 * (base - base.min()) / np.ptp(base) + 25 * rng.random((size, size))).astype(np.float32)


@pytest.mark.parametrize("model", ["delta-bullington", "p1812"])
def test_a_cell_mask_leaves_every_evaluated_cell_bit_for_bit(model):
    """A study area's mask only skips cells (and stops each ray at its last cell): every cell it keeps has
    exactly its unmasked value; the others have none, whether the mask is blobs, a half-plane or scattered
    cells."""
    grid = _flat_grid(201)
    heights = _rough_terrain(201, 11)
    x, y = (float(v) for v in grid.xy(100.3, 99.6))
    rng = np.random.default_rng(5)
    rows, cols = np.mgrid[0:201, 0:201]
    blobs = np.zeros((201, 201), bool)
    for r, c in rng.integers(0, 201, (6, 2)):
        blobs |= (rows - r) ** 2 + (cols - c) ** 2 < 25 ** 2
    free = site_footprint(heights, grid, x, y, 30.0, 1800.0, 2.8, model=model)
    for mask in (blobs, cols < 60, rng.random((201, 201)) < 0.3):
        part = site_footprint(heights, grid, x, y, 30.0, 1800.0, 2.8, model=model, cell_mask=mask)
        window = mask[free.row0:free.row0 + free.loss_db.shape[0], free.col0:free.col0 + free.loss_db.shape[1]]
        assert np.isfinite(part.loss_db[window]).sum() > 1000
        np.testing.assert_array_equal(part.loss_db[window], free.loss_db[window])
        np.testing.assert_array_equal(part.los[window], free.los[window])
        assert np.isnan(part.loss_db[~window]).all() and (part.los[~window] == 255).all()
    with pytest.raises(ValueError, match="grid"):
        site_footprint(heights, grid, x, y, 30.0, 1800.0, 2.8, cell_mask=blobs[:-1])


@pytest.mark.parametrize("model, los_only", [("delta-bullington", False), ("bullington", False),
                                             ("delta-bullington", True), ("okumura-hata", False), ("p1812", False)])
def test_a_mast_s_bands_in_one_sweep_are_each_band_s_own_sweep_bit_for_bit(model, los_only):
    """A mast's bands share one sweep (the walk, tails and hull queries do not depend on the frequency): each
    band's loss must be exactly what a sweep at that frequency alone gives, in every model, and differ
    between bands (diffraction and free space depend on the wavelength)."""
    grid = _flat_grid(161)
    heights = _rough_terrain(161, 3)
    x, y = (float(v) for v in grid.xy(80.3, 79.6))
    freqs = (700.0, 1100.0, 1400.0) if model == "okumura-hata" else (700.0, 1800.0, 3500.0)   # (Hata: to 1.5 GHz)
    together = site_footprints(heights, grid, x, y, 30.0, freqs, 2.3, model=model, los_only=los_only)
    assert len(together) == len(freqs)
    for f, fp in zip(freqs, together):
        alone = site_footprint(heights, grid, x, y, 30.0, f, 2.3, model=model, los_only=los_only)
        assert np.isfinite(alone.loss_db).sum() > 10_000
        np.testing.assert_array_equal(fp.loss_db, alone.loss_db)
        np.testing.assert_array_equal(fp.los, alone.los)
        assert (fp.row0, fp.col0, fp.grid) == (alone.row0, alone.col0, alone.grid)
    assert (together[2].loss_db - together[0].loss_db > 5.0)[np.isfinite(together[0].loss_db)].all()  # ≥ 6 dB of free space


@pytest.mark.parametrize("model", ["delta-bullington", "bullington"])
def test_kernel_with_unlimited_tail_is_the_reference(model):
    """With a tail longer than the radius every cell's whole profile is its own straight line,
    so the incremental kernel must reproduce the from-scratch reference on every cell."""
    grid = _flat_grid(161)
    heights = _rough_terrain(161, 7)
    x, y = (float(v) for v in grid.xy(80.3, 79.6))  # off-centre: no cell lies exactly on a ray
    fp = site_footprint(heights, grid, x, y, 30.0, 1800.0, 2.3, model=model, exact_tail=10_000)
    valid = np.argwhere(np.isfinite(fp.loss_db))
    sel = valid[np.random.default_rng(1).choice(len(valid), 300, replace=False)]
    ref, ref_los = reference_loss(heights, grid, x, y, sel[:, 0] + fp.row0, sel[:, 1] + fp.col0, 30.0, 1800.0,
                                  model=model)
    np.testing.assert_allclose(fp.loss_db[sel[:, 0], sel[:, 1]], ref, atol=2e-3)  # float32 storage
    np.testing.assert_array_equal(fp.los[sel[:, 0], sel[:, 1]] == 1, ref_los)


def test_kernel_is_exact_on_axis_and_diagonal_rays():
    """Cells on the axes and diagonals through a site at a cell centre lie on a ray: their whole
    profile is the ray's, so the default kernel (hull queries, short tail) must equal the reference."""
    grid = _flat_grid(201)
    heights = _rough_terrain(201, 3)
    x, y = (float(v) for v in grid.xy(100, 100))
    fp = site_footprint(heights, grid, x, y, 30.0, 1800.0, 2.9)
    rows, cols = [], []
    for dr, dc in ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1)):
        k = np.arange(2, int(96 / math.hypot(dr, dc)))  # inside the 2.9 km radius
        rows.append(100 + dr * k)
        cols.append(100 + dc * k)
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    ref, ref_los = reference_loss(heights, grid, x, y, rows, cols, 30.0, 1800.0)
    ours = fp.loss_db[rows - fp.row0, cols - fp.col0]
    # the LOS-case search for the largest nu looks at hull vertices only (within 0.1 dB)
    np.testing.assert_allclose(ours, ref, atol=0.1)
    assert np.median(np.abs(ours - ref)) < 1e-3
    np.testing.assert_array_equal(fp.los[rows - fp.row0, cols - fp.col0] == 1, ref_los)


def test_kernel_leaves_cells_beyond_missing_terrain_empty():
    """A partial DEM (NaN outside its data): cells there, and cells whose profile crosses them, have no
    value; cells whose profiles stay on data are unchanged."""
    grid = _flat_grid(201)
    heights = _rough_terrain(201, 5)
    x, y = (float(v) for v in grid.xy(100, 100))
    full = site_footprint(heights, grid, x, y, 30.0, 1800.0, 2.9)
    holed = heights.copy()
    holed[:, 150:] = np.nan             # no data east of column 150
    holed[40:60, 95:106] = np.nan       # a void north of the site
    fp = site_footprint(holed, grid, x, y, 30.0, 1800.0, 2.9)
    cols = np.arange(fp.grid.width)[None, :] + fp.col0
    rows = np.arange(fp.grid.height)[:, None] + fp.row0
    assert np.isnan(fp.loss_db[:, cols[0] >= 150]).all()
    assert (fp.los[:, cols[0] >= 150] == 255).all()
    assert np.isnan(fp.loss_db[(rows < 40) & (abs(cols - 100) <= 1)]).all()  # behind the void
    clear = (cols <= 140) & ~((rows < 62) & (abs(cols - 100) < 30)) & np.isfinite(full.loss_db)
    np.testing.assert_array_equal(fp.loss_db[clear], full.loss_db[clear])


DETERMINISM_SCRIPT = """
import sys
import numpy as np
from affine import Affine
from phusong._raster import Grid
from phusong.propagation.footprint import site_footprint, site_footprints
grid = Grid(201, 201, Affine(30.0, 0, 500000.0, 0, -30.0, 2400000.0), "EPSG:32648")
heights = (np.random.default_rng(3).random((201, 201)) * 80).astype(np.float32)
x, y = grid.xy(100, 100)
fp = site_footprint(heights, grid, float(x), float(y), 25.0, 2600.0, 2.5)
np.save(sys.argv[1], np.stack([fp.loss_db, fp.los.astype(np.float32)]))
"""


@pytest.mark.slow
def test_kernel_result_does_not_depend_on_the_thread_count(tmp_path):
    """The README's promise: the same footprint, bit for bit, on 1 thread and on 2 (separate processes)."""
    import os
    import subprocess
    import sys

    out = {}
    for threads in ("1", "2"):
        path = tmp_path / f"fp{threads}.npy"
        env = {**os.environ, "NUMBA_NUM_THREADS": threads}
        subprocess.run([sys.executable, "-c", DETERMINISM_SCRIPT, str(path)], env=env, check=True)
        out[threads] = np.load(path)
    assert np.isfinite(out["1"][0]).sum() > 20_000  # the 2.5 km disc: π·83² cells
    np.testing.assert_array_equal(out["1"], out["2"])


def _first_term_by_hand(d_km, h1, h2, ae_km, f_mhz, eps, sigma, vertical):
    """P.526-15 §4.5.2 eqs. (62)-(71), first-term spherical-earth diffraction, written out here."""
    f = f_mhz / 1000.0
    k = 0.036 * (ae_km * f) ** (-1 / 3) * ((eps - 1) ** 2 + (18 * sigma / f) ** 2) ** (-1 / 4)
    if vertical:
        k = k * math.sqrt(eps ** 2 + (18 * sigma / f) ** 2)
    beta = (1 + 1.6 * k ** 2 + 0.67 * k ** 4) / (1 + 4.5 * k ** 2 + 1.53 * k ** 4)
    x = 21.88 * beta * (f / ae_km ** 2) ** (1 / 3) * d_km
    fx = 11 + 10 * math.log10(x) - 17.6 * x if x >= 1.6 else -20 * math.log10(x) - 5.6488 * x ** 1.425

    def g(h):
        y = 0.9575 * beta * (f ** 2 / ae_km) ** (1 / 3) * h           # eq. (68)
        b = beta * y                                                    # eq. (70)
        value = 17.6 * math.sqrt(b - 1.1) - 5 * math.log10(b - 1.1) - 8 if b > 2 else 20 * math.log10(b + 0.1 * b ** 3)
        return max(value, 2 + 20 * math.log10(k))
    return -fx - g(h1) - g(h2)


def test_first_term_spherical_earth_diffraction_written_out():
    """Both branches of F(X) (X below and above 1.6), both of G(Y) and its floor, both polarisations,
    land and sea: the ITU cases alone do not reach most of these (β differs from 1 by O(k²))."""
    from phusong.propagation.p526 import _first_term_db

    cases = 0
    for eps, sigma in ((22.0, 0.003), (80.0, 5.0)):                    # land (P.527), sea
        for vertical in (False, True):
            for f_mhz in (100.0, 900.0, 3500.0):
                for d_km in (0.3, 2.0, 15.0, 60.0):
                    for h1, h2 in ((1.0, 1.5), (30.0, 2.0), (250.0, 40.0)):
                        ours = _first_term_db(d_km, h1, h2, 8500.0, f_mhz, eps, sigma, vertical)
                        theirs = _first_term_by_hand(d_km, h1, h2, 8500.0, f_mhz, eps, sigma, vertical)
                        assert ours == pytest.approx(theirs, abs=1e-9), (eps, vertical, f_mhz, d_km, h1, h2)
                        cases += 1
    assert cases == 144
    # the set reaches both sides of X = 1.6: X = 21.88 β (f/ae²)^(1/3) d, β ≈ 1
    assert 21.88 * (0.1 / 8500.0 ** 2) ** (1 / 3) * 0.3 < 1.6 < 21.88 * (3.5 / 8500.0 ** 2) ** (1 / 3) * 60.0


def _spherical_by_hand(d, hte, hre, f_mhz, ae=8500.0, eps=22.0, sigma=0.003, vertical=False):
    """P.526-15 §4.5.2 eqs. (59)-(61) written out here; heights at or below 0 m count as 1 mm."""
    hte, hre = max(hte, 1e-3), max(hre, 1e-3)
    lam = 299_792_458.0 / (f_mhz * 1e6)
    dlos = math.sqrt(2 * ae) * (math.sqrt(0.001 * hte) + math.sqrt(0.001 * hre))
    if d >= dlos:
        return _first_term_by_hand(d, hte, hre, ae, f_mhz, eps, sigma, vertical)
    c = (hte - hre) / (hte + hre)
    m = 250 * d ** 2 / (ae * (hte + hre))
    b = 2 * math.sqrt((m + 1) / (3 * m)) * math.cos(math.pi / 3 + math.acos(3 * c / 2 * math.sqrt(3 * m / (m + 1) ** 3)) / 3)
    dse1 = d / 2 * (1 + b)
    dse2 = d - dse1
    hse = ((hte - 500 * dse1 ** 2 / ae) * dse2 + (hre - 500 * dse2 ** 2 / ae) * dse1) / d
    hreq = 17.456 * math.sqrt(dse1 * dse2 * lam / d)
    if hse > hreq:
        return 0.0
    aem = 500 * (d / (math.sqrt(hte) + math.sqrt(hre))) ** 2
    ldft = _first_term_by_hand(d, hte, hre, aem, f_mhz, eps, sigma, vertical)
    return 0.0 if ldft < 0 else (1 - hse / hreq) * ldft


def test_spherical_earth_loss_written_out():
    """Every branch: beyond the radio horizon, within it with and without first-Fresnel-zone clearance,
    a negative first term, and non-positive heights."""
    from phusong.propagation.p526 import spherical_earth_loss_db

    seen = {"beyond": 0, "clear": 0, "partial": 0}
    for f in (150.0, 900.0, 3500.0):
        for d in (0.5, 3.0, 12.0, 45.0, 90.0):
            for hte, hre in ((0.0, 1.5), (-3.0, 10.0), (5.0, 5.0), (30.0, 1.5), (120.0, 60.0)):
                for vertical in (False, True):
                    ours = spherical_earth_loss_db(d, hte, hre, f, vertical=vertical)
                    theirs = _spherical_by_hand(d, hte, hre, f, vertical=vertical)
                    assert ours == pytest.approx(theirs, abs=1e-9), (f, d, hte, hre, vertical)
                    a, b = max(hte, 1e-3), max(hre, 1e-3)
                    dlos = math.sqrt(17000.0) * (math.sqrt(0.001 * a) + math.sqrt(0.001 * b))
                    seen["beyond" if d >= dlos else "clear" if theirs == 0 else "partial"] += 1
    assert min(seen.values()) > 5, seen
    # within the horizon, a loss below 1 dB stays what it is (it is not rounded up to 1 dB)
    small = [spherical_earth_loss_db(d, 10.0, 10.0, 900.0) for d in np.linspace(1.0, 24.0, 400)]
    assert any(0.0 < v < 1.0 for v in small)


def test_the_kernels_spherical_earth_term_is_the_references():
    """The sweep's compiled Lsph (with its shortcut: 0 without solving for the lowest-clearance point when even
    the path's lowest point clears hreq's largest value) against p526.spherical_earth_loss_db, on a dense grid
    that puts cases on both sides of the shortcut, partial clearance and beyond the horizon."""
    from phusong.propagation import _kernels
    from phusong.propagation.p526 import spherical_earth_loss_db

    seen = {"beyond": 0, "shortcut": 0, "clear": 0, "partial": 0}
    a = 8500.0
    for f in (700.0, 1800.0, 3500.0):
        lam, f13, ground = _kernels.C_M_S / (f * 1e6), (f / 1000.0) ** (1 / 3), _kernels._ground_factor(f / 1000.0)
        for d in np.geomspace(0.3, 60.0, 23):
            for hte in (0.5, 2.0, 6.0, 15.0, 40.0, 90.0):
                for hre in (0.2, 1.5, 4.0, 12.0, 30.0):
                    ours = _kernels._spherical(d, hte, hre, a, lam, f13, ground)
                    theirs = spherical_earth_loss_db(d, hte, hre, f, earth_radius_km=a)
                    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-9), (f, d, hte, hre)
                    x = min(max(0.5 * d + a * (hte - hre) / (1000.0 * d), 0.0), d)
                    lowest = hte + (hre - hte) * x / d - 500.0 * x * (d - x) / a
                    dlos = math.sqrt(2 * a) * (math.sqrt(0.001 * hte) + math.sqrt(0.001 * hre))
                    seen["beyond" if d >= dlos else "shortcut" if lowest > 17.456 * math.sqrt(0.25 * d * lam)
                         else "clear" if theirs == 0 else "partial"] += 1
    assert min(seen.values()) >= 10, seen


def test_the_kernels_cheap_angle_is_within_its_stated_error():
    """_atan2_near (the polynomial angle that decides most cells' rays and the fold's bearings and depressions)
    against libm's atan2 in every octant, on the axes, the diagonals, at the origin and with signed zeros; its
    stated bound keeps room above the worst case seen."""
    from phusong.propagation import _kernels

    angles = np.concatenate([np.linspace(-math.pi, math.pi, 40_001), np.arange(-8, 9) * math.pi / 8])
    worst = 0.0
    for r in (1e-3, 0.7, 1.0, 3.0, 512.25):
        for a in angles:
            y, x = r * math.sin(a), r * math.cos(a)
            worst = max(worst, abs(_kernels._atan2_near(y, x) - math.atan2(y, x)))
    for y, x in ((0.0, 0.0), (0.0, -5.0), (5.0, 0.0), (-5.0, 0.0), (3.0, 3.0), (-3.0, -3.0),
                 (-0.0, -5.0), (0.0, -0.0), (-0.0, -0.0), (-0.0, 0.0), (4.0, -0.0)):   # signed zeros as libm's
        ours, libm = _kernels._atan2_near(y, x), math.atan2(y, x)
        assert ours == pytest.approx(libm, abs=1e-7) and math.copysign(1.0, ours) == math.copysign(1.0, libm), (y, x)
    assert math.isnan(_kernels._atan2_near(math.nan, 1.0)) and math.isnan(_kernels._atan2_near(1.0, math.nan))
    assert worst < _kernels.ATAN_NEAR_ERROR / 4, worst


def test_the_kernels_inline_log10_is_within_its_stated_error():
    """_log10_near (the free-space spread and Bullington's J(ν) of every cell) against NumPy's log10 over the whole
    range of normal numbers, every table bin's edges, near 1 (where its terms cancel) and near powers of two; zero,
    negatives, subnormals, infinities and NaN as NumPy gives them."""
    from phusong.propagation import _kernels

    rng = np.random.default_rng(5)
    bins = 1.0 + np.arange(129) / 128.0
    x = np.concatenate([10.0 ** rng.uniform(-307, 308, 100_000), rng.uniform(0.5, 2.0, 100_000),
                        np.nextafter(bins, 0.0), bins, np.nextafter(bins, 3.0), 2.0 ** np.arange(-1022, 1024),
                        1.0 + rng.normal(0.0, 1e-9, 1_000), [1e-6, 0.03, 1.0, 10.0, 15.0, 1e300]])
    ours = np.array([_kernels._log10_near(v) for v in x])
    error = np.abs(ours - np.log10(x))
    bound = np.maximum(_kernels.LOG10_NEAR_ULP * np.spacing(np.abs(np.log10(x))), _kernels.LOG10_NEAR_ABS)
    assert np.all(error <= bound), x[np.argmax(error / bound)]
    assert np.max(error / bound) > 0.1   # the bound is not slack by orders of magnitude
    special = np.array([0.0, -0.0, -2.0, math.inf, -math.inf, math.nan, 1e-310, 5e-324])
    with np.errstate(divide="ignore", invalid="ignore"):
        np.testing.assert_array_equal([_kernels._log10_near(v) for v in special], np.log10(special))


@functools.cache
def _walk_positions():
    """A ray's sample positions as the sweep computes them (its fast-math flags: the product may be fused),
    compiled once."""
    from numba import njit

    from phusong.propagation import _kernels

    @njit(fastmath=_kernels.FASTMATH)
    def positions(r, dr, steps):
        out = np.empty(steps + 1)
        for m in range(steps + 1):
            out[m] = r + dr * m
        return out

    return positions


def test_samples_read_without_clamps_stay_inside_the_grid():
    """_inside_samples: every step it allows lands where _bilinear_inside may read (rows and columns 0 to n - 1,
    the last excluded), it stops at most two steps short of the edge, and it allows none from outside; there both
    samplers give the same bits, at the first and the last steps allowed."""
    from phusong.propagation import _kernels

    rng = np.random.default_rng(11)
    nrow, ncol = 7, 5
    z = rng.uniform(0.0, 900.0, (nrow, ncol)).astype(np.float32)
    edges_r = [0.0, 1e-6, 2e-6, nrow - 1.0, np.nextafter(nrow - 1.0, 0.0), nrow - 1.0 - 1e-6, -1e-9, 3.0]
    edges_c = [0.0, 1e-6, 2e-6, ncol - 1.0, np.nextafter(ncol - 1.0, 0.0), ncol - 1.0 - 1e-6, -1e-9, 2.0]
    # starts a whole number of steps from row or column 0 too, where a quotient rounding up would overshoot
    starts = [(r, c) for r in edges_r for c in edges_c] + list(zip(rng.uniform(-1, nrow, 300),
                                                                    rng.uniform(-1, ncol, 300)))
    allowed = 0
    for r, c in starts:
        for az in np.concatenate([np.arange(8) * np.pi / 4, rng.uniform(0, 2 * np.pi, 8)]):
            step = rng.choice([0.25, 1.0, 1.0 / 3.0])
            dr, dc = -math.cos(az) * step, math.sin(az) * step
            steps = _kernels._inside_samples(r, c, dr, dc, nrow, ncol)
            if not (0.0 <= r < nrow - 1.0 and 0.0 <= c < ncol - 1.0):
                assert steps == -1, (r, c)
            if steps < 0:
                continue
            rows = _walk_positions()(r, dr, min(steps, 100))
            cols = _walk_positions()(c, dc, min(steps, 100))
            assert np.all((rows >= 0) & (rows < nrow - 1) & (cols >= 0) & (cols < ncol - 1)), (r, c, dr, dc)
            beyond_r, beyond_c = r + dr * (steps + 2), c + dc * (steps + 2)   # not slack (from clear of the edges)
            if 0.01 <= r <= nrow - 1.01 and 0.01 <= c <= ncol - 1.01 and steps <= 100:
                assert not (0 <= beyond_r < nrow - 1 and 0 <= beyond_c < ncol - 1)
            for rr, cc in [*zip(rows[:2], cols[:2]), *zip(rows[-2:], cols[-2:])]:
                assert _kernels._bilinear_inside(z, rr, cc) == _kernels._bilinear(z, rr, cc), (rr, cc)
            allowed += 1
    assert allowed > 1000


@pytest.mark.parametrize("model, bands", [("delta-bullington", (1800.0,)), ("delta-bullington", (1800.0, 3500.0)),
                                          ("p1812", (1800.0,))])
def test_sites_on_the_grid_s_edges_read_nothing_beyond_it(model, bands):
    """Sites on and near the grid's edges and corners (where the sweep's samples switch between its clamped and
    unclamped readers): the heights given as rows inside a buffer with a row of NaN above and below, so that a read
    one row beyond the grid would turn a result NaN, give exactly what a plain copy gives."""
    grid = _flat_grid(61)
    heights = _rough_terrain(61, 7)
    buffer = np.full((63, 61), np.nan, np.float32)
    buffer[1:-1] = heights
    fenced = buffer[1:-1]
    assert fenced.flags.c_contiguous   # (read in place: no copy drops the fence)
    last, m = 60.0, 1e-6
    for r, c in [(0, 30), (last, 30), (30, 0), (30, last), (0, 0), (last, last), (0, last), (last - m, 30),
                 (30, last - m), (m, 30), (30, m), (m / 2, 30.5), (-0.4, 30.2), (30.7, last + 0.4), (0.4, 59.6),
                 (59.6, 0.4), (last - 0.5, 0.5), (last, 17.25)]:
        x, y = (float(v) for v in grid.xy(r, c))
        plain = site_footprints(heights.copy(), grid, x, y, 30.0, bands, 1.2, model=model)
        fence = site_footprints(fenced, grid, x, y, 30.0, bands, 1.2, model=model)
        for a, b in zip(plain, fence):
            assert np.isfinite(a.loss_db).sum() > 1000, (r, c)
            np.testing.assert_array_equal(a.loss_db, b.loss_db, err_msg=f"site at row {r}, column {c}")
            np.testing.assert_array_equal(a.los, b.los)


def _rays_by_the_rule(r_tx, c_tx, row0, col0, nrow, ncol, n_rays, n, cell_mask):
    """Each window cell's ray by the rule written out with math.atan2 (-1: beyond n + 0.5 or masked out)."""
    ray = np.full(nrow * ncol, -1)
    for i in range(nrow):
        for j in range(ncol):
            dy, dx = r_tx - (row0 + i), (col0 + j) - c_tx
            if math.sqrt(dx * dx + dy * dy) > n + 0.5 or (cell_mask.size > 1 and not cell_mask[row0 + i, col0 + j]):
                continue
            az = math.atan2(dx, dy)
            az = az + 2 * math.pi if az < 0 else az
            ray[i * ncol + j] = int(az / (2 * math.pi) * n_rays + 0.5) % n_rays
    return ray


@pytest.mark.parametrize("n_rays", [4, 8, 48, 6284, 6288])
def test_cells_go_to_the_rays_the_exact_rule_gives(n_rays):
    """assign_cells (a cheap angle, libm's atan2 near a boundary between rays, a counting sort in row blocks)
    against the rule written out with math.atan2, cell by cell: the same ray for every cell, each ray's cells in
    row-major order. With 4 rays, or any count that is 4 more than a multiple of 8 (6,284), the diagonals are
    boundaries between two rays, and a site on a cell centre puts cells exactly on them: there the cheap angle
    alone (or a margin that does not grow with the ray count: at 6,284 rays its error is 2e-5 of a ray) would pick
    the wrong ray. A window of fewer rows than row blocks leaves blocks empty."""
    from phusong.propagation import _kernels

    rng = np.random.default_rng(11)
    mask_any = np.ones((1, 1), np.uint8)
    mask = (rng.random((90, 90)) > 0.3).astype(np.uint8)
    windows = [(r, c, int(r) - 31, int(c) - 31, 63, 63, 30) for r, c in
               ((40.0, 45.0), (40.5, 45.5), (37.31, 52.87), (44.0, 44.5))]
    windows.append((40.0, 45.0, 35, 20, 9, 50, 30))   # 9 rows: fewer than the row blocks
    for r_tx, c_tx, row0, col0, nrow, ncol, n in windows:
        for cell_mask in (mask_any, mask):
            order, start = _kernels.assign_cells(r_tx, c_tx, row0, col0, nrow, ncol, n_rays, n, 1.0, cell_mask)
            ray = _rays_by_the_rule(r_tx, c_tx, row0, col0, nrow, ncol, n_rays, n, cell_mask)
            kept = np.flatnonzero(ray >= 0)
            expected = kept[np.argsort(ray[kept], kind="stable")]
            np.testing.assert_array_equal(order, expected)
            np.testing.assert_array_equal(start, np.searchsorted(ray[expected], np.arange(n_rays + 1)))


def test_reference_profile_evaluation_by_hand():
    """evaluate_profile (what `path --json` prints): every field, a profile not starting at 0 km, the
    LOS rule of P.526-15 eq. (52) by hand, a two-point profile, and bilinear sampling at the edges."""
    from phusong.propagation.p526 import delta_bullington
    from phusong.propagation.reference import bilinear, evaluate_profile

    d = np.array([0.0, 2.0, 4.0, 6.0, 8.0, 10.0])
    h = np.array([100.0, 140.0, 210.0, 150.0, 120.0, 90.0])
    r = evaluate_profile(d, h, 30.0, 1.5, 1800.0)
    shifted = evaluate_profile(d + 5.0, h, 30.0, 1.5, 1800.0)          # the same path, measured from 5 km
    assert {k: v for k, v in shifted.items()} == pytest.approx({k: v for k, v in r.items()})
    assert (r["model"], r["distance_km"], r["frequency_mhz"], r["tx_height_m"], r["rx_height_m"],
            r["earth_radius_km"]) == ("delta-bullington", 10.0, 1800.0, 30.0, 1.5, 8500.0)
    hts, hrs = 130.0, 91.5
    fspl = 20 * math.log10(4 * math.pi * math.hypot(10.0, (hts - hrs) / 1000) * 1e3 / (299_792_458.0 / 1.8e9))
    assert r["free_space_db"] == pytest.approx(fspl, abs=1e-9)
    db = delta_bullington(d, h, 30.0, 1.5, 1800.0)
    assert r["diffraction_db"] == db.diffraction_db and r["loss_db"] == pytest.approx(fspl + db.diffraction_db)
    assert (r["bullington_actual_db"], r["spherical_earth_db"], r["bullington_smooth_db"]) == \
        (db.bullington_actual_db, db.spherical_earth_db, db.bullington_smooth_db)
    # LOS by hand: the steepest terrain slope from the transmitter against the direct ray's slope
    slopes = [(h[i] + 500 / 8500 * d[i] * (10 - d[i]) - hts) / d[i] for i in range(1, 5)]
    assert max(slopes) >= (hrs - hts) / 10 and r["los"] is False        # the 210 m hill blocks the ray
    flat = evaluate_profile(d, np.full(6, 100.0), 30.0, 1.5, 1800.0)
    assert flat["los"] is True
    # two points: no terrain between, no diffraction
    two = evaluate_profile(np.array([0.0, 3.0]), np.array([50.0, 60.0]), 20.0, 2.0, 900.0)
    assert two["los"] is True and two["diffraction_db"] == 0.0 == two["spherical_earth_db"] == \
        two["bullington_actual_db"] == two["bullington_smooth_db"]
    assert two["loss_db"] == two["free_space_db"]
    b = evaluate_profile(d, h, 30.0, 1.5, 1800.0, model="bullington")
    assert b["bullington_actual_db"] == b["diffraction_db"] and b["loss_db"] == pytest.approx(fspl + b["diffraction_db"])
    # bilinear: exact at cell centres (the last row and column too), linear between, clamped outside
    z = np.arange(12, dtype=np.float32).reshape(3, 4) * 10.0
    assert bilinear(z, [2.0, 0.0, 2.0], [3.0, 3.0, 0.0]).tolist() == [110.0, 30.0, 80.0]
    assert float(bilinear(z, [1.5], [2.5])[0]) == pytest.approx((60 + 70 + 100 + 110) / 4)
    assert bilinear(z, [-1.0, 5.0], [-2.0, 9.0]).tolist() == [0.0, 110.0]


def test_a_non_default_earth_radius_reaches_every_term_and_distance_models_in_the_reference():
    """Every test above uses k = 4/3 (8,500 km); with 6,371 km each term must use the radius it is given.
    And `path` with a distance model returns that model's loss (the Table by hand), no diffraction term."""
    from phusong.propagation.p526 import (bullington_loss_db, delta_bullington, smooth_earth_heights,
                                          spherical_earth_loss_db)
    from phusong.propagation.reference import evaluate_profile

    from .test_empirical_models import _rma_by_hand

    d = np.linspace(0.0, 30.0, 31)
    h = 200.0 + 80.0 * np.sin(d / 3.0)
    r = 6371.0
    db = delta_bullington(d, h, 40.0, 10.0, 900.0, r)
    hts, hrs = h[0] + 40.0, h[-1] + 10.0
    hst, hsr = smooth_earth_heights(d, h, hts, hrs)
    assert db.bullington_actual_db == pytest.approx(bullington_loss_db(d, h, hts, hrs, 900.0, r), abs=1e-12)
    assert db.bullington_actual_db != pytest.approx(bullington_loss_db(d, h, hts, hrs, 900.0), abs=1e-3)
    assert db.spherical_earth_db == pytest.approx(
        spherical_earth_loss_db(30.0, db.hts_prime_m, db.hrs_prime_m, 900.0, r), abs=1e-12)
    assert db.bullington_smooth_db == pytest.approx(
        bullington_loss_db(d, np.zeros_like(h), db.hts_prime_m, db.hrs_prime_m, 900.0, r), abs=1e-12)
    assert evaluate_profile(d, h, 40.0, 10.0, 900.0, r)["diffraction_db"] == db.diffraction_db
    assert bullington_loss_db(np.array([0.0, 5.0]), np.array([10.0, 20.0]), 40.0, 30.0, 900.0) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for flat, los in ((np.full(31, 100.0), True), (h, False)):
            rma = evaluate_profile(d[:8], flat[:8], 35.0, 1.5, 3500.0, model="3gpp-rma")
            assert rma["los"] is los and rma["diffraction_db"] is None
            assert rma["loss_db"] == pytest.approx(_rma_by_hand(3.5, 7000.0, 35.0, 1.5, los), abs=1e-9)


def test_los_rule_at_the_edge_of_visibility():
    """P.526-15 eq. 52 by hand: over 20 km with both antennas 30 m above flat ground, the Earth bulge at
    mid-path is d1·d2/(2·ae) = 10 km·10 km/(2·8,500 km) = 5.882 m, so a 24.112 m obstacle leaves the ray
    clear by 6 mm and a 24.125 m one blocks it by 7 mm."""
    from phusong.propagation.reference import evaluate_profile

    d = np.array([0.0, 10.0, 20.0])
    for h_mid, los in ((24.112, True), (24.125, False)):
        h = np.array([0.0, h_mid, 0.0])
        assert evaluate_profile(d, h, 30.0, 30.0, 1800.0)["los"] is los, h_mid
        assert evaluate_profile(d + 3.0, h, 30.0, 30.0, 1800.0)["los"] is los, h_mid   # distances from elsewhere
    # with 6,371 km the bulge is 7.848 m: 22.14 m is then just clear, 22.16 m just blocked
    for h_mid, los in ((22.14, True), (22.16, False)):
        assert evaluate_profile(d, np.array([0.0, h_mid, 0.0]), 30.0, 30.0, 1800.0, 6371.0)["los"] is los


def test_path_loss_and_reference_pass_their_earth_radius_and_model_on():
    """`path_loss_db` and `reference_loss` are `evaluate_profile` with the radius and model they are given."""
    from affine import Affine

    from phusong.propagation.reference import evaluate_profile, path_loss_db, profile, reference_loss

    d = np.linspace(0.0, 30.0, 31)
    h = 200.0 + 80.0 * np.sin(d / 3.0)
    for r, model in ((6371.0, "delta-bullington"), (6371.0, "bullington"), (8500.0, "bullington")):
        want = evaluate_profile(d, h, 40.0, 10.0, 900.0, r, model)
        assert path_loss_db(d, h, 40.0, 10.0, 900.0, r, model) == (want["loss_db"], want["los"])
    assert path_loss_db(d, h, 40.0, 10.0, 900.0, 6371.0)[0] != pytest.approx(path_loss_db(d, h, 40.0, 10.0, 900.0)[0])
    heights = (200.0 + 80.0 * np.sin(np.arange(40)[None, :] / 3.0) + np.zeros((40, 1))).astype(np.float32)
    grid = Grid(40, 40, Affine(100.0, 0, 600_000.0, 0, -100.0, 2_400_000.0), "EPSG:32648")
    x, y = grid.xy(20, 0)
    rows, cols = np.array([20, 5, 33]), np.array([39, 30, 25])
    default = reference_loss(heights, grid, x, y, rows, cols, 40.0, 900.0, 10.0)[0]
    for r, model in ((6371.0, "bullington"), (8500.0, "free-space")):
        loss, los = reference_loss(heights, grid, x, y, rows, cols, 40.0, 900.0, 10.0, r, model)
        for k, (r_, c_) in enumerate(zip(rows, cols)):
            pd_, ph = profile(heights, grid, x, y, *grid.xy(r_, c_))
            assert (loss[k], los[k]) == path_loss_db(pd_, ph, 40.0, 10.0, 900.0, r, model)
        assert not np.allclose(loss, default), model


@pytest.mark.parametrize("cells, expected", [
    (10.4, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10.4]),        # last step under half a cell: dropped (no sliver)
    (10.5, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10.5]),    # exactly half a cell: kept
    (10.6, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 10.6]),
    (1.3, [0, 1.3]),                                      # two samples: the sliver still dropped
    (0.3, [0, 0.3]),                                      # one sample: never dropped (the start stays)
])
def test_reference_profile_sampling_and_its_sliver_rule(cells, expected):
    """``reference.profile`` samples every cell from the start, then the end point, and drops a sample
    that would leave a segment shorter than half a cell before the end (the kernel's ray rule)."""
    from phusong.propagation.reference import profile

    res = 30.0
    grid = Grid(40, 40, Affine(res, 0, 0, 0, -res, 40 * res), "EPSG:32648")
    slope = np.add.outer(np.zeros(40), np.arange(40) * 2.0).astype(np.float32)  # 2 m per column, east
    x0, y0 = 5.5 * res, 20.5 * res                                              # a cell centre
    d_km, h_m = profile(slope, grid, x0, y0, x0 + cells * res, y0)
    np.testing.assert_allclose(d_km * 1000 / res, expected, atol=1e-12)
    np.testing.assert_allclose(h_m, 2.0 * (5 + np.asarray(expected)), atol=1e-4)  # bilinear on a plane is exact


def test_reference_profile_north_and_diagonal_on_a_tilted_plane():
    """Rows as well as columns: a plane rising 3 m per row southwards and 2 m per column eastwards is
    sampled exactly (bilinear on a plane), along a north-going and a diagonal line."""
    from phusong.propagation.reference import profile

    res = 30.0
    grid = Grid(60, 60, Affine(res, 0, 1000.0, 0, -res, 5000.0 + 60 * res), "EPSG:32648")
    rows, cols = np.indices((60, 60))
    plane = (3.0 * rows + 2.0 * cols).astype(np.float32)
    x0, y0 = grid.xy(50, 10)
    for dx, dy in ((0.0, 1000.0), (700.0, 700.0)):                       # north; north-east
        d_km, h_m = profile(plane, grid, float(x0), float(y0), float(x0) + dx, float(y0) + dy)
        t = d_km / d_km[-1]
        r, c = grid.rowcol(x0 + t * dx, y0 + t * dy)
        np.testing.assert_allclose(h_m, 3.0 * r + 2.0 * c, atol=1e-3)
        assert d_km[-1] == pytest.approx(np.hypot(dx, dy) / 1000.0)


def test_wavelength_by_hand():
    from phusong.propagation.p525 import wavelength_m

    assert wavelength_m(3000.0) == pytest.approx(299_792_458.0 / 3e9, rel=1e-12)
    np.testing.assert_allclose(wavelength_m(np.array([900.0, 1800.0])), [0.333102731, 0.166551366], rtol=1e-8)


@pytest.mark.parametrize("model", ["delta-bullington", "bullington"])
def test_profile_evaluation_does_not_depend_on_where_distances_start(model):
    """Distances measured from another origin (5 km before the transmitter) give the same result."""
    from phusong.propagation.reference import evaluate_profile

    d = np.linspace(0.0, 12.0, 121)
    h = 200.0 + 80.0 * np.exp(-((d - 6.0) / 0.8) ** 2)           # a hill half way
    a = evaluate_profile(d, h, 30.0, 1.5, 1800.0, model=model)
    b = evaluate_profile(d + 5.0, h, 30.0, 1.5, 1800.0, model=model)
    assert a["los"] == b["los"] is False
    assert b["loss_db"] == pytest.approx(a["loss_db"], abs=1e-9) and a["diffraction_db"] > 10.0


def test_bullington_on_the_shortest_profiles():
    """Two points (no terrain between): free space, no diffraction. Three points with a tall middle
    point: the knife edge is counted."""
    from phusong.propagation.reference import evaluate_profile

    two = evaluate_profile([0.0, 5.0], [100.0, 100.0], 30.0, 1.5, 1800.0, model="bullington")
    assert two["diffraction_db"] == 0.0 and two["loss_db"] == two["free_space_db"]
    three = evaluate_profile([0.0, 2.5, 5.0], [100.0, 250.0, 100.0], 30.0, 1.5, 1800.0, model="bullington")
    assert three["diffraction_db"] > 15.0 and not three["los"]


def test_site_footprint_shows_its_keyword_arguments():
    """help(site_footprint) in a notebook lists site_footprints' arguments, with one frequency for its list."""
    import inspect

    one = inspect.signature(site_footprint).parameters
    many = inspect.signature(site_footprints).parameters
    assert list(one) == [("frequency_mhz" if name == "frequencies_mhz" else name) for name in many]
    assert one["model"].default == "delta-bullington" and one["exact_tail"].default is None
