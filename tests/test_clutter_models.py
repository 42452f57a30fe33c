"""ITU-R P.2108-1 §3.2 (terrestrial clutter loss) and P.2109-1 (building entry loss): the Recommendations'
equations written out by hand over a table of frequencies and probabilities, and published values."""
import math
import warnings
from statistics import NormalDist

import pytest

from phusong.errors import InputError
from phusong.propagation.p2108 import terrestrial_clutter_loss_db
from phusong.propagation.p2109 import building_entry_loss_db
from phusong.propagation.validity import ValidityWarning


def _p2108_by_hand(f, d, p):
    def at(dist):
        ll = -2 * math.log10(10 ** (-5 * math.log10(f) - 12.5) + 10 ** -16.5)        # (4a)
        ls = 32.98 + 23.9 * math.log10(dist) + 3 * math.log10(f)                      # (5a)
        a, b = 10 ** (-0.2 * ll), 10 ** (-0.2 * ls)
        sigma = math.sqrt((16 * a + 36 * b) / (a + b))                                # (3b), σl = 4, σs = 6
        return -5 * math.log10(a + b) - sigma * NormalDist().inv_cdf(1 - p / 100)     # (3a), Q⁻¹(p/100)
    return min(at(d), at(2.0))                                                        # never above 2 km's


@pytest.mark.parametrize("f", [0.5, 0.7, 1.8, 2.6, 3.5, 10.0, 28.0, 67.0])
@pytest.mark.parametrize("d", [0.25, 0.5, 1.0, 2.0, 5.0, 20.0])
@pytest.mark.parametrize("p", [1.0, 10.0, 50.0, 90.0, 99.0])
def test_p2108_terrestrial_clutter_loss_by_hand(f, d, p):
    assert float(terrestrial_clutter_loss_db(f, d, p)) == pytest.approx(_p2108_by_hand(f, d, p), abs=1e-9)


@pytest.mark.parametrize("f, d, p, published", [
    (0.5, 0.25, 50, 17.4), (0.5, 0.25, 1, 3.9), (0.5, 0.25, 99, 30.9), (26.6, 15.8, 45, 32.5),
    (67, 5.4, 30.5, 30.9), (3.5, 1, 0.1, 16.8), (3.5, 1, 99.9, 42.8)])
def test_p2108_against_the_us_reference_implementation(f, d, p, published):
    """Values of NTIA's U.S. reference implementation of P.2108 (its test data, printed to 0.1 dB)."""
    assert float(terrestrial_clutter_loss_db(f, d, p)) == pytest.approx(published, abs=0.05 + 1e-9)


def test_p2108_grows_with_distance_up_to_2_km_and_then_stays():
    losses = [float(terrestrial_clutter_loss_db(3.5, d)) for d in (0.25, 0.5, 1.0, 2.0, 4.0, 30.0)]
    assert losses[:4] == sorted(losses[:4]) and losses[3] == losses[4] == losses[5]


def _p2109_by_hand(f, p, coefficients, theta):
    r, s, t, u, v, w, x, y, z = coefficients
    lf = math.log10(f)
    mu1 = r + s * lf + t * lf ** 2 + 0.212 * abs(theta)                               # (5), (9), (10)
    mu2, sigma1, sigma2 = w + x * lf, u + v * lf, y + z * lf                          # (6)–(8)
    k = NormalDist().inv_cdf(p / 100)
    a, b, c = k * sigma1 + mu1, k * sigma2 + mu2, -3.0                                # (2)–(4)
    return 10 * math.log10(10 ** (0.1 * a) + 10 ** (0.1 * b) + 10 ** (0.1 * c))       # (1)


TABLE_1 = {"traditional": (12.64, 3.72, 0.96, 9.6, 2.0, 9.1, -3.0, 4.5, -2.0),
           "thermally-efficient": (28.19, -3.00, 8.48, 13.5, 3.8, 27.8, -2.9, 9.4, -2.1)}


@pytest.mark.parametrize("building", list(TABLE_1))
@pytest.mark.parametrize("f", [0.1, 0.7, 1.8, 3.5, 28.0, 100.0])
@pytest.mark.parametrize("p", [0.1, 10.0, 50.0, 90.0, 99.9])
@pytest.mark.parametrize("theta", [0.0, 30.0, -45.0])
def test_p2109_building_entry_loss_by_hand(building, f, p, theta):
    got = float(building_entry_loss_db(f, p, building, theta))
    assert got == pytest.approx(_p2109_by_hand(f, p, TABLE_1[building], theta), abs=1e-9)


@pytest.mark.parametrize("f, p, building, theta, published", [
    (28, 1.0, "traditional", 0, 2.769), (28, 10.0, "traditional", 0, 6.891),
    (28, 1.0, "thermally-efficient", 0, 9.369), (28, 10.0, "thermally-efficient", 0, 19.484),
    (2, 1.0, "traditional", 45, 3.508)])
def test_p2109_against_the_sg3_workbook(f, p, building, theta, published):
    """Values of ITU-R Study Group 3's "Clutter and BEL" workbook (the reference validation data)."""
    assert float(building_entry_loss_db(f, p, building, theta)) == pytest.approx(published, abs=0.001)


def test_validity_ranges_warn_and_impossible_inputs_are_errors():
    with pytest.warns(ValidityWarning, match="P.2108-1 §3.2: frequency"):
        terrestrial_clutter_loss_db(0.3, 1.0)
    with pytest.warns(ValidityWarning, match="distance"):
        terrestrial_clutter_loss_db(3.5, 0.1)
    with pytest.warns(ValidityWarning, match="P.2109-1: frequency"):
        building_entry_loss_db(0.05)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        terrestrial_clutter_loss_db(3.5, 1.0)
        building_entry_loss_db(3.5)
    with pytest.raises(InputError, match="between 0 and 100"):
        terrestrial_clutter_loss_db(3.5, 1.0, 100.0)
    with pytest.raises(InputError, match="building must be one of"):
        building_entry_loss_db(3.5, 50.0, "glass")
