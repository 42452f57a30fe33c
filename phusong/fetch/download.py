"""Downloads that survive real networks: resumed after a cut (HTTP Range), retried with back-off, checked
against a publisher's checksum where one is given, kept in an on-disk cache, and never half-written.

A file's cache path mirrors its URL (``CACHE/host/path``), and so does a mirror: ``--mirror
https://intranet/data`` fetches ``https://HOST/PATH`` as ``https://intranet/data/HOST/PATH``, and
``--mirror /srv/data`` reads ``/srv/data/HOST/PATH`` — the layout an organisation gets by copying the
publishers' files under their host names.
"""
from __future__ import annotations

import hashlib
import os
import shutil
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from urllib.parse import urlsplit

from tqdm.auto import tqdm

from .. import __version__
from .._atomic import file_sha256 as sha256_of
from ..errors import InputError, PhusongError

USER_AGENT = f"phusong/{__version__} (coverage planning; +https://github.com/phusong)"
CHUNK = 1 << 16


class FetchError(PhusongError):
    """A download that could not be completed (exit code 1): the message names the URL and why."""


class NotFound(FetchError):
    """HTTP 404 (or no such file in a folder mirror)."""


def default_cache_dir() -> Path:
    """``$PHUSONG_DOWNLOAD_CACHE``, else ``~/.cache/phusong/downloads``."""
    return Path(os.environ.get("PHUSONG_DOWNLOAD_CACHE") or Path.home() / ".cache" / "phusong" / "downloads")


