"""``MonitorFeed``: served predictions into the served version's ``ModelMonitor``.

The monitors run in a child process, not in the server. Logging a row to a ``ModelMonitor``
costs about 23 CPU microseconds (a durable prediction row for the performance monitor, the
drift window's Arrow chunk); in the server's process that work would hold the GIL against the
event loop. In a child process at a lower scheduling priority (``nice``) it runs on whatever CPU
the server leaves idle: when a core is saturated with requests, the child gets little time, the
pipe to it fills, the hook's queue fills behind it, and the hook drops (and counts) records, so
monitoring samples rather than slowing requests, as the issue asks.

The server side only concatenates a batch's rows and outputs (one numpy call per batch, no
per-row Python work beyond list concatenation) and pickles them down a pipe.

Each row is stored under :func:`~mlops.models.serving.monitoring.row_ids`, so the response's
``prediction_id`` is what ``ModelMonitor(...).performance.log_ground_truth(ids, labels)`` joins
on later.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from multiprocessing.connection import Connection
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlops.errors import MLOpsError
from mlops.models.serving.monitoring import PredictionConsumer, PredictionRecord, row_ids

if TYPE_CHECKING:
    from mlops.config import MLOpsConfig
    from mlops.monitoring import ModelMonitor

__all__ = ["MonitorFeed", "monitor_task"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Batch:
    """Rows of one model version and input layout, as the child process receives them."""

    model_name: str
    model_version: int
    columns: tuple[str, ...] | None
    inputs: Any  # list of rows (columns) or a 2-d array (tensor)
    outputs: Any  # 1-d array of predictions
    ids: list[str]
    latency: Any  # 1-d float array, seconds


def monitor_task(model: Any) -> str:
    """The ``ModelMonitor`` task of a loaded model, from scikit-learn's estimator tags.

    A regressor is watched with regression metrics, an outlier detector as anomaly detection,
    anything else as classification (the monitor's default).
    """
    from sklearn.base import is_outlier_detector, is_regressor

    native = getattr(model, "native", model)
    if is_regressor(native):
        return "regression"
    return "anomaly" if is_outlier_detector(native) else "classification"


class MonitorFeed(PredictionConsumer):
    """Feeds each served version's ``ModelMonitor`` from a low-priority child process.

    Args:
        config: Where the monitors store windows (the server's configuration).
        task: ``classification``, ``regression`` or ``anomaly``; ``None`` lets the server say
            (``monitor_task`` of the loaded model).
        niceness: How much lower than the server the child is scheduled (0-19).
        detection_window: The drift detector's window ("1h", or a row count).
    """

    def __init__(
        self,
        config: MLOpsConfig,
        *,
        task: str | None = None,
        niceness: int = 10,
        detection_window: str | int = "1h",
    ) -> None:
        self.config = config
        self.task = task
        self.niceness = niceness
        self.detection_window = detection_window
        self._process: subprocess.Popen[bytes] | None = None
        self._conn: Connection | None = None
        self.sent = 0

    def open(self) -> None:
        """Start the child process.

        A fresh interpreter (``python -m mlops.models.serving.feed``), not ``multiprocessing``:
        forking would copy the server's threads' locks, and spawning re-imports the caller's
        ``__main__``, which breaks a script without an ``if __name__ == "__main__"`` guard.
        """
        if self._process is not None:
            return
        from mlops.models.serving.server import child_environment

        read_fd, write_fd = os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, "-m", "mlops.models.serving.feed", str(read_fd)],
            pass_fds=(read_fd,),
            env=child_environment(self.config),
        )
        os.close(read_fd)
        self._conn = Connection(write_fd, readable=False)
        settings = {
            "task": self.task,
            "niceness": self.niceness,
            "detection_window": self.detection_window,
        }
        self._conn.send((self.config, settings))

    def consume(self, records: Sequence[PredictionRecord]) -> None:
        """Pack the records by version and layout, and send them to the child."""
        if self._conn is None:
            raise MLOpsError("MonitorFeed.consume before open(); the hook opens it on start")
        for batch in _pack(records, self.task):
            # Blocks when the child is behind: the hook's queue then fills and samples.
            self._conn.send(batch)
            self.sent += len(batch[0].ids)

    def close(self, timeout: float = 60.0) -> None:
        """Tell the child to flush and stop its monitors (storing open windows), and wait."""
        if self._process is None or self._conn is None:
            return
        with contextlib.suppress(OSError):  # the child already died; it logged why
            self._conn.send(None)
        self._conn.close()
        try:
            self._process.wait(timeout)
        except subprocess.TimeoutExpired:
            log.warning("the monitor feed did not stop within %s s; terminating it", timeout)
            self._process.terminate()
            self._process.wait(5)
        self._process = self._conn = None


def _pack(records: Sequence[PredictionRecord], task: str | None) -> list[tuple[_Batch, str]]:
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
        batch = _Batch(name, version, columns, inputs, outputs, ids, np.asarray(latency))
        packed.append((batch, task or ""))
    return packed


# --- the child process ---------------------------------------------------------------------------


def _child(conn: Connection) -> None:
    """Receive batches until ``None``; log each into its version's monitor; stop them all."""
    logging.basicConfig(level=logging.WARNING)
    config, settings = conn.recv()
    with contextlib.suppress(OSError):  # not permitted: run at the same priority
        os.nice(int(settings["niceness"]))
    monitors: dict[tuple[str, int], ModelMonitor | None] = {}
    try:
        while True:
            try:
                item = conn.recv()
            except EOFError:  # the server died without closing: stop what we have
                return
            if item is None:
                return
            batch, task = item
            monitor = _monitor(monitors, batch, task or settings["task"], config, settings)
            if monitor is not None:
                _log(monitor, batch)
    finally:
        for monitor in monitors.values():
            if monitor is not None:
                monitor.stop()


def _monitor(
    monitors: dict[tuple[str, int], ModelMonitor | None],
    batch: _Batch,
    task: str | None,
    config: MLOpsConfig,
    settings: dict[str, Any],
) -> ModelMonitor | None:
    key = (batch.model_name, batch.model_version)
    if key not in monitors:
        from mlops.monitoring import ModelMonitor

        try:
            monitor = ModelMonitor(
                f"{batch.model_name}/{batch.model_version}",
                detection_window=settings["detection_window"],
                task=task or "classification",
                config=config,
            )
            monitor.start_monitoring()
        except MLOpsError:
            log.exception("cannot monitor %s v%s; its predictions are skipped", *key)
            monitor = None
        monitors[key] = monitor
    return monitors[key]


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


if __name__ == "__main__":
    _child(Connection(int(sys.argv[1]), writable=False))
