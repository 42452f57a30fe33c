"""A measured correction to a model's path loss: what ``phusong calibrate`` fits and ``simulate
--calibration`` applies.

The corrected loss is ``L + Δ`` with

    Δ(d, k) = offset + slope · (log10 d − log10 d_ref) + class_offset[k]     (dB)

where d is the distance from the site (km), clamped to the distances the fit saw (a fitted slope
is not extrapolated), and k the land-cover class at the receiver (0 dB for a class the fit did
not see, or without land cover). This is the usual "offset + slope" tuning of a propagation model
against drive tests (e.g. Atoll's automatic model calibration; Lee's method for the local means),
with a per-clutter-class offset. A positive Δ means the model predicted too much signal.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class LossCorrection:
    """Offset, log-distance slope and per-class offsets (dB) to add to ``model``'s path loss.

    Examples
    --------
    >>> c = LossCorrection("free-space", offset_db=6.0, slope_db_per_decade=10.0, reference_distance_km=1.0,
    ...                    distance_range_km=(0.5, 8.0), class_offsets_db={10: 3.0})
    >>> c.loss_db(np.array([1.0, 10.0, 0.1]), np.array([10, 0, 10])).round(2).tolist()   # 10 km, 0.1 km clamped
    [9.0, 15.03, 5.99]
    """

    model: str
    offset_db: float = 0.0
    slope_db_per_decade: float = 0.0
    reference_distance_km: float = 1.0
    distance_range_km: tuple[float, float] = (0.001, 1000.0)
    class_offsets_db: Mapping[int, float] = field(default_factory=dict)
    clutter: str = ""      # the model's clutter setting when fitted ("" or "p2108")
    source: str = ""       # the file it was read from
    demonstration: tuple[str, ...] = ()   # why it was fitted to a demonstration (synthetic inputs): runs carry it on
    technology: str = ""   # the technology its measurements were of ("": every technology, or not recorded)

    def loss_db(self, distance_km, classes=None) -> np.ndarray:
        """Δ (float64 dB) at each distance (km); ``classes`` (land-cover codes, same shape) adds the
        per-class offsets."""
        low, high = self.distance_range_km
        d = np.clip(np.asarray(distance_km, dtype=np.float64), low, high)
        out = self.offset_db + self.slope_db_per_decade * (np.log10(d) - np.log10(self.reference_distance_km))
        if self.class_offsets_db and classes is not None:
            out = out + self.class_offset_db(classes)
        return out

    def class_offset_db(self, classes) -> np.ndarray:
        """The per-class offset (dB) of each land-cover code; 0 for codes without one."""
        classes = np.asarray(classes)
        keys = np.array(sorted(self.class_offsets_db), dtype=np.int64)
        values = np.array([self.class_offsets_db[k] for k in keys], dtype=np.float64)
        idx = np.clip(np.searchsorted(keys, classes), 0, len(keys) - 1)
        return np.where(keys[idx] == classes, values[idx], 0.0)

    @property
    def needs_landcover(self) -> bool:
        """Whether the correction has per-class offsets (and so needs a land-cover raster)."""
        return any(v != 0.0 for v in self.class_offsets_db.values())

    def require_landcover(self, landcover) -> None:
        """An :class:`InputError` when the correction has class offsets and no land cover is given."""
        if self.needs_landcover and landcover is None:
            raise InputError(f"the calibration {self.source} has per-class offsets: give the land cover it was "
                             "fitted with ([inputs] landcover, --landcover)", argument="landcover")

    def to_dict(self) -> dict:
        """The ``[correction]`` table of a calibration file."""
        return {"model": self.model, "clutter": self.clutter, "offset_db": self.offset_db,
                "slope_db_per_decade": self.slope_db_per_decade,
                "reference_distance_km": self.reference_distance_km,
                "distance_range_km": list(self.distance_range_km),
                "class_offsets_db": {str(k): v for k, v in sorted(self.class_offsets_db.items())}}

    @classmethod
    def from_dict(cls, data: Mapping, source: str = "") -> LossCorrection:
        """Read a ``[correction]`` table (or what :meth:`to_dict` or run.json hold)."""
        if not isinstance(data, Mapping) or "model" not in data:
            raise InputError("not a calibration: no [correction] table with a model")
        known = {"model", "clutter", "offset_db", "slope_db_per_decade", "reference_distance_km",
                 "distance_range_km", "class_offsets_db", "source", "demonstration", "technology"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"[correction] unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
        try:
            low, high = (float(v) for v in data.get("distance_range_km", (0.001, 1000.0)))
            classes = {int(k): float(v) for k, v in dict(data.get("class_offsets_db", {})).items()}
            out = cls(str(data["model"]), float(data.get("offset_db", 0.0)),
                      float(data.get("slope_db_per_decade", 0.0)), float(data.get("reference_distance_km", 1.0)),
                      (low, high), classes, str(data.get("clutter", "")), str(data.get("source") or source),
                      tuple(str(r) for r in data.get("demonstration", ())), str(data.get("technology", "")))
        except (TypeError, ValueError) as exc:
            raise InputError(f"[correction] {exc}") from None
        values = [out.offset_db, out.slope_db_per_decade, out.reference_distance_km, low, high, *classes.values()]
        if not all(np.isfinite(values)) or not 0 < low <= high or out.reference_distance_km <= 0:
            raise InputError("[correction] values must be finite, distances positive and the range ordered")
        return out
