"""Writing arrays in pieces: the same bytes as NumPy's own writers."""
import io

import numpy as np
import pytest

from phusong._atomic import WRITE_PIECE_BYTES, keep_array, read_kept, save_npy, write_array


class Recorder(io.BytesIO):
    """A binary file that remembers the size of every write."""

    def __init__(self):
        super().__init__()
        self.sizes = []

    def write(self, data):
        self.sizes.append(memoryview(data).nbytes)
        return super().write(data)


@pytest.mark.parametrize("n_bytes", [0, 1, WRITE_PIECE_BYTES - 8, WRITE_PIECE_BYTES, 3 * WRITE_PIECE_BYTES + 12])
def test_write_array_writes_the_bytes_in_pieces_no_larger_than_the_limit(n_bytes):
    array = np.random.default_rng(n_bytes).integers(0, 255, n_bytes, dtype=np.uint8)
    fh = Recorder()
    write_array(fh, array)
    assert fh.getvalue() == array.tobytes()
    assert all(0 < size <= WRITE_PIECE_BYTES for size in fh.sizes)
    assert len(fh.sizes) == -(-array.nbytes // WRITE_PIECE_BYTES)


@pytest.mark.parametrize("array", [
    np.arange(300_000, dtype=np.uint16).reshape(500, 600),
    np.linspace(-1, 1, 70_001, dtype=np.float32),
    np.array([[True, False], [False, True]]),
    np.array(3.5),
    np.arange(100_000, dtype=np.int64).reshape(1000, 100)[::3].T,   # C order of a transposed slice
    np.arange(24, dtype=np.int32).reshape(2, 3, 4)[:, ::2, 1:],   # not contiguous: written in C order
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),
])
def test_save_npy_writes_what_np_save_writes_for_the_c_ordered_array(array):
    ours, numpy_own = io.BytesIO(), io.BytesIO()
    save_npy(ours, array)
    np.save(numpy_own, array if array.ndim == 0 else np.ascontiguousarray(array))
    assert ours.getvalue() == numpy_own.getvalue()
    ours.seek(0)
    back = np.load(ours)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_kept_arrays_read_back_exactly(tmp_path):
    array = np.random.default_rng(1).normal(size=(700, 500)).astype(np.float32)   # 1.4 MB: many pieces
    keep_array(tmp_path / "a.npy", array, keep=2)
    back = read_kept(tmp_path / "a.npy", array.shape, np.float32)
    assert back is not None and back.tobytes() == array.tobytes()
