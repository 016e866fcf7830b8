"""``/metrics`` of ``mlops server --workers 2`` counts the requests of both workers.

A real server process; requests go over fresh connections until both workers have served some
(their sample files in the shared directory say so), then every scrape, whichever worker
answers it, must show the total. A worker killed and replaced keeps its counts in the totals,
and stopping the server removes the shared directory.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import httpx

ROUTE = "/readyz"  # not polled by the fixture's start-up check, so every request is ours


def worker_pids(supervisor: int) -> list[int]:
    """The server's worker processes (its spawned children; not multiprocessing's tracker)."""
    children = Path(f"/proc/{supervisor}/task/{supervisor}/children").read_text().split()
    return [int(pid) for pid in children if b"spawn_main" in _cmdline(int(pid))]


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""  # it just exited


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = Path(f"/proc/{pid}/environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {k.decode(): v.decode(errors="replace") for k, v in pairs}


def served_total(url: str) -> float:
    """The scraped count of 200s on ``ROUTE`` (one fresh connection per scrape)."""
    text = httpx.get(f"{url}/metrics").text
    pattern = r'mlops_http_requests_total\{method="GET",route="/readyz",status="200"\} (\S+)'
    match = re.search(pattern, text)
    return float(match.group(1)) if match else 0.0


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_metrics_are_summed_over_workers_and_survive_a_worker_restart(
    server_process: Callable[..., subprocess.Popen[bytes]],
) -> None:
    server = server_process("--workers", "2")
    url = f"http://127.0.0.1:{server_process.port}"  # type: ignore[attr-defined]
    wait_for(lambda: len(worker_pids(server.pid)) == 2, "two workers")
    workers = worker_pids(server.pid)
    shared = Path(_environ(workers[0])["PROMETHEUS_MULTIPROC_DIR"])
    assert _environ(workers[1])["PROMETHEUS_MULTIPROC_DIR"] == str(shared)

    def has_counted(pid: int) -> bool:
        return (shared / f"counter_{pid}.db").exists()

    sent = 0
    while sent < 20 or not all(has_counted(pid) for pid in workers):
        assert sent < 2000, "the kernel never handed the second worker a connection"
        assert httpx.get(f"{url}{ROUTE}").status_code == 200  # a new connection each time
        sent += 1
    scrapes = [served_total(url) for _ in range(8)]  # landing on either worker
    assert scrapes == [sent] * 8

    # A worker dies; the supervisor replaces it and its counts stay in the totals.
    os.kill(workers[0], signal.SIGKILL)
    wait_for(lambda: len(set(worker_pids(server.pid)) - {workers[0]}) == 2, "a replacement worker")
    wait_for(lambda: httpx.get(f"{url}/healthz").status_code == 200, "the server answering")
    assert [served_total(url) for _ in range(8)] == [sent] * 8

    server.send_signal(signal.SIGTERM)
    assert server.wait(timeout=30) == 0
    assert not shared.exists()  # the shared directory goes with the server
