"""Free-space basic transmission loss — Recommendation ITU-R P.525-4 (08/2019), §2.2, eq. (4).

Lbf = 20·log10(4π·d/λ) dB. Valid for any frequency and distance in the far field
(d ≫ λ); phusong warns below 1 m.
"""
from __future__ import annotations

import numpy as np

SPEED_OF_LIGHT_M_S = 299_792_458.0
# 20·log10(4π·1 km·1 MHz / c): the constant of eq. (4), which the Recommendation rounds to 32.4
FSPL_CONST_DB = 20.0 * np.log10(4.0 * np.pi * 1e3 * 1e6 / SPEED_OF_LIGHT_M_S)


def free_space_loss_db(distance_km, frequency_mhz):
    """Free-space basic transmission loss (dB) for a distance in km and frequency in MHz."""
    d = np.asarray(distance_km, dtype=np.float64)
    return FSPL_CONST_DB + 20.0 * np.log10(frequency_mhz) + 20.0 * np.log10(d)


def wavelength_m(frequency_mhz):
    """Wavelength (m) of a frequency in MHz."""
    return SPEED_OF_LIGHT_M_S / (np.asarray(frequency_mhz, dtype=np.float64) * 1e6)
