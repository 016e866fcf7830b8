"""Server fixtures: the app on a temporary SQLite store, in-process or on a real socket."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from mlops.config import MLOpsConfig
from mlops.server.app import create_app


@pytest.fixture
def server_config(tmp_path: Path) -> MLOpsConfig:
    """A server configuration on a fresh SQLite file and artifact folder."""
    return MLOpsConfig(
        home=tmp_path / "server-home",
        tracking_uri=f"sqlite:///{tmp_path / 'server.db'}",
        artifact_uri=str(tmp_path / "artifacts"),
        user="server",
    )


@pytest.fixture
def api(server_config: MLOpsConfig) -> Iterator[TestClient]:
    """The app in-process (startup and shutdown run); server errors are responses, not raises."""
    with TestClient(create_app(server_config), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def make_run(api: TestClient) -> Callable[..., str]:
    """Creates a run through the API (and its experiment, if new); returns the run's id."""

    def make(experiment: str = "exp", user: str = "alice") -> str:
        found = api.get("/api/v1/experiments/by-name", params={"name": experiment})
        if found.status_code == 404:
            found = api.post("/api/v1/experiments", json={"name": experiment})
        body = {"experiment_id": found.json()["id"], "user": user}
        response = api.post("/api/v1/runs", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    return make


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts `mlops server` (with extra options) on one fixed port; kills it at the end.

    Starting it again after a kill reuses the port, as a supervisor restarting it would.
    """
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    log = (tmp_path / "server.log").open("ab")

    def start(*options: str) -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "mlops", "server", "--port", str(port), *options]
        command += ["--tracking-uri", f"sqlite:///{tmp_path / 'server.db'}"]
        command += ["--artifact-uri", str(tmp_path / "artifacts")]
        # Its own session: the teardown stops its worker processes with it.
        proc = subprocess.Popen(
            command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        procs.append(proc)
        deadline = time.monotonic() + 90  # generous: worker imports are slow on a loaded machine
        while time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    return proc
            except httpx.TransportError:
                time.sleep(0.05)
        raise AssertionError("the server did not come up: " + (tmp_path / "server.log").read_text())

    start.port = port  # type: ignore[attr-defined]
    yield start
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()
