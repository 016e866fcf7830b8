"""``MonitorFeed``: served predictions into the served version's ``ModelMonitor``.

The monitors run in a child process, not in the server. Logging a row to a ``ModelMonitor``
costs about 23 CPU microseconds (a durable prediction row for the performance monitor, the
drift window's Arrow chunk); in the server's process that work would hold the GIL against the
event loop. In a child process at a lower scheduling priority (``nice``) it runs on whatever CPU
the server leaves idle: when a core is saturated with requests, the child gets little time, the
pipe to it fills, the hook's queue fills behind it, and the hook drops (and counts) records, so
monitoring samples rather than slowing requests, as the issue asks.

The server side only concatenates a batch's rows and outputs (one numpy call per batch, no
per-row Python work beyond list concatenation) and pickles them down a socket; the child merges
whatever has arrived into one call per version, since a ``ModelMonitor`` call has a fixed cost
(a transaction, a window update) that a thousand rows share. The child is started, and its
imports done, before the server reports ready, so its start-up never competes with requests.

Each row is stored under :func:`~mlops.models.serving.monitoring.row_ids`, so the response's
``prediction_id`` is what ``ModelMonitor(...).performance.log_ground_truth(ids, labels)`` joins
on later.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops.errors import BackendUnavailableError, MLOpsError
from mlops.models.kinds import model_task as monitor_task
from mlops.models.serving.monitoring import PredictionConsumer, PredictionRecord, row_ids

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig
    from mlops.monitoring import ModelMonitor

__all__ = ["MonitorFeed", "join_labels", "monitor_task"]

log = logging.getLogger(__name__)

_READY = "ready"
_MERGE_ROWS = 20_000  # most rows the child merges into one ModelMonitor call
RETRY_SECONDS = 30.0  # how long a version whose monitor could not start is skipped
_retry_at: dict[tuple[str, int], float] = {}  # the child's versions waiting to be tried again


@dataclass(frozen=True, slots=True)
class _Batch:
    """Rows of one model version and input layout, as the child process receives them."""

    model_name: str
    model_version: int
    task: str | None
    columns: tuple[str, ...] | None
    inputs: Any  # list of rows (columns) or a 2-d array (tensor)
    outputs: Any  # array of predictions, one per row
    ids: list[str]
    latency: Any  # 1-d float array, seconds (NaN: unknown)

    @property
    def key(self) -> tuple[str, int, str | None, tuple[str, ...] | None]:
        return (self.model_name, self.model_version, self.task, self.columns)


class MonitorFeed(PredictionConsumer):
    """Feeds each served version's ``ModelMonitor`` from a low-priority child process.

    Args:
        config: Where the monitors store windows (the server's configuration).
        task: ``classification``, ``regression`` or ``anomaly`` (see :func:`monitor_task`).
        niceness: How much lower than the server the child is scheduled (0-19; 19: it only
            gets CPU the server leaves idle, and samples when there is none).
        detection_window: The drift detector's window ("1h", or a row count).
        start_timeout: Seconds to wait for the child's imports at ``open``.
    """

    def __init__(
        self,
        config: MLOpsConfig,
        *,
        task: str | None = None,
        niceness: int = 19,
        detection_window: str | int = "1h",
        start_timeout: float = 120.0,
    ) -> None:
        self.config = config
        self.task = task
        self.niceness = niceness
        self.detection_window = detection_window
        self.start_timeout = start_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self.sent = 0

    def open(self) -> None:
        """Start the child process and wait until it is ready to log.

        A fresh interpreter, not ``multiprocessing``: forking would copy the server's threads'
        locks, and spawning re-imports the caller's ``__main__``, which breaks a script without
        an ``if __name__ == "__main__"`` guard.

        Raises:
            BackendUnavailableError: The child exited or did not get ready in time.
        """
        if self._process is not None:
            return
        from mlops.models.serving.server import child_environment

        ours, theirs = socket.socketpair()
        code = "import sys; from mlops.models.serving.feed import run_child; run_child(sys.argv[1])"
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, "-c", code, str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                env=child_environment(self.config),
            )
        self._conn = Connection(ours.detach())
        settings = {"niceness": self.niceness, "detection_window": self.detection_window}
        try:
            self._conn.send((self.config, settings))
            if not self._conn.poll(self.start_timeout):
                self.close(timeout=5)
                raise BackendUnavailableError(
                    f"the monitor feed was not ready after {self.start_timeout} s"
                )
            ready = self._conn.recv()
        except (EOFError, OSError):  # it died before answering
            ready = None
        if ready != _READY:
            status = self._process.wait(10)
            self._process = self._conn = None
            raise BackendUnavailableError(
                f"the monitor feed exited with status {status} while starting (see its log)"
            )

    def consume(self, records: Sequence[PredictionRecord]) -> None:
        """Pack the records by version and layout, and send them to the child."""
        if self._conn is None:
            raise MLOpsError("MonitorFeed.consume before open(); the hook opens it on start")
        for batch in _pack(records, self.task):
            # Blocks when the child is behind: the hook's queue then fills and samples.
            self._conn.send(batch)
            self.sent += len(batch.ids)

    def close(self, timeout: float = 60.0) -> None:
        """Tell the child to flush and stop its monitors (storing open windows), and wait."""
        if self._process is None or self._conn is None:
            return
        with contextlib.suppress(OSError):  # the child already died; it logged why
            self._conn.send(None)
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the monitor feed did not stop within %s s; terminating it", timeout)
            self._process.terminate()
            self._process.wait(5)
        self._conn.close()
        self._process = self._conn = None


def _pack(records: Sequence[PredictionRecord], task: str | None) -> list[_Batch]:
    """Group records by (version, layout) and concatenate each group once."""
    groups: dict[tuple[str, int, tuple[str, ...] | None], list[PredictionRecord]] = {}
    for record in records:
        key = (record.model_name, record.model_version, record.columns)
        groups.setdefault(key, []).append(record)
    packed = []
    for (name, version, columns), group in groups.items():
        ids: list[str] = []
        latency: list[float] = []
        for record in group:
            n = len(record.outputs)
            ids.extend(row_ids(record.prediction_id, n))
            latency.extend([record.latency if record.latency is not None else np.nan] * n)
        if columns is not None:
            inputs: Any = [row for record in group for row in record.inputs]
        else:
            inputs = np.concatenate([np.asarray(record.inputs) for record in group])
        outputs = np.concatenate([np.asarray(record.outputs) for record in group])
        packed.append(
            _Batch(name, version, task, columns, inputs, outputs, ids, np.asarray(latency))
        )
    return packed


def _merge(batches: Sequence[_Batch]) -> list[_Batch]:
    """Batches with the same version and layout as one (the child's coalescing)."""
    groups: dict[Any, list[_Batch]] = {}
    for batch in batches:
        groups.setdefault(batch.key, []).append(batch)
    merged = []
    for group in groups.values():
        if len(group) == 1:
            merged.append(group[0])
            continue
        first = group[0]
        inputs: Any = (
            [row for b in group for row in b.inputs]
            if first.columns is not None
            else np.concatenate([b.inputs for b in group])
        )
        merged.append(
            replace(
                first,
                inputs=inputs,
                outputs=np.concatenate([b.outputs for b in group]),
                ids=[i for b in group for i in b.ids],
                latency=np.concatenate([b.latency for b in group]),
            )
        )
    return merged


def join_labels(config: MLOpsConfig, name: str, version: int, task: str, body: Any) -> list[float]:
    """``POST /feedback``: join labels to served predictions in the version's performance monitor.

    ``body`` is ``{"prediction_ids": [...], "labels": [...]}`` (ids as the monitors stored
    them, see ``row_ids``), optionally with ``"model_version"`` (default: the served one).
    Returns the starts of the windows that were evaluated again.

    Raises:
        InvalidPayloadError: The body is not that shape.
    """
    from mlops.models.serving.errors import InvalidPayloadError
    from mlops.monitoring import PerformanceMonitor

    if not isinstance(body, dict) or set(body) - {"prediction_ids", "labels", "model_version"}:
        raise InvalidPayloadError(
            'send {"prediction_ids": [...], "labels": [...]} (and optionally "model_version")'
        )
    ids, labels = body.get("prediction_ids"), body.get("labels")
    if not isinstance(ids, list) or not isinstance(labels, list) or len(ids) != len(labels):
        raise InvalidPayloadError("prediction_ids and labels must be lists of the same length")
    if not all(isinstance(i, str) for i in ids):
        raise InvalidPayloadError("prediction_ids must be strings (the responses' ids)")
    chosen = body.get("model_version", version)
    if not isinstance(chosen, int) or isinstance(chosen, bool):
        raise InvalidPayloadError(f"model_version must be an integer, got {chosen!r}")
    ref = f"{name}/{chosen}"
    windows: set[float] = set()
    for deployment in _feed_tags(config, ref, name, task):
        monitor = PerformanceMonitor(ref, task=task, config=config, deployment=deployment)
        windows.update(monitor.log_ground_truth(ids, labels))
    return sorted(windows)


def _feed_tags(config: MLOpsConfig, ref: str, model: str, task: str) -> list[str | None]:
    """The deployment tags of every monitor a feed of this server may have stored ``ref``'s
    rows in (see :func:`_tag`): its own tag's, and every worker's ``w<pid>`` beside it.

    A label reaches whichever worker the connection landed on, not the one that served the
    prediction, and a worker restarted since has another pid: so the workers' monitors are
    found in the store, where each name was bound to the model on its first write.
    """
    from mlops.monitoring import PerformanceMonitor
    from mlops.monitoring.store import monitoring_store

    tag = config.serving.deployment
    own = PerformanceMonitor(ref, task=task, config=config, deployment=tag).name
    prefix = f"{own}.w" if tag else f"{own}@w"
    pids = [
        found[len(prefix) :]
        for found in monitoring_store(config).list_monitors(model)
        if found.startswith(prefix) and found[len(prefix) :].isdigit()
    ]
    return [tag, *(f"{tag}.w{pid}" if tag else f"w{pid}" for pid in pids)]


# --- the child process ---------------------------------------------------------------------------


def run_child(fd: str) -> None:
    """The child's main: settings, imports, ``ready``; then batches until ``None``."""
    conn = Connection(int(fd))
    logging.basicConfig(level=logging.WARNING)
    config, settings = conn.recv()
    # The imports are the start-up cost: paid now, at normal priority, while the server waits
    # for ``ready`` before it takes requests (at SCHED_IDLE a busy machine could starve them).
    import mlops.monitoring  # noqa: F401

    _lower_priority(int(settings["niceness"]))
    conn.send(_READY)
    monitors: dict[tuple[str, int], ModelMonitor | None] = {}
    try:
        done = False
        while not done:
            try:
                pending = [conn.recv()]
            except EOFError:  # the server died without closing: stop what we have
                return
            rows = 0
            while pending[-1] is not None and rows < _MERGE_ROWS and conn.poll(0):
                pending.append(conn.recv())
                rows += len(pending[-1].ids) if pending[-1] is not None else 0
            done = pending[-1] is None
            for batch in _merge([b for b in pending if b is not None]):
                monitor = _monitor(monitors, batch, config, settings)
                if monitor is not None:
                    _log(monitor, batch)
    finally:
        for monitor in monitors.values():
            if monitor is not None:
                monitor.stop()


def _lower_priority(niceness: int) -> None:
    """Nice the child; at 19 also ``SCHED_IDLE`` where Linux offers it (weight 3 against a
    normal task's 1024: it runs on CPU nothing else wants)."""
    with contextlib.suppress(OSError):  # not permitted: run at the priority we have
        os.nice(niceness)
    if niceness >= 19 and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


def _monitor(
    monitors: dict[tuple[str, int], ModelMonitor | None],
    batch: _Batch,
    config: MLOpsConfig,
    settings: dict[str, Any],
) -> ModelMonitor | None:
    key = (batch.model_name, batch.model_version)
    monitor = monitors.get(key)
    if monitor is not None or time.monotonic() < _retry_at.get(key, 0.0):
        return monitor
    from mlops.monitoring import ModelMonitor

    try:
        monitor = ModelMonitor(
            f"{batch.model_name}/{batch.model_version}",
            detection_window=settings["detection_window"],
            task=batch.task or "classification",
            config=config,
            deployment=_tag(config),
        )
        monitor.start_monitoring()
    except MLOpsError:
        # A store that is down for a moment must not end monitoring for the server's life:
        # this version's rows are skipped for a while, then the monitor is tried again.
        log.exception(
            "cannot monitor %s v%s; its predictions are skipped for %.0f s, then it is tried "
            "again", *key, RETRY_SECONDS,
        )  # fmt: skip
        _retry_at[key] = time.monotonic() + RETRY_SECONDS
        return None
    monitors[key] = monitor
    return monitor


def _tag(config: MLOpsConfig) -> str | None:
    """The deployment tag of this feed's monitors.

    A monitor has one writer: two processes writing one monitor number their stored chunks
    alike, and the store keeps the first chunk under each number. So with several server
    workers each worker's monitors are its own, tagged with the worker's pid (this child's
    parent); ``recent_drift`` and the results' ``deployment`` filter take the tags together.
    """
    tag = config.serving.deployment
    if config.serving.workers > 1:
        worker = f"w{os.getppid()}"
        tag = f"{tag}.{worker}" if tag else worker
    return tag


def _log(monitor: ModelMonitor, batch: _Batch) -> None:
    import pandas as pd

    features: Any = (
        pd.DataFrame(batch.inputs, columns=list(batch.columns))
        if batch.columns is not None
        else np.asarray(batch.inputs)
    )
    outputs = np.asarray(batch.outputs)
    if outputs.ndim == 2 and outputs.shape[1] == 1:
        outputs = outputs[:, 0]
    latency = None if np.isnan(batch.latency).all() else batch.latency
    try:
        monitor.log_predictions(features, outputs, prediction_ids=batch.ids, latency=latency)
    except MLOpsError:
        # Outputs a monitor cannot score (text labels, several columns): logged, not fatal.
        log.exception("monitor of %s v%s refused a batch", batch.model_name, batch.model_version)
