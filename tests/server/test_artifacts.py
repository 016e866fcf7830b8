"""Artifacts over HTTP: no way out of the root, a size limit, and streams verified by sha256."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient

from mlops.config import ClientSettings, MLOpsConfig
from mlops.errors import (
    ArtifactCorruptedError,
    InvalidInputError,
    NotFoundError,
    PayloadTooLargeError,
)
from mlops.server.app import create_app
from mlops.store.rest import RestArtifactStore, RestClient

# Sent as raw request paths on a real socket: no client library normalizes them first.
TRAVERSALS = [
    "../outside/secret.txt",
    "a/../../outside/secret.txt",
    "..",
    "/etc/passwd",
    "//etc/passwd",
    "%2e%2e/outside/secret.txt",
    "%2E%2E%2Foutside%2Fsecret.txt",
    "..%2foutside/secret.txt",
    "a/%2e%2e/%2e%2e/outside/secret.txt",
    ".%2e/outside/secret.txt",
    "%2fetc%2fpasswd",
    "%252e%252e/outside/secret.txt",  # double-encoded
    "%252e%252e%252foutside%252fsecret.txt",
    "%252fetc%252fpasswd",
    "..%5coutside%5csecret.txt",  # backslashes
    "a%5c..%5c..%5coutside%5csecret.txt",
    "..\\outside\\secret.txt",
    "a%00b",
    "./secret.txt",
    "evil/secret.txt",  # a symlink inside the root pointing out of it
    "evil/new.txt",
]


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    """The server's artifact root, a secret beside it, and a symlink from inside to outside."""
    root = tmp_path / "artifacts"
    root.mkdir()
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("secret")
    (root / "evil").symlink_to(outside, target_is_directory=True)
    return root


def raw(server: str, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
    url = urlsplit(server)
    conn = http.client.HTTPConnection(url.hostname or "", url.port)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


@pytest.mark.parametrize("path", TRAVERSALS)
def test_paths_out_of_the_root_are_refused(
    layout: Path, rest_server: str, tmp_path: Path, path: str
) -> None:
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    url = f"/api/v1/artifacts/files/{path}"
    status, body = raw(rest_server, "GET", url)
    assert status == 400, (path, body)
    assert b"secret" not in body.replace(b"secret.txt", b"")
    assert b"InvalidInputError" in body
    status, body = raw(rest_server, "PUT", url, b"pwned")
    assert status == 400, (path, body)
    status, body = raw(rest_server, "DELETE", url)
    assert status == 400, (path, body)
    for method, query in (
        ("GET", f"/api/v1/artifacts/stat?path={path}"),
        ("GET", f"/api/v1/artifacts?prefix={path}"),
        ("DELETE", f"/api/v1/artifacts?prefix={path}"),
    ):
        status, body = raw(rest_server, method, query)
        assert status in (400, 422), (method, query, body)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if "server" not in str(p))
    assert after == [p for p in before if "server" not in str(p)]
    assert (tmp_path / "outside" / "secret.txt").read_text() == "secret"


def test_the_client_refuses_bad_paths_before_sending(rest_server: str) -> None:
    store = RestArtifactStore(RestClient(rest_server))
    for bad in ("../x", "/etc/passwd", "a\\b", "a//b"):
        with pytest.raises(InvalidInputError):
            store.put_bytes(b"x", bad)
    with pytest.raises(InvalidInputError, match="not under the artifact root"):
        store.download("file:///etc/passwd", Path("x"))
    store.client.close()


@pytest.fixture
def small_limit(server_config: MLOpsConfig) -> Iterator[TestClient]:
    settings = server_config.server.model_copy(update={"max_upload_size": 1000})
    config = server_config.model_copy(update={"server": settings})
    with TestClient(create_app(config), raise_server_exceptions=False) as api:
        yield api


def test_uploads_over_the_limit_get_413(
    small_limit: TestClient, server_config: MLOpsConfig
) -> None:
    ok = small_limit.put("/api/v1/artifacts/files/ok.bin", content=b"x" * 1000)
    assert ok.status_code == 201
    declared = small_limit.put("/api/v1/artifacts/files/big.bin", content=b"x" * 1001)
    assert declared.status_code == 413
    assert declared.json()["error"]["type"] == "PayloadTooLargeError"

    def chunks() -> Iterator[bytes]:  # no Content-Length: the server counts as it reads
        for _ in range(10):
            yield b"y" * 300

    streamed = small_limit.put("/api/v1/artifacts/files/streamed.bin", content=chunks())
    assert streamed.status_code == 413
    root = Path(server_config.resolved_artifact_uri)
    assert sorted(p.name for p in root.rglob("*")) == ["ok.bin"]  # no partial or temp file