@dataclass
class Downloader:
    """Fetch URLs into ``cache_dir`` (see the module); ``mirror`` replaces every publisher's host."""

    cache_dir: Path = field(default_factory=default_cache_dir)
    mirror: str | None = None
    retries: int = 3
    timeout_s: float = 60.0
    backoff_s: float = 1.0
    progress: bool = False
    log: list[dict] = field(default_factory=list)     # what was fetched: url, source, cached, bytes

    def location(self, url: str) -> str:
        """Where ``url`` is read from: the URL itself, or its place under the mirror."""
        if not self.mirror:
            return url
        if "://" in self.mirror:
            try:
                urlsplit(self.mirror)
            except ValueError as exc:
                raise InputError(f"--mirror {self.mirror!r} is not a URL ({exc})", argument="mirror") from None
        elif not Path(self.mirror).is_dir():
            raise InputError(f"--mirror {self.mirror!r}: no such folder", argument="mirror")
        parts = urlsplit(url)
        tail = f"{parts.netloc}{parts.path}"
        if "://" in self.mirror:
            return f"{self.mirror.rstrip('/')}/{tail}"
        return str(Path(self.mirror) / tail)

    def cache_path(self, url: str) -> Path:
        parts = urlsplit(url)
        return Path(self.cache_dir) / parts.netloc / parts.path.lstrip("/")

    def fetch(self, url: str, sha256: str | None = None, validate=None) -> Path:
        """The cached copy of ``url`` (downloaded first when missing); a :class:`FetchError` otherwise.

        ``validate(path)`` (raising on a bad file) checks a download before it enters the cache: a file
        cut short without a Content-Length, or an error page served as data, is deleted, never kept."""
        dest = self.cache_path(url)
        if dest.exists() and (sha256 is None or sha256_of(dest) == sha256):
            self.log.append({"url": url, "from": self.location(url), "cached": True, "bytes": dest.stat().st_size})
            return dest
        dest.parent.mkdir(parents=True, exist_ok=True)
        source = self.location(url)
        part = dest.with_name(dest.name + ".part")
        if "://" not in source:
            self._copy(Path(source), part, url)
        else:
            self._download(source, part, url)
        if sha256 is not None:
            got = sha256_of(part)
            if got != sha256:
                self._discard(part)
                raise FetchError(f"{url}: checksum mismatch (SHA-256 {got[:12]}…, the publisher gives "
                                 f"{sha256[:12]}…): the download is corrupt or the file has changed; nothing kept")
        if validate is not None:
            try:
                validate(part)
            except Exception as exc:  # noqa: BLE001 - any failure to read it means a bad download
                self._discard(part)
                raise FetchError(f"{url}: the download is not a valid file ({exc}); nothing kept, run again") from None
        os.replace(part, dest)
        self._discard(part)
        self.log.append({"url": url, "from": source, "cached": False, "bytes": dest.stat().st_size})
        return dest

    @staticmethod
    def _discard(part: Path) -> None:
        for p in (part, part.with_name(part.name + ".etag")):
            if p.exists():
                p.unlink()

    def _copy(self, source: Path, part: Path, url: str) -> None:
        if not source.is_file():
            raise NotFound(f"{url}: not in the mirror folder (looked for {source})")
        shutil.copyfile(source, part)

    def _download(self, source: str, part: Path, url: str) -> None:
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                self._once(source, part)
                return
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    raise NotFound(f"{url}: not found (HTTP 404 from {source})") from None
                if exc.code == 416:          # the part is as long as the file, or longer (another version)
                    total = str(exc.headers.get("Content-Range", "")).rpartition("/")[2]
                    if total.isdigit() and part.exists() and part.stat().st_size == int(total):
                        return
                    self._discard(part)
                    last = exc
                    continue
                if exc.code < 500 and exc.code != 429:
                    raise FetchError(f"{url}: HTTP {exc.code} {exc.reason} from {source}") from None
                last = exc
            except (urllib.error.URLError, HTTPException, ConnectionError, TimeoutError) as exc:
                last = exc
        why = "timed out" if isinstance(last, TimeoutError) or "timed out" in str(last) else str(last)
        where = "" if source == url else f" from {source}"
        hint = "" if self.mirror else "; without internet access, point --mirror at a local copy"
        raise FetchError(f"{url}: {why} after {self.retries + 1} attempt(s){where}; run again to resume "
                         f"({part.stat().st_size if part.exists() else 0:,} bytes kept in the cache){hint}")

    def _once(self, source: str, part: Path) -> None:
        have = part.stat().st_size if part.exists() else 0
        tag = part.with_name(part.name + ".etag")
        request = urllib.request.Request(source, headers={"User-Agent": USER_AGENT})
        if have:
            request.add_header("Range", f"bytes={have}-")
            if tag.exists():          # resume only the same version of the file
                request.add_header("If-Range", tag.read_text(encoding="utf-8"))
        with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
            start = str(response.headers.get("Content-Range", "")).removeprefix("bytes ").partition("-")[0]
            resumed = bool(have) and response.status == 206 and start == str(have)
            if response.status == 206 and not resumed:
                raise ConnectionError(f"the server resumed at byte {start}, not {have}")
            if response.headers.get("ETag"):
                tag.write_text(response.headers["ETag"], encoding="utf-8")
            length = response.headers.get("Content-Length")
            total = (int(length) + (have if resumed else 0)) if length is not None else None
            with open(part, "ab" if resumed else "wb") as fh, \
                    tqdm(total=total, initial=have if resumed else 0, unit="B", unit_scale=True,
                         desc=Path(urlsplit(source).path).name[:40], leave=False,
                         disable=not self.progress or None) as bar:
                while True:
                    block = response.read(CHUNK)
                    if not block:
                        break
                    fh.write(block)
                    bar.update(len(block))
            if total is not None and part.stat().st_size < total:
                raise ConnectionError(f"connection closed after {part.stat().st_size:,} of {total:,} bytes")

    def post(self, url: str, data: bytes, name: str, validate=None) -> Path:
        """The cached answer of a POST (an Overpass query), keyed by the request body; ``validate(bytes)``
        (raising on a bad answer) runs before it is cached."""
        key = hashlib.sha256(data).hexdigest()[:16]
        parts = urlsplit(url)
        dest = Path(self.cache_dir) / parts.netloc / "queries" / f"{name}-{key}.json"
        if dest.exists():
            self.log.append({"url": url, "from": self.location(url), "cached": True, "bytes": dest.stat().st_size})
            return dest
        source = self.location(url)
        if "://" not in source:
            raise FetchError(f"{url}: a folder mirror cannot answer queries; put the answer at {dest} or use a "
                             "web mirror")
        dest.parent.mkdir(parents=True, exist_ok=True)
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff_s * 2 ** (attempt - 1))
            try:
                request = urllib.request.Request(source, data=data, headers={"User-Agent": USER_AGENT})
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    answer = response.read()
            except urllib.error.HTTPError as exc:
                if exc.code not in (429, 500, 502, 503, 504):
                    raise FetchError(f"{url}: HTTP {exc.code} {exc.reason} from {source}") from None
                last = exc
                continue
            except (urllib.error.URLError, HTTPException, ConnectionError, TimeoutError) as exc:
                last = exc
                continue
            if validate is not None:
                try:
                    validate(answer)
                except Exception as exc:  # noqa: BLE001 - a bad answer is never cached
                    raise FetchError(f"{url}: {exc}; nothing kept, run again later") from None
            part = dest.with_name(dest.name + ".part")
            part.write_bytes(answer)
            os.replace(part, dest)
            self.log.append({"url": url, "from": source, "cached": False, "bytes": dest.stat().st_size})
            return dest
        raise FetchError(f"{url}: {last} after {self.retries + 1} attempts from {source}")
