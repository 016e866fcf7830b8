"""A monitor of one deployment: its windows and alerts carry the deployment id, and listings
filter by it (API, CLI, REST)."""

from __future__ import annotations

import json
import threading
import time

import httpx
import numpy as np
import pandas as pd
from sklearn.dummy import DummyClassifier
from typer.testing import CliRunner

from mlops.cli import app
from mlops.config import MLOpsConfig
from mlops.models.registry import ModelRegistry
from mlops.monitoring import ModelMonitor
from mlops.monitoring.store import monitoring_store


def _frame(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"a": rng.normal(size=n), "b": rng.normal(size=n)})


def _monitors(config: MLOpsConfig) -> tuple[ModelMonitor, ModelMonitor]:
    model = DummyClassifier(strategy="most_frequent").fit(_frame(10, 0), [0] * 10)
    version = ModelRegistry(config=config).register_model("churn", model)
    reference = _frame(2000, 1)
    stable = ModelMonitor(
        model_version=version,
        reference_data=reference,
        detection_window=200,
        alert_thresholds={"accuracy": 0.9},
        config=config,
        deployment="dep-stable",
    )
    canary = ModelMonitor(
        model_version=version,
        reference_data=reference,
        detection_window=200,
        alert_thresholds={"accuracy": 0.9},
        config=config,
        deployment="dep-canary",
    )
    return stable, canary


def test_each_deployment_gets_its_own_windows_and_alerts(mon_config: MLOpsConfig) -> None:
    stable, canary = _monitors(mon_config)
    assert stable.detector is not None
    assert canary.detector is not None
    assert stable.detector.stream.name != canary.detector.stream.name
    assert stable.performance.name != canary.performance.name
    stable.start_monitoring()
    canary.start_monitoring()
    stable.log_predictions(_frame(200, 2), [1] * 200, ground_truth=[1] * 200).wait(30)
    canary.log_predictions(_frame(400, 3), [1] * 400, ground_truth=[0] * 400).wait(30)
    stable.performance.evaluate()
    canary.performance.evaluate()
    stable.stop()
    canary.stop()
    store = monitoring_store(mon_config)
    mine = store.list_results(model="churn", deployment="dep-canary")
    assert {(r.kind, r.n_rows) for r in mine} == {("drift", 200), ("performance", 400)}
    assert {r.deployment for r in store.list_results(model="churn")} == {
        "dep-stable",
        "dep-canary",
    }
    assert [r.n_rows for r in store.list_results(deployment="dep-stable", kind="drift")] == [200]
    alerts = [a for a in store.list_alerts(model="churn") if a.rule == "accuracy_threshold"]
    assert [a.deployment for a in alerts] == ["dep-canary"]  # the stable one is accurate
    assert alerts[0].labels["deployment"] == "dep-canary"
    assert not canary.health_check().healthy


def test_cli_and_rest_filter_results_by_deployment(rest_server: str, tmp_path: object) -> None:
    config = MLOpsConfig(home=f"{tmp_path}/h", tracking_uri=rest_server, user="ann")
    stable, canary = _monitors(config)
    for monitor, n in ((stable, 200), (canary, 400)):
        monitor.log_predictions(_frame(n, n), [1] * n, ground_truth=[1] * n).wait(30)
        monitor.performance.evaluate()
        monitor.stop()
    runner = CliRunner()
    out = runner.invoke(
        app,
        [
            "monitor",
            "results",
            "--model",
            "churn",
            "--deployment",
            "dep-canary",
            "--json",
            "--tracking-uri",
            rest_server,
        ],
    )
    assert out.exit_code == 0, out.output
    rows = json.loads(out.output)
    assert {(r["kind"], r["deployment"]) for r in rows} == {
        ("drift", "dep-canary"),
        ("performance", "dep-canary"),
    }
    page = httpx.get(
        f"{rest_server}/api/v1/monitoring/models/churn/results",
        params={"deployment": "dep-stable"},
    ).json()
    assert {(r["kind"], r["n_rows"]) for r in page["items"]} == {
        ("drift", 200),
        ("performance", 200),
    }


def test_logging_from_a_background_thread_in_batches_is_cheap(mon_config: MLOpsConfig) -> None:
    """What the serving hook does: batches of a few hundred rows from a non-main thread."""
    stable, _ = _monitors(mon_config)
    stable.start_monitoring()
    batches = [(_frame(500, i), [1] * 500, [f"{i}-{j}" for j in range(500)]) for i in range(10)]
    spent: list[float] = []

    def serve() -> None:
        for features, predictions, ids in batches:
            began = time.perf_counter()
            failed = [j % 50 == 0 for j in range(len(ids))]
            stable.log_predictions(
                features, predictions, prediction_ids=ids, latency=0.004, errors=failed
            )
            spent.append(time.perf_counter() - began)
        stable.log_ground_truth([f"3-{j}" for j in range(500)], [1] * 500)

    worker = threading.Thread(target=serve)
    worker.start()
    worker.join(120)
    stable.stop()
    assert len(spent) == 10
    store = monitoring_store(mon_config)
    drift = store.list_results(monitor=stable.detector.stream.name)  # type: ignore[union-attr]
    assert sum(r.n_rows for r in drift) == 5000  # every row of every batch, counted once
    assert sum(spent) < 60  # (a functional bound; the per-row cost is measured elsewhere)
    metrics = stable.performance.evaluate().metrics
    assert metrics["error_rate"] == 0.02
    assert metrics["latency_p99"] == 0.004


def test_the_store_lists_a_models_monitors_by_name(mon_config: MLOpsConfig) -> None:
    # The serving hook's /feedback finds every worker's tagged monitor this way (every backend,
    # the REST one through GET /api/v1/monitoring/monitors).
    stable, canary = _monitors(mon_config)
    for monitor in (stable, canary):  # a name is bound to its model by its first write
        monitor.performance.log_inference([1])
    names = monitoring_store(mon_config).list_monitors("churn")
    assert stable.performance.name in names
    assert canary.performance.name in names
    assert monitoring_store(mon_config).list_monitors("nobody") == []
