"""Graceful shutdown drains in-flight requests; a moved alias or stage is swapped in under load
without a failed request; the server's Python object and the CLI start, check and stop it."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest

import mlops
from mlops.config import MLOpsConfig
from mlops.errors import ModelVersionNotFoundError
from mlops.models import ModelRegistry
from mlops.models.serving import ModelServing, PredictionConsumer, PredictionRecord


def test_stop_answers_every_request_in_flight(
    start_server: Callable[..., ModelServing],
    registry: ModelRegistry,
    wine_array: np.ndarray[Any, Any],
) -> None:
    slow = IsolationForest(n_estimators=1000, random_state=0).fit(wine_array)
    registry.register_model("slow", slow, input_example=wine_array[:5])
    server = start_server("models:/slow/1", max_batch_size=8000)
    assert server._server is not None
    state = server._server.server_state
    before = state.total_requests  # uvicorn counts a request when its response completes

    def arrived() -> int:
        return len(state.tasks) + state.total_requests - before  # in flight + answered

    big = np.tile(wine_array, (40, 1))  # ~7,000 rows: each call takes a good part of a second
    expected = slow.predict(big).tolist()
    # Encoded once, here: eight clients encoding 0.5 MB of JSON each, GIL-bound, took longer
    # than the wait below on a loaded machine, so some had not sent their request at stop().
    body = json.dumps(big.tolist()).encode()
    started = threading.Barrier(9)

    def call(_: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            started.wait()
            return client.post("/predict", content=body, headers=_JSON)

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(call, i) for i in range(8)]
        started.wait()
        # Stop once the server has received all 8 requests; they are served one model call at
        # a time, so most are still in flight.
        deadline = time.monotonic() + 30
        while arrived() < 8 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert not all(f.done() for f in futures)
        stopping = time.monotonic()
        server.stop()
        stopped_after = time.monotonic() - stopping
        responses = [f.result() for f in futures]
    assert [r.status_code for r in responses] == [200] * 8
    assert all(r.json()["predictions"] == expected for r in responses)
    assert stopped_after > 0.05  # stop waited for them
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{server.url}/v2/health/live", timeout=1)


_JSON = {"content-type": "application/json"}


def _load(url: str, stop: threading.Event, body: Any) -> list[tuple[float, int, int | None]]:
    seen = []
    with httpx.Client(base_url=url, timeout=30) as client:
        while not stop.is_set():
            sent = time.monotonic()
            try:
                response = client.post("/predict", json=body)
            except httpx.TransportError:
                seen.append((sent, -1, None))
                continue
            version = response.json().get("model_version") if response.status_code == 200 else None
            seen.append((sent, response.status_code, version))
    return seen


@pytest.mark.parametrize("follow", ["alias", "stage"])
def test_moved_alias_or_stage_is_swapped_in_under_load_without_a_failed_request(
    start_server: Callable[..., ModelServing],
    registry: ModelRegistry,
    iris: tuple[pd.DataFrame, Any],
    iris_tree: Any,
    iris_model: Any,
    follow: str,
) -> None:
    if follow == "stage":
        registry.promote_model("iris", 1, "staging")
        registry.promote_model("iris", 1, "production")
        uri = "models:/iris@production"  # the spelling: @STAGE means the stage
    else:
        uri = "models:/iris@prod"
    server = start_server(uri, poll_interval=0.1, max_wait_ms=2)
    frame = iris[0].iloc[[0, 60, 120]]
    body = frame.to_dict(orient="records")
    stop = threading.Event()
    with ThreadPoolExecutor(8) as pool:
        loads = [pool.submit(_load, server.url, stop, body) for _ in range(8)]
        time.sleep(0.5)
        if follow == "stage":
            registry.promote_model("iris", 2, "staging")
            registry.promote_model("iris", 2, "production")
        else:
            registry.set_alias("iris", "prod", 2)
        deadline = time.monotonic() + 10
        while server.health_check()["version"] != 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        swapped = time.monotonic()  # the server reported the new version by now
        time.sleep(1.0)
        stop.set()
        seen = [item for f in loads for item in f.result()]
    statuses = [status for _, status, _ in seen]
    assert statuses.count(200) == len(seen), f"failed: {[s for s in statuses if s != 200]}"
    assert len(seen) > 50
    versions_after = [v for sent, _, v in seen if sent > swapped]
    assert len(versions_after) > 10
    assert set(versions_after) == {2}  # every request sent after the swap got the new version
    assert {v for _, _, v in seen} == {1, 2}
    with httpx.Client(base_url=server.url) as client:
        response = client.post("/predict", json=body)
        assert response.json()["predictions"] == iris_tree.predict(frame).tolist()
        assert response.json()["predictions"] != iris_model.predict(frame).tolist()
        text = client.get("/metrics").text
    assert "mlops_serving_model_swaps_total 1.0" in text


def test_a_fixed_version_and_an_unknown_reference(
    start_server: Callable[..., ModelServing], iris_model: Any, serving_config: MLOpsConfig
) -> None:
    server = start_server("models:/iris/1", poll_interval=0.05)
    assert server.health_check() == {"live": True, "ready": True, "model": "iris", "version": 1}
    version = ModelRegistry(config=serving_config).get_model("iris", version=1)
    with ModelServing(version, config=serving_config) as by_object:
        assert by_object.health_check()["version"] == 1
    with pytest.raises(ModelVersionNotFoundError):
        ModelServing("models:/iris@nope", config=serving_config).start()
    with pytest.raises(Exception, match="models:/NAME@ALIAS"):
        ModelServing("iris", config=serving_config).start()


class _Collect(PredictionConsumer):
    def __init__(self, delay: float = 0.0) -> None:
        self.records: list[PredictionRecord] = []
        self.delay = delay

    def consume(self, records: Any) -> None:
        time.sleep(self.delay)
        self.records.extend(records)


def test_monitoring_hook_gets_each_prediction_off_the_request_path(
    start_server: Callable[..., ModelServing],
    iris_model: Any,
    iris: tuple[pd.DataFrame, Any],
    metric: Callable[[str, str], float],
) -> None:
    consumer = _Collect()
    server = start_server("models:/iris@prod", consumer=consumer)
    body = iris[0].head(2).to_dict(orient="records")
    with httpx.Client(base_url=server.url) as client:
        ids = [client.post("/predict", json=body).headers["x-prediction-id"] for _ in range(5)]
    server.stop()  # delivers what is queued
    assert [r.prediction_id for r in consumer.records] == ids
    record = consumer.records[0]
    assert record.model_name == "iris"
    assert record.model_version == 1
    assert record.columns == tuple(iris[0].columns)
    assert len(record.inputs) == 2
    assert list(record.outputs) == iris_model.predict(iris[0].head(2)).tolist()


class _Held(PredictionConsumer):
    """Takes the first batch, then holds the hook's thread until released."""

    def __init__(self) -> None:
        self.first = threading.Event()
        self.release = threading.Event()

    def consume(self, records: Any) -> None:
        self.first.set()
        self.release.wait(30)


