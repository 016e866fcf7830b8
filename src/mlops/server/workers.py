"""``mlops server --workers N``: uvicorn's worker supervisor, with metrics summed over workers.

Each worker is its own process with its own Prometheus counters, so without help ``/metrics``
would show whichever worker answered. prometheus_client's multiprocess mode fixes that: every
worker writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR`` and ``/metrics`` sums the
files of all of them (see ``instrumentation.metrics_response``). The directory is made fresh for
each server run (stale files of an earlier run would be counted too) and removed when the
server stops; a worker that exits, or dies and is replaced, is marked dead so that its
live-gauge files go (its counters stay: they are part of the totals).
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn
from prometheus_client import multiprocess
from uvicorn.supervisors import Multiprocess

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
_PR_SET_PDEATHSIG = 1


def exit_with_supervisor() -> None:
    """Have the kernel stop this worker when its supervisor dies (Linux; a no-op elsewhere).

    A supervisor killed with SIGKILL cannot stop its workers; without this they would live on as
    orphans, still accepting on the shared socket and holding the port against a restart.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() == 1:  # the supervisor died before we asked
        os.kill(os.getpid(), signal.SIGTERM)


class MetricsSupervisor(Multiprocess):
    """uvicorn's ``Multiprocess`` that marks each worker dead in the metrics once it is gone."""

    def keep_subprocess_alive(self) -> None:
        before = self._pids()
        super().keep_subprocess_alive()  # replaces dead (or hung) workers
        self._retire(before)

    def restart_all(self) -> None:
        before = self._pids()
        super().restart_all()  # SIGHUP: each worker replaced by a new one
        self._retire(before)

    def _pids(self) -> set[int | None]:
        return {p.pid for p in self.processes}

    def _retire(self, before: set[int | None]) -> None:
        for pid in before - self._pids():
            _mark_dead(pid)

    def join_all(self) -> None:
        super().join_all()
        for process in self.processes:
            _mark_dead(process.pid)


def _mark_dead(pid: int | None) -> None:
    if pid is not None:
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


@contextmanager
def shared_metrics_dir() -> Iterator[str]:
    """A fresh ``PROMETHEUS_MULTIPROC_DIR`` for the workers started inside; removed after."""
    directory = tempfile.mkdtemp(prefix="mlops-prometheus-")
    previous = os.environ.get(MULTIPROC_ENV)
    os.environ[MULTIPROC_ENV] = directory  # inherited by the (spawned) worker processes
    try:
        yield directory
    finally:
        if previous is None:
            os.environ.pop(MULTIPROC_ENV, None)
        else:
            os.environ[MULTIPROC_ENV] = previous
        shutil.rmtree(directory, ignore_errors=True)


def run_workers(config: uvicorn.Config, sockets: list[socket.socket]) -> None:
    """Serve with ``config.workers`` processes until stopped, with metrics shared among them."""
    with shared_metrics_dir():
        MetricsSupervisor(config, sockets=sockets).run()
