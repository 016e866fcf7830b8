"""The monitoring hook end to end: a real ``mlops serve --monitor`` process feeds the served
version's ``ModelMonitor``; its stored windows show the rows, and labels sent later join on the
prediction ids the responses carried."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from mlops.config import MLOpsConfig, ServingSettings
from mlops.models.serving import ModelServing, PredictionRecord, row_ids
from mlops.models.serving.feed import MonitorFeed, monitor_task
from mlops.monitoring import DriftDetector, ModelMonitor


def test_served_predictions_reach_the_versions_monitors_and_labels_join(
    serving_config: MLOpsConfig, iris_model: Any, iris: tuple[pd.DataFrame, pd.Series[Any]]
) -> None:
    x, y = iris
    DriftDetector(x, config=serving_config).attach("iris/1", config=serving_config)
    server = ModelServing(
        "models:/iris@prod", config=serving_config, process=True, monitor=True
    ).start(timeout=120)
    ids: list[str] = []
    try:
        with httpx.Client(base_url=server.url) as client:
            for i in range(40):
                response = client.post("/predict", json=x.iloc[[i]].to_dict(orient="records"))
                assert response.status_code == 200, response.text
                ids.append(response.json()["prediction_id"])
            # A three-row request: its rows are stored as "{id}.0" .. "{id}.2".
            three = client.post(
                "/invocations", json={"dataframe_records": x.iloc[40:43].to_dict("records")}
            ).json()
            ids.extend(row_ids(three["prediction_id"], 3))
            # A bad request is answered 422 and never reaches the monitors.
            assert client.post("/predict", json=[{"nope": 1}]).status_code == 422

            # Labels posted to the server join as soon as the feed has stored the rows.
            first = {"prediction_ids": ids[:20], "labels": y.iloc[:20].tolist()}
            deadline = time.monotonic() + 60
            while True:
                joined = client.post("/feedback", json=first)
                assert joined.status_code == 200, joined.text
                if joined.json()["windows"] or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert len(joined.json()["windows"]) == 1
            bad = client.post("/feedback", json={"prediction_ids": ids[:2], "labels": [1]})
            assert bad.status_code == 422
            assert "same length" in bad.json()["error"]["message"]
    finally:
        server.stop()  # graceful: the hook delivers, the feed stops its monitors (storing)

    monitor = ModelMonitor("iris/1", config=serving_config)
    [window] = monitor.performance.results()
    assert window.n_predictions == 43
    assert window.n_labelled == 20  # the ones posted to /feedback
    assert window.metrics["latency_p50"] > 0  # the server's own request latency

    # The rest later, from Python, after the server is gone.
    changed = monitor.performance.log_ground_truth(ids[20:], y.iloc[20:43].to_numpy())
    assert changed == [window.window_start]
    [labelled] = monitor.performance.results()
    assert labelled.n_labelled == 43
    expected = float(np.mean(iris_model.predict(x.iloc[:43]) == y.iloc[:43]))
    assert labelled.metrics["accuracy"] == pytest.approx(expected)

    # The drift detector's open window was stored chunk by chunk: closing it here sees the rows.
    assert monitor.detector is not None
    drift = monitor.detector.close_window()
    assert drift is not None
    assert drift.n_rows == 43
    assert set(drift.columns) == set(x.columns)


def test_feedback_needs_a_monitored_server(
    start_server: Any, iris_model: Any, serving_config: MLOpsConfig
) -> None:
    server = start_server("models:/iris/1")
    answer = httpx.post(f"{server.url}/feedback", json={"prediction_ids": [], "labels": []})
    assert answer.status_code == 409
    assert "--monitor" in answer.json()["error"]["message"]


def test_feed_packs_rows_once_per_version_and_layout() -> None:
    def record(pid: str, version: int, n: int) -> PredictionRecord:
        return PredictionRecord(
            prediction_id=pid,
            model_name="m",
            model_version=version,
            timestamp_ms=0,
            columns=("a", "b"),
            inputs=[[1.0, 2.0]] * n,
            outputs=np.zeros(n),
            latency=0.01,
        )

    from mlops.models.serving.feed import _merge, _pack

    packed = _pack([record("p", 1, 1), record("q", 1, 2), record("r", 2, 1)], "regression")
    assert [(b.model_version, b.ids, b.task) for b in packed] == [
        (1, ["p", "q.0", "q.1"], "regression"),
        (2, ["r"], "regression"),
    ]
    assert packed[0].outputs.shape == (3,)
    assert len(packed[0].inputs) == 3
    # The child merges what arrived together: one ModelMonitor call per version and layout.
    merged = _merge([*packed, *_pack([record("s", 1, 1)], "regression")])
    assert [(b.model_version, b.ids) for b in merged] == [(1, ["p", "q.0", "q.1", "s"]), (2, ["r"])]
    assert merged[0].latency.shape == (4,)


def test_monitor_task_follows_the_estimator_type() -> None:
    from sklearn.ensemble import IsolationForest
    from sklearn.linear_model import LinearRegression, LogisticRegression

    assert monitor_task(LinearRegression()) == "regression"
    assert monitor_task(IsolationForest()) == "anomaly"
    assert monitor_task(LogisticRegression()) == "classification"


def test_consume_before_open_is_a_clear_error(serving_config: MLOpsConfig) -> None:
    with pytest.raises(Exception, match="before open"):
        MonitorFeed(serving_config).consume([])


def test_the_serving_monitor_setting_turns_the_hook_on_and_the_argument_wins(
    serving_config: MLOpsConfig, iris_model: Any
) -> None:
    from mlops.models.serving import create_serving_app

    monitored = serving_config.model_copy(update={"serving": ServingSettings(monitor=True)})
    hook = create_serving_app("models:/iris/1", config=monitored).state.serving.monitor
    assert isinstance(hook.consumer, MonitorFeed)
    assert hook.consumer.task == "classification"  # from the served LogisticRegression
    assert create_serving_app("models:/iris/1", config=serving_config).state.serving.monitor is None
    off = create_serving_app("models:/iris/1", config=monitored, monitor=False)
    assert off.state.serving.monitor is None


def test_a_monitor_that_cannot_start_is_tried_again_later(tmp_path: Any) -> None:
    """A store error when a version's monitor starts skips its rows for a while, not for the
    server's life."""
    from sklearn.dummy import DummyClassifier

    from mlops.models.registry import ModelRegistry
    from mlops.models.serving import feed

    config = MLOpsConfig(
        home=tmp_path / "h",
        tracking_uri=f"sqlite:///{tmp_path / 'db' / 'mlops.db'}",
        artifact_uri=str(tmp_path / "art"),
    )
    batch = feed._Batch("late", 1, None, ("a",), [[1.0]], np.array([0]), ["p"], np.array([0.0]))
    monitors: dict[Any, Any] = {}
    settings = {"detection_window": "1h"}
    assert feed._monitor(monitors, batch, config, settings) is None  # "late" is not registered
    ModelRegistry(config=config).register_model("late", DummyClassifier().fit([[0.0]], [0]))
    assert feed._monitor(monitors, batch, config, settings) is None  # still waiting to retry
    feed._retry_at[("late", 1)] = 0.0  # the wait is over
    monitor = feed._monitor(monitors, batch, config, settings)
    assert isinstance(monitor, ModelMonitor)
    assert feed._monitor(monitors, batch, config, settings) is monitor
    monitor.stop()