def test_records_waiting_for_the_hook_are_untracked_by_the_garbage_collector(
    serving_config: MLOpsConfig, iris_model: Any, iris: tuple[pd.DataFrame, Any]
) -> None:
    """Records the hook holds must not reach the collector's oldest generation: a full queue
    of tracked records made every full collection rescan them (5 % of a server's CPU)."""
    import gc

    from fastapi.testclient import TestClient

    from mlops.models.serving.app import create_serving_app

    consumer = _Held()
    app = create_serving_app("models:/iris@prod", config=serving_config, consumer=consumer)
    queue = app.state.serving.monitor
    body = iris[0].head(2).to_dict(orient="records")
    try:
        with TestClient(app) as client:
            assert client.post("/predict", json=body).status_code == 200
            assert consumer.first.wait(10)  # the hook's thread is now held in consume()
            for _ in range(20):
                assert client.post("/predict", json=body).status_code == 200
            deadline = time.monotonic() + 10
            while len(queue._records) < 20 and time.monotonic() < deadline:
                time.sleep(0.01)  # a record is offered just after its response is sent
            held = list(queue._records)
            assert len(held) == 20
            # The collector untracks a tuple once what it holds is untracked: at worst one
            # collection per level (a row, the rows, the record), as the collector's list may
            # order a young record before its rows. In a server these are the young and
            # middle generations' collections, before a record could reach the oldest.
            for _ in range(3):
                gc.collect()
            assert not any(gc.is_tracked(record) for record in held)
            consumer.release.set()
    finally:
        consumer.release.set()


