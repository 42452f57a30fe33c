"""Large cache files read and written past the page cache (``O_DIRECT``) where the file system allows it.

Why: on the machines measured (virtual machines that hand freed memory back to their host), memory the guest no
longer holds costs about 12 ms a MB to touch again, page cache included (benchmarks/RESULTS.md). A province run
keeps about 1.3 GB of terrain passes and fold state for later runs: written through the page cache, each of its MB
took fresh memory, and a later run reading them took it again. With ``O_DIRECT`` the bytes go between the
process's own buffer and the disk (1.2 GB/s written, 1.6 GB/s read there). Where ``O_DIRECT`` is refused (tmpfs,
some network file systems, other systems than Linux) the same calls read and write through the page cache, in
pieces of 64 KiB (one ``write()`` of many MB takes its page cache in large folios, about 7 ms of kernel CPU a MB
there). The bytes in the file are the same either way.
"""
from __future__ import annotations

import errno
import io
import mmap
import os
import threading

import numpy as np

ALIGN = 4096              # O_DIRECT's alignment of offsets, lengths and buffers (a page: what ext4 and XFS ask at most)
CHUNK = 1 << 20           # the staging buffer (1 MiB, page-aligned: an anonymous mapping)
DIRECT_PIECE = 1 << 28    # aligned bytes moved straight between an array and the disk in one call
BUFFERED_PIECE = 1 << 16  # pieces of a buffered write()
_O_DIRECT = getattr(os, "O_DIRECT", 0)
_spare = threading.local()   # each thread's staging buffers not in use (mapped once, not once a file)


def _refused(exc: OSError) -> bool:
    return exc.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)


def _take_buffer() -> mmap.mmap:
    free = getattr(_spare, "buffers", None)
    return free.pop() if free else mmap.mmap(-1, CHUNK)


def _give_back(buffer: mmap.mmap) -> None:
    free = _spare.__dict__.setdefault("buffers", [])
    if len(free) < 2:
        free.append(buffer)
    else:
        buffer.close()


def _pread_into(fd: int, view: memoryview, offset: int) -> int:
    if hasattr(os, "preadv"):
        return os.preadv(fd, [view], offset)
    os.lseek(fd, offset, os.SEEK_SET)   # (systems without preadv)
    data = os.read(fd, len(view))
    view[:len(data)] = data
    return len(data)


class _DirectFile:
    """An open file with O_DIRECT where the file system takes it at open(), and a staging buffer."""

    def __init__(self, path, flags: int, direct: bool):
        flags |= getattr(os, "O_BINARY", 0)
        self.direct = bool(direct and _O_DIRECT)
        self.fd = -1
        if self.direct:
            try:
                self.fd = os.open(path, flags | _O_DIRECT, 0o666)
            except OSError as exc:
                if not _refused(exc):
                    raise
                self.direct = False
        if self.fd < 0:
            self.fd = os.open(path, flags, 0o666)
        try:
            self.buffer = _take_buffer()
        except BaseException:
            fd, self.fd = self.fd, -1
            os.close(fd)
            raise
        self.view = memoryview(self.buffer)

    def _release(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            self.view.release()
            _give_back(self.buffer)
            os.close(fd)

    def __del__(self) -> None:   # (one dropped unclosed, e.g. a planned fold state never read)
        try:
            if getattr(self, "fd", -1) >= 0:
                self._release()
        except Exception:   # noqa: BLE001 (at interpreter exit the modules it needs may be gone)
            pass

    def _buffered(self) -> None:
        """Turn O_DIRECT off (the file system took it at open() but refuses its I/O)."""
        import fcntl
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~_O_DIRECT)
        self.direct = False


