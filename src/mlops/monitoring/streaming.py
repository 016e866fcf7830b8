"""Streaming drift: ``log_predictions`` enqueues, one thread persists and windows the rows.

Why this shape: the prediction path must stay in microseconds, so a call only appends to a
queue and returns an ``Ack``. A writer thread turns everything queued into one transaction of
chunks (the rows, Arrow IPC) in the metadata store, then folds them into the open window's
bounded state (``windows.py``) and completes the acks: an acknowledged row is durable. When a
window ends, its drift result is stored and its chunks deleted in one transaction; a process
that restarts replays the stored chunks of the open window, so nothing acknowledged is lost and
nothing is counted twice.

With ``persist=False`` nothing touches the store: acks complete once rows are in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.ipc
from numpy.typing import NDArray

from mlops.errors import BackendUnavailableError, MLOpsError
from mlops.monitoring import multivariate as mv
from mlops.monitoring.entities import WindowResult
from mlops.monitoring.frames import as_frame, with_text_columns
from mlops.monitoring.results import DriftResult
from mlops.monitoring.summaries import numeric_values
from mlops.monitoring.windows import Reservoir, WindowState, add_series, new_state

if TYPE_CHECKING:
    from mlops.monitoring.drift import DriftDetector
    from mlops.monitoring.store import MonitoringStore

log = logging.getLogger(__name__)
PRED = "__prediction__"
CHUNK_CELLS = 1_000_000
"""Values per stored chunk (rows times columns): about 8 MB of numbers."""
_Call = tuple[Any, Any, float, "Future[int]"]


class Ack:
    """Completes when logged rows are durable: ``await ack``, ``ack.wait()`` or ``ack.done()``.

    The value is the number of rows acknowledged. A call the writer could not use (wrong
    columns, text in a numeric column) raises its ``MonitoringError`` here.
    """

    __slots__ = ("_future",)

    def __init__(self, future: Future[int]):
        self._future = future

    def done(self) -> bool:
        return self._future.done()

    def wait(self, timeout: float | None = None) -> int:
        return self._future.result(timeout)

    def __await__(self) -> Generator[Any, None, int]:
        if not self._future.done():
            yield from asyncio.wrap_future(self._future).__await__()
        return self._future.result()


class DriftStream:
    """The windows of one detector: queue, writer thread, open window, stored results."""

    def __init__(self, detector: DriftDetector):
        self.detector = detector
        self.spec = detector.window
        self.columns = [s.name for s in detector.reference_]
        self._queue: deque[_Call] = deque()
        self._cond = threading.Condition()
        self._state_lock = threading.RLock()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._window: WindowState | None = None
        self._window_last_seq = -1
        self._seq = 0
        self._errors: list[BaseException] = []
        self._memory_results: deque[DriftResult] = deque(maxlen=1000)
        self._unsaved: list[tuple[WindowResult, int]] = []
        self.callbacks: list[Callable[[DriftResult], None]] = []
        self.store: MonitoringStore | None = None
        self.model_name: str | None = None
        self.model_version: int | None = None
        if detector.persist:
            from mlops.monitoring.store import monitoring_store

            self.store = monitoring_store(detector.config)
            self.model_name, self.model_version = self.store.resolve_version(detector.model_version)
        from mlops.monitoring.drift import deployment_name

        self.deployment: str | None = detector.deployment
        self.name = deployment_name(detector.name or self._default_name(), self.deployment)
        if self.store is not None:
            self.store.register_monitor(self.name, self.model_name)
        self._recover()

    def _default_name(self) -> str:
        if self.model_name is not None:
            from mlops.monitoring.drift import default_name

            return default_name(self.model_name, self.model_version or 0)
        digest = hashlib.sha256(self.detector.to_bytes()).hexdigest()[:12]
        return f"drift-{digest}"

    # --- the prediction path -------------------------------------------------------------------

    def log(self, features: Any, predictions: Any, timestamp: float | None) -> Ack:
        future: Future[int] = Future()
        if timestamp is None:
            ts = time.time()
        else:
            ts = float(timestamp)
            self._event_time = True
        with self._cond:
            self._queue.append((features, predictions, ts, future))
            self._cond.notify()
        if self._thread is None:
            self.start()
        return Ack(future)

    def start(self) -> None:
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(
                target=self._run, name=f"mlops-drift-{self.name}", daemon=True
            )
            self._thread.start()

    def flush(self, timeout: float | None = None) -> None:
        """Wait until everything logged so far is durable; raise the first writer error once."""
        with self._cond:
            pending = [call[3] for call in self._queue]
        marker = self.log_marker()
        for future in [*pending, marker]:
            with contextlib.suppress(MLOpsError):  # reported below, once
                future.result(timeout)
        if self._errors:
            error = self._errors.pop(0)
            self._errors.clear()
            raise error

    def log_marker(self) -> Future[int]:
        """A no-op call whose completion means every earlier call was processed."""
        future: Future[int] = Future()
        with self._cond:
            self._queue.append((None, None, time.time(), future))
            self._cond.notify()
        if self._thread is None or not self._thread.is_alive():
            self.start()
        return future

    def stop(self) -> None:
        if self._thread is None:
            return
        self.flush()
        with self._cond:
            self._stopping = True
            self._cond.notify()
        self._thread.join(timeout=30)
        self._thread = None

    # --- the writer ----------------------------------------------------------------------------

    def _run(self) -> None:
        delay = 0.05
        retry: int | None = None  # calls of a failed attempt, tried again as they were
        while True:
            with self._cond:
                while not self._queue and not self._stopping and not self._unsaved:
                    wait = self._seconds_to_close()
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(min(wait, 1.0) if wait is not None else 1.0)
                calls = list(self._queue)[:retry] if retry is not None else list(self._queue)
                stopping = self._stopping
            saved = (self._seq, self._planned)
            try:
                if calls:
                    self._process(calls)
                    with self._cond:
                        for _ in calls:
                            self._queue.popleft()
                retry = None
                self._close_due()
                delay = 0.05
            except BackendUnavailableError as exc:
                # Passing: keep the calls queued, in order, and try again with exactly the same
                # calls, so each chunk gets the seq (and the rows) it had: the store may have
                # taken an attempt whose answer was lost, and it keeps a seq it already has.
                log.warning("drift monitor %s: store unavailable, retrying: %s", self.name, exc)
                if retry is None and calls and self._queue and self._queue[0] is calls[0]:
                    retry = len(calls)
                if retry is not None:
                    self._seq, self._planned = saved
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            except Exception as exc:
                # The store refused the rows (no permission, a request too big), or a bug:
                # retrying cannot help, so these calls fail with the reason instead of waiting
                # forever, and the writer lives on for the calls after them.
                if isinstance(exc, MLOpsError):
                    log.error(
                        "drift monitor %s: store refused %d call(s): %s", self.name, len(calls), exc
                    )
                else:
                    log.exception("drift monitor %s: writer failed", self.name)
                    time.sleep(delay)  # a failure that repeats must not spin
                    delay = min(delay * 2, 5.0)
                if calls and self._queue and self._queue[0] is calls[0]:
                    # The window plan goes back (these rows are not in it), but never the seq:
                    # a split batch may have stored its first chunks before the refusal, and the
                    # store keeps a seq it has, so reusing one would drop the next rows unseen.
                    self._planned = saved[1]
                    with self._cond:
                        for _ in calls:
                            self._queue.popleft()
                    for call in calls:
                        if not call[3].done():
                            call[3].set_exception(exc)
                    self._errors.append(exc)
                retry = None
                continue
            if stopping:
                return

    def _seconds_to_close(self) -> float | None:
        window = self._window
        if window is None or self.spec.seconds is None or self._event_time:
            return None
        return window.start + self.spec.seconds - time.time()

    def _process(self, calls: list[_Call]) -> None:
        parts: list[tuple[float, pd.DataFrame]] = []
        done: list[tuple[Future[int], int]] = []
        fast = self._normalize_together(calls)
        if fast is not None:
            parts.extend(fast[0])
            done.extend(fast[1])
            calls = []
        for features, predictions, ts, future in calls:
            if features is None:
                done.append((future, 0))
                continue
            try:
                frame = self._normalize(features, predictions)
            except MLOpsError as exc:
                if not future.done():
                    future.set_exception(exc)
                self._errors.append(exc)
                continue
            parts.extend(self._split(frame, ts))
            done.append((future, len(frame)))
        # Consecutive parts of one window become one chunk: one row, one serialization.
        merged: list[tuple[int, float, pd.DataFrame]] = []
        i = 0
        while i < len(parts):
            j = i
            while j + 1 < len(parts) and parts[j + 1][0] == parts[i][0]:
                j += 1
            group = [frame for _, frame in parts[i : j + 1]]
            frame = group[0] if len(group) == 1 else pd.concat(group, ignore_index=True)
            # Bounded chunks: a store row (or a request to a server) stays a few MB however
            # much was queued.
            step = max(1_000, CHUNK_CELLS // max(len(frame.columns), 1))
            for offset in range(0, len(frame), step):
                piece = frame if len(frame) <= step else frame.iloc[offset : offset + step]
                merged.append((self._seq, parts[i][0], piece))
                self._seq += 1
            i = j + 1
        if self.store is not None and merged:
            self.store.create_chunks(
                self.name,
                [(seq, start, len(frame), _to_ipc(frame)) for seq, start, frame in merged],
            )
        with self._state_lock:
            for seq, start, frame in merged:
                self._apply(seq, start, frame, ts=time.time())
        for future, n in done:
            if not future.done():
                future.set_result(n)

    def _normalize_together(
        self, calls: list[_Call]
    ) -> tuple[list[tuple[float, pd.DataFrame]], list[tuple[Future[int], int]]] | None:
        """The common case in one go: DataFrames with the same columns, all in one window.

        Converting per call costs as much as the rows themselves for small batches; any
        irregularity (another type, a window boundary, a bad call) takes the per-call path,
        which isolates the bad call.
        """
        real = [c for c in calls if c[0] is not None]
        if len(real) < 2 or not all(isinstance(c[0], pd.DataFrame) for c in real):
            return None
        columns = list(real[0][0].columns)
        if any(list(c[0].columns) != columns for c in real):
            return None
        with_preds = [c[1] is not None for c in real]
        if any(with_preds) and not all(with_preds):
            return None
        if self.spec.seconds is not None:
            starts = {self.spec.start_of(c[2]) for c in real}
            if len(starts) != 1:
                return None
        try:
            features = pd.concat([c[0] for c in real], ignore_index=True)
            predictions = (
                np.concatenate([np.asarray(c[1]).reshape(len(c[0]), -1)[:, 0] for c in real])
                if all(with_preds)
                else None
            )
            frame = self._normalize(features, predictions)
        except (MLOpsError, ValueError):
            return None
        parts = self._split(frame, real[-1][2])
        done = [(c[3], 0 if c[0] is None else len(c[0])) for c in calls]
        return parts, done

    def _normalize(self, features: Any, predictions: Any) -> pd.DataFrame:
        """The watched columns as float64 (numeric) or text (categorical), plus predictions."""
        frame = as_frame(features, "features", self.columns)
        frame = with_text_columns(frame)
        absent = [c for c in self.columns if c not in frame.columns]
        if absent:
            from mlops.monitoring.units import InvalidMonitoringInputError

            raise InvalidMonitoringInputError(
                f"logged features lack columns {absent} that the reference has"
            )
        data: dict[str, Any] = {}
        for summary in self.detector.reference_:
            series = frame[summary.name]
            if summary.kind == "numeric":
                data[summary.name] = numeric_values(series, summary.name)
            else:
                data[summary.name] = _texts(series)
        if predictions is not None and self.detector.prediction_reference_ is not None:
            from mlops.monitoring.drift import _prediction_series

            preds = _prediction_series(predictions)
            if len(preds) != len(frame):
                from mlops.monitoring.units import InvalidMonitoringInputError

                raise InvalidMonitoringInputError(
                    f"{len(preds)} predictions for {len(frame)} feature rows"
                )
            if self.detector.prediction_reference_.kind == "numeric":
                data[PRED] = numeric_values(preds, "prediction")
            else:
                data[PRED] = _texts(preds)
        return pd.DataFrame(data)

    def _split(self, frame: pd.DataFrame, ts: float) -> list[tuple[float, pd.DataFrame]]:
        """Pieces of one call by window: a time window takes the whole call; a count window
        is filled up to its size."""
        if self.spec.seconds is not None:
            return [(self.spec.start_of(ts), frame)]
        assert self.spec.rows is not None
        pieces = []
        offset = 0
        open_rows, start = self._planned
        while offset < len(frame):
            if open_rows == self.spec.rows or start is None:
                start = ts if start is None or ts > start else start + 1e-6
                open_rows = 0
            take = min(self.spec.rows - open_rows, len(frame) - offset)
            pieces.append((start, frame.iloc[offset : offset + take]))
            offset += take
            open_rows += take
        self._planned = (open_rows, start)
        return pieces

    _planned: tuple[int, float | None] = (0, None)
    # Rows logged with explicit timestamps close a time window only when a later window's rows
    # arrive (or on close_window()), never by the wall clock: replayed history is not "late".
    _event_time = False

    def _apply(self, seq: int, start: float, part: pd.DataFrame, ts: float) -> None:
        window = self._window
        if window is not None and window.start != start:
            self._close(window)
            window = None
        if window is None:
            refs = self.detector.reference_
            pred_ref = self.detector.prediction_reference_
            window = WindowState(
                start=start,
                columns={s.name: new_state(s) for s in refs},
                prediction=new_state(pred_ref) if pred_ref is not None else None,
                reservoir=Reservoir(len(refs)) if self.detector.multivariate else None,
            )
            self._window = window
        for name, state in window.columns.items():
            add_series(state, part[name])
        if window.prediction is not None and PRED in part.columns:
            add_series(window.prediction, part[PRED])
        if window.reservoir is not None:
            window.reservoir.add(mv.encode(part, self.detector.reference_))
        window.rows += len(part)
        window.end = ts
        self._window_last_seq = seq
        if self.spec.rows is not None and window.rows >= self.spec.rows:
            self._close(window)

    def _close_due(self) -> None:
        if self._unsaved:
            self._save_unsaved()  # raises while the store is still unavailable
        with self._state_lock:
            window = self._window
            seconds = None if self._event_time else self.spec.seconds
            if window is not None and seconds is not None and time.time() >= window.start + seconds:
                self._close(window)

    def close_window(self) -> DriftResult | None:
        self.flush()
        with self._state_lock:
            window = self._window
            return self._close(window) if window is not None else None

    def _close(self, window: WindowState) -> DriftResult:
        detector = self.detector
        prepared = {name: state.current() for name, state in window.columns.items()}
        prediction = None
        if window.prediction is not None and detector.prediction_reference_ is not None:
            cur = window.prediction.current()
            if cur[0].count:
                prediction = detector.check_column(detector.prediction_reference_, cur)
        end = (
            window.start + self.spec.seconds
            if self.spec.seconds is not None
            else (window.end or window.start)
        )
        multi = None
        sample = detector.multivariate_sample_
        if window.reservoir is not None and sample is not None and window.reservoir.seen >= 50:
            multi = mv.domain_classifier_drift(
                sample, window.reservoir.sample, [s.name for s in detector.reference_]
            )
        result = detector.verdict(prepared, window.rows, prediction, multi, window.start, end)
        if self.store is not None:
            self._save_result(
                WindowResult(
                    monitor=self.name,
                    kind="drift",
                    model_name=self.model_name,
                    model_version=self.model_version,
                    deployment=self.deployment,
                    window_start=window.start,
                    window_end=end,
                    n_rows=window.rows,
                    flagged=result.dataset_drift,
                    score=result.drift_share,
                    payload=result.to_dict(),
                    created_at=0,
                    updated_at=0,
                ),
                self._window_last_seq,
            )
        else:
            self._memory_results.append(result)
        self._window = None
        for callback in self.callbacks:
            try:
                callback(result)
            except MLOpsError as exc:  # an alert that cannot be stored must not stop windows
                log.error("drift monitor %s: result callback failed: %s", self.name, exc)
        return result

    def _save_result(self, result: WindowResult, through: int) -> None:
        """Store a closed window's result (deleting its chunks), or keep it for a retry while
        the store is unavailable. Kept results are saved in order before any later one, so a
        later window's chunk deletion never takes the chunks of a window not yet saved."""
        assert self.store is not None
        self._unsaved.append((result, through))
        try:
            self._save_unsaved()
        except BackendUnavailableError as exc:
            log.warning("drift monitor %s: window result kept for a retry: %s", self.name, exc)

    def _save_unsaved(self) -> None:
        # Under the state lock: the writer retries kept results while close_window() saves a
        # new one on the caller's thread, and two savers would store one result twice.
        assert self.store is not None
        with self._state_lock:
            while self._unsaved:
                result, through = self._unsaved[0]
                try:
                    self.store.create_result(result, delete_chunks_through=through)
                except BackendUnavailableError:
                    raise
                except MLOpsError as exc:  # refused for good: its chunks stay for a later one
                    log.error("drift monitor %s: window result refused: %s", self.name, exc)
                self._unsaved.pop(0)

    # --- restart -------------------------------------------------------------------------------

    def _recover(self) -> None:
        """Rebuild the open window from stored chunks (a previous process's acknowledged rows)."""
        if self.store is None:
            return
        chunks = self.store.list_chunks(self.name)
        if not chunks:
            return
        with self._state_lock:
            for seq, start, payload in chunks:
                self._apply(seq, start, _from_ipc(payload), ts=time.time())
            self._seq = chunks[-1][0] + 1
            if self._window is not None and self.spec.rows is not None:
                self._planned = (self._window.rows, self._window.start)
        log.info("drift monitor %s: resumed %d stored chunks", self.name, len(chunks))

    def results(self, limit: int) -> list[DriftResult]:
        if self.store is None:
            return list(self._memory_results)[-limit:]
        rows = self.store.list_results(monitor=self.name, kind="drift", limit=limit)
        return [DriftResult.from_dict(r.payload) for r in rows]

    @property
    def open_window(self) -> WindowState | None:
        return self._window


def _texts(series: pd.Series) -> NDArray[np.object_]:
    """Category values as text, missing as None (what category counts key on)."""
    out = series.astype(str).to_numpy(dtype=object)
    out[series.isna().to_numpy()] = None
    return out


def _to_ipc(frame: pd.DataFrame) -> bytes:
    table = pa.Table.from_pandas(frame, preserve_index=False)
    sink = io.BytesIO()
    with pyarrow.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue()


def _from_ipc(payload: bytes) -> pd.DataFrame:
    with pyarrow.ipc.open_stream(io.BytesIO(payload)) as reader:
        table = reader.read_all()
    frame: pd.DataFrame = table.to_pandas()
    return frame
