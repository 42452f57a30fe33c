"""ITU-R P.2109-1 (08/2019): building entry loss, the loss from outside a building to a terminal inside.

Not exceeded with probability ``probability_pct`` %, for two classes of building (Table 1:
``traditional`` and ``thermally efficient``, with metallised glass and foil-backed insulation),
at frequency f (GHz) and elevation θ at the façade:

    L_h = r + s·log10 f + t·(log10 f)²,  L_e = 0.212·|θ|                      (9), (10)
    μ₁ = L_h + L_e,  μ₂ = w + x·log10 f,  σ₁ = u + v·log10 f,  σ₂ = y + z·log10 f   (5)–(8)
    A = F⁻¹(P)·σ₁ + μ₁,  B = F⁻¹(P)·σ₂ + μ₂,  C = −3 dB                        (2)–(4)
    L_BEL(P) = 10·log10(10^(0.1 A) + 10^(0.1 B) + 10^(0.1 C))                 (1)

where F⁻¹ is the inverse standard normal distribution. Valid for about 0.08–100 GHz; outside, a
:class:`ValidityWarning`. The horizontal path of a terrestrial cell is θ = 0.
"""
from __future__ import annotations

from statistics import NormalDist

import numpy as np

from ..errors import InputError
from .validity import check_range

MODEL = "ITU-R P.2109-1"
FREQUENCY_GHZ = (0.08, 100.0)
# Table 1: r, s, t, u, v, w, x, y, z
BUILDINGS = {
    "traditional": (12.64, 3.72, 0.96, 9.6, 2.0, 9.1, -3.0, 4.5, -2.0),
    "thermally-efficient": (28.19, -3.00, 8.48, 13.5, 3.8, 27.8, -2.9, 9.4, -2.1),
}


def building_entry_loss_db(frequency_ghz, probability_pct=50.0, building: str = "traditional",
                           elevation_deg=0.0):
    """Building entry loss (dB) not exceeded with ``probability_pct`` % probability.

    Examples
    --------
    >>> from phusong.propagation.p2109 import building_entry_loss_db
    >>> round(float(building_entry_loss_db(28.0, 1.0, "traditional")), 3)
    2.769
    """
    if building not in BUILDINGS:
        raise InputError(f"{MODEL}: building must be one of {', '.join(BUILDINGS)}, got {building!r}",
                         argument="building")
    f = np.asarray(frequency_ghz, dtype=np.float64)
    p = np.asarray(probability_pct, dtype=np.float64)
    theta = np.asarray(elevation_deg, dtype=np.float64)
    check_range(MODEL, "frequency", f, *FREQUENCY_GHZ, "GHz")
    if np.any((p <= 0.0) | (p >= 100.0)):
        raise InputError(f"{MODEL}: the probability must lie strictly between 0 and 100", argument="probability_pct")
    r, s, t, u, v, w, x, y, z = BUILDINGS[building]
    lf = np.log10(f)
    mu1 = r + s * lf + t * lf ** 2 + 0.212 * np.abs(theta)
    mu2, sigma1, sigma2 = w + x * lf, u + v * lf, y + z * lf
    k = np.full(p.shape, NormalDist().inv_cdf(float(p.flat[0]) / 100.0)) if p.size and np.all(p == p.flat[0]) \
        else np.vectorize(lambda q: NormalDist().inv_cdf(q), otypes=[float])(p / 100.0)
    a, b = k * sigma1 + mu1, k * sigma2 + mu2
    return 10.0 * np.log10(10.0 ** (0.1 * a) + 10.0 ** (0.1 * b) + 10.0 ** (0.1 * -3.0))
