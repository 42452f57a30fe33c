"""Large cache files read and written past the page cache (``O_DIRECT``) where the file system allows it.

Why: on the machines measured (virtual machines that hand freed memory back to their host), memory the guest no
longer holds costs about 12 ms a MB to touch again, page cache included (benchmarks/RESULTS.md). A province run
keeps about 1.3 GB of terrain passes and fold state for later runs: written through the page cache, each of its MB
took fresh memory, and a later run reading them took it again. With ``O_DIRECT`` the bytes go between the
process's own buffer and the disk (1.2 GB/s written, 1.1 GB/s read there). Where ``O_DIRECT`` is refused (tmpfs,
some network file systems, other systems than Linux) the same calls read and write through the page cache, in
pieces of 64 KiB (one ``write()`` of many MB takes its page cache in large folios, about 7 ms of kernel CPU a MB
there). The bytes in the file are the same either way.
"""
from __future__ import annotations

import errno
import mmap
import os

import numpy as np

ALIGN = 4096              # O_DIRECT's alignment of offsets, lengths and buffers (a page: what ext4 and XFS ask at most)
CHUNK = 1 << 20           # the staging buffer (1 MiB, page-aligned: an anonymous mapping)
BUFFERED_PIECE = 1 << 16  # pieces of a buffered write()
_O_DIRECT = getattr(os, "O_DIRECT", 0)


def _refused(exc: OSError) -> bool:
    return exc.errno in (errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)


class DirectWriter:
    """A new binary file written in order (``write``, ``pad_to``) through one page-aligned 1 MiB buffer, with
    ``O_DIRECT`` where the file system takes it. ``close()`` writes the tail; use it as a context manager.
    ``direct=False`` writes through the page cache (the fallback, also for tests)."""

    def __init__(self, path, direct: bool = True):
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
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
        self.buffer = mmap.mmap(-1, CHUNK)
        self.view = memoryview(self.buffer)
        self.fill = 0       # bytes staged in the buffer
        self.written = 0    # bytes in the file

    def tell(self) -> int:
        return self.written + self.fill

    def write(self, data) -> int:
        """Append ``data`` (bytes or a C-contiguous buffer, such as an array's ``.data``)."""
        src = memoryview(data).cast("B")
        done = 0
        while done < len(src):
            n = min(CHUNK - self.fill, len(src) - done)
            self.view[self.fill:self.fill + n] = src[done:done + n]
            self.fill += n
            done += n
            if self.fill == CHUNK:
                self._flush(CHUNK)
        return len(src)

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

    def _buffered(self) -> None:
        import fcntl
        fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~_O_DIRECT)
        self.direct = False

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
            os.close(self.fd)
            self.fd = -1
            self.view.release()
            self.buffer.close()

    def __enter__(self) -> DirectWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class DirectReader:
    """A binary file read at any offset (``readinto``, ``read``) through one page-aligned 1 MiB buffer, with
    ``O_DIRECT`` where the file system takes it; use it as a context manager. ``direct=False`` reads through the page
    cache."""

    def __init__(self, path, direct: bool = True):
        flags = os.O_RDONLY | getattr(os, "O_BINARY", 0)
        self.direct = bool(direct and _O_DIRECT)
        self.fd = -1
        if self.direct:
            try:
                self.fd = os.open(path, flags | _O_DIRECT)
            except OSError as exc:
                if not _refused(exc):
                    raise
                self.direct = False
        if self.fd < 0:
            self.fd = os.open(path, flags)
        self.size = os.fstat(self.fd).st_size
        self.buffer = mmap.mmap(-1, CHUNK)
        self.view = memoryview(self.buffer)

    def readinto(self, offset: int, out) -> int:
        """Read up to ``len(out)`` bytes from ``offset`` into the writable buffer ``out``; the count read (short only
        at the end of the file)."""
        dst = memoryview(out).cast("B")
        done = 0
        while done < len(dst) and offset + done < self.size:
            at = offset + done
            base = at - at % ALIGN if self.direct else at
            want = min(CHUNK, (at - base + len(dst) - done + ALIGN - 1) // ALIGN * ALIGN) if self.direct else \
                min(CHUNK, len(dst) - done)
            try:
                got = os.preadv(self.fd, [self.view[:want]], base)
            except OSError as exc:
                if not (self.direct and _refused(exc)):
                    raise
                import fcntl
                fcntl.fcntl(self.fd, fcntl.F_SETFL, fcntl.fcntl(self.fd, fcntl.F_GETFL) & ~_O_DIRECT)
                self.direct = False
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
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
            self.view.release()
            self.buffer.close()

    def __enter__(self) -> DirectReader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


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
    import io
    dtype = np.dtype(dtype)
    with DirectReader(path, direct) as fh:
        head = io.BytesIO(fh.read(0, min(fh.size, 1 << 16)))
        version = np.lib.format.read_magic(head)
        if version != (1, 0):
            raise ValueError("not a version 1.0 .npy file")
        got_shape, fortran, got_dtype = np.lib.format.read_array_header_1_0(head)
        if tuple(got_shape) != tuple(shape) or got_dtype != dtype or fortran and len(shape) > 1 or dtype.hasobject:
            raise ValueError("another array than expected")
        array = np.empty(shape, dtype)
        want = array.nbytes
        if want and fh.readinto(head.tell(), array.reshape(-1).view(np.uint8).data) != want:
            raise ValueError("truncated .npy file")
        return array
