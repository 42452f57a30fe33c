"""3GPP TR 38.901 V17.0.0 (2022-03) §7.4.1, Table 7.4.1-1: RMa and UMa path loss.

Here LOS or NLOS is decided by the terrain profile (the caller passes ``los``),
not drawn from the Table 7.4.2-1 probability. Distances in metres, fc in GHz.
Defaults: RMa average building height h = 5 m and street width W = 20 m; UMa
effective environment height hE = 1 m. Validity (Table 7.4.1-1 notes):
RMa 0.5–7 GHz (the table states 0.5–30 GHz with 7 GHz verified), 10 m–10 km
LOS and 10 m–5 km NLOS, hBS 10–150 m, hUT 1–10 m; UMa 0.5–100 GHz,
10 m–5 km, hBS 25 m, hUT 1.5–22.5 m. Outside: a :class:`ValidityWarning`.
"""
from __future__ import annotations

import numpy as np

from .validity import check_range

# Table 7.4.1-1 note 5 (and note 1 for RMa): breakpoint distances use c = 3.0e8 m/s, not the exact
# speed of light; with it the ns-3 vectors agree to their 4 printed decimals.
C_M_S = 3.0e8


def _d3d(d2d_m, h_bs, h_ut):
    return np.hypot(d2d_m, h_bs - h_ut)


def rma_db(fc_ghz, d2d_m, h_bs_m=35.0, h_ut_m=1.5, los=True, h_building_m=5.0, street_width_m=20.0):
    """RMa path loss (dB); NLOS is max(PL_LOS, PL'_NLOS)."""
    fc = np.asarray(fc_ghz, dtype=np.float64)
    d2d = np.asarray(d2d_m, dtype=np.float64)
    check_range("3gpp-rma", "frequency", fc, 0.5, 30.0, "GHz")
    check_range("3gpp-rma", "distance", d2d, 10.0, 10_000.0 if np.all(los) else 5_000.0, "m")
    check_range("3gpp-rma", "base-station height", h_bs_m, 10.0, 150.0, "m")
    check_range("3gpp-rma", "mobile height", h_ut_m, 1.0, 10.0, "m")
    h = h_building_m
    d3d = _d3d(d2d, h_bs_m, h_ut_m)
    d_bp = 2.0 * np.pi * h_bs_m * h_ut_m * fc * 1e9 / C_M_S

    def pl1(d):
        return (20.0 * np.log10(40.0 * np.pi * d * fc / 3.0) + min(0.03 * h ** 1.72, 10.0) * np.log10(d)
                - min(0.044 * h ** 1.72, 14.77) + 0.002 * np.log10(h) * d)

    pl_los = np.where(d2d <= d_bp, pl1(d3d), pl1(d_bp) + 40.0 * np.log10(d3d / d_bp))
    pl_nlos = (161.04 - 7.1 * np.log10(street_width_m) + 7.5 * np.log10(h)
               - (24.37 - 3.7 * (h / h_bs_m) ** 2) * np.log10(h_bs_m)
               + (43.42 - 3.1 * np.log10(h_bs_m)) * (np.log10(d3d) - 3.0) + 20.0 * np.log10(fc)
               - (3.2 * np.log10(11.75 * h_ut_m) ** 2 - 4.97))
    return np.where(los, pl_los, np.maximum(pl_los, pl_nlos))


def uma_db(fc_ghz, d2d_m, h_bs_m=25.0, h_ut_m=1.5, los=True, h_e_m=1.0):
    """UMa path loss (dB); NLOS is max(PL_LOS, PL'_NLOS)."""
    fc = np.asarray(fc_ghz, dtype=np.float64)
    d2d = np.asarray(d2d_m, dtype=np.float64)
    check_range("3gpp-uma", "frequency", fc, 0.5, 100.0, "GHz")
    check_range("3gpp-uma", "distance", d2d, 10.0, 5_000.0, "m")
    check_range("3gpp-uma", "mobile height", h_ut_m, 1.5, 22.5, "m")
    d3d = _d3d(d2d, h_bs_m, h_ut_m)
    d_bp = 4.0 * (h_bs_m - h_e_m) * (h_ut_m - h_e_m) * fc * 1e9 / C_M_S
    pl1 = 28.0 + 22.0 * np.log10(d3d) + 20.0 * np.log10(fc)
    pl2 = 28.0 + 40.0 * np.log10(d3d) + 20.0 * np.log10(fc) - 9.0 * np.log10(d_bp ** 2 + (h_bs_m - h_ut_m) ** 2)
    pl_los = np.where(d2d <= d_bp, pl1, pl2)
    pl_nlos = 13.54 + 39.08 * np.log10(d3d) + 20.0 * np.log10(fc) - 0.6 * (h_ut_m - 1.5)
    return np.where(los, pl_los, np.maximum(pl_los, pl_nlos))
