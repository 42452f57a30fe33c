"""Serving cells of samples keyed by PCI and channel number: the channel's frequency, then the nearest cell
of the site list with that PCI whose channel holds the frequency.

Channel numbers to downlink frequency:

- LTE EARFCN: 3GPP TS 36.101 V17 §5.7.3, Table 5.7.3-1, F_DL = F_DL_low + 0.1 (N_DL − N_Offs-DL) MHz,
  for the bands below (those used in Vietnam and its neighbours, and the common others);
- NR-ARFCN: 3GPP TS 38.104 V17 §5.4.2.1, F_REF = F_REF-Offs + ΔF_Global (N_REF − N_REF-Offs), over the
  three global raster ranges (5 kHz to 3 GHz, 15 kHz to 24.25 GHz, 60 kHz above).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

# band: (F_DL_low MHz, N_Offs-DL, first EARFCN, last EARFCN)
LTE_BANDS = {1: (2110.0, 0, 0, 599), 3: (1805.0, 1200, 1200, 1949), 5: (869.0, 2400, 2400, 2649),
             7: (2620.0, 2750, 2750, 3449), 8: (925.0, 3450, 3450, 3799), 20: (791.0, 6150, 6150, 6449),
             28: (758.0, 9210, 9210, 9659), 38: (2570.0, 37750, 37750, 38249), 40: (2300.0, 38650, 38650, 39649),
             41: (2496.0, 39650, 39650, 41589), 42: (3400.0, 41590, 41590, 43589)}
# (first N, last N, ΔF_Global kHz, F_REF-Offs MHz, N_REF-Offs)
NR_RASTER = ((0, 599_999, 5.0, 0.0, 0), (600_000, 2_016_666, 15.0, 3000.0, 600_000),
             (2_016_667, 3_279_165, 60.0, 24_250.08, 2_016_667))
MAX_MATCH_KM = 30.0   # a PCI is reused only far apart: a same-PCI cell farther than this is not the server


def earfcn_to_mhz(earfcn) -> np.ndarray:
    """Downlink carrier frequency (MHz) of LTE EARFCNs; NaN outside the bands of ``LTE_BANDS``."""
    n = np.asarray(earfcn, dtype=np.float64)
    out = np.full(n.shape, np.nan)
    for f_low, offset, first, last in LTE_BANDS.values():
        inside = (n >= first) & (n <= last)
        out = np.where(inside, f_low + 0.1 * (n - offset), out)
    return out


def nr_arfcn_to_mhz(arfcn) -> np.ndarray:
    """Frequency (MHz) of NR-ARFCNs; NaN outside 0…3,279,165."""
    n = np.asarray(arfcn, dtype=np.float64)
    out = np.full(n.shape, np.nan)
    for first, last, step_khz, f_offset, n_offset in NR_RASTER:
        inside = (n >= first) & (n <= last)
        out = np.where(inside, f_offset + step_khz / 1000.0 * (n - n_offset), out)
    return out


def match_by_pci(lon, lat, pci, frequency_mhz, sites: pd.DataFrame, technology=None) -> np.ndarray:
    """The ``cell_id`` serving each sample ('' when none): among the site list's cells with the sample's PCI
    (and ``technology``, where given) whose channel (``frequency_mhz`` ± ``bandwidth_mhz``/2) holds its
    frequency, the nearest within ``MAX_MATCH_KM``."""
    lon, lat = np.asarray(lon, float), np.asarray(lat, float)
    tech = np.asarray(technology if technology is not None else [""] * len(lon), dtype=object)
    pci, freq = np.asarray(pci, float), np.asarray(frequency_mhz, float)
    out = np.full(len(lon), "", dtype=object)
    if "pci" not in sites:
        return out
    cand = sites[pd.to_numeric(sites["pci"], errors="coerce").notna()]
    for p in np.unique(pci[np.isfinite(pci)]):
        rows = np.flatnonzero(pci == p)
        c = cand[cand["pci"].astype(float) == p]
        if len(c) == 0:
            continue
        half = c["bandwidth_mhz"].to_numpy(float) / 2.0
        within = np.abs(freq[rows, None] - c["frequency_mhz"].to_numpy(float)[None, :]) <= half[None, :] + 1e-6
        known = np.isin(tech[rows], ("4G", "5G", "NB-IoT"))
        within &= ~known[:, None] | (tech[rows, None] == c["technology"].to_numpy(object)[None, :])
        # equirectangular distance: ample for picking the nearest of a few cells tens of km apart
        dx = (lon[rows, None] - c["lon"].to_numpy(float)[None, :]) * np.cos(np.radians(lat[rows, None]))
        dy = lat[rows, None] - c["lat"].to_numpy(float)[None, :]
        km = 111.32 * np.hypot(dx, dy)
        km[~within] = np.inf
        best = np.argmin(km, axis=1)
        near = km[np.arange(len(rows)), best] <= MAX_MATCH_KM
        out[rows[near]] = c["cell_id"].astype(str).to_numpy()[best[near]]
    return out
