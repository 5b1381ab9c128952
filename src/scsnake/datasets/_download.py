"""Downloads into the dataset cache: verified, resumable, never leaving an untrusted file under the final name."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from scsnake.errors import ScsnakeError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from os import PathLike

__all__ = [
    "ChecksumError",
    "DatasetSettings",
    "DownloadError",
    "DownloadHTTPError",
    "DownloadNetworkError",
    "MissingDependencyError",
    "RemoteFile",
    "fetch",
    "settings",
]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
DEFAULT_TIMEOUT = 60.0


class DownloadError(ScsnakeError):
    """A dataset could not be downloaded; the message names the URL and the file."""


class DownloadNetworkError(DownloadError, ConnectionError):
    """The server could not be reached, or the connection broke or timed out mid-download."""


class DownloadHTTPError(DownloadError):
    """The server answered with an HTTP error (e.g. 404)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ChecksumError(DownloadError):
    """The downloaded bytes do not have the expected SHA-256 (or size); the download was discarded."""


class MissingDependencyError(ScsnakeError, ImportError):
    """An optional package that this function needs is not installed."""


class DatasetSettings:
    """Where downloaded datasets are cached.

    ``datadir`` is, in order: the value assigned to it, the environment variable
    ``SCSNAKE_DATA_DIR``, ``$XDG_CACHE_HOME/scsnake``, ``~/.cache/scsnake``. It is looked up
    at each call, so changing the environment takes effect at once.
    """

    def __init__(self) -> None:
        self._datadir: Path | None = None

    @property
    def datadir(self) -> Path:
        """The cache directory."""
        if self._datadir is not None:
            return self._datadir
        env = os.environ.get("SCSNAKE_DATA_DIR")
        if env:
            return Path(env).expanduser()
        cache = os.environ.get("XDG_CACHE_HOME")
        return (Path(cache) if cache else Path.home() / ".cache") / "scsnake"

    @datadir.setter
    def datadir(self, value: str | PathLike[str] | None) -> None:
        self._datadir = None if value is None else Path(value).expanduser()


