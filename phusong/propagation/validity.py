"""Validity-range warnings shared by the models.

Messages are constant per model and parameter, so Python's default warning
filter shows each once per run without any global state of our own.
"""
from __future__ import annotations

import warnings

import numpy as np


class ValidityWarning(UserWarning):
    """A model is used outside the range its source validates."""


def check_range(model: str, name: str, values, low: float, high: float, unit: str) -> None:
    """Warn (:class:`ValidityWarning`) when any value lies outside a model's validity range."""
    v = np.asarray(values, dtype=np.float64)
    if v.size and (np.nanmin(v) < low or np.nanmax(v) > high):
        warnings.warn(f"{model}: {name} outside its validity range {low:g}–{high:g} {unit}; results are "
                      "extrapolated", ValidityWarning, stacklevel=3)
