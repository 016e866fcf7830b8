"""Background metric ingestion: ``log_metrics`` appends to memory, one thread writes batches.

Why: a database round trip per ``log_metrics`` call caps ingestion at a few thousand points a
second. Here a call costs a list append; the writer thread turns everything buffered into one
transaction every ``flush_interval`` seconds (or sooner when enough points wait). ``flush()``
returns only once everything logged before it is committed, so "flushed" means durable.

What a kill -9 can lose is bounded by ``flush_interval``; the database itself is never
corrupted, because each batch is one transaction.

Failures:
- *Passing* (``BackendUnavailableError``: lock held too long, connection dropped, server
  restarting): the points stay buffered, in order, and are retried with backoff. ``flush()``
  keeps waiting until ``give_up_after`` seconds of continuous failure, then raises; the points
  are still kept and retried.
- *Permanent* (e.g. the run was deleted): the batch is retried run by run, so one bad run cannot
  block the others; the points of the failing run are dropped and the next ``flush()`` raises
  once, naming the run. Logging itself never raises for an earlier failure.
"""

from __future__ import annotations

import atexit
import itertools
import logging
import sys
import threading
import time
import traceback
import types
import weakref
from collections import defaultdict
from collections.abc import Mapping

from mlops.errors import BackendUnavailableError, ExperimentError, MLOpsError, NotFoundError
from mlops.experiments.entities import RunStatus, now_ms
from mlops.experiments.store import MetricRow, TrackingStore

log = logging.getLogger(__name__)

# One logged call: (sequence number, run_id, step, timestamp_ms, {key: value}).
_Call = tuple[int, str, int, int, Mapping[str, float]]

_live_writers: weakref.WeakSet[MetricWriter] = weakref.WeakSet()


# An exception nobody caught reaches sys.excepthook before the atexit handlers run; remembering
# it lets runs left open end FAILED (or KILLED on Ctrl-C) instead of FINISHED.
_uncaught: BaseException | None = None
_hook_installed = False


def _install_excepthook() -> None:
    global _hook_installed
    if _hook_installed:
        return
    _hook_installed = True
    previous = sys.excepthook

    def remember(
        exc_type: type[BaseException], exc: BaseException, tb: types.TracebackType | None
    ) -> None:
        global _uncaught
        _uncaught = exc
        previous(exc_type, exc, tb)

    sys.excepthook = remember


def _exit_status() -> tuple[RunStatus, str | None]:
    if _uncaught is None:
        return RunStatus.FINISHED, None
    text = "".join(traceback.format_exception(_uncaught, limit=20))[-10_000:]
    if isinstance(_uncaught, KeyboardInterrupt):
        return RunStatus.KILLED, text
    return RunStatus.FAILED, text


@atexit.register
def _flush_all_at_exit() -> None:
    """At exit, make every logged point durable and end runs left open.

    They end FINISHED after a normal exit, FAILED after an uncaught exception (KILLED after
    Ctrl-C), with the traceback as their error text.
    """
    status, error = _exit_status()
    for writer in list(_live_writers):
        open_runs = list(writer._active_runs)
        try:
            writer.close()
        except MLOpsError as exc:  # nothing to raise to at interpreter exit; say it loudly
            log.error("metrics could not be written at exit: %s", exc)
        for run_id in open_runs:
            try:
                writer.store.update_run(run_id, status, end_time=now_ms(), error=error)
            except NotFoundError:
                continue  # purged meanwhile: nothing left to end
            except MLOpsError as exc:
                log.error("run %s could not be ended at exit: %s", run_id, exc)


def _rows(calls: list[_Call]) -> list[MetricRow]:
    return [
        (run_id, key, value, step, ts)
        for _, run_id, step, ts, metrics in calls
        for key, value in metrics.items()
    ]


