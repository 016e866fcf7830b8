"""The JSON body limit (``server.max_request_bytes``) against a real ``mlops server`` process.

Raw sockets, so the test controls exactly what is sent: a declared length over the limit is
refused before any body byte arrives, and a chunked body is refused once it passes the limit,
while the client is still sending.
"""

from __future__ import annotations

import json
import socket
import subprocess
from collections.abc import Callable

import httpx
import pytest

from mlops.config import MLOpsConfig

LIMIT = 4096


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one HTTP/1.1 response with a Content-Length."""
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    while len(body) < int(headers["content-length"]):
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def assert_too_large(status: int, headers: dict[str, str], body: bytes) -> None:
    assert status == 413, body
    error = json.loads(body)["error"]
    assert error["type"] == "PayloadTooLargeError"
    assert str(LIMIT) in error["message"]
    assert "max_request_bytes" in error["message"]
    assert headers.get("connection") == "close"


@pytest.fixture
def limited_server(
    server_process: Callable[..., subprocess.Popen[bytes]], monkeypatch: pytest.MonkeyPatch
) -> int:
    """``mlops server`` with a 4 KiB JSON body limit; its port."""
    monkeypatch.setenv("MLOPS_SERVER__MAX_REQUEST_BYTES", str(LIMIT))
    server_process()
    return int(server_process.port)  # type: ignore[attr-defined]


def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    limited_server: int,
) -> None:
    with socket.create_connection(("127.0.0.1", limited_server)) as sock:
        sock.sendall(
            b"POST /api/v1/experiments HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000000000000\r\n\r\n"
        )
        # Not one body byte sent: the answer cannot have waited for (or buffered) the body.
        assert_too_large(*read_response(sock))


def test_a_chunked_body_is_refused_once_it_passes_the_limit(limited_server: int) -> None:
    with socket.create_connection(("127.0.0.1", limited_server)) as sock:
        sock.sendall(
            b"POST /api/v1/runs/search HTTP/1.1\r\nHost: x\r\n"
            b"Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        piece = b" " * 1024
        for _ in range(LIMIT // len(piece) + 1):  # one piece past the limit, then stop
            sock.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
        # The body never ends (no terminating chunk): only the limit can produce an answer.
        assert_too_large(*read_response(sock))


def test_bodies_under_the_limit_and_artifact_uploads_over_it_are_served(
    limited_server: int,
) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{limited_server}/api/v1") as api:
        created = api.post("/experiments", json={"name": "x", "description": "d" * 3000})
        assert created.status_code == 201, created.text

        def chunks() -> object:
            yield b'{"experiment_ids": ["' + created.json()["id"].encode() + b'"], '
            yield b'"filter": "params.lr = \'' + b"1" * 2000 + b"'\"}"

        found = api.post(
            "/runs/search", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert found.status_code == 200, found.text  # chunked, under the limit: replayed whole
        too_big = api.post("/experiments", json={"name": "y", "description": "d" * LIMIT})
        assert_too_large(too_big.status_code, dict(too_big.headers), too_big.content)
        # Artifacts stream to storage under their own limit (max_upload_size), not this one.
        upload = api.put("/artifacts/files/big.bin", content=b"\0" * (LIMIT * 4))
        assert upload.status_code == 201, upload.text
        assert api.get("/artifacts/files/big.bin").content == b"\0" * (LIMIT * 4)


def test_the_default_limit_is_32_mib() -> None:
    assert MLOpsConfig().server.max_request_bytes == 32 * 1024**2
