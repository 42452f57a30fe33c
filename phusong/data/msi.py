"""Vendor antenna patterns in the MSI / Planet text format.

A file has header lines (``NAME``, ``FREQUENCY``, ``GAIN <value> [dBi|dBd]``,
``TILT``, ...) then ``HORIZONTAL 360`` and ``VERTICAL 360`` blocks of
``<angle_deg> <attenuation_dB>`` lines. Horizontal angles are clockwise from
boresight; vertical angles are below the horizon (0 horizon, 90 straight down,
270 straight up), the convention of Planet/MSI files. Attenuations are ≥ 0.
Combined gain (dBi) = GAIN − H(φ) − V(θ) (the common summing method), capped at
the larger of the two patterns' deepest nulls.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..propagation.antenna import MsiPattern

DBD_TO_DBI = 2.15


def read_msi(path) -> MsiPattern:
    """Read an MSI/Planet pattern file; every malformed line is an :class:`InputError` naming its row."""
    path = Path(path)
    if not path.exists():
        raise InputError("no such file", path=path)
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    header: dict[str, str] = {}
    blocks: dict[str, np.ndarray] = {}
    i = 0
    while i < len(lines):
        parts = lines[i].split(None, 1)
        i += 1
        if not parts:
            continue
        key = parts[0].upper()
        if key in ("HORIZONTAL", "VERTICAL"):
            try:
                count = int(parts[1].split()[0]) if len(parts) > 1 else 360
            except ValueError:
                raise InputError(f"{key} needs a point count", path=path, row=i) from None
            table = np.full(360, np.nan)
            for j in range(count):
                if i + j >= len(lines):
                    raise InputError(f"{key} block ends early ({j} of {count} lines)", path=path, row=i + j)
                try:
                    angle, att = (float(v) for v in lines[i + j].split()[:2])
                except ValueError:
                    raise InputError(f"bad {key.lower()} pattern line {lines[i + j]!r}", path=path,
                                     row=i + j + 1) from None
                table[int(round(angle)) % 360] = att
            i += count
            known = np.flatnonzero(np.isfinite(table))
            if known.size < 2:
                raise InputError(f"{key} block has fewer than two points", path=path)
            table = np.interp(np.arange(360), known, table[known], period=360)  # fill coarse patterns
            blocks[key] = table
        else:
            header[key] = parts[1].strip() if len(parts) > 1 else ""
    for key in ("HORIZONTAL", "VERTICAL"):
        if key not in blocks:
            raise InputError(f"no {key} block", path=path)
    gain_text = header.get("GAIN", "0 dBi").split()
    try:
        gain = float(gain_text[0])
    except ValueError:
        raise InputError(f"bad GAIN {header.get('GAIN')!r}", path=path, field="GAIN") from None
    if len(gain_text) > 1 and gain_text[1].lower() == "dbd":
        gain += DBD_TO_DBI
    tilt = header.get("ELECTRICAL_TILT", header.get("TILT", "0")).split()[0]
    try:
        tilt_deg = float(tilt)
    except ValueError:
        tilt_deg = 0.0  # e.g. "TILT ELECTRICAL": the tilt is already in the vertical pattern
    return MsiPattern(header.get("NAME", path.stem), gain, blocks["HORIZONTAL"], blocks["VERTICAL"], tilt_deg)