def test_a_serving_process_freezes_its_heap_and_collects_young_objects_less_often() -> None:
    """In its own interpreter: it changes the process's collector, which a test must not."""
    code = (
        "import gc; from mlops.models.serving.app import tune_garbage_collector as t, "
        "YOUNG_COLLECTION_THRESHOLD as y; before = gc.get_threshold(); t(); "
        "print(gc.get_freeze_count() > 1000, gc.get_threshold() == (y, *before[1:]), y > before[0])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["True", "True", "True"]


def test_a_full_queue_has_no_room_and_counts_each_record_it_refuses() -> None:
    """The server asks ``reserve`` before it builds a record; a refusal is a counted drop,
    once, whether the record was never built or was offered and refused."""
    from mlops.models.serving.monitoring import PredictionQueue

    drops: list[int] = []
    queue = PredictionQueue(_Collect(), maxsize=1, on_drop=lambda: drops.append(1))
    record = PredictionRecord("p1", "iris", 1, 0, None, np.zeros((1, 4)), np.zeros(1))
    assert queue.reserve()
    assert queue.offer(record)
    assert not queue.reserve()
    assert not queue.offer(record)
    assert queue.dropped == 2
    assert len(drops) == 2
    assert len(queue._records) == 1


def test_a_slow_monitor_is_sampled_not_waited_for(
    start_server: Callable[..., ModelServing],
    iris_model: Any,
    iris: tuple[pd.DataFrame, Any],
    metric: Callable[[str, str], float],
) -> None:
    consumer = _Collect(delay=0.5)
    server = start_server("models:/iris@prod", consumer=consumer, monitor_queue_size=2)
    body = iris[0].head(1).to_dict(orient="records")
    with httpx.Client(base_url=server.url) as client:
        start = time.monotonic()
        for _ in range(20):
            assert client.post("/predict", json=body).status_code == 200
        elapsed = time.monotonic() - start
    dropped = metric(server.url, "mlops_serving_monitoring_dropped_total")
    assert elapsed < 2  # 20 requests did not wait for a monitor that takes 0.5 s a batch
    assert dropped >= 10
    server.stop()
    assert len(consumer.records) + dropped == 20


def test_cli_serves_with_several_workers(
    iris_model: Any, iris: tuple[pd.DataFrame, Any], serving_config: MLOpsConfig, tmp_path: Path
) -> None:
    server = ModelServing("models:/iris@prod", config=serving_config, workers=2)
    server.start(timeout=120)
    try:
        assert server._process is not None
        body = iris[0].head(3).to_dict(orient="records")
        with httpx.Client(base_url=server.url) as client:
            for _ in range(10):
                response = client.post("/invocations", json={"dataframe_records": body})
                assert response.status_code == 200, response.text
                assert (
                    response.json()["predictions"] == iris_model.predict(iris[0].head(3)).tolist()
                )
        # Each request on a new connection, so both workers serve some; /metrics sums them all,
        # whichever worker answers the scrape.
        for _ in range(30):
            response = httpx.post(f"{server.url}/predict", json=body)
            assert response.status_code == 200, response.text
        for _ in range(6):
            text = httpx.get(f"{server.url}/metrics").text
            rows = re.findall(r"^mlops_serving_batch_rows_sum\S* (\S+)$", text, re.M)
            assert sum(float(r) for r in rows) == 3 * 40
    finally:
        server.stop()
    assert server.health_check()["live"] is False


def test_cli_refuses_a_reference_that_names_nothing(
    iris_model: Any, serving_config: MLOpsConfig, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable, "-m", "mlops", "serve", "models:/iris@missing",
            "--tracking-uri", serving_config.resolved_tracking_uri,
            "--artifact-uri", serving_config.resolved_artifact_uri,
        ],
        capture_output=True, text=True, timeout=60, cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(mlops.__file__).resolve().parent.parent)},
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    assert "missing" in result.stderr
    assert "Traceback" not in result.stderr
