"""Base-station antenna gain — 3GPP TR 38.901 V17.0.0 (2022-03), §7.3, Table 7.3-1.

A_H(φ) = −min(12 (φ/φ3dB)², Am); A_V(θ) = −min(12 ((θ − θtilt)/θ3dB)², SLAv);
A = −min(−(A_H + A_V), Am), with Am = SLAv = 30 dB. Here θ is the depression
angle below the horizon (the Table's zenith angle minus 90°), steered by
mechanical plus electrical downtilt. Omnidirectional cells use A_H = 0.
Valid for macro-cell sector panels; beamwidths 1–360° (horizontal), 1–180° (vertical).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .p526 import DEFAULT_EARTH_RADIUS_KM

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


def depression_deg(distance_m, tx_asl_m, rx_asl_m, earth_radius_km=DEFAULT_EARTH_RADIUS_KM):
    """Angle of the receiver below the antenna's horizontal, with Earth curvature (degrees)."""
    d = np.maximum(np.asarray(distance_m, dtype=np.float64), 1.0)
    drop = tx_asl_m - rx_asl_m + d * d / (2.0 * earth_radius_km * 1000.0)
    return np.degrees(np.arctan2(drop, d))


@dataclass(frozen=True)
class MsiPattern:
    """A vendor pattern (MSI/Planet convention; read with :func:`phusong.data.msi.read_msi`).

    Combined gain (dBi) = GAIN − H(φ) − V(θ) (the summing method), capped at the larger of the two
    patterns' deepest nulls.
    """

    name: str
    gain_dbi: float
    horizontal_db: np.ndarray   # attenuation at 0..359 degrees (360 values)
    vertical_db: np.ndarray
    electrical_tilt_deg: float = 0.0

    def gain_db(self, azimuth_offset_deg, depression_deg, extra_tilt_deg: float = 0.0):
        """Gain (dBi) toward directions off boresight; ``extra_tilt_deg`` is mechanical downtilt."""
        h = _interp(self.horizontal_db, np.asarray(azimuth_offset_deg, dtype=np.float64))
        v = _interp(self.vertical_db, np.asarray(depression_deg, dtype=np.float64) - extra_tilt_deg)
        floor = max(self.horizontal_db.max(), self.vertical_db.max())
        return self.gain_dbi - np.minimum(h + v, floor)


def _interp(table, angle_deg):
    a = np.mod(angle_deg, 360.0)
    i0 = np.floor(a).astype(int) % 360
    frac = a - np.floor(a)
    return table[i0] * (1 - frac) + table[(i0 + 1) % 360] * frac