#: The cache settings: ``scsnake.datasets.settings.datadir = "/data/cache"``.
settings = DatasetSettings()


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file: where it is, where it goes in the cache, how it is verified."""

    url: str
    """Primary location."""
    filename: str
    """Path relative to the cache directory."""
    sha256: str | None
    """Expected SHA-256 (hex); None: only the size the server announces is checked."""
    size: int | None = None
    """Expected size in bytes, if known."""
    mirrors: tuple[str, ...] = ()
    """Further locations tried in order when one fails (only used when ``sha256`` is known)."""


def fetch(entry: RemoteFile, *, timeout: float = DEFAULT_TIMEOUT) -> Path:
    """The cached copy of ``entry``, downloaded first if absent (a cached file means no network)."""
    dest = settings.datadir / entry.filename
    if dest.is_file():
        logger.debug("using the cached %s", dest)
        return dest
    urls = [entry.url, *(entry.mirrors if entry.sha256 else ())]
    errors: list[DownloadError] = []
    for url in urls:
        try:
            return _download(url, dest, sha256=entry.sha256, size=entry.size, timeout=timeout)
        except DownloadError as err:
            errors.append(err)
            if url != urls[-1]:
                logger.warning("%s; trying %s", err, urls[urls.index(url) + 1])
    first = errors[0]
    for other in errors[1:]:
        first.add_note(f"also tried: {other}")
    raise first


@contextlib.contextmanager
def _locked_part(part: Path) -> Iterator[IO[bytes]]:
    """``part`` opened for appending under an exclusive lock (concurrent downloads wait for each other)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX: no locking
        fcntl = None  # type: ignore[assignment]
    while True:
        fh = part.open("ab")
        if fcntl is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:  # the file we locked may have been renamed or removed by the writer we waited for
            same = os.path.samestat(os.fstat(fh.fileno()), os.stat(part))
        except FileNotFoundError:
            same = False
        if same:
            break
        fh.close()
    try:
        yield fh
    finally:
        fh.close()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _open(url: str, offset: int, timeout: float, dest: Path) -> http.client.HTTPResponse:
    from scsnake import __version__

    headers = {"User-Agent": f"scsnake/{__version__}"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as err:
        err.close()
        if err.code == 416 and offset:  # the partial file is not a prefix of this one: start over
            raise
        msg = f"cannot download {url} to {dest}: HTTP {err.code} {err.reason}"
        raise DownloadHTTPError(msg, err.code) from None
    except (urllib.error.URLError, OSError, http.client.HTTPException) as err:
        reason = getattr(err, "reason", err)
        msg = f"cannot download {url} to {dest}: {reason} (no network, or the server is down)"
        raise DownloadNetworkError(msg) from None


def _fetch_into(
    fh: IO[bytes], url: str, dest: Path, *, sha256: str | None, size: int | None, timeout: float
) -> int:
    """Append ``url``'s bytes to ``fh`` (resuming at its end when ``sha256`` is known); the total size."""
    offset = fh.tell() if sha256 else 0
    fh.truncate(offset)
    logger.info("downloading %s to %s%s", url, dest, f" (resuming at byte {offset})" if offset else "")
    try:
        response = _open(url, offset, timeout, dest)
    except urllib.error.HTTPError:  # 416: nothing after the offset, the partial file is not a prefix
        offset = 0
        fh.truncate(0)
        response = _open(url, 0, timeout, dest)
    with response:
        if offset and response.status != 206:
            logger.info("%s ignores range requests: starting over", url)
            offset = 0
            fh.truncate(0)
        length = response.headers.get("Content-Length")
        expected = offset + int(length) if length is not None and length.isdigit() else size
        received = offset
        try:
            for block in iter(lambda: response.read(_CHUNK), b""):
                fh.write(block)
                received += len(block)
        except (OSError, http.client.HTTPException) as err:
            again = "resume" if sha256 else "retry"
            msg = f"download of {url} to {dest} broke off after {received} bytes ({type(err).__name__}: {err}); run again to {again}"
            raise DownloadNetworkError(msg) from None
    if expected is not None and received != expected:
        again = "resume" if sha256 else "retry"
        msg = (
            f"download of {url} to {dest} broke off: got {received} of {expected} bytes; run again to {again}"
        )
        raise DownloadNetworkError(msg)
    return received


def _download(
    url: str,
    dest: Path,
    *,
    sha256: str | None = None,
    size: int | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Path:
    """Download ``url`` to ``dest`` through ``dest.part``, verified before it is renamed.

    An interrupted download leaves ``dest.part``; when ``sha256`` is known the next call
    resumes it with an HTTP range request (a server that ignores ranges makes it start over),
    otherwise it starts over. A size or checksum mismatch removes ``dest.part``. ``dest``
    itself only ever appears complete and verified.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with _locked_part(part) as fh:
        if dest.is_file():  # another process finished it while we waited for the lock
            if not fh.tell():
                part.unlink(missing_ok=True)
            return dest
        try:
            received = _fetch_into(fh, url, dest, sha256=sha256, size=size, timeout=timeout)
        except BaseException as err:
            fh.flush()
            resumable = sha256 is not None and isinstance(err, DownloadNetworkError | KeyboardInterrupt)
            if not (resumable and part.is_file() and part.stat().st_size):
                part.unlink(missing_ok=True)  # nothing worth resuming from
            raise
        if size is not None and received != size:
            part.unlink(missing_ok=True)
            msg = f"downloaded {url} to {dest} but it has {received} bytes, expected {size}; the file was discarded (the server serves a different file)"
            raise ChecksumError(msg)
        if sha256 is not None:
            actual = _sha256(part)
            if actual != sha256.lower():
                part.unlink(missing_ok=True)
                msg = f"checksum mismatch for {url} (to {dest}): expected sha256 {sha256.lower()}, got {actual}; the download was discarded"
                raise ChecksumError(msg)
        os.replace(part, dest)
    logger.info("downloaded %s (%d bytes)", dest, received)
    return dest
