"""Micro-batching: concurrent requests share model calls, each gets its own rows in order, and a
bad request fails alone."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from mlops.errors import InvalidInputError
from mlops.models.serving import MicroBatcher, ModelRejectedInputError, ModelServing
from mlops.models.serving.payloads import ModelInput, assemble

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


def test_concurrent_requests_share_model_calls_and_get_their_own_rows(
    start_server: Callable[..., ModelServing],
    forest: Any,
    wine_array: np.ndarray[Any, Any],
    metric: Callable[[str, str], float],
) -> None:
    server = start_server("models:/forest/1", max_batch_size=64, max_wait_ms=20)
    requests = 48
    # Requests of 1 to 3 rows, each different, so a mixed-up split would be caught.
    bodies = [wine_array[i : i + 1 + i % 3] for i in range(requests)]

    def call(rows: np.ndarray[Any, Any]) -> tuple[list[Any], list[Any]]:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            response = client.post("/predict", json=rows.tolist())
            assert response.status_code == 200, response.text
            return response.json()["predictions"], forest.decision_function(rows).tolist()

    with ThreadPoolExecutor(requests) as pool:
        results = list(pool.map(call, bodies))
    for (got, _), rows in zip(results, bodies, strict=True):
        assert got == forest.predict(rows).tolist()
        assert len(got) == len(rows)
    calls = metric(server.url, "mlops_serving_batch_requests_count")
    assert metric(server.url, "mlops_serving_batch_requests_sum") == requests
    assert metric(server.url, "mlops_serving_batch_rows_sum") == sum(len(b) for b in bodies)
    assert calls < requests / 2, f"{requests} concurrent requests took {calls} model calls"


def test_one_bad_request_in_a_batch_fails_alone(
    start_server: Callable[..., ModelServing],
    iris_model: Any,
    iris: tuple[pd.DataFrame, Any],
    metric: Callable[[str, str], float],
) -> None:
    server = start_server("models:/iris@prod", max_wait_ms=50)
    frame = iris[0]
    good = [frame.iloc[[i]].to_dict(orient="records") for i in range(0, 150, 5)]
    bad = [dict.fromkeys(COLUMNS)]  # passes the signature (null is NaN); the model refuses it
    bodies = [*good[:15], bad, *good[15:]]

    def call(body: Any) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            return client.post("/predict", json=body)

    with ThreadPoolExecutor(len(bodies)) as pool:
        responses = list(pool.map(call, bodies))
    for body, response in zip(bodies, responses, strict=True):
        if body is bad:
            assert response.status_code == 422
            assert response.json()["error"]["type"] == "ModelRejectedInputError"
        else:
            assert response.status_code == 200, response.text
            expected = iris_model.predict(pd.DataFrame(body)).tolist()
            assert response.json()["predictions"] == expected
    assert metric(server.url, "mlops_serving_batch_requests_count") < len(bodies)


# --- the batcher on its own, with a real model ----------------------------------------------


def _rows(frame: pd.DataFrame) -> ModelInput:
    return ModelInput(("columns", tuple(COLUMNS)), len(frame), rows=frame.to_numpy().tolist())


def test_batcher_groups_keeps_order_and_isolates_errors(
    iris_model: Any, iris: tuple[pd.DataFrame, Any]
) -> None:
    frame = iris[0]
    sizes: list[int] = []

    def predict(items: Sequence[ModelInput]) -> Any:
        sizes.append(len(items))
        return iris_model.predict(pd.DataFrame(assemble(items, None, False), columns=COLUMNS))

    async def scenario() -> list[Any]:
        batcher = MicroBatcher(predict, max_batch_size=32, max_wait_ms=5)
        batcher.start()
        parts = [_rows(frame.iloc[i : i + 2]) for i in range(0, 100, 2)]
        nan = ModelInput(("columns", tuple(COLUMNS)), 1, rows=[[float("nan")] * 4])
        parts.insert(7, nan)
        results = await asyncio.gather(*(batcher.submit(p) for p in parts), return_exceptions=True)
        await batcher.close()
        return list(zip(parts, results, strict=True))

    outcomes = asyncio.run(scenario())
    for part, result in outcomes:
        if part.n == 1:
            assert isinstance(result, ModelRejectedInputError)
        else:
            expected = iris_model.predict(pd.DataFrame(part.rows, columns=COLUMNS))
            assert result.tolist() == expected.tolist()
    assert max(sizes) > 1  # batched
    assert sum(1 for s in sizes if s > 1) < len(outcomes)


def test_batch_limits_are_respected_and_different_layouts_do_not_mix(
    iris_model: Any, iris: tuple[pd.DataFrame, Any]
) -> None:
    seen: list[list[Any]] = []

    def predict(items: Sequence[ModelInput]) -> Any:
        seen.append([item.key for item in items])
        return np.zeros(sum(item.n for item in items))

    async def scenario() -> None:
        batcher = MicroBatcher(predict, max_batch_size=4, max_wait_ms=1)
        batcher.start()
        a = [ModelInput(("columns", ("a",)), 1, rows=[[1.0]]) for _ in range(6)]
        b = [ModelInput(("columns", ("b",)), 1, rows=[[1.0]]) for _ in range(3)]
        big = ModelInput(("columns", ("a",)), 9, rows=[[1.0]] * 9)
        results = await asyncio.gather(*(batcher.submit(p) for p in [*a, *b, big]))
        assert [len(r) for r in results] == [1] * 9 + [9]
        await batcher.close()

    asyncio.run(scenario())
    for keys in seen:
        assert len(set(keys)) == 1
    assert all(len(keys) <= 4 for keys in seen if keys != [("columns", ("a",))])


def test_closed_batcher_refuses_and_options_are_checked() -> None:
    async def scenario() -> None:
        batcher = MicroBatcher(lambda items: np.zeros(1), max_batch_size=2)
        batcher.start()
        await batcher.close()
        with pytest.raises(Exception, match="no longer served"):
            await batcher.submit(ModelInput(("x",), 1, rows=[[1]]))

    asyncio.run(scenario())
    with pytest.raises(InvalidInputError, match="max_batch_size"):
        MicroBatcher(lambda items: np.zeros(1), max_batch_size=0)