class DirectWriter(_DirectFile):
    """A new binary file written in order (``write``, ``pad_to``) through a page-aligned 1 MiB buffer, with
    ``O_DIRECT`` where the file system takes it. ``close()`` writes the tail; use it as a context manager (after an
    error it only closes the file: the caller drops it). ``direct=False`` writes through the page cache (the
    fallback, also for tests)."""

    def __init__(self, path, direct: bool = True):
        super().__init__(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, direct)
        self.fill = 0       # bytes staged in the buffer
        self.written = 0    # bytes in the file

    def tell(self) -> int:
        return self.written + self.fill

    def write(self, data) -> int:
        """Append ``data`` (bytes or a C-contiguous buffer, such as an array's ``.data``). Data in page-aligned
        memory (:func:`empty_aligned`) written at a page-aligned offset goes to the disk without a copy."""
        src = memoryview(data).cast("B")
        done = 0
        if self._straight(src):
            if self.fill:   # (whole blocks staged: out first)
                self._flush(self.fill)
            whole = len(src) // ALIGN * ALIGN if self.direct else 0   # (unless that flush found O_DIRECT refused)
            while done < whole:
                try:
                    wrote = os.write(self.fd, src[done:min(done + DIRECT_PIECE, whole)])
                except OSError as exc:
                    if not _refused(exc):
                        raise
                    self._buffered()   # (refused on the first write: staged from here on)
                    break
                if wrote <= 0:
                    break
                done += wrote
                self.written += wrote
        while done < len(src):
            n = min(CHUNK - self.fill, len(src) - done)
            self.view[self.fill:self.fill + n] = src[done:done + n]
            self.fill += n
            done += n
            if self.fill == CHUNK:
                self._flush(CHUNK)
        return len(src)

    def _straight(self, src: memoryview) -> bool:
        """Whether ``src`` can go to the disk without the staging buffer, once whole staged blocks are out."""
        return (self.direct and len(src) >= ALIGN and self.fill % ALIGN == 0 and self.written % ALIGN == 0
                and _address(src) % ALIGN == 0)

    def pad_to(self, offset: int) -> None:
        """Append zero bytes up to ``offset``."""
        gap = offset - self.tell()
        if gap < 0:
            raise ValueError("DirectWriter only appends")
        zeros = bytes(min(gap, CHUNK))
        while gap:
            gap -= self.write(zeros[:min(gap, CHUNK)])

    def _flush(self, n: int) -> None:
        """Write the buffer's first ``n`` bytes (a multiple of ALIGN while direct) and keep the rest staged."""
        done = 0
        while done < n:
            step = n - done if self.direct else min(BUFFERED_PIECE, n - done)
            try:
                got = os.write(self.fd, self.view[done:done + step])
            except OSError as exc:
                if not (self.direct and _refused(exc)):
                    raise
                self._buffered()   # opened with O_DIRECT, but the file system refuses its writes
                continue
            done += got
        self.written += n
        rest = self.fill - n
        if rest:
            self.view[:rest] = self.view[n:self.fill]
        self.fill = rest

    def close(self) -> None:
        if self.fd < 0:
            return
        try:
            if self.fill:
                aligned = self.fill // ALIGN * ALIGN
                if self.direct and aligned:
                    self._flush(aligned)
                if self.fill:   # the tail, shorter than a block: through the page cache
                    if self.direct:
                        self._buffered()
                    self._flush(self.fill)
        finally:
            self._release()

    def __enter__(self) -> DirectWriter:
        return self

    def __exit__(self, kind, *exc) -> None:
        if kind is None:
            self.close()
        else:
            self._release()


