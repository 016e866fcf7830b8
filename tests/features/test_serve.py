"""Online lookups served by real processes: `mlops features serve` and `mlops server`, each told
which online store to read (flag, setting or environment), on SQLite and on Redis."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlops.config import MLOpsConfig
from mlops.features import Entity, Feature, FeatureStore, FeatureView, FileSource
from mlops.server.app import create_app

LOOKUP = {"feature_view": "stats", "entities": [2, 9]}
EXPECTED = {"driver_id": [2, 9], "trips": [4, None]}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def materialized(tmp_path: Path, online_uri: str) -> str:
    """Applies a view and materializes it into ``online_uri``; returns the metadata store URI."""
    tracking = f"sqlite:///{tmp_path / 'meta.db'}"
    path = tmp_path / "stats.parquet"
    pd.DataFrame(
        {"driver_id": [1, 2], "event_timestamp": [datetime(2024, 1, 1)] * 2, "trips": [3, 4]}
    ).to_parquet(path)
    store = FeatureStore(
        online_store=online_uri,
        config=MLOpsConfig(home=tmp_path / "writer-home", tracking_uri=tracking, user="t"),
        show_progress=False,
    )
    store.apply(
        Entity("driver", {"driver_id": "int64"}),
        FeatureView("stats", ["driver"], [Feature("trips", "int64")], FileSource(str(path))),
    )
    store.materialize(None, datetime(2024, 2, 1))
    store.close()
    return tracking


@pytest.fixture
def process(tmp_path: Path) -> Iterator[Callable[..., str]]:
    """Starts ``mlops <args> --port P`` in a home of its own; returns its base URL once ``ready``
    answers 200. Every process is killed at the end."""
    procs: list[subprocess.Popen[bytes]] = []
    log_path = tmp_path / "process.log"
    log = log_path.open("ab")

    def start(args: list[str], ready: str, env: dict[str, str] | None = None) -> str:
        port = free_port()
        home = tmp_path / "server-home"  # not the writer's: the store must come from the flag
        environment = {**os.environ, "MLOPS_HOME": str(home), **(env or {})}
        proc = subprocess.Popen(
            [sys.executable, "-m", "mlops", *args, "--port", str(port)],
            cwd=tmp_path,
            env=environment,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        procs.append(proc)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert proc.poll() is None, log_path.read_text()
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(url + ready, timeout=1).status_code == 200:
                    return url
            time.sleep(0.05)
        raise AssertionError("the process did not come up: " + log_path.read_text())

    yield start
    for proc in procs:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    log.close()


def test_features_serve_reads_the_online_store_it_is_given(
    tmp_path: Path, online_uri: str, process: Callable[..., str]
) -> None:
    tracking = materialized(tmp_path, online_uri)
    url = process(
        ["features", "serve", "--tracking-uri", tracking, "--online-store", online_uri],
        ready="/api/v1/features/views",
    )
    got = httpx.post(f"{url}/api/v1/features/online", json=LOOKUP, timeout=10)
    assert got.status_code == 200, got.text
    assert got.json()["columns"] == EXPECTED
    unknown = httpx.post(
        f"{url}/api/v1/features/online", json={"feature_view": "nope", "entities": [1]}
    )
    assert unknown.status_code == 404
    assert "nope" in unknown.json()["error"]["message"]


def test_mlops_server_reads_the_online_store_of_its_flag(
    tmp_path: Path, online_uri: str, process: Callable[..., str]
) -> None:
    tracking = materialized(tmp_path, online_uri)
    url = process(
        ["server", "--tracking-uri", tracking, "--online-store", online_uri], ready="/healthz"
    )
    got = httpx.post(f"{url}/api/v1/features/online", json=LOOKUP, timeout=10)
    assert got.status_code == 200, got.text
    assert got.json()["columns"] == EXPECTED


def test_mlops_server_reads_the_online_store_of_the_environment(
    tmp_path: Path, process: Callable[..., str]
) -> None:
    online = f"sqlite:///{tmp_path / 'elsewhere' / 'online.db'}"
    tracking = materialized(tmp_path, online)
    url = process(
        ["server", "--tracking-uri", tracking, "--workers", "2"],
        ready="/healthz",
        env={"MLOPS_FEATURES__ONLINE_STORE": online},
    )
    for _ in range(4):  # whichever worker answers reads the same store
        got = httpx.post(f"{url}/api/v1/features/online", json=LOOKUP, timeout=10)
        assert got.json()["columns"] == EXPECTED


def test_the_setting_is_what_create_app_uses(tmp_path: Path) -> None:
    online = f"sqlite:///{tmp_path / 'configured.db'}"
    tracking = materialized(tmp_path, online)
    config = MLOpsConfig(
        home=tmp_path / "h", tracking_uri=tracking, features={"online_store": online}
    )
    with TestClient(create_app(config)) as client:
        got = client.post("/api/v1/features/online", json=LOOKUP)
    assert got.json()["columns"] == EXPECTED
    # Without the setting, the server reads its home's (empty) default store instead.
    plain = MLOpsConfig(home=tmp_path / "h", tracking_uri=tracking)
    with TestClient(create_app(plain)) as client:
        assert client.post("/api/v1/features/online", json=LOOKUP).json()["columns"] == {
            "driver_id": [2, 9],
            "trips": [None, None],
        }


def test_an_unknown_online_store_is_refused_before_listening(tmp_path: Path) -> None:
    tracking = f"sqlite:///{tmp_path / 'm.db'}"
    args = ["server", "--tracking-uri", tracking, "--online-store", "x://y", "--port", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "mlops", *args], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1
    assert "online store 'x://y' has no known scheme" in done.stderr
    assert "redis://" in done.stderr
    assert "Traceback" not in done.stderr
