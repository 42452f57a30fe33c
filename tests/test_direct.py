"""Cache files past the page cache (``_direct``): the bytes NumPy's own writer writes, read back exactly, with
``O_DIRECT`` or without it, and when the file system refuses it."""
import errno
import io
import os
import time

import numpy as np
import pytest

from phusong import _direct
from phusong._atomic import keep_array, read_kept
from phusong._direct import (ALIGN, BUFFERED_PIECE, CHUNK, DirectReader, DirectWriter, empty_aligned, read_npy,
                             write_npy)

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


@pytest.fixture
def write_sizes(monkeypatch):
    """The size of every os.write call _direct makes (recorded, then done)."""
    sizes = []
    real_write = os.write

    def write(fd, data):
        sizes.append(len(data))
        return real_write(fd, data)

    monkeypatch.setattr(_direct.os, "write", write)
    return sizes


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


def test_buffered_writes_go_in_pieces_no_larger_than_the_limit(tmp_path, write_sizes):
    sizes = write_sizes
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


@pytest.mark.parametrize("direct", [True, False])
@pytest.mark.parametrize("n_bytes", [ALIGN, 3 * CHUNK + ALIGN + 9, 5])
def test_page_aligned_arrays_go_whole_and_come_back_exactly(tmp_path, monkeypatch, write_sizes, direct, n_bytes):
    """empty_aligned arrays at page-aligned offsets are written and read without the staging buffer where O_DIRECT
    serves (one call larger than it), the unaligned tail through it; the bytes are the same either way."""
    sizes = write_sizes
    array = empty_aligned(n_bytes, np.uint8)
    assert array.ctypes.data % ALIGN == 0 and array.flags.writeable
    array[:] = np.random.default_rng(n_bytes).integers(0, 256, n_bytes, dtype=np.uint8)
    path = tmp_path / "f.bin"
    with DirectWriter(path, direct) as fh:
        fh.write(b"header")
        fh.pad_to(ALIGN)
        fh.write(array.data)
        fh.write(b"after")
        took_direct = fh.direct
    assert path.read_bytes() == b"header" + bytes(ALIGN - 6) + array.tobytes() + b"after"
    assert (max(sizes) > CHUNK) == (took_direct and n_bytes > CHUNK)
    back = empty_aligned(n_bytes + 3, np.uint8)   # (3 bytes more than there are)
    reads = []
    real_preadv = os.preadv

    def preadv(fd, buffers, offset):
        reads.append(sum(len(b) for b in buffers))
        return real_preadv(fd, buffers, offset)

    monkeypatch.setattr(_direct.os, "preadv", preadv)
    with DirectReader(path, direct) as fh:
        assert fh.readinto(ALIGN, back.data) == n_bytes + 3
        assert (max(reads) > CHUNK) == (n_bytes > CHUNK)   # (straight into the array, direct or not)
    np.testing.assert_array_equal(back[:n_bytes], array)
    assert back[n_bytes:].tobytes() == b"aft"


def test_empty_aligned_arrays_have_their_shape_and_type():
    a = empty_aligned((3, 5), np.float32)
    assert a.shape == (3, 5) and a.dtype == np.float32 and a.flags.c_contiguous and a.ctypes.data % ALIGN == 0
    assert empty_aligned((0, 4), np.int64).shape == (0, 4)


def _o_direct_works(folder) -> bool:
    """Whether the file system under ``folder`` takes O_DIRECT for an aligned write (probed without phusong)."""
    import mmap
    if not _direct._O_DIRECT:
        return False
    probe = folder / "probe.bin"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | _direct._O_DIRECT, 0o644)
    except OSError:
        return False
    try:
        block = mmap.mmap(-1, ALIGN)
        os.write(fd, block)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)
        probe.unlink()


def test_o_direct_is_kept_through_odd_sizes_and_offsets_where_the_file_system_takes_it(tmp_path):
    """A refusal falls back quietly, so an alignment slip would only cost speed: here nothing may fall back."""
    if not _o_direct_works(tmp_path):
        pytest.skip(f"{tmp_path}'s file system refuses O_DIRECT: nothing to keep")
    data = np.random.default_rng(5).integers(0, 256, 2 * CHUNK + 3 * ALIGN + 77, dtype=np.uint8).tobytes()
    path = tmp_path / "f.bin"
    with DirectWriter(path) as fh:
        for part in (data[:5], data[5:CHUNK + 3], data[CHUNK + 3:]):
            fh.write(part)
        assert fh.direct
    assert path.read_bytes() == data
    with DirectReader(path) as fh:
        for offset, n in ((0, 1), (1, ALIGN), (ALIGN - 1, CHUNK + 5), (CHUNK + 7, 3 * ALIGN + 1), (len(data) - 3, 9)):
            assert fh.read(offset, n) == data[offset:offset + n]
        assert fh.direct


