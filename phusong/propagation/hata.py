"""Okumura-Hata and COST-231 Hata median path loss (empirical, terrain-independent).

* Okumura-Hata: M. Hata, "Empirical formula for propagation loss in land mobile
  radio services", IEEE Trans. Veh. Technol. VT-29(3), 1980, eqs. (4)–(8), as
  restated in ITU-R P.529-3 Annex 1. Valid for 150–1500 MHz, base height
  30–200 m, mobile height 1–10 m, distance 1–20 km.
* COST-231 Hata: COST Action 231 final report (1999), §4.4.1, eq. (4.4.1): the
  extension to 1500–2000 MHz with Cm = 0 dB (medium city, suburban) or 3 dB
  (metropolitan centres), with the same height and distance ranges.

Environments: ``urban`` (with ``city`` "large" or "small" for the mobile-antenna
correction a(hm)), ``suburban`` and ``open`` (Okumura-Hata only).
Outside a validity range: a :class:`ValidityWarning`, once per run.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from .validity import check_range


def mobile_correction_db(frequency_mhz, mobile_height_m, city: str = "small"):
    """a(hm): small/medium city (eq. 5), or large city (eqs. 6a, 6b)."""
    f = np.asarray(frequency_mhz, dtype=np.float64)
    hm = np.asarray(mobile_height_m, dtype=np.float64)
    if city == "large":
        return np.where(f <= 200.0, 8.29 * np.log10(1.54 * hm) ** 2 - 1.1, 3.2 * np.log10(11.75 * hm) ** 2 - 4.97)
    if city == "small":
        return (1.1 * np.log10(f) - 0.7) * hm - (1.56 * np.log10(f) - 0.8)
    raise InputError(f"unknown city size {city!r} (large or small)")


def _check(model, f, d_km, hb, hm, f_range):
    check_range(model, "frequency", f, *f_range, "MHz")
    check_range(model, "distance", d_km, 1.0, 20.0, "km")
    check_range(model, "base-station height", hb, 30.0, 200.0, "m")
    check_range(model, "mobile height", hm, 1.0, 10.0, "m")


def okumura_hata_db(frequency_mhz, distance_km, base_height_m, mobile_height_m,
                    environment: str = "urban", city: str = "small"):
    """Median basic transmission loss (dB), Hata 1980."""
    f = np.asarray(frequency_mhz, dtype=np.float64)
    d = np.asarray(distance_km, dtype=np.float64)
    hb = np.asarray(base_height_m, dtype=np.float64)
    _check("okumura-hata", f, d, hb, mobile_height_m, (150.0, 1500.0))
    urban = (69.55 + 26.16 * np.log10(f) - 13.82 * np.log10(hb) - mobile_correction_db(f, mobile_height_m, city)
             + (44.9 - 6.55 * np.log10(hb)) * np.log10(d))
    if environment == "urban":
        return urban
    if environment == "suburban":   # eq. (7), on the small/medium-city urban loss
        base = urban if city == "small" else okumura_hata_db(f, d, hb, mobile_height_m, "urban", "small")
        return base - 2.0 * np.log10(f / 28.0) ** 2 - 5.4
    if environment == "open":       # eq. (8)
        return urban - 4.78 * np.log10(f) ** 2 + 18.33 * np.log10(f) - 40.94
    raise InputError(f"unknown environment {environment!r} (urban, suburban or open)")


def cost231_hata_db(frequency_mhz, distance_km, base_height_m, mobile_height_m, metropolitan: bool = False):
    """COST-231 Hata median loss (dB): Cm = 3 dB in metropolitan centres (large-city a(hm)), else 0."""
    f = np.asarray(frequency_mhz, dtype=np.float64)
    d = np.asarray(distance_km, dtype=np.float64)
    hb = np.asarray(base_height_m, dtype=np.float64)
    _check("cost231-hata", f, d, hb, mobile_height_m, (1500.0, 2000.0))
    a_hm = mobile_correction_db(f, mobile_height_m, "large" if metropolitan else "small")
    cm = 3.0 if metropolitan else 0.0
    return (46.3 + 33.9 * np.log10(f) - 13.82 * np.log10(hb) - a_hm
            + (44.9 - 6.55 * np.log10(hb)) * np.log10(d) + cm)
