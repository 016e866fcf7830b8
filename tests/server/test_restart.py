"""A real `mlops server` process killed with SIGKILL mid-ingestion and restarted on its port.

The client keeps logging through the outage: its writes are retried with backoff until the new
process answers, nothing acknowledged is lost and nothing is stored twice.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from mlops.config import ClientSettings, MLOpsConfig, TrackingSettings
from mlops.experiments import ExperimentTracker, RunStatus


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def server_process(tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts `mlops server` on one fixed port (again after a kill); kills it at the end."""
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    log = (tmp_path / "server.log").open("ab")

    def start() -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "mlops", "server", "--port", str(port)]
        command += ["--tracking-uri", f"sqlite:///{tmp_path / 'server.db'}"]
        command += ["--artifact-uri", str(tmp_path / "artifacts")]
        proc = subprocess.Popen(command, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        procs.append(proc)
        deadline = time.monotonic() + 30
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
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    log.close()


def test_server_killed_and_restarted_mid_ingestion_loses_and_duplicates_nothing(
    server_process: Callable[[], subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    server = server_process()
    config = MLOpsConfig(
        home=tmp_path / "client",
        tracking_uri=f"http://127.0.0.1:{server_process.port}",  # type: ignore[attr-defined]
        client=ClientSettings(max_retries=40, backoff=0.05, max_backoff=0.5),
        experiment_tracking=TrackingSettings(metrics_flush_interval=0.02),
    )
    tracker = ExperimentTracker(config=config)
    run = tracker.start_experiment("crash", run_name="survivor")
    restarted = threading.Event()

    def restart() -> None:
        time.sleep(0.3)  # the client is mid-stream, failing and retrying, while we are down
        server_process()
        restarted.set()

    steps = 3000
    for step in range(steps):
        run.log_metrics({"loss": float(step), "acc": step / steps}, step=step)
        if step == 1000:
            os.kill(server.pid, signal.SIGKILL)  # no shutdown, no goodbye: mid-request if busy
            server.wait()
            threading.Thread(target=restart, daemon=True).start()
            run.log_params({"logged_during_outage": True})  # blocks, retrying, until it is back
            assert restarted.is_set()
        if step % 100 == 0:
            time.sleep(0.01)  # spread the stream over many batches
    run.end()

    stored = tracker.get_run(run.id)
    assert stored.status is RunStatus.FINISHED  # the restarted server saw our process alive
    assert stored.params == {"logged_during_outage": "True"}
    assert stored.metrics == {"loss": float(steps - 1), "acc": (steps - 1) / steps}
    for key in ("loss", "acc"):
        history = tracker.get_metric_history(run.id, key)
        assert len(history) == steps  # nothing lost, nothing twice
        assert list(history.steps) == list(range(steps))
    assert list(tracker.get_metric_history(run.id, "loss").values) == [
        float(s) for s in range(steps)
    ]
    assert [r.name for r in tracker.search_runs("crash")] == ["survivor"]  # one run, not two
    tracker.close()