@pytest.mark.parametrize("at", [6, 8, 9])
def test_a_damaged_header_reads_as_absent(tmp_path, at):
    """Bytes 6-9 are the version and the header's length: NumPy's parser raises more than ValueError on them."""
    path = tmp_path / "a.npy"
    array = np.arange(50, dtype=np.uint16)
    write_npy(path, array)
    data = bytearray(path.read_bytes())
    data[at] = 48
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError):
        read_npy(path, array.shape, array.dtype)
    assert read_kept(path, array.shape, array.dtype) is None


def test_an_error_while_writing_is_not_replaced_by_the_flush(tmp_path, monkeypatch):
    """After a failed write (a full disk) leaving the block only closes the file: no second write, no other error."""
    calls = []

    def full(fd, data):
        calls.append(len(data))
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_direct.os, "write", full)
    with pytest.raises(OSError) as failed:
        with DirectWriter(tmp_path / "f.bin") as fh:
            fh.write(b"x" * (CHUNK + 10))
    assert failed.value.errno == errno.ENOSPC and failed.value.__context__ is None
    assert len(calls) == 1


def test_cache_entries_saved_at_once_by_two_threads_are_never_seen_half_written(tmp_path):
    """One process's threads (a Dask worker's) saving the same terrain pass: each writes a file of its own."""
    import threading

    from phusong.coverage.cache import FootprintCache

    cache = FootprintCache(tmp_path / "cache")
    q = (np.arange(1500 * 1500, dtype=np.uint32) % 65000).astype(np.uint16).reshape(1500, 1500)
    path = cache.folder / "entry.npy"
    size = len(np_save_bytes(q))
    errors, seen, stop = [], set(), threading.Event()

    def writer():
        try:
            for _ in range(8):
                cache.save(path, q)
        except Exception as exc:   # noqa: BLE001 (reported below)
            errors.append(exc)

    def watcher():
        while not stop.is_set():
            try:
                seen.add(path.stat().st_size)
            except FileNotFoundError:
                pass

    threads = [threading.Thread(target=writer) for _ in range(2)]
    watch = threading.Thread(target=watcher)
    watch.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stop.set()
    watch.join()
    assert not errors
    assert seen == {size}
    assert sorted(p.name for p in cache.folder.iterdir()) == ["entry.npy"]
    np.testing.assert_array_equal(read_kept(path, q.shape, np.uint16), q)


def test_what_killed_writers_left_in_the_cache_goes_at_the_next_run(tmp_path):
    """By age, not by process id: a writer on another host sharing the folder has ids of its own."""
    from phusong.coverage.cache import STALE_ENTRY_S, FootprintCache

    folder = tmp_path / "cache"
    folder.mkdir()
    old = folder / ".abc.npy.4242.0a1b2c.part"
    earlier_version = folder / "abc.4242.tmp"
    in_flight = folder / ".def.npy.999999999.0a1b2c.part"   # (a process id unknown here: another host's)
    for stale in (old, earlier_version, in_flight):
        stale.write_bytes(b"half")
    long_ago = time.time() - STALE_ENTRY_S - 60
    for stale in (old, earlier_version):
        os.utime(stale, (long_ago, long_ago))
    cache = FootprintCache(folder)
    cache.save(folder / "e.npy", np.zeros(3, np.uint16))
    assert not old.exists() and not earlier_version.exists() and in_flight.exists()


def test_a_reader_dropped_unclosed_closes_its_file(tmp_path):
    """A planned fold state that is never read (its reader dropped) must not hold a file descriptor for the
    process's life."""
    import gc

    path = tmp_path / "f.bin"
    path.write_bytes(b"x" * 5000)
    reader = DirectReader(path)
    fd, inode = reader.fd, os.fstat(reader.fd).st_ino
    del reader
    gc.collect()
    try:
        still_open = os.fstat(fd).st_ino == inode
    except OSError:
        still_open = False
    assert not still_open