def test_the_client_knows_the_limit(
    tmp_path: Path, server_config: MLOpsConfig, serve: Callable[[MLOpsConfig], str]
) -> None:
    settings = server_config.server.model_copy(update={"max_upload_size": 1000})
    store = RestArtifactStore(
        RestClient(serve(server_config.model_copy(update={"server": settings})))
    )
    big = tmp_path / "big.bin"
    big.write_bytes(b"z" * 5000)
    with pytest.raises(PayloadTooLargeError, match="upload limit of 1000"):
        store.put_file(big, "big.bin")  # refused before sending a byte
    with pytest.raises(PayloadTooLargeError):
        store.put_fileobj(iter_reader(b"z" * 5000), "stream.bin")  # size unknown: the server says
    assert store.list() == []
    store.client.close()


class iter_reader:
    """A non-seekable stream of ``data``."""

    def __init__(self, data: bytes):
        self.data = data

    def read(self, size: int = -1) -> bytes:
        out, self.data = self.data[: max(size, 0)], self.data[max(size, 0) :]
        return out


def test_streaming_both_ways_verified_and_in_bounded_memory(
    rest_server: str, tmp_path: Path
) -> None:
    store = RestArtifactStore(RestClient(rest_server, ClientSettings(max_retries=1)))
    source = tmp_path / "big.bin"
    block = os.urandom(1024 * 1024)
    with source.open("wb") as file:
        for _ in range(48):
            file.write(block)
    expected = hashlib.sha256(source.read_bytes()).hexdigest()
    target = tmp_path / "downloaded.bin"

    tracemalloc.start()
    info = store.put_file(source, "runs/1/big.bin")
    store.download(info.uri, target, sha256=info.sha256)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    assert info.size == 48 * 1024 * 1024
    assert info.sha256 == expected
    assert hashlib.sha256(target.read_bytes()).hexdigest() == expected
    # Client and server (same process here) together never held the 48 MB artifact.
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    assert store.size("runs/1/big.bin") == info.size
    assert store.exists("runs/1/big.bin")
    assert store.list("runs") == ["runs/1/big.bin"]
    store.client.close()


def test_a_corrupted_download_is_refused_and_leaves_nothing(
    rest_server: str, tmp_path: Path
) -> None:
    store = RestArtifactStore(RestClient(rest_server))
    info = store.put_bytes(b"the real content", "a/model.bin")
    (tmp_path / "artifacts" / "a" / "model.bin").write_bytes(b"the evil content")
    target = tmp_path / "out.bin"
    with pytest.raises(ArtifactCorruptedError, match="expected sha256"):
        store.download(info.uri, target, sha256=info.sha256)
    assert not target.exists()
    assert list(tmp_path.glob("*.mlops-tmp")) == []
    with pytest.raises(ArtifactCorruptedError):
        store.read_bytes(info.uri, sha256=info.sha256)
    assert store.read_bytes(info.uri) == b"the evil content"  # unverified reads still work
    with pytest.raises(NotFoundError):
        store.read_bytes("a/missing.bin")
    store.client.close()


def test_deletes(rest_server: str) -> None:
    store = RestArtifactStore(RestClient(rest_server))
    for name in ("a", "b", "c"):
        store.put_bytes(b"x", f"runs/1/{name}")
    store.put_bytes(b"x", "runs/10/kept")
    store.delete("runs/1/a")
    with pytest.raises(NotFoundError):
        store.delete("runs/1/a")
    assert store.delete_prefix("runs/1") == 2  # whole segments: runs/10 is another folder
    assert store.list() == ["runs/10/kept"]
    with pytest.raises(InvalidInputError, match="whole store"):
        store.delete_prefix("")
    store.client.close()


def test_an_upload_cut_short_leaves_nothing(rest_server: str, tmp_path: Path) -> None:
    url = urlsplit(rest_server)
    with socket.create_connection((url.hostname or "", url.port or 80)) as conn:
        conn.sendall(
            b"PUT /api/v1/artifacts/files/runs/1/cut.bin HTTP/1.1\r\nHost: x\r\n"
            b"Content-Length: 1000000\r\n\r\n" + b"x" * 1000
        )
    store = RestArtifactStore(RestClient(rest_server))
    handled = 'route="/api/v1/artifacts/files/{path:path}",status="400"'
    deadline = time.monotonic() + 10
    while handled not in store.client.request("GET", "/metrics").text:
        assert time.monotonic() < deadline, "the server never noticed the hang-up"
        time.sleep(0.02)
    assert not any((tmp_path / "artifacts").rglob("*cut*"))  # no partial, no temporary file
    assert store.list() == []
    assert store.put_bytes(b"fine", "runs/1/ok.bin").size == 4  # and it keeps serving
    store.client.close()
