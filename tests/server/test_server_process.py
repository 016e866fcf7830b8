"""`mlops server` as a real process: SIGKILLed mid-ingestion and restarted; several workers.

Through the outage the client keeps logging: its writes are retried with backoff until the new
process answers, nothing acknowledged is lost and nothing is stored twice.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from mlops.config import ClientSettings, MLOpsConfig, TrackingSettings
from mlops.experiments import ExperimentTracker, RunStatus


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
            # It can only have succeeded against the new process; the restart thread may still
            # be returning from its readiness wait, so give the event a moment.
            assert restarted.wait(timeout=30)
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


def test_several_workers_serve_one_store_without_delayed_acks(
    server_process: Callable[..., subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    server_process("--workers", "2")
    url = f"http://127.0.0.1:{server_process.port}"  # type: ignore[attr-defined]
    tracker = ExperimentTracker(config=MLOpsConfig(home=tmp_path / "client", tracking_uri=url))
    with tracker.start_experiment("workers") as run:
        run.log_metrics({"x": 1.0})
    assert tracker.get_run(run.id).metrics == {"x": 1.0}
    with httpx.Client(base_url=url) as client:
        timings = []
        for _ in range(15):
            start = time.perf_counter()
            assert client.get("/healthz").status_code == 200
            timings.append(time.perf_counter() - start)
    # A small response held back by Nagle's algorithm waits ~40 ms for a delayed ACK.
    assert sorted(timings)[len(timings) // 2] < 0.02, timings
    tracker.close()