def test_each_worker_feeds_monitors_of_its_own_and_no_row_is_lost(
    serving_config: MLOpsConfig, iris_model: Any, iris: tuple[pd.DataFrame, pd.Series[Any]]
) -> None:
    """Two workers writing one drift monitor would number their stored chunks alike and the
    store would keep one of each pair; tagged per worker, every served row is stored."""
    import sqlalchemy as sa

    from mlops.monitoring.store import monitoring_store
    from mlops.monitoring.streaming import _from_ipc
    from mlops.store.open import open_stores
    from mlops.store.sql import tables as t

    x, _ = iris
    DriftDetector(x, config=serving_config).attach("iris/1", config=serving_config)
    server = ModelServing("models:/iris/1", config=serving_config, workers=2, monitor=True).start(
        timeout=180
    )
    served: dict[str, float] = {}
    try:
        with httpx.Client(base_url=server.url) as client:  # new connections spread the workers
            for i in range(120):
                row = x.iloc[[i % len(x)]].to_dict(orient="records")
                answer = httpx.post(f"{server.url}/predict", json=row)
                assert answer.status_code == 200, answer.text
                served[answer.json()["prediction_id"]] = float(i % 3)
            assert client.get("/v2/health/ready").status_code == 200
            # Labels reach whichever worker takes the connection, not the one that served the
            # prediction: each worker joins them in every worker's monitor.
            performance = _stored_performance_rows(serving_config, "iris-v1-performance@w")
            deadline = time.monotonic() + 60
            while len(performance()) < len(served) and time.monotonic() < deadline:
                time.sleep(0.2)
            ids = list(served)
            for start in range(0, len(ids), 40):
                part = ids[start : start + 40]
                answer = httpx.post(
                    f"{server.url}/feedback",
                    json={"prediction_ids": part, "labels": [served[i] for i in part]},
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()["windows"], "the labelled window was evaluated again"
            labelled = {r.prediction_id: r.label for r in performance()}
            assert labelled == served
    finally:
        server.stop()
    with open_stores(serving_config).db.read() as conn:
        names = (
            conn.execute(
                sa.select(t.monitoring_monitors.c.monitor).where(
                    t.monitoring_monitors.c.monitor.like("iris-v1-drift@w%")
                )
            )
            .scalars()
            .all()
        )
    assert names, "each worker's drift monitor is tagged w<pid>"
    store = monitoring_store(serving_config)
    rows = sum(len(_from_ipc(p)) for name in names for _, _, p in store.list_chunks(name))
    rows += sum(r.n_rows for r in store.list_results(model="iris", version=1, kind="drift"))
    assert rows == 120


def _stored_performance_rows(config: MLOpsConfig, prefix: str) -> Callable[[], list[Any]]:
    """Reads every prediction row of the performance monitors whose names start ``prefix``."""
    from mlops.monitoring.store import monitoring_store

    store = monitoring_store(config)

    def rows() -> list[Any]:
        names = [n for n in store.list_monitors("iris") if n.startswith(prefix)]
        return [
            row
            for name in names
            for window in store.list_prediction_windows(name)
            for row in store.list_predictions(name, window)
        ]

    return rows
