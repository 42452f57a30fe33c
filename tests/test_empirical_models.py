import csv
import math
import warnings

import numpy as np
import pytest

from phusong.propagation.hata import cost231_hata_db, okumura_hata_db
from phusong.propagation.tr38901 import rma_db, uma_db
from phusong.propagation.validity import ValidityWarning

from .conftest import shared_path


def _rows(name):
    with open(shared_path("reference", name)) as fh:
        return list(csv.DictReader(line for line in fh if not line.startswith("#")))


def test_38901_against_ns3_vectors():
    rows = _rows("ns3_3gpp_38901_pathloss.csv")
    assert len(rows) == 16
    for r in rows:
        model = rma_db if r["scenario"] == "RMa" else uma_db
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ValidityWarning)  # RMa 10 km LOS is at the table's edge
            value = model(float(r["fc_GHz"]), float(r["d2d_m"]), float(r["h_bs_m"]), float(r["h_ut_m"]),
                          r["condition"] == "LOS")
        assert float(value) == pytest.approx(float(r["pathloss_dB"]), abs=1e-4), r  # 4 printed decimals


def _hata_textbook(f, d, hb, hm, env, city):
    """Hata (1980) written out independently of the module."""
    lf, lhb = math.log10(f), math.log10(hb)
    a_small = (1.1 * lf - 0.7) * hm - (1.56 * lf - 0.8)
    # large city: eq. (6a) up to 200 MHz, eq. (6b) above (the paper states 6b from 400 MHz; between, 6b)
    a_large = 8.29 * math.log10(1.54 * hm) ** 2 - 1.1 if f <= 200 else 3.2 * math.log10(11.75 * hm) ** 2 - 4.97
    a = a_large if city == "large" else a_small
    urban = 69.55 + 26.16 * lf - 13.82 * lhb - a + (44.9 - 6.55 * lhb) * math.log10(d)
    if env == "urban":
        return urban
    if env == "suburban":
        return 69.55 + 26.16 * lf - 13.82 * lhb - a_small + (44.9 - 6.55 * lhb) * math.log10(d) \
            - 2 * math.log10(f / 28) ** 2 - 5.4
    return urban - 4.78 * lf ** 2 + 18.33 * lf - 40.94


def test_hata_against_ns3_worked_values_and_textbook():
    for r in _rows("ns3_okumura_hata.csv"):
        f, d, hb, hm = float(r["f_MHz"]), float(r["d_m"]) / 1000, float(r["hb_m"]), float(r["hm_m"])
        if r["model"] == "OH":
            ours = float(okumura_hata_db(f, d, hb, hm, r["environment"], r["city"]))
            assert ours == pytest.approx(_hata_textbook(f, d, hb, hm, r["environment"], r["city"]), abs=1e-9)
            assert ours == pytest.approx(float(r["loss_dB"]), abs=0.1)   # ns-3's tolerance
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ValidityWarning)  # 2114 MHz is above 2000 MHz
                ours = float(cost231_hata_db(f, d, hb, hm, metropolitan=r["city"] == "large"))
            lf, lhb = math.log10(f), math.log10(hb)
            a = 3.2 * math.log10(11.75 * hm) ** 2 - 4.97 if r["city"] == "large" else \
                (1.1 * lf - 0.7) * hm - (1.56 * lf - 0.8)
            textbook = 46.3 + 33.9 * lf - 13.82 * lhb - a + (44.9 - 6.55 * lhb) * math.log10(d) + \
                (3 if r["city"] == "large" else 0)
            assert ours == pytest.approx(textbook, abs=1e-9)
    # The shared README: ns-3's metropolitan COST-231 value (148.55) is wrong; the formula gives 153.52
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ValidityWarning)
        assert float(cost231_hata_db(2114, 2.0, 30, 1, metropolitan=True)) == pytest.approx(153.52, abs=0.01)


def test_validity_warning_once_per_parameter():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("default")
        for f in (2600.0, 2700.0, 3500.0):
            okumura_hata_db(f, 5.0, 40.0, 1.5)
    messages = [str(w.message) for w in caught if issubclass(w.category, ValidityWarning)]
    assert len(messages) == 1 and "150–1500 MHz" in messages[0]


