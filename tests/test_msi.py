import numpy as np
import pytest

from phusong.errors import InputError
from phusong.propagation.antenna import pattern_db
from phusong.data.msi import read_msi


def _write(path, gain="17.85 dBi", h=None, v=None):
    h = h if h is not None else [min(12 * (min(a, 360 - a) / 65) ** 2, 25) for a in range(360)]
    v = v if v is not None else [min(12 * ((a if a < 180 else a - 360) / 7) ** 2, 20) for a in range(360)]
    text = ["NAME TEST-PANEL", "FREQUENCY 1800", f"GAIN {gain}", "TILT MECHANICAL", "HORIZONTAL 360"]
    text += [f"{a} {x:.2f}" for a, x in enumerate(h)]
    text += ["VERTICAL 360"] + [f"{a} {x:.2f}" for a, x in enumerate(v)]
    path.write_text("\n".join(text) + "\n")
    return path


def test_msi_reproduces_a_3gpp_like_pattern(tmp_path):
    p = read_msi(_write(tmp_path / "a.msi"))
    assert p.name == "TEST-PANEL" and p.gain_dbi == pytest.approx(17.85)
    az = np.array([0.0, 20.0, 32.5, 90.0, 300.0])
    dep = np.array([0.0, 2.0, 0.0, 5.0, 3.5])
    ours = p.gain_db(az, dep) - p.gain_dbi
    expected = np.maximum(pattern_db(az, dep, 65.0, 7.0, 0.0), -25.0)  # same formula, capped at file's floor
    np.testing.assert_allclose(ours, expected, atol=0.1)  # linear between whole-degree table rows


def test_dbd_gain_and_mechanical_tilt(tmp_path):
    p = read_msi(_write(tmp_path / "b.msi", gain="15.7 dBd"))
    assert p.gain_dbi == pytest.approx(17.85)
    # 6° mechanical downtilt moves the vertical peak 6° below the horizon
    assert p.gain_db(0.0, 6.0, extra_tilt_deg=6.0) == pytest.approx(p.gain_dbi)


def test_broken_files_name_the_line(tmp_path):
    bad = tmp_path / "c.msi"
    bad.write_text("NAME X\nGAIN 10\nHORIZONTAL 360\n0 0\n1 abc\n")
    with pytest.raises(InputError, match=r"c.msi: row 5: bad horizontal pattern line"):
        read_msi(bad)
    bad.write_text("NAME X\nGAIN 10\nHORIZONTAL 2\n0 0\n180 20\n")
    with pytest.raises(InputError, match="no VERTICAL block"):
        read_msi(bad)
