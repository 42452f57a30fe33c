"""Finish the accumulators into layers: best server, second best, serving cell, SINR and coverage."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..settings import Settings
from ..sites.schema import TECH_SLUG
from . import _kernels
from .accumulate import ANY, Accumulators

THERMAL_NOISE_DBM_HZ = -174.0


@dataclass
class LayerResult:
    """One technology for one operator (``ANY``: the best of all, as ITU's SDG 9.c.1 counts coverage)."""

    technology: str
    operator: str               # ANY for the any-operator layer
    rsrp_dbm: np.ndarray        # float32, NaN where no cell reaches
    rsrp2_dbm: np.ndarray       # second best, float32
    server: np.ndarray          # int32 cell index, -1 none
    sinr_db: np.ndarray | None  # float32 (None when not asked for: coverage.rasters)
    covered: np.ndarray         # uint8 1/0, 255 outside the area

    @property
    def name(self) -> str:
        """``5g`` for the any-operator layer, ``5g_<operator>`` for one operator's."""
        t = TECH_SLUG[self.technology]
        return t if self.operator == ANY else f"{t}_{self.operator}"


def finish_layers(acc: Accumulators, cells: pd.DataFrame, s: Settings, area_mask: np.ndarray | None,
                  technologies=None) -> list[LayerResult]:
    """SINR and coverage for every layer of accumulators on the whole grid (optionally only some technologies;
    the power sums may be packed, :attr:`.accumulate.Accumulators.packed`).

    The accumulators are finished in place, without a full-grid copy: each layer's ``best`` and ``second``
    arrays become its ``rsrp_dbm`` and ``rsrp2_dbm`` (finishing them again gives the same layers)."""
    results = []
    quantum = _kernels.POWER_QUANTUM_MW
    cell_op = cells["operator_slug"].to_numpy()
    cell_f = cells["frequency_mhz"].to_numpy()
    noise_per_cell = (THERMAL_NOISE_DBM_HZ + 10.0 * np.log10(cells["scs_khz"].to_numpy() * 1e3)
                      + s.coverage.noise_figure_db)
    noise_mw = 10.0 ** (noise_per_cell / 10.0)
    entry_loss = np.ascontiguousarray(entry_loss_db(cells, s), np.float64)
    power = cells["power_per_re_dbm"].to_numpy(np.float64)
    area = np.ones((1, 1), np.bool_) if area_mask is None else np.ascontiguousarray(area_mask, np.bool_)
    for (tech, op), (best, second, server) in sorted(acc.best.items()):
        if technologies is not None and tech not in technologies:
            continue
        covered = np.empty(best.shape, np.uint8)
        # (the rule of covered_mask, in one pass: rsrp and rsrp2 take the accumulators' place)
        _kernels.finish_layer(best, second, server, tech == "NB-IoT", bool(s.coverage.indoor),
                              s.threshold_dbm(tech) + s.location_margin_db if tech != "NB-IoT" else 0.0,
                              entry_loss, power, s.location_margin_db, s.coverage.nbiot_mcl_db, area_mask is not None,
                              area, covered)
        rsrp, rsrp2 = best, second
        if "sinr" not in s.coverage.rasters:   # not written: not computed either
            results.append(LayerResult(tech, op, rsrp, rsrp2, server, None, covered))
            continue
        # interference: the serving cell's operator on the same frequency, at the load factor
        keys = [k for k in acc.psum if k[0] == tech]
        key_of_cell = np.full(len(cells), -1, np.int64)
        for n, (_, o, f) in enumerate(keys):
            key_of_cell[(cell_op == o) & (cell_f == f)] = n
        sinr = np.full(best.shape, np.nan, np.float32)
        packed, mask, starts = acc.power_cells()
        for n, key in enumerate(keys):   # one pass per key: a typed list of the sums is slower in Numba
            _kernels.sinr_of_key(best, server, key_of_cell, n, acc.psum[key].reshape(-1), packed, mask, starts,
                                 noise_mw, s.coverage.load_factor * quantum, sinr)
        results.append(LayerResult(tech, op, rsrp, rsrp2, server, sinr, covered))
    return results


def entry_loss_db(cells: pd.DataFrame, s: Settings) -> np.ndarray:
    """Building entry loss (dB) per cell, in cell-index order: ITU-R P.2109-1 at each cell's frequency
    with ``coverage.indoor``, else 0 (the flat ``indoor_loss_db`` is part of the location margin)."""
    from ..propagation.p2109 import building_entry_loss_db
    from ..settings import parse_indoor

    indoor = parse_indoor(s.coverage.indoor)
    if indoor is None:
        return np.zeros(len(cells))
    building, pct = indoor
    return np.asarray(building_entry_loss_db(cells["frequency_mhz"].to_numpy() / 1000.0, pct, building))


def covered_mask(tech, best, server, cells: pd.DataFrame, s: Settings) -> np.ndarray:
    """Where a technology counts as covered: the serving cell's median signal, less any building entry
    loss, clears the level by the location margin (NB-IoT: the coupling loss plus that loss stays
    within the MCL). ``best`` and ``server`` are a layer's accumulators."""
    has = server >= 0
    safe = np.where(has, server, 0)
    margin = s.location_margin_db
    loss = entry_loss_db(cells, s)[safe] if s.coverage.indoor else 0.0   # outdoor: no per-cell array
    if tech == "NB-IoT":
        coupling = cells["power_per_re_dbm"].to_numpy()[safe] - best
        return has & (coupling + loss + margin <= s.coverage.nbiot_mcl_db)
    return has & (best - loss >= s.threshold_dbm(tech) + margin)
