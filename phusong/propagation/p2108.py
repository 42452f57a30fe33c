"""ITU-R P.2108-1 (09/2021), Annex 1 §3.2: statistical clutter loss for terrestrial paths.

The loss a terminal well below the surrounding clutter (urban or suburban buildings and trees)
adds to a terrestrial path, not exceeded at ``location_pct`` % of locations:

    L_l = −2·log10(10^(−5·log10 f − 12.5) + 10^(−16.5)),  σ_l = 4 dB          (4a, 4b)
    L_s = 32.98 + 23.9·log10 d + 3·log10 f,               σ_s = 6 dB          (5a, 5b)
    σ_cb = √((σ_l²·10^(−0.2 L_l) + σ_s²·10^(−0.2 L_s)) / (10^(−0.2 L_l) + 10^(−0.2 L_s)))   (3b)
    L_ctt = −5·log10(10^(−0.2 L_l) + 10^(−0.2 L_s)) − σ_cb·Q⁻¹(p/100)         (3a)

with f in GHz and d in km, and never more than its value at 2 km (§3.2). Valid for 0.5–67 GHz and
paths of at least 0.25 km (1 km to apply it at both ends); outside, a :class:`ValidityWarning`.
"""
from __future__ import annotations

from statistics import NormalDist

import numpy as np

from .validity import check_range

MODEL = "ITU-R P.2108-1 §3.2"
FREQUENCY_GHZ = (0.5, 67.0)
MIN_DISTANCE_KM = 0.25


def _q_inverse(p_fraction):
    """Q⁻¹: the inverse complementary standard normal distribution."""
    p = np.asarray(p_fraction, dtype=np.float64)
    if p.ndim == 0 or np.all(p == p.flat[0]):   # one percentage for a whole map: one evaluation
        return np.full(p.shape, NormalDist().inv_cdf(1.0 - float(p.flat[0]))) if p.size else p
    return np.vectorize(lambda q: NormalDist().inv_cdf(1.0 - q), otypes=[float])(p)


def _loss_db(f_ghz, d_km, p_pct):
    ll = -2.0 * np.log10(10.0 ** (-5.0 * np.log10(f_ghz) - 12.5) + 10.0 ** -16.5)
    ls = 32.98 + 23.9 * np.log10(d_km) + 3.0 * np.log10(f_ghz)
    wl, ws = 10.0 ** (-0.2 * ll), 10.0 ** (-0.2 * ls)
    sigma_cb = np.sqrt((4.0 ** 2 * wl + 6.0 ** 2 * ws) / (wl + ws))
    return -5.0 * np.log10(wl + ws) - sigma_cb * _q_inverse(p_pct / 100.0)


def terrestrial_clutter_loss_db(frequency_ghz, distance_km, location_pct=50.0):
    """Clutter loss (dB) at one end of a terrestrial path, not exceeded at ``location_pct`` % of locations.

    Examples
    --------
    >>> from phusong.propagation.p2108 import terrestrial_clutter_loss_db
    >>> round(float(terrestrial_clutter_loss_db(3.5, 1.0, 50.0)), 2)
    26.66
    """
    f = np.asarray(frequency_ghz, dtype=np.float64)
    d = np.asarray(distance_km, dtype=np.float64)
    p = np.asarray(location_pct, dtype=np.float64)
    check_range(MODEL, "frequency", f, *FREQUENCY_GHZ, "GHz")
    check_range(MODEL, "distance", d, MIN_DISTANCE_KM, np.inf, "km")
    if np.any((p <= 0.0) | (p >= 100.0)):
        from ..errors import InputError
        raise InputError(f"{MODEL}: the location percentage must lie strictly between 0 and 100",
                         argument="location_pct")
    return np.minimum(_loss_db(f, d, p), _loss_db(f, 2.0, p))