class MetricWriter:
    """Buffers metric points in memory and writes them in batches from one thread."""

    def __init__(
        self,
        store: TrackingStore,
        flush_interval: float = 0.5,
        max_buffer: int = 200_000,
        heartbeat_interval: float = 5.0,
        give_up_after: float = 60.0,
    ):
        self.store = store
        self.flush_interval = flush_interval
        self.max_buffer = max_buffer
        self.heartbeat_interval = heartbeat_interval
        self.give_up_after = give_up_after
        # A batch is written early once this many points wait: big enough to amortise a
        # transaction, small enough that the writer stays ahead of the producers.
        self._batch_points = max(1, min(max_buffer // 4, 100_000))
        self._cond = threading.Condition(threading.Lock())
        self._seq = itertools.count(1)
        self._calls: list[_Call] = []  # waiting, in sequence order
        self._inflight: list[_Call] = []  # being written by the thread
        self._points = 0  # points in _calls
        self._last_seq = 0  # sequence number of the newest call accepted
        self._failing_since: float | None = None  # first of an unbroken run of passing failures
        self._transient: BackendUnavailableError | None = None
        self._rejected: list[tuple[str, BaseException]] = []  # (run_id, why), reported once
        self._closed = False
        self._flush_requested = False
        self._active_runs: set[str] = set()
        self._last_heartbeat = time.monotonic()
        self._thread: threading.Thread | None = None

    # --- producer side (any thread) ------------------------------------------------------------

    def log(self, run_id: str, step: int, timestamp: int, metrics: Mapping[str, float]) -> None:
        """Queue one call's points; waits only when the buffer is full."""
        with self._cond:
            if self._thread is None or self._closed or self._points >= self.max_buffer:
                self._before_log()
            self._last_seq = next(self._seq)
            self._calls.append((self._last_seq, run_id, step, timestamp, metrics))
            self._points += len(metrics)
            if self._points >= self._batch_points and not self._flush_requested:
                self._flush_requested = True
                self._cond.notify_all()

    def _before_log(self) -> None:
        """The rare cases of ``log``: no thread yet, closed, or a full buffer (backpressure)."""
        if self._closed:
            raise ExperimentError("the metric writer is closed; start a new run to log more")
        self._ensure_thread()
        while self._points >= self.max_buffer:
            self._flush_requested = True
            self._cond.notify_all()
            self._cond.wait(0.1)

    def _unresolved_up_to(self, seq: int) -> bool:
        """Whether any call with sequence number <= ``seq`` is not yet written or rejected."""
        return bool(
            (self._calls and self._calls[0][0] <= seq)
            or (self._inflight and self._inflight[0][0] <= seq)
        )

    def flush(self, timeout: float | None = None) -> None:
        """Block until every point logged before this call is committed to the store.

        Raises:
            ExperimentError: Points of some run were rejected for good since the last flush.
            BackendUnavailableError: The store kept failing for ``give_up_after`` seconds (or
                ``timeout`` passed); the points are kept and retried.
        """
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        with self._cond:
            target = self._last_seq
            if self._unresolved_up_to(target):
                self._ensure_thread()
                self._flush_requested = True
                self._cond.notify_all()
            while self._unresolved_up_to(target):
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    raise BackendUnavailableError(
                        f"metrics were not written within {timeout}s; they are kept and retried"
                    )
                failing = self._failing_since
                # Each flush gets its own patience: an outage that began earlier counts from now.
                if failing is not None and now - max(failing, started) > self.give_up_after:
                    raise BackendUnavailableError(
                        f"metrics could not be written for {self.give_up_after:.0f}s "
                        f"({self._transient}); they are kept in memory and retried"
                    ) from self._transient
                wait = 1.0 if deadline is None else min(1.0, deadline - now)
                self._cond.wait(max(wait, 0.01))
            self._report_rejected()

    def _report_rejected(self) -> None:
        if not self._rejected:
            return
        rejected, self._rejected = self._rejected, []
        runs = sorted({run_id for run_id, _ in rejected})
        raise ExperimentError(
            f"metrics of run(s) {', '.join(runs)} were rejected by the store and dropped: "
            f"{rejected[0][1]}"
        ) from rejected[0][1]

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

    def _ensure_thread(self) -> None:
        _install_excepthook()
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
                if not self._flush_requested and (
                    not self._calls or self._points < self._batch_points
                ):
                    self._cond.wait(self.flush_interval)
                if self._closed and not self._calls:
                    return
                self._inflight, self._calls = self._calls, []
                self._points = 0
                self._flush_requested = False
                runs = list(self._active_runs)
            if self._inflight:
                self._write(self._inflight)
            self._maybe_heartbeat(runs)

    def _write(self, calls: list[_Call]) -> None:
        try:
            self.store.log_metric_rows(_rows(calls))
        except BackendUnavailableError as exc:
            self._retry_later(calls, exc)
            return
        except Exception:
            self._write_run_by_run(calls)
            return
        self._resolved()

    def _write_run_by_run(self, calls: list[_Call]) -> None:
        by_run: dict[str, list[_Call]] = defaultdict(list)
        for call in calls:
            by_run[call[1]].append(call)
        retry: list[_Call] = []
        error: BackendUnavailableError | None = None
        for run_id, run_calls in by_run.items():
            try:
                self.store.log_metric_rows(_rows(run_calls))
            except BackendUnavailableError as exc:
                retry.extend(run_calls)
                error = exc
            except Exception as exc:
                log.error("metrics of run %s rejected: %s", run_id, exc)
                with self._cond:
                    self._rejected.append((run_id, exc))
        if retry:
            assert error is not None
            self._retry_later(sorted(retry), error)
        else:
            self._resolved()

    def _resolved(self) -> None:
        with self._cond:
            self._inflight = []
            self._failing_since = None
            self._transient = None
            self._cond.notify_all()

    def _retry_later(self, calls: list[_Call], exc: BackendUnavailableError) -> None:
        log.warning("metric batch failed, will retry: %s", exc)
        with self._cond:
            self._calls[:0] = calls  # back in front, in order
            self._points += sum(len(c[4]) for c in calls)
            self._inflight = []
            self._transient = exc
            if self._failing_since is None:
                self._failing_since = time.monotonic()
            self._cond.notify_all()
        time.sleep(min(max(self.flush_interval, 0.05), 1.0))

    def _maybe_heartbeat(self, runs: list[str]) -> None:
        if not runs or time.monotonic() - self._last_heartbeat < self.heartbeat_interval:
            return
        self._last_heartbeat = time.monotonic()
        try:
            self.store.heartbeat(runs)
        except Exception as exc:
            log.warning("run heartbeat failed: %s", exc)
