"""Adaptive micro-batching: concurrent requests share one ``predict`` call.

A model call has a fixed cost (input conversion, Python dispatch, for an IsolationForest about
3.5 ms whatever the batch size) that one call for 64 rows pays once instead of 64 times. The
batcher keeps one model thread busy and, while it runs, lets requests queue; when it is free it
takes everything queued (up to ``max_batch_size`` rows, of one input layout) as the next batch.

``max_wait_ms`` is only spent when traffic is concurrent (the previous batch held more than one
request): then the batcher waits up to that long after the oldest request arrived for more to
join. A lone request on an idle server is never delayed. This is the same trade BentoML's and
MLServer's adaptive batching make, with the simplest rule that keeps latency bounded: no request
waits for companions longer than ``max_wait_ms``.

If a batched call raises, each request in it is retried alone, so one bad input fails only its
own request. Results are split back by row offsets, so each request gets its own rows in order.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.errors import InvalidInputError, MLOpsError
from mlops.models.serving.errors import ModelRejectedInputError, ModelUnavailableError
from mlops.models.serving.payloads import ModelInput

__all__ = ["BatchStats", "BatcherClosedError", "MicroBatcher"]

log = logging.getLogger(__name__)

PredictFn = Callable[[Sequence[ModelInput]], NDArray[Any]]


class BatcherClosedError(ModelUnavailableError):
    """The batcher was retired (its model was swapped out); resubmit to the current one."""


@dataclass(frozen=True, slots=True)
class BatchStats:
    """What one ``predict`` call did, for metrics."""

    requests: int
    rows: int
    seconds: float
    failed: bool


@dataclass(slots=True)
class _Pending:
    item: ModelInput
    future: asyncio.Future[NDArray[Any]]
    arrived: float


class MicroBatcher:
    """Groups concurrent ``submit`` calls into batched calls of ``predict`` on a model thread.

    Args:
        predict: Takes inputs sharing one key, returns one output row per input row.
        max_batch_size: Most rows in one call (a larger single request runs alone).
        max_wait_ms: Longest a request waits for others to join its batch under load.
        on_batch: Called on the event loop after every model call (metrics).
    """

    def __init__(
        self,
        predict: PredictFn,
        *,
        max_batch_size: int = 64,
        max_wait_ms: float = 2.0,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> None:
        if max_batch_size < 1:
            raise InvalidInputError(f"max_batch_size must be at least 1, got {max_batch_size}")
        if max_wait_ms < 0:
            raise InvalidInputError(f"max_wait_ms must be 0 or more, got {max_wait_ms}")
        self._predict = predict
        self.max_batch_size = max_batch_size
        self.max_wait = max_wait_ms / 1000
        self._on_batch = on_batch
        self._pending: collections.deque[_Pending] = collections.deque()
        self._wakeup: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None
        self._executor: ThreadPoolExecutor | None = None
        self._closing = False
        self._closed = False
        self._last_requests = 0
        self.calls = 0
        """Model calls made so far (tests and metrics read it)."""

    def start(self) -> None:
        """Start the dispatch task on the running event loop."""
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mlops-predict")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="mlops-batcher")

    async def submit(self, item: ModelInput) -> NDArray[Any]:
        """Queue ``item`` and wait for its rows of the model's output.

        Raises:
            BatcherClosedError: The batcher is retired; resubmit to its replacement.
            ModelRejectedInputError: The model raised on this request's input.
        """
        if self._closed or self._wakeup is None:
            raise BatcherClosedError("this model version is no longer served")
        future: asyncio.Future[NDArray[Any]] = asyncio.get_running_loop().create_future()
        self._pending.append(_Pending(item, future, time.perf_counter()))
        self._wakeup.set()
        return await future

    async def close(self) -> None:
        """Finish every queued request, then stop; later ``submit`` calls are refused."""
        self._closing = True
        if self._wakeup is not None:
            self._wakeup.set()
        if self._task is not None:
            await self._task
        if self._executor is not None:
            self._executor.shutdown(wait=True)

    # --- dispatch ------------------------------------------------------------------------------

    async def _run(self) -> None:
        assert self._wakeup is not None
        loop = asyncio.get_running_loop()
        while True:
            if not self._pending:
                if self._closing:
                    # Set before the task ends, on the loop thread: a submit that runs after
                    # this point is refused rather than queued where nobody would serve it.
                    self._closed = True
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            batch = self._take([])
            if self.max_wait and self._last_requests > 1 and not self._closing:
                batch = await self._fill(batch)
            self._last_requests = len(batch)
            start = time.perf_counter()
            outcomes = await loop.run_in_executor(
                self._executor, self._call, [p.item for p in batch]
            )
            self.calls += 1
            failed = False
            for pending, outcome in zip(batch, outcomes, strict=True):
                if pending.future.done():  # the client went away
                    continue
                if isinstance(outcome, BaseException):
                    failed = True
                    pending.future.set_exception(outcome)
                else:
                    pending.future.set_result(outcome)
            if self._on_batch is not None:
                rows = sum(p.item.n for p in batch)
                seconds = time.perf_counter() - start
                self._on_batch(BatchStats(len(batch), rows, seconds, failed))

    def _take(self, batch: list[_Pending]) -> list[_Pending]:
        """Move queued requests with the batch's key into it, up to the row limit."""
        rows = sum(p.item.n for p in batch)
        key: Hashable = batch[0].item.key if batch else self._pending[0].item.key
        kept: list[_Pending] = []
        while self._pending:
            pending = self._pending.popleft()
            fits = not batch or rows + pending.item.n <= self.max_batch_size
            if pending.item.key == key and fits:
                batch.append(pending)
                rows += pending.item.n
                if rows >= self.max_batch_size:
                    break
            else:
                kept.append(pending)
                if not fits:
                    break
        self._pending.extendleft(reversed(kept))
        return batch

    async def _fill(self, batch: list[_Pending]) -> list[_Pending]:
        """Under load, wait (at most until the oldest request is ``max_wait`` old) for more."""
        assert self._wakeup is not None
        deadline = batch[0].arrived + self.max_wait
        while sum(p.item.n for p in batch) < self.max_batch_size and not self._closing:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                break
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), remaining)
            except TimeoutError:
                break
            before = len(batch)
            batch = self._take(batch)
            if len(batch) == before and self._pending:
                break  # what arrived cannot join this batch (another layout, or too big)
        return batch

    def _call(self, items: list[ModelInput]) -> list[NDArray[Any] | BaseException]:
        """On the model thread: one call for all, or one each if the shared call fails."""
        try:
            return _split(self._predict(items), items)
        except Exception as exc:
            if len(items) == 1:
                return [_as_error(exc)]
            log.debug("batched call failed (%s); retrying each request alone", exc)
        outcomes: list[NDArray[Any] | BaseException] = []
        for item in items:
            try:
                outcomes.extend(_split(self._predict([item]), [item]))
            except Exception as exc:
                outcomes.append(_as_error(exc))
        return outcomes


def _split(output: NDArray[Any], items: Sequence[ModelInput]) -> list[NDArray[Any] | BaseException]:
    output = np.asarray(output)
    total = sum(item.n for item in items)
    if output.ndim == 0 or len(output) != total:
        raise MLOpsError(
            f"the model returned {output.shape[0] if output.ndim else 'a scalar'} rows for "
            f"{total} input rows"
        )
    parts: list[NDArray[Any] | BaseException] = []
    offset = 0
    for item in items:
        parts.append(output[offset : offset + item.n])
        offset += item.n
    return parts


def _as_error(exc: Exception) -> BaseException:
    """A model's complaint about its input is the client's 422; anything else stays itself."""
    if isinstance(exc, MLOpsError) and not isinstance(exc, InvalidInputError):
        return exc
    if isinstance(
        exc, InvalidInputError | ValueError | TypeError | KeyError | IndexError | OverflowError
    ):
        return ModelRejectedInputError(f"the model rejected the input: {exc}")
    log.error("model call failed", exc_info=exc)
    error = MLOpsError(f"the model failed: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
