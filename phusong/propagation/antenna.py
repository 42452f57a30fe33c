"""Base-station antenna gain — 3GPP TR 38.901 V17.0.0 (2022-03), §7.3, Table 7.3-1.

A_H(φ) = −min(12 (φ/φ3dB)², Am); A_V(θ) = −min(12 ((θ − θtilt)/θ3dB)², SLAv);
A = −min(−(A_H + A_V), Am), with Am = SLAv = 30 dB. Here θ is the depression
angle below the horizon (the Table's zenith angle minus 90°), steered by
mechanical plus electrical downtilt. Omnidirectional cells use A_H = 0.
Valid for macro-cell sector panels; beamwidths 1–360° (horizontal), 1–180° (vertical).
"""
from __future__ import annotations

import numpy as np

AM_DB = 30.0
SLAV_DB = 30.0


def pattern_db(azimuth_offset_deg, depression_deg, beamwidth_h_deg, beamwidth_v_deg, tilt_deg,
               omni: bool = False):
    """Relative gain (dB, ≤ 0) for angles off boresight; angles in degrees."""
    phi = (np.asarray(azimuth_offset_deg, dtype=np.float64) + 180.0) % 360.0 - 180.0
    a_v = -np.minimum(12.0 * ((np.asarray(depression_deg) - tilt_deg) / beamwidth_v_deg) ** 2, SLAV_DB)
    if omni:
        return np.maximum(a_v, -AM_DB)
    a_h = -np.minimum(12.0 * (phi / beamwidth_h_deg) ** 2, AM_DB)
    return -np.minimum(-(a_h + a_v), AM_DB)


def depression_deg(distance_m, tx_asl_m, rx_asl_m, earth_radius_km=8500.0):
    """Angle of the receiver below the antenna's horizontal, with Earth curvature (degrees)."""
    d = np.maximum(np.asarray(distance_m, dtype=np.float64), 1.0)
    drop = tx_asl_m - rx_asl_m + d * d / (2.0 * earth_radius_km * 1000.0)
    return np.degrees(np.arctan2(drop, d))
