"""Background metric ingestion: ``log_metrics`` appends to memory, one thread writes batches.

Why: a database round trip per ``log_metrics`` call caps ingestion at a few thousand points a
second. Here a call costs a list append; the writer thread turns everything buffered into one
transaction every ``flush_interval`` seconds (or sooner when the buffer fills). ``flush()``
returns only once everything logged before it is committed, so "flushed" means durable.

What a kill -9 can lose is bounded by ``flush_interval``; the database itself is never
corrupted, because each batch is one transaction. A batch that fails for a passing reason (lock
contention, a dropped connection) is retried; one that fails for good is reported by the next
``flush()`` or ``log_metrics`` call instead of vanishing.
"""

from __future__ import annotations

import atexit
import logging
import threading
import time
import weakref
from collections.abc import Mapping

from mlops.errors import BackendUnavailableError, ExperimentError, MLOpsError
from mlops.experiments.entities import RunStatus, now_ms
from mlops.experiments.store import MetricRow, TrackingStore

log = logging.getLogger(__name__)

# One logged call: (run_id, step, timestamp_ms, {key: value}); expanded to rows by the writer.
_Call = tuple[str, int, int, Mapping[str, float]]

_live_writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


@atexit.register
def _flush_all_at_exit() -> None:
    """At a normal exit, make every logged point durable and end runs left open as FINISHED."""
    for writer in list(_live_writers):
        open_runs = list(writer._active_runs)
        try:
            writer.close()
            for run_id in open_runs:
                writer.store.update_run(run_id, RunStatus.FINISHED, end_time=now_ms())
        except MLOpsError as exc:  # nothing to raise to at interpreter exit; say it loudly
            log.error("metrics could not be written at exit: %s", exc)


class MetricWriter:
    """Buffers metric points in memory and writes them in batches from one thread."""

    def __init__(
        self,
        store: TrackingStore,
        flush_interval: float = 0.5,
        max_buffer: int = 200_000,
        heartbeat_interval: float = 5.0,
    ):
        self.store = store
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.heartbeat_interval = heartbeat_interval
        self._calls: list[_Call] = []
        self._points = 0  # points buffered in _calls
        self._cond = threading.Condition(threading.Lock())
        # A batch is written early once this many points wait: big enough to amortise a
        # transaction, small enough that the writer stays ahead of the producers.
        self._batch_points = max(1, min(max_buffer // 4, 100_000))
        self._enqueued = 0  # calls accepted so far
        self._written = 0  # calls committed so far
        self._error: BaseException | None = None
        self._closed = False
        self._flush_requested = False
        self._active_runs: set[str] = set()
        self._last_heartbeat = time.monotonic()
        self._thread: threading.Thread | None = None

    # --- producer side (any thread) ------------------------------------------------------------

    def log(self, run_id: str, step: int, timestamp: int, metrics: Mapping[str, float]) -> None:
        """Queue one call's points; waits only when the buffer is full."""
        with self._cond:
            if (
                self._error is not None
                or self._thread is None
                or self._closed
                or self._points >= self.max_buffer
            ):
                self._before_log()
            self._calls.append((run_id, step, timestamp, metrics))
            self._points += len(metrics)
            self._enqueued += 1
            if self._points >= self._batch_points and not self._flush_requested:
                self._flush_requested = True
                self._cond.notify_all()

    def _before_log(self) -> None:
        """The rare cases of ``log``: a pending error, no thread yet, closed, or a full buffer."""
        self._raise_pending_error()
        if self._closed:
            raise ExperimentError("the metric writer is closed; start a new run to log more")
        self._ensure_thread()
        while self._points >= self.max_buffer and self._error is None:
            self._flush_requested = True
            self._cond.notify_all()
            self._cond.wait(0.1)
        self._raise_pending_error()

    def flush(self, timeout: float | None = None) -> None:
        """Block until every point logged before this call is committed to the store."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            target = self._enqueued
            if self._written >= target:
                self._raise_pending_error()
                return
            self._ensure_thread()
            self._flush_requested = True
            self._cond.notify_all()
            while self._written < target and self._error is None:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise BackendUnavailableError(
                        f"metrics were not written within {timeout}s; the store is unreachable"
                    )
                self._cond.wait(remaining if remaining is not None else 1.0)
            self._raise_pending_error()

    def track(self, run_id: str) -> None:
        """Keep this run's heartbeat fresh while it is active."""
        with self._cond:
            self._active_runs.add(run_id)
            self._ensure_thread()

    def untrack(self, run_id: str) -> None:
        with self._cond:
            self._active_runs.discard(run_id)

    def close(self) -> None:
        """Flush, then stop the thread."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            if self._thread is not None:
                self._thread.join(timeout=5)

    def _raise_pending_error(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise ExperimentError(
                f"metrics could not be written to the store: {error}; the points logged since the "
                "last successful flush are kept in memory and will be retried on the next flush"
            ) from error

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(
                target=self._run, name="mlops-metric-writer", daemon=True
            )
            self._thread.start()
            _live_writers.add(self)

    # --- the writer thread ---------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if (not self._calls and not self._closed) or (
                    not self._flush_requested and self._points < self._batch_points
                ):
                    self._cond.wait(self._until_due())
                if self._closed and not self._calls:
                    return
                calls, self._calls = self._calls, []
                self._points = 0
                self._flush_requested = False
                runs = list(self._active_runs)
            if calls:
                self._write(calls)
            self._maybe_heartbeat(runs)

    def _until_due(self) -> float:
        return self.flush_interval

    def _write(self, calls: list[_Call]) -> None:
        rows: list[MetricRow] = [
            (run_id, key, value, step, ts)
            for run_id, step, ts, metrics in calls
            for key, value in metrics.items()
        ]
        try:
            self.store.log_metric_rows(rows)
        except BackendUnavailableError as exc:
            # Passing: keep the batch, in order, for the next attempt.
            log.warning("metric batch of %d points failed, will retry: %s", len(rows), exc)
            with self._cond:
                self._calls[:0] = calls
                self._points += len(rows)
                self._error = exc
                self._cond.notify_all()
            time.sleep(min(self.flush_interval, 1.0))
            return
        except Exception as exc:  # the thread must outlive any failure, and report it
            # Permanent (e.g. the run was deleted): retrying cannot help. The batch was never
            # acknowledged, and the caller hears of it from flush() or the next log call.
            log.error("metric batch of %d points rejected: %s", len(rows), exc)
            with self._cond:
                self._written += len(calls)
                self._error = exc
                self._cond.notify_all()
            return
        with self._cond:
            self._written += len(calls)
            self._cond.notify_all()

    def _maybe_heartbeat(self, runs: list[str]) -> None:
        if not runs or time.monotonic() - self._last_heartbeat < self.heartbeat_interval:
            return
        self._last_heartbeat = time.monotonic()
        try:
            self.store.heartbeat(runs)
        except MLOpsError as exc:
            log.warning("run heartbeat failed: %s", exc)