def _rma_by_hand(fc_ghz, d2d, h_bs, h_ut, los, w=20.0, h=5.0):
    """TR 38.901 V17.0.0 Table 7.4.1-1, RMa, written out independently of the module."""
    d3d = math.hypot(d2d, h_bs - h_ut)
    d_bp = 2 * math.pi * h_bs * h_ut * fc_ghz * 1e9 / 3.0e8

    def pl1(d):
        return (20 * math.log10(40 * math.pi * d * fc_ghz / 3) + min(0.03 * h ** 1.72, 10) * math.log10(d)
                - min(0.044 * h ** 1.72, 14.77) + 0.002 * math.log10(h) * d)
    pl_los = pl1(d3d) if d2d <= d_bp else pl1(d_bp) + 40 * math.log10(d3d / d_bp)
    if los:
        return pl_los
    nlos = (161.04 - 7.1 * math.log10(w) + 7.5 * math.log10(h)
            - (24.37 - 3.7 * (h / h_bs) ** 2) * math.log10(h_bs)
            + (43.42 - 3.1 * math.log10(h_bs)) * (math.log10(d3d) - 3) + 20 * math.log10(fc_ghz)
            - (3.2 * math.log10(11.75 * h_ut) ** 2 - 4.97))
    return max(pl_los, nlos)


def test_rma_matches_the_table_written_out_by_hand():
    """Both branches of the breakpoint and of NLOS = max(LOS, NLOS'), at several frequencies and heights."""
    cases = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ValidityWarning)
        for fc in (0.7, 1.8, 3.5, 6.0):
            for h_bs, h_ut in ((35.0, 1.5), (25.0, 5.0)):
                for d in (15.0, 60.0, 400.0, 2_000.0, 9_000.0):
                    for los in (True, False):
                        ours = float(rma_db(fc, d, h_bs, h_ut, los))
                        assert ours == pytest.approx(_rma_by_hand(fc, d, h_bs, h_ut, los), abs=1e-9), (fc, d, los)
                        cases += 1
    # both sides of the max() occur in this set: NLOS' below LOS at short range, above it far out
    assert _rma_by_hand(3.5, 15.0, 25.0, 5.0, False) == _rma_by_hand(3.5, 15.0, 25.0, 5.0, True)
    assert _rma_by_hand(3.5, 2_000.0, 35.0, 1.5, False) > _rma_by_hand(3.5, 2_000.0, 35.0, 1.5, True)
    assert cases == 80


def test_terrain_model_warns_outside_its_frequency_range():
    from affine import Affine

    from phusong._raster import Grid
    from phusong.propagation.footprint import site_footprint
    grid = Grid(21, 21, Affine(30, 0, 0, 0, -30, 630), "EPSG:32648")
    with pytest.warns(ValidityWarning, match="30–50000 MHz"):
        site_footprint(np.zeros((21, 21), np.float32), grid, 315.0, 315.0, 20.0, 80_000.0, 0.2)


def test_hata_over_a_grid_of_frequencies_heights_and_environments():
    """The ns-3 vectors all have a 1 m mobile: here every mobile height, both city sizes (both large-city
    branches), every environment, against Hata written out by hand."""
    cases = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ValidityWarning)
        for f in (150.0, 180.0, 450.0, 900.0, 1400.0):
            for hm in (1.5, 3.0, 8.0):
                for hb in (30.0, 80.0, 200.0):
                    for d in (1.0, 4.0, 20.0):
                        for env in ("urban", "suburban", "open"):
                            for city in ("small", "large"):
                                ours = float(okumura_hata_db(f, d, hb, hm, env, city))
                                assert ours == pytest.approx(_hata_textbook(f, d, hb, hm, env, city), abs=1e-9), \
                                    (f, hm, hb, d, env, city)
                                cases += 1
        for f in (1500.0, 1800.0, 2000.0):
            for hm in (1.5, 3.0, 8.0):
                for metro in (False, True):
                    lf, lhb = math.log10(f), math.log10(40.0)
                    a = 3.2 * math.log10(11.75 * hm) ** 2 - 4.97 if metro else (1.1 * lf - 0.7) * hm - (1.56 * lf - 0.8)
                    expected = 46.3 + 33.9 * lf - 13.82 * lhb - a + (44.9 - 6.55 * lhb) * math.log10(5.0) + 3 * metro
                    assert float(cost231_hata_db(f, 5.0, 40.0, hm, metropolitan=metro)) == pytest.approx(expected,
                                                                                                         abs=1e-9)
    assert cases == 810


def test_hata_names_a_wrong_environment_or_city():
    from phusong.errors import InputError

    with pytest.raises(InputError, match=r"unknown environment 'rural' \(urban, suburban or open\)"):
        okumura_hata_db(900.0, 5.0, 30.0, 1.5, "rural")
    with pytest.raises(InputError, match=r"unknown city size 'huge' \(large or small\)"):
        okumura_hata_db(900.0, 5.0, 30.0, 1.5, "urban", "huge")


