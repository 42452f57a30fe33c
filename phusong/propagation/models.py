"""The path-loss models phusong offers, by name, with their sources and validity ranges."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .hata import cost231_hata_db, okumura_hata_db
from .p525 import free_space_loss_db
from .tr38901 import rma_db, uma_db


@dataclass(frozen=True)
class ModelInfo:
    """A path-loss model: its name, whether it uses the terrain profile, source and validity range."""
    name: str
    terrain: bool          # uses the terrain profile (the radial kernel)
    source: str
    validity: str
    description: str


MODELS = {m.name: m for m in (
    ModelInfo("delta-bullington", True, "ITU-R P.526-15 §4.5 + ITU-R P.525-4",
              "30 MHz–50 GHz; any terrain path from ~50 m", "free space + delta-Bullington diffraction (default)"),
    ModelInfo("bullington", True, "ITU-R P.526-15 §4.5.1 + ITU-R P.525-4",
              "30 MHz–50 GHz", "free space + Bullington diffraction on the actual profile only"),
    ModelInfo("p1812", True, "ITU-R P.1812-6 (09/2021) Annex 1",
              "30 MHz–6 GHz, 0.25–3,000 km, terminals 1–3,000 m, time 1–50 %",
              "point-to-area: delta-Bullington over terrain plus land-cover clutter heights, troposcatter, "
              "ducting, location variability"),
    ModelInfo("free-space", False, "ITU-R P.525-4 §2.2", "any frequency, far field", "free space only"),
    ModelInfo("okumura-hata", False, "Hata 1980 (IEEE VT-29); ITU-R P.529-3",
              "150–1500 MHz, 1–20 km, hb 30–200 m, hm 1–10 m", "urban median loss, small/medium city"),
    ModelInfo("cost231-hata", False, "COST 231 final report (1999) §4.4.1",
              "1500–2000 MHz, 1–20 km, hb 30–200 m, hm 1–10 m", "medium-city median loss (Cm = 0 dB)"),
    ModelInfo("3gpp-rma", True, "3GPP TR 38.901 V17.0.0 Table 7.4.1-1",
              "0.5–30 GHz, 10 m–10 km (LOS) / 5 km (NLOS), hBS 10–150 m",
              "rural macro; LOS/NLOS from the terrain profile"),
    ModelInfo("3gpp-uma", True, "3GPP TR 38.901 V17.0.0 Table 7.4.1-1",
              "0.5–100 GHz, 10 m–5 km, hUT 1.5–22.5 m", "urban macro; LOS/NLOS from the terrain profile"),
)}


def model_info(name: str) -> ModelInfo:
    """The :class:`ModelInfo` of a model name; an :class:`InputError` naming the choices otherwise."""
    if name not in MODELS:
        raise InputError(f"unknown model {name!r}; choose one of: {', '.join(MODELS)}")
    return MODELS[name]


def empirical_loss_db(name: str, distance_km, frequency_mhz, tx_height_m, rx_height_m, los=True):
    """Loss of a distance-based model; ``los`` (bool array) selects the 3GPP LOS/NLOS formula."""
    d = np.maximum(np.asarray(distance_km, dtype=np.float64), 1e-3)
    if name == "free-space":
        return free_space_loss_db(np.hypot(d, (tx_height_m - rx_height_m) / 1000.0), frequency_mhz)
    if name == "okumura-hata":
        return okumura_hata_db(frequency_mhz, d, tx_height_m, rx_height_m)
    if name == "cost231-hata":
        return cost231_hata_db(frequency_mhz, d, tx_height_m, rx_height_m)
    if name == "3gpp-rma":
        return rma_db(frequency_mhz / 1000.0, d * 1000.0, tx_height_m, rx_height_m, los)
    if name == "3gpp-uma":
        return uma_db(frequency_mhz / 1000.0, d * 1000.0, tx_height_m, rx_height_m, los)
    raise InputError(f"{name!r} is not a distance-based model")
