"""``/metrics`` of ``mlops server --workers 2`` shows each monitoring gauge once, at its stored
value, whichever worker answers.

The monitoring gauges are read from the store at scrape time, while request counters are
summed over the workers' sample files; a gauge that went through the multiprocess files would
be repeated per worker or summed (a drift share of 0.5 shown as 1.0). A real server process:
scrapes go over fresh connections until both workers have answered some.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd

from mlops.config import MLOpsConfig
from mlops.monitoring import AlertManager, DriftDetector, PerformanceMonitor

SRC = str(Path(__file__).resolve().parents[2] / "src")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _workers(supervisor: int) -> list[int]:
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    found = []
    for pid in children:
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(int(pid))
    return found


def _shared_dir(pid: int) -> Path:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    env = dict(item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return Path(env[b"PROMETHEUS_MULTIPROC_DIR"].decode())


def _seed(config: MLOpsConfig) -> tuple[float, float]:
    """One drift window, one performance window and one firing alert in the store."""
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"a": rng.normal(size=1000), "b": rng.normal(size=1000)})
    current = pd.DataFrame({"a": rng.normal(2.0, 1.0, 300), "b": rng.normal(size=300)})
    detector = DriftDetector(reference, detection_window=300, name="gauged", config=config)
    detector.log_predictions(current).wait(60)
    detector.flush()
    detector.stop()
    [result] = detector.results()
    perf = PerformanceMonitor("svc", config=config)
    perf.log_inference([1, 0, 1, 1], [1, 0, 0, 1])
    precision = perf.evaluate().metrics["precision"]
    AlertManager(["log"], config=config).fire("manual", "on fire", labels={"model": "svc"})
    return result.drift_share, precision


def test_monitoring_gauges_appear_once_with_two_workers(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'server.db'}"
    config = MLOpsConfig(home=tmp_path / ".mlops", tracking_uri=uri, user="ann")
    share, precision = _seed(config)
    assert 0 < share < 1  # a sum over two workers would show 2 * share
    port = _free_port()
    log = (tmp_path / "server.log").open("ab")
    command = [sys.executable, "-m", "mlops", "server", "--port", str(port), "--workers", "2"]
    command += ["--tracking-uri", uri, "--artifact-uri", str(tmp_path / "artifacts")]
    server = subprocess.Popen(
        command,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": SRC},
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while len(_workers(server.pid)) < 2 or not _answers(url):
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, "the server did not come up with two workers"
            time.sleep(0.1)
        workers = _workers(server.pid)
        shared = _shared_dir(workers[0])
        scrapes: list[str] = []
        while not all((shared / f"counter_{pid}.db").exists() for pid in workers):
            assert len(scrapes) < 2000, "the kernel never handed the second worker a connection"
            scrapes.append(httpx.get(f"{url}/metrics").text)  # a fresh connection each time
        scrapes += [httpx.get(f"{url}/metrics").text for _ in range(8)]
        for text in scrapes:
            assert _samples(text, "mlops_drift_share") == [("gauged", share)]
            assert _samples(text, "mlops_model_performance", 'metric="precision"') == [
                ("svc-performance", precision)
            ]
            alerts = re.findall(r'^mlops_alerts\{[^}]*rule="manual"[^}]*\} (\S+)$', text, re.M)
            assert alerts == ["1.0"]
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        log.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/healthz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _samples(text: str, name: str, extra: str = "") -> list[tuple[str, float]]:
    """(monitor, value) of every sample of gauge ``name`` (whose labels contain ``extra``)."""
    found = []
    for labels, value in re.findall(rf"^{name}\{{([^}}]*)\}} (\S+)$", text, re.M):
        if extra in labels:
            monitor = re.search(r'monitor="([^"]*)"', labels)
            assert monitor is not None
            found.append((monitor.group(1), float(value)))
    return found
