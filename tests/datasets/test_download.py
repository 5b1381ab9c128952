"""The dataset downloader against a local HTTP server: verification, resumption, errors and the cache."""

from __future__ import annotations

import contextlib
import hashlib
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from scsnake.datasets import (
    ChecksumError,
    DownloadError,
    DownloadHTTPError,
    DownloadNetworkError,
    settings,
)
from scsnake.datasets._download import RemoteFile, _download, fetch

PAYLOAD = bytes(range(256)) * 64  # 16 kB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


@dataclass
class Site:
    """What the test server serves, and the requests it saw."""

    base: str
    files: dict[str, bytes] = field(default_factory=dict)
    #: path -> how to misbehave: "truncate" (every time), "truncate-once", "no-range", "stall"
    modes: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)

    def url(self, name: str) -> str:
        return f"{self.base}/{name}"


def _handler(site: Site) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep pytest's output clean
            pass

        def do_GET(self) -> None:
            name = self.path.lstrip("/")
            wanted = self.headers.get("Range")
            site.requests.append((name, wanted))
            if name not in site.files:
                self.send_error(404, "Not Found")
                return
            data = site.files[name]
            mode = site.modes.get(name, "")
            start = 0
            if wanted and mode != "no-range":
                start = int(wanted.removeprefix("bytes=").split("-")[0])
                if start >= len(data):
                    self.send_error(416, "Range Not Satisfiable")
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if mode == "stall":
                time.sleep(1.0)
            if mode in ("truncate", "truncate-once"):
                if mode == "truncate-once":
                    site.modes.pop(name)
                self.wfile.write(body[: len(body) // 3])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-body
                return
            with contextlib.suppress(
                BrokenPipeError, ConnectionResetError
            ):  # the client gave up (timeout test)
                self.wfile.write(body)

    return Handler


@pytest.fixture
def site() -> Iterator[Site]:
    """A threaded HTTP server on 127.0.0.1 at a free port, serving ``site.files``."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler)
    served = Site(base=f"http://127.0.0.1:{server.server_address[1]}")
    server.RequestHandlerClass = _handler(served)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir()) if directory.exists() else []


def test_success(site: Site, tmp_path: Path) -> None:
    site.files["data.bin"] = PAYLOAD
    dest = tmp_path / "sub" / "data.bin"
    assert _download(site.url("data.bin"), dest, sha256=SHA) == dest
    assert dest.read_bytes() == PAYLOAD
    assert _names(dest.parent) == ["data.bin"]


def test_checksum_mismatch_discards_the_file(site: Site, tmp_path: Path) -> None:
    site.files["data.bin"] = PAYLOAD
    wrong = "0" * 64
    with pytest.raises(
        ChecksumError,
        match=rf"checksum mismatch for {site.url('data.bin')}.*data\.bin.*expected sha256 {wrong}, got {SHA}",
    ):
        _download(site.url("data.bin"), tmp_path / "data.bin", sha256=wrong)
    assert _names(tmp_path) == []


def test_size_mismatch_discards_the_file(site: Site, tmp_path: Path) -> None:
    site.files["data.bin"] = PAYLOAD
    with pytest.raises(ChecksumError, match=f"{len(PAYLOAD)} bytes, expected 10"):
        _download(site.url("data.bin"), tmp_path / "data.bin", size=10)
    assert _names(tmp_path) == []


def test_interrupted_download_resumes(site: Site, tmp_path: Path) -> None:
    site.files["data.bin"] = PAYLOAD
    site.modes["data.bin"] = "truncate-once"
    dest = tmp_path / "data.bin"
    with pytest.raises(
        DownloadNetworkError, match=rf"{site.url('data.bin')} to .*data\.bin broke off.*resume"
    ):
        _download(site.url("data.bin"), dest, sha256=SHA)
    assert not dest.exists()  # never a trusted file from a broken download
    kept = (tmp_path / "data.bin.part").stat().st_size
    assert 0 < kept < len(PAYLOAD)
    _download(site.url("data.bin"), dest, sha256=SHA)
    assert dest.read_bytes() == PAYLOAD and _names(tmp_path) == ["data.bin"]
    assert site.requests[-1] == ("data.bin", f"bytes={kept}-")


def test_interrupted_download_without_checksum_restarts(site: Site, tmp_path: Path) -> None:
    site.files["data.bin"] = PAYLOAD
    site.modes["data.bin"] = "truncate-once"
    dest = tmp_path / "data.bin"
    with pytest.raises(DownloadNetworkError, match=r"broke off.*retry"):
        _download(site.url("data.bin"), dest)
    assert _names(tmp_path) == []  # nothing that could be resumed unverified
    _download(site.url("data.bin"), dest)
    assert dest.read_bytes() == PAYLOAD
    assert site.requests[-1] == ("data.bin", None)


def test_server_ignoring_ranges_restarts(site: Site, tmp_path: Path) -> None:
    site.files["data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD[:100])
    site.modes["data.bin"] = "no-range"
    _download(site.url("data.bin"), tmp_path / "data.bin", sha256=SHA)
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_stale_part_longer_than_the_file_restarts(site: Site, tmp_path: Path) -> None:
    site.files["data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(PAYLOAD + b"junk")  # the server answers 416
    _download(site.url("data.bin"), tmp_path / "data.bin", sha256=SHA)
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_corrupt_part_is_caught_by_the_checksum(site: Site, tmp_path: Path) -> None:
    site.files["data.bin"] = PAYLOAD
    (tmp_path / "data.bin.part").write_bytes(b"x" * 100)  # not a prefix of the file
    with pytest.raises(ChecksumError):
        _download(site.url("data.bin"), tmp_path / "data.bin", sha256=SHA)
    assert _names(tmp_path) == []
    _download(site.url("data.bin"), tmp_path / "data.bin", sha256=SHA)  # and the retry starts clean
    assert (tmp_path / "data.bin").read_bytes() == PAYLOAD


def test_http_404(site: Site, tmp_path: Path) -> None:
    with pytest.raises(
        DownloadHTTPError, match=rf"{site.url('missing.bin')} to .*missing\.bin: HTTP 404"
    ) as info:
        _download(site.url("missing.bin"), tmp_path / "missing.bin")
    assert info.value.status == 404
    assert _names(tmp_path) == []


def test_unreachable_server(tmp_path: Path) -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/data.bin"
    with pytest.raises(DownloadNetworkError, match=rf"cannot download {url} to .*data\.bin.*no network"):
        _download(url, tmp_path / "data.bin")
    assert _names(tmp_path) == []


def test_timeout(site: Site, tmp_path: Path) -> None:
    site.files["slow.bin"] = PAYLOAD
    site.modes["slow.bin"] = "stall"
    with pytest.raises(DownloadNetworkError, match=r"slow\.bin"):
        _download(site.url("slow.bin"), tmp_path / "slow.bin", timeout=0.2)
    assert not (tmp_path / "slow.bin").exists()


def test_errors_are_scsnake_errors() -> None:
    for cls in (ChecksumError, DownloadHTTPError, DownloadNetworkError):
        assert issubclass(cls, DownloadError)


def test_cache_hit_needs_no_network(site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SCSNAKE_DATA_DIR", str(tmp_path / "cache"))
    site.files["data.bin"] = PAYLOAD
    entry = RemoteFile(url=site.url("data.bin"), filename="demo/data.bin", sha256=SHA, size=len(PAYLOAD))
    first = fetch(entry)
    assert first == tmp_path / "cache" / "demo" / "data.bin"
    second = fetch(entry)
    assert second == first and len(site.requests) == 1


def test_mirror_used_when_the_primary_fails(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCSNAKE_DATA_DIR", str(tmp_path))
    site.files["mirror.bin"] = PAYLOAD
    entry = RemoteFile(
        url=site.url("gone.bin"), filename="data.bin", sha256=SHA, mirrors=(site.url("mirror.bin"),)
    )
    assert fetch(entry).read_bytes() == PAYLOAD


def test_all_locations_failing_names_each(
    site: Site, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SCSNAKE_DATA_DIR", str(tmp_path))
    entry = RemoteFile(url=site.url("a.bin"), filename="data.bin", sha256=SHA, mirrors=(site.url("b.bin"),))
    with pytest.raises(DownloadHTTPError, match=r"a\.bin") as info:
        fetch(entry)
    assert any("b.bin" in note for note in info.value.__notes__)


def test_concurrent_downloads_fetch_once(site: Site, tmp_path: Path) -> None:
    site.files["data.bin"] = PAYLOAD
    dest = tmp_path / "data.bin"
    results: list[Path] = []
    threads = [
        threading.Thread(target=lambda: results.append(_download(site.url("data.bin"), dest, sha256=SHA)))
        for _ in range(3)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert results == [dest] * 3 and dest.read_bytes() == PAYLOAD
    assert len(site.requests) == 1 and _names(tmp_path) == ["data.bin"]


def test_datadir_resolution(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SCSNAKE_DATA_DIR", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert settings.datadir == tmp_path / ".cache" / "scsnake"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert settings.datadir == tmp_path / "xdg" / "scsnake"
    monkeypatch.setenv("SCSNAKE_DATA_DIR", str(tmp_path / "env"))
    assert settings.datadir == tmp_path / "env"
    settings.datadir = tmp_path / "explicit"
    try:
        assert settings.datadir == tmp_path / "explicit"
    finally:
        settings.datadir = None
    assert settings.datadir == tmp_path / "env"
