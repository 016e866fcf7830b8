"""The monitoring hook: served predictions handed to monitors off the request path.

The server calls :meth:`PredictionQueue.offer` once per request; that is a non-blocking put on
a bounded queue. A background thread drains the queue in batches into a
:class:`PredictionConsumer` (the monitoring domain implements one per model version's drift
and performance monitors). When the consumer falls behind and the queue is full, the record is
dropped, counted, and the server keeps its latency: monitoring samples rather than slowing
requests, and the ``mlops_serving_monitoring_dropped`` metric says how much it skipped.
"""

from __future__ import annotations

import abc
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlops.errors import InvalidInputError

__all__ = ["PredictionConsumer", "PredictionQueue", "PredictionRecord"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PredictionRecord:
    """One served request: what went in and came out, keyed by its prediction id.

    ``inputs`` is the checked model input (rows in signature column order, or an array);
    ``outputs`` the rows the model returned for it. Labels that arrive later join on
    ``prediction_id`` (and the row's position).
    """

    prediction_id: str
    model_name: str
    model_version: int
    timestamp_ms: int
    columns: tuple[str, ...] | None
    inputs: Any
    outputs: Any


class PredictionConsumer(abc.ABC):
    """Receives served predictions in batches, on the hook's own thread."""

    @abc.abstractmethod
    def consume(self, records: Sequence[PredictionRecord]) -> None:
        """Take a batch of records; may be slow, but must not keep them beyond the call."""


class PredictionQueue:
    """A bounded queue between the request path and a :class:`PredictionConsumer`.

    Args:
        consumer: Where records go.
        maxsize: Records held before new ones are dropped.
        on_drop: Called (on the request path, so it must be cheap) per dropped record.
    """

    def __init__(
        self,
        consumer: PredictionConsumer,
        maxsize: int = 10_000,
        on_drop: Callable[[], None] | None = None,
    ) -> None:
        if maxsize < 1:
            raise InvalidInputError(f"monitoring queue size must be at least 1, got {maxsize}")
        self.consumer = consumer
        self._queue: queue.Queue[PredictionRecord | None] = queue.Queue(maxsize)
        self._on_drop = on_drop
        self._thread: threading.Thread | None = None
        self.dropped = 0

    def start(self) -> None:
        self._thread = threading.Thread(target=self._drain, name="mlops-monitoring", daemon=True)
        self._thread.start()

    def offer(self, record: PredictionRecord) -> bool:
        """Queue ``record`` without waiting; ``False`` (and counted) when the queue is full."""
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1
            if self._on_drop is not None:
                self._on_drop()
            return False
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued, then stop the thread."""
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)
        self._thread = None

    def _drain(self) -> None:
        while True:
            first = self._queue.get()
            batch = [] if first is None else [first]
            done = first is None
            while not done and len(batch) < 1024:
                try:
                    record = self._queue.get_nowait()
                except queue.Empty:
                    break
                if record is None:
                    done = True
                else:
                    batch.append(record)
            if batch:
                try:
                    self.consumer.consume(batch)
                # A broken monitor must never take serving down; it is logged each time.
                except Exception:
                    log.exception("prediction consumer failed on %d records", len(batch))
            if done:
                return