class DirectReader(_DirectFile):
    """A binary file read at any offset (``readinto``, ``read``) through a page-aligned 1 MiB buffer, with
    ``O_DIRECT`` where the file system takes it; use it as a context manager. ``direct=False`` reads through the page
    cache."""

    def __init__(self, path, direct: bool = True):
        super().__init__(path, os.O_RDONLY, direct)
        try:
            self.size = os.fstat(self.fd).st_size
        except BaseException:
            self._release()
            raise

    def readinto(self, offset: int, out) -> int:
        """Read up to ``len(out)`` bytes from ``offset`` into the writable buffer ``out``; the count read (short only
        at the end of the file). Into page-aligned memory (:func:`empty_aligned`) from a page-aligned offset the
        bytes come from the disk without a copy."""
        dst = memoryview(out).cast("B")
        done = 0
        if self.direct and offset % ALIGN == 0 and _address(dst) % ALIGN == 0:
            whole = min(len(dst), max(self.size - offset, 0)) // ALIGN * ALIGN
            while done < whole:
                try:
                    got = _pread_into(self.fd, dst[done:min(done + DIRECT_PIECE, whole)], offset + done)
                except OSError as exc:
                    if not _refused(exc):
                        raise
                    break   # (the loop below turns O_DIRECT off)
                if got <= 0:
                    break
                done += got
        while done < len(dst) and offset + done < self.size:
            at = offset + done
            if not self.direct:   # straight into ``out``
                got = _pread_into(self.fd, dst[done:], at)
                if got <= 0:
                    break
                done += got
                continue
            base = at - at % ALIGN
            want = min(CHUNK, (at - base + len(dst) - done + ALIGN - 1) // ALIGN * ALIGN)
            try:
                got = _pread_into(self.fd, self.view[:want], base)
            except OSError as exc:
                if not _refused(exc):
                    raise
                self._buffered()
                continue
            n = min(got - (at - base), len(dst) - done)
            if n <= 0:
                break
            dst[done:done + n] = self.view[at - base:at - base + n]
            done += n
        return done

    def read(self, offset: int, n: int) -> bytes:
        """Up to ``n`` bytes from ``offset`` (fewer at the end of the file)."""
        out = bytearray(max(min(n, self.size - offset), 0))
        return bytes(out[:self.readinto(offset, out)])

    def close(self) -> None:
        self._release()

    def __enter__(self) -> DirectReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _address(view: memoryview) -> int:
    """The address of a buffer's first byte (-1 when it cannot be had: never aligned)."""
    if len(view) == 0:
        return -1
    return np.frombuffer(view, np.uint8, count=1).ctypes.data


def empty_aligned(shape, dtype) -> np.ndarray:
    """An uninitialised C-ordered array in page-aligned memory (an anonymous mapping, released with the array):
    :class:`DirectWriter` and :class:`DirectReader` move it whole between itself and the disk, without a copy."""
    dtype = np.dtype(dtype)
    count = int(np.prod(shape, dtype=np.int64))
    if count * dtype.itemsize == 0:
        return np.empty(shape, dtype)
    return np.frombuffer(mmap.mmap(-1, count * dtype.itemsize), dtype, count).reshape(shape)


def write_npy(path, array: np.ndarray, direct: bool = True) -> None:
    """Write a new ``.npy`` file at ``path`` (the bytes ``np.save`` writes for the C-ordered array) past the page cache
    where possible."""
    array = np.asarray(array, order="C")   # (ascontiguousarray would make a 0-d array 1-d)
    with DirectWriter(path, direct) as fh:
        np.lib.format.write_array_header_1_0(fh, np.lib.format.header_data_from_array_1_0(array))
        fh.write(array.reshape(-1).view(np.uint8).data)


def read_npy(path, shape: tuple[int, ...], dtype, direct: bool = True) -> np.ndarray:
    """A ``.npy`` file's array, past the page cache where possible. ValueError when it is not a C-ordered array of
    ``shape`` and ``dtype`` (never of Python objects: nothing is unpickled) or is truncated; OSError when it cannot
    be read."""
    dtype = np.dtype(dtype)
    with DirectReader(path, direct) as fh:
        head = io.BytesIO(fh.read(0, min(fh.size, 1 << 16)))
        try:
            version = np.lib.format.read_magic(head)
            if version != (1, 0):
                raise ValueError("not a version 1.0 .npy file")
            got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(head)
        except Exception as exc:   # (NumPy's header parser raises more than ValueError on damaged bytes)
            raise ValueError(f"not a .npy file NumPy can read: {exc}") from exc
        if tuple(got_shape) != tuple(shape) or got_dtype != dtype or fortran and len(shape) > 1 or dtype.hasobject:
            raise ValueError("another array than expected")
        array = np.empty(shape, dtype)
        want = array.nbytes
        if want and fh.readinto(head.tell(), array.reshape(-1).view(np.uint8).data) != want:
            raise ValueError("truncated .npy file")
        return array