def _uma_by_hand(fc_ghz, d2d, h_bs, h_ut, los, h_e=1.0):
    """TR 38.901 V17.0.0 Table 7.4.1-1, UMa (hE = 1 m), written out independently of the module."""
    d3d = math.hypot(d2d, h_bs - h_ut)
    d_bp = 4 * (h_bs - h_e) * (h_ut - h_e) * fc_ghz * 1e9 / 3.0e8
    if d2d <= d_bp:
        pl_los = 28.0 + 22 * math.log10(d3d) + 20 * math.log10(fc_ghz)
    else:
        pl_los = (28.0 + 40 * math.log10(d3d) + 20 * math.log10(fc_ghz)
                  - 9 * math.log10(d_bp ** 2 + (h_bs - h_ut) ** 2))
    if los:
        return pl_los
    return max(pl_los, 13.54 + 39.08 * math.log10(d3d) + 20 * math.log10(fc_ghz) - 0.6 * (h_ut - 1.5))


def test_uma_and_rma_over_heights_breakpoints_and_defaults():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ValidityWarning)
        for fc in (0.8, 3.5, 28.0):
            for h_ut in (1.5, 6.0, 22.5):
                for d in (12.0, 150.0, 900.0, 4_500.0):
                    for los in (True, False):
                        assert float(uma_db(fc, d, 25.0, h_ut, los)) == pytest.approx(
                            _uma_by_hand(fc, d, 25.0, h_ut, los), abs=1e-9), (fc, h_ut, d, los)
        # tall buildings engage the caps min(0.03 h^1.72, 10) and min(0.044 h^1.72, 14.77)
        for h in (5.0, 20.0, 40.0):
            for d in (50.0, 800.0, 6_000.0):
                ours = float(rma_db(3.5, d, 35.0, 1.5, True, h_building_m=h))
                assert ours == pytest.approx(_rma_by_hand(3.5, d, 35.0, 1.5, True, h=h), abs=1e-9), (h, d)
        # exactly at the breakpoint the first formula applies (d2D <= dBP)
        d_bp = 2 * math.pi * 35.0 * 1.5 * 3.5e9 / 3.0e8
        assert float(rma_db(3.5, d_bp, 35.0, 1.5, True)) == pytest.approx(_rma_by_hand(3.5, d_bp, 35.0, 1.5, True),
                                                                          abs=1e-9)
        d_bp_uma = 4 * 24.0 * 0.5 * 3.5e9 / 3.0e8
        assert float(uma_db(3.5, d_bp_uma, 25.0, 1.5, True)) == pytest.approx(
            _uma_by_hand(3.5, d_bp_uma, 25.0, 1.5, True), abs=1e-9)
        # the documented defaults: RMa hBS 35 m, hUT 1.5 m, h 5 m, W 20 m, LOS; UMa hBS 25 m, hUT 1.5 m
        assert float(rma_db(3.5, 700.0)) == float(rma_db(3.5, 700.0, 35.0, 1.5, True, 5.0, 20.0))
        assert float(rma_db(3.5, 700.0, los=False)) == pytest.approx(_rma_by_hand(3.5, 700.0, 35.0, 1.5, False),
                                                                     abs=1e-9)
        assert float(uma_db(3.5, 700.0)) == pytest.approx(_uma_by_hand(3.5, 700.0, 25.0, 1.5, True), abs=1e-9)


def test_hata_at_the_200_mhz_edge_and_the_defaults():
    """Large city: eq. (6a) up to and including 200 MHz, eq. (6b) above; small city and no metropolitan
    correction by default."""
    from phusong.propagation.hata import mobile_correction_db

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ValidityWarning)
        for f in (200.0, 200.5, 201.0):
            expected = 8.29 * math.log10(1.54 * 3.0) ** 2 - 1.1 if f <= 200 else 3.2 * math.log10(11.75 * 3.0) ** 2 - 4.97
            assert float(mobile_correction_db(f, 3.0, "large")) == pytest.approx(expected, abs=1e-12), f
        assert float(mobile_correction_db(900.0, 3.0)) == float(mobile_correction_db(900.0, 3.0, "small"))
        assert float(cost231_hata_db(1800.0, 5.0, 40.0, 3.0)) == float(cost231_hata_db(1800.0, 5.0, 40.0, 3.0, False))
        assert float(okumura_hata_db(900.0, 5.0, 40.0, 3.0)) == pytest.approx(
            _hata_textbook(900.0, 5.0, 40.0, 3.0, "urban", "small"), abs=1e-9)
