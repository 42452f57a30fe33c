"""Cache files past the page cache (``_direct``): the bytes NumPy's own writer writes, read back exactly, with
``O_DIRECT`` or without it, and when the file system refuses it."""
import errno
import io
import os

import numpy as np
import pytest

from phusong import _direct
from phusong._atomic import keep_array, read_kept
from phusong._direct import ALIGN, BUFFERED_PIECE, CHUNK, DirectReader, DirectWriter, read_npy, write_npy

ARRAYS = [
    np.arange(300_000, dtype=np.uint16).reshape(500, 600),
    np.linspace(-1, 1, 70_001, dtype=np.float32),
    np.array([[True, False], [False, True]]),
    np.array(3.5),
    np.zeros((0, 4), np.float32),
    np.arange(100_000, dtype=np.int64).reshape(1000, 100)[::3].T,   # C order of a transposed slice
    np.arange(24, dtype=np.int32).reshape(2, 3, 4)[:, ::2, 1:],   # not contiguous: written in C order
    np.asfortranarray(np.arange(12.0).reshape(3, 4)),
    np.arange(CHUNK // 8 * 3 + 5, dtype=np.float64),   # several staging buffers and a tail
]


def np_save_bytes(array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, array if array.ndim == 0 else np.ascontiguousarray(array))
    return buf.getvalue()


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("array", ARRAYS, ids=range(len(ARRAYS)))
def test_write_npy_writes_what_np_save_writes_and_read_npy_reads_it_back(tmp_path, array, direct):
    path = tmp_path / "a.npy"
    write_npy(path, array, direct)
    assert path.read_bytes() == np_save_bytes(array)
    back = read_npy(path, array.shape, array.dtype, direct)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)
    np.testing.assert_array_equal(np.load(path), array)   # and NumPy reads ours


@pytest.mark.parametrize("direct", [True, False])
def test_reads_at_any_offset_and_length_give_the_files_bytes(tmp_path, direct):
    data = np.random.default_rng(3).integers(0, 256, 2 * CHUNK + 3 * ALIGN + 77, dtype=np.uint8).tobytes()
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    with DirectReader(path, direct) as fh:
        assert fh.size == len(data)
        for offset in (0, 1, ALIGN - 1, ALIGN, CHUNK - 5, CHUNK + ALIGN + 3, len(data) - 10, len(data), len(data) + 9):
            for n in (1, 100, ALIGN, ALIGN + 1, CHUNK + 2 * ALIGN + 1, 3 * CHUNK):
                out = bytearray(n)
                got = fh.readinto(offset, out)
                assert bytes(out[:got]) == data[offset:offset + n], (offset, n)
                assert fh.read(offset, n) == data[offset:offset + n]


@pytest.mark.parametrize("direct", [True, False])
def test_pad_to_appends_zeros_and_never_goes_back(tmp_path, direct):
    with DirectWriter(tmp_path / "f.bin", direct) as fh:
        fh.write(b"head")
        fh.pad_to(CHUNK + 10)
        fh.write(b"tail")
        with pytest.raises(ValueError):
            fh.pad_to(5)
    assert (tmp_path / "f.bin").read_bytes() == b"head" + bytes(CHUNK + 6) + b"tail"


def test_a_new_file_is_never_written_over(tmp_path):
    (tmp_path / "f.bin").write_bytes(b"kept")
    with pytest.raises(FileExistsError):
        DirectWriter(tmp_path / "f.bin")
    assert (tmp_path / "f.bin").read_bytes() == b"kept"


def test_buffered_writes_go_in_pieces_no_larger_than_the_limit(tmp_path, monkeypatch):
    sizes = []
    real_write = os.write

    def write(fd, data):
        sizes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(_direct.os, "write", write)
    array = np.arange(CHUNK // 2 * 3 + 7, dtype=np.uint16)
    write_npy(tmp_path / "a.npy", array, direct=False)
    assert (tmp_path / "a.npy").read_bytes() == np_save_bytes(array)
    assert sizes and max(sizes) == BUFFERED_PIECE


@pytest.mark.skipif(not _direct._O_DIRECT, reason="O_DIRECT is Linux's (and a few others'); elsewhere nothing to refuse")
@pytest.mark.parametrize("refused", ["open", "io"])
def test_where_the_file_system_refuses_o_direct_the_bytes_are_the_same(tmp_path, monkeypatch, refused):
    """tmpfs and some network file systems refuse O_DIRECT when the file is opened, others on the first read or
    write: either way the page cache serves."""
    real_open, real_write, real_preadv = os.open, os.write, os.preadv
    import fcntl

    def direct(fd):
        return bool(fcntl.fcntl(fd, fcntl.F_GETFL) & _direct._O_DIRECT)

    def open_(path, flags, *args):
        if refused == "open" and flags & _direct._O_DIRECT:
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_open(path, flags, *args)

    def write(fd, data):
        if direct(fd):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_write(fd, data)

    def preadv(fd, buffers, offset):
        if direct(fd):
            raise OSError(errno.EINVAL, "Invalid argument")
        return real_preadv(fd, buffers, offset)

    monkeypatch.setattr(_direct.os, "open", open_)
    monkeypatch.setattr(_direct.os, "write", write)
    monkeypatch.setattr(_direct.os, "preadv", preadv)
    array = np.arange(CHUNK // 4 * 2 + 3, dtype=np.float32)
    write_npy(tmp_path / "a.npy", array)
    assert (tmp_path / "a.npy").read_bytes() == np_save_bytes(array)
    np.testing.assert_array_equal(read_npy(tmp_path / "a.npy", array.shape, array.dtype), array)


def test_other_errors_are_not_taken_for_a_refusal(tmp_path):
    with pytest.raises(FileNotFoundError):
        DirectReader(tmp_path / "missing.bin")
    with pytest.raises(FileNotFoundError):
        DirectWriter(tmp_path / "no-folder" / "a.bin")


def test_read_npy_refuses_another_array_and_a_truncated_file(tmp_path):
    path = tmp_path / "a.npy"
    array = np.arange(6000, dtype=np.float32).reshape(60, 100)
    write_npy(path, array)
    for shape, dtype in (((100, 60), np.float32), ((60, 100), np.float64), ((6000,), np.float32)):
        with pytest.raises(ValueError):
            read_npy(path, shape, dtype)
    path.write_bytes(np_save_bytes(array)[:-1])
    with pytest.raises(ValueError, match="truncated"):
        read_npy(path, array.shape, array.dtype)
    path.write_bytes(b"not an array at all")
    with pytest.raises(ValueError):
        read_npy(path, array.shape, array.dtype)
    np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(ValueError):   # (never unpickled)
        read_npy(path, (1,), object)


def test_kept_arrays_read_back_exactly_and_a_damaged_one_reads_as_absent(tmp_path):
    array = np.random.default_rng(1).normal(size=(700, 500)).astype(np.float32)   # 1.4 MB: a staging buffer and more
    keep_array(tmp_path / "a.npy", array, keep=2)
    back = read_kept(tmp_path / "a.npy", array.shape, np.float32)
    assert back is not None and back.tobytes() == array.tobytes()
    assert read_kept(tmp_path / "a.npy", (500, 700), np.float32) is None
    assert read_kept(tmp_path / "missing.npy", array.shape, np.float32) is None
    (tmp_path / "a.npy").write_bytes((tmp_path / "a.npy").read_bytes()[:1000])
    assert read_kept(tmp_path / "a.npy", array.shape, np.float32) is None
