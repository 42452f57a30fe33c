"""From total cell power to RSRP / SS-RSRP per resource element.

RSRP (4G, 3GPP TS 36.214 §5.1.1) and SS-RSRP (5G, TS 38.215 §5.1.1) are powers
per resource element (one subcarrier). With the cell power spread evenly over
its subcarriers: P_RE = P_cell − 10·log10(12·N_RB), N_RB from the maximum
transmission bandwidth configuration tables: TS 36.101 Table 5.6-1 (LTE) and
TS 38.101-1 Table 5.3.2-1 (NR FR1). NB-IoT occupies one 180 kHz PRB (12 subcarriers).
"""
from __future__ import annotations

import warnings

import numpy as np

LTE_NRB = {1.4: 6, 3.0: 15, 5.0: 25, 10.0: 50, 15.0: 75, 20.0: 100}
NR_NRB = {  # TS 38.101-1 Table 5.3.2-1: {SCS kHz: {bandwidth MHz: N_RB}}
    15: {5: 25, 10: 52, 15: 79, 20: 106, 25: 133, 30: 160, 40: 216, 50: 270},
    30: {5: 11, 10: 24, 15: 38, 20: 51, 25: 65, 30: 78, 40: 106, 50: 133, 60: 162, 70: 189,
         80: 217, 90: 245, 100: 273},
    60: {10: 11, 15: 18, 20: 24, 25: 31, 30: 38, 40: 51, 50: 65, 60: 79, 70: 93, 80: 107,
         90: 121, 100: 135},
}


def default_scs_khz(frequency_mhz: float) -> int:
    """15 kHz in the FDD bands below 2.3 GHz, 30 kHz in the TDD bands above (n40, n41, n77, n78)."""
    return 15 if frequency_mhz < 2300 else 30


def resource_blocks(technology: str, bandwidth_mhz: float, frequency_mhz: float, scs_khz: int | None = None) -> int:
    """Number of resource blocks of a carrier (3GPP TS 36.101 Table 5.6-1, TS 38.101-1 Table 5.3.2-1)."""
    if technology == "NB-IoT":
        return 1
    table: dict
    if technology == "4G":
        table = LTE_NRB
    else:
        table = NR_NRB[scs_khz or default_scs_khz(frequency_mhz)]
    keys = np.array(sorted(table))
    nearest = keys[np.argmin(np.abs(keys - bandwidth_mhz))]
    if abs(nearest - bandwidth_mhz) > 1e-6:
        warnings.warn(f"{technology} bandwidth {bandwidth_mhz} MHz is not in the 3GPP table; using {nearest} MHz",
                      stacklevel=2)
    return int(table[nearest])


def power_per_re_dbm(tx_power_dbm, technology, bandwidth_mhz, frequency_mhz, scs_khz=None) -> float:
    """Power per resource element (dBm) for a total cell power at the antenna port."""
    return float(tx_power_dbm) - 10.0 * np.log10(12 * resource_blocks(technology, bandwidth_mhz, frequency_mhz, scs_khz))
