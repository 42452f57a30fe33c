"""Diffraction — Recommendation ITU-R P.526-15 (10/2019).

* §4.1 eq. (31): single knife-edge loss J(ν).
* §4.5 the delta-Bullington method (also the diffraction core of P.452-17 §4.2 and
  P.1812-6 §4.3): Bullington on the actual profile (Lba), spherical-earth
  diffraction on the smooth-earth path (Lsph), Bullington on the smooth profile
  (Lbs), and Ld = Lba + max(Lsph − Lbs, 0).

The smooth-earth antenna heights follow the least-squares surface with the
obstacle correction of P.452-17 §5.1.6.3 (``smooth_earth_heights``), which is
what the ITU-R SG3 delta-Bullington validation examples use. Spherical-earth
first-term diffraction uses average land (εr = 22, σ = 0.003 S/m) in horizontal
polarisation by default.

Validity: P.526 diffraction is used here from 30 MHz to 50 GHz, for paths from
about 50 m; these are pure NumPy reference functions on a single profile
(distances in km, heights in m above sea level). The fast raster kernel lives in
:mod:`phusong.propagation._kernels` and is tested against these.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .p525 import wavelength_m

DEFAULT_EARTH_RADIUS_KM = 8500.0   # k = 4/3 (median effective Earth radius)
LAND_PERMITTIVITY = 22.0
LAND_CONDUCTIVITY_S_M = 0.003
SEA_PERMITTIVITY = 80.0
SEA_CONDUCTIVITY_S_M = 5.0


def knife_edge_loss_db(nu):
    """J(ν), P.526-15 eq. (31); 0 for ν ≤ −0.78."""
    nu = np.asarray(nu, dtype=np.float64)
    loss = 6.9 + 20.0 * np.log10(np.sqrt((nu - 0.1) ** 2 + 1.0) + nu - 0.1)
    return np.where(nu > -0.78, loss, 0.0)


def bullington_loss_db(d_km, h_m, hts_m: float, hrs_m: float, frequency_mhz: float,
                       earth_radius_km: float = DEFAULT_EARTH_RADIUS_KM) -> float:
    """Bullington diffraction loss over a profile, P.526-15 §4.5.1 eqs. (49)–(58).

    ``hts_m``/``hrs_m`` are antenna heights above sea level at the two ends.
    """
    d = np.asarray(d_km, dtype=np.float64)
    h = np.asarray(h_m, dtype=np.float64)
    dtot = d[-1] - d[0]
    di, hi = d[1:-1] - d[0], h[1:-1]
    ce = 1.0 / earth_radius_km
    lam = float(wavelength_m(frequency_mhz))
    if di.size == 0:
        return 0.0
    bulge = hi + 500.0 * ce * di * (dtot - di)
    stim = np.max((bulge - hts_m) / di)
    str_ = (hrs_m - hts_m) / dtot
    if stim < str_:  # line-of-sight path: the point with the highest ν
        nu = (bulge - (hts_m * (dtot - di) + hrs_m * di) / dtot) * np.sqrt(0.002 * dtot / (lam * di * (dtot - di)))
        luc = float(knife_edge_loss_db(np.max(nu)))
    else:            # trans-horizon: Bullington point where the two horizon rays meet
        srim = np.max((bulge - hrs_m) / (dtot - di))
        db = (hrs_m - hts_m + srim * dtot) / (stim + srim)
        nu = (hts_m + stim * db - (hts_m * (dtot - db) + hrs_m * db) / dtot) * \
            np.sqrt(0.002 * dtot / (lam * db * (dtot - db)))
        luc = float(knife_edge_loss_db(nu))
    return luc + (1.0 - np.exp(-luc / 6.0)) * (10.0 + 0.02 * dtot)


def _first_term_db(d_km, hte_m, hre_m, radius_km, frequency_mhz, permittivity, conductivity, vertical):
    """First-term spherical-earth diffraction, P.526-15 §4.5.2 eqs. (62)–(71)."""
    f_ghz = frequency_mhz / 1000.0
    k = 0.036 * (radius_km * f_ghz) ** (-1.0 / 3.0) * ((permittivity - 1.0) ** 2 + (18.0 * conductivity / f_ghz) ** 2) ** -0.25
    if vertical:
        k *= (permittivity ** 2 + (18.0 * conductivity / f_ghz) ** 2) ** 0.5
    beta = (1.0 + 1.6 * k**2 + 0.67 * k**4) / (1.0 + 4.5 * k**2 + 1.53 * k**4)
    x = 21.88 * beta * (f_ghz / radius_km**2) ** (1.0 / 3.0) * d_km
    y_factor = 0.9575 * beta * (f_ghz**2 / radius_km) ** (1.0 / 3.0)
    fx = 11.0 + 10.0 * np.log10(x) - 17.6 * x if x >= 1.6 else -20.0 * np.log10(x) - 5.6488 * x**1.425
    g_min = 2.0 + 20.0 * np.log10(k)

    def height_gain(y):
        b = beta * y
        g = 17.6 * (b - 1.1) ** 0.5 - 5.0 * np.log10(b - 1.1) - 8.0 if b > 2.0 else 20.0 * np.log10(b + 0.1 * b**3)
        return max(g, g_min)

    return -fx - height_gain(y_factor * hte_m) - height_gain(y_factor * hre_m)


def spherical_earth_loss_db(d_km: float, hte_m: float, hre_m: float, frequency_mhz: float,
                            earth_radius_km: float = DEFAULT_EARTH_RADIUS_KM,
                            permittivity: float = LAND_PERMITTIVITY,
                            conductivity: float = LAND_CONDUCTIVITY_S_M, vertical: bool = False,
                            sea_fraction: float = 0.0) -> float:
    """Spherical-earth diffraction loss Lsph, P.526-15 §4.5.2 eqs. (59)–(61).

    ``hte_m``/``hre_m`` are the antennas' heights above the smooth-earth surface. A path partly over
    sea mixes the first-term losses of the ground and of sea water by ``sea_fraction`` (ITU-R
    P.1812-6 eq. (28)).
    """
    if hte_m <= 0 or hre_m <= 0:
        hte_m, hre_m = max(hte_m, 1e-3), max(hre_m, 1e-3)
    a = earth_radius_km
    lam = float(wavelength_m(frequency_mhz))
    dlos = np.sqrt(2.0 * a) * (np.sqrt(0.001 * hte_m) + np.sqrt(0.001 * hre_m))

    def first_term(radius_km):
        ground = _first_term_db(d_km, hte_m, hre_m, radius_km, frequency_mhz, permittivity, conductivity, vertical)
        if sea_fraction <= 0.0:
            return ground
        sea = _first_term_db(d_km, hte_m, hre_m, radius_km, frequency_mhz, SEA_PERMITTIVITY, SEA_CONDUCTIVITY_S_M,
                             vertical)
        return sea_fraction * sea + (1.0 - sea_fraction) * ground

    if d_km >= dlos:
        return float(first_term(a))
    c = (hte_m - hre_m) / (hte_m + hre_m)
    m = 250.0 * d_km**2 / (a * (hte_m + hre_m))
    b = 2.0 * np.sqrt((m + 1.0) / (3.0 * m)) * np.cos(np.pi / 3.0 + np.arccos(1.5 * c * np.sqrt(3.0 * m / (m + 1.0) ** 3)) / 3.0)
    dse1 = d_km / 2.0 * (1.0 + b)
    dse2 = d_km - dse1
    hse = ((hte_m - 500.0 * dse1**2 / a) * dse2 + (hre_m - 500.0 * dse2**2 / a) * dse1) / d_km
    hreq = 17.456 * np.sqrt(dse1 * dse2 * lam / d_km)
    if hse > hreq:
        return 0.0
    aem = 500.0 * (d_km / (np.sqrt(hte_m) + np.sqrt(hre_m))) ** 2
    ldft = first_term(aem)
    return float(max(0.0, (1.0 - hse / hreq) * ldft))


def least_squares_ends(d_km, h_m) -> tuple[float, float]:
    """Heights (m asl) at the two ends of the least-squares straight line through a profile,
    P.452-17 eqs. (161)–(164) (P.1812-6 Attachment 1 eqs. (85)–(88))."""
    d = np.asarray(d_km, dtype=np.float64)
    h = np.asarray(h_m, dtype=np.float64)
    dtot = d[-1] - d[0]
    x = d - d[0]
    dd = np.diff(x)
    v1 = np.sum(dd * (h[1:] + h[:-1]))
    v2 = np.sum(dd * (h[1:] * (2.0 * x[1:] + x[:-1]) + h[:-1] * (x[1:] + 2.0 * x[:-1])))
    return float((2.0 * v1 * dtot - v2) / dtot**2), float((v2 - v1 * dtot) / dtot**2)


def smooth_earth_heights(d_km, h_m, hts_m: float, hrs_m: float) -> tuple[float, float]:
    """Smooth-earth surface heights (m asl) at the two ends for the diffraction model.

    Least-squares straight line through the profile (P.452-17 eqs. (161)–(164)),
    lowered by the highest obstacle above the direct ray (eqs. (165)–(167)) and
    capped at the ground heights (eq. (168)).
    """
    d = np.asarray(d_km, dtype=np.float64)
    h = np.asarray(h_m, dtype=np.float64)
    dtot = d[-1] - d[0]
    x = d - d[0]
    hst, hsr = least_squares_ends(d, h)
    if x.size > 2:
        xi = x[1:-1]
        obstacle = h[1:-1] - (hts_m * (dtot - xi) + hrs_m * xi) / dtot
        hobs = obstacle.max()
        if hobs > 0:
            a_t = np.max(obstacle / xi)
            a_r = np.max(obstacle / (dtot - xi))
            hst -= hobs * a_t / (a_t + a_r)
            hsr -= hobs * a_r / (a_t + a_r)
    return float(min(hst, h[0])), float(min(hsr, h[-1]))


@dataclass(frozen=True)
class DeltaBullington:
    """The parts of a delta-Bullington result (all dB, heights in m)."""

    diffraction_db: float
    bullington_actual_db: float
    spherical_earth_db: float
    bullington_smooth_db: float
    hts_prime_m: float
    hrs_prime_m: float


def delta_bullington(d_km, h_m, tx_height_m: float, rx_height_m: float, frequency_mhz: float,
                     earth_radius_km: float = DEFAULT_EARTH_RADIUS_KM, vertical: bool = False) -> DeltaBullington:
    """Delta-Bullington diffraction loss over a profile, P.526-15 §4.5.3 eq. (73).

    ``d_km``/``h_m``: the profile from transmitter ground (first) to receiver
    ground (last); antenna heights are above ground.
    """
    d = np.asarray(d_km, dtype=np.float64)
    h = np.asarray(h_m, dtype=np.float64)
    hts = h[0] + tx_height_m
    hrs = h[-1] + rx_height_m
    lba = bullington_loss_db(d, h, hts, hrs, frequency_mhz, earth_radius_km)
    hst, hsr = smooth_earth_heights(d, h, hts, hrs)
    hts_p, hrs_p = hts - hst, hrs - hsr
    lbs = bullington_loss_db(d, np.zeros_like(h), hts_p, hrs_p, frequency_mhz, earth_radius_km)
    lsph = spherical_earth_loss_db(d[-1] - d[0], hts_p, hrs_p, frequency_mhz, earth_radius_km, vertical=vertical)
    return DeltaBullington(lba + max(lsph - lbs, 0.0), lba, lsph, lbs, hts_p, hrs_p)
