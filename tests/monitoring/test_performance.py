"""PerformanceMonitor: metrics agree with scikit-learn, late labels join by id, thresholds."""

from __future__ import annotations

import time

import numpy as np
import pytest
from sklearn import metrics as skm

from mlops.config import MLOpsConfig
from mlops.monitoring.entities import PredictionBatch, PredictionRow
from mlops.monitoring.performance import PerformanceMonitor, monitor_performance
from mlops.monitoring.store import monitoring_store
from mlops.monitoring.units import InvalidMonitoringInputError, parse_duration, parse_threshold

T0 = 1_700_000_000.0 - 1_700_000_000.0 % 3600


def test_units_parse() -> None:
    assert parse_threshold("100ms", "latency") == pytest.approx(0.1)
    assert parse_threshold("2%", "error_rate") == pytest.approx(0.02)
    assert parse_threshold(0.8, "precision") == 0.8
    assert parse_threshold("1.5s", "latency") == 1.5
    assert parse_duration("15m") == 900
    assert parse_duration("1d") == 86400
    with pytest.raises(InvalidMonitoringInputError, match="does not parse"):
        parse_threshold("fast", "latency")
    with pytest.raises(InvalidMonitoringInputError, match="does not parse"):
        parse_duration("1 parsec")


def test_classification_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 2000)
    scores = np.clip(y * 0.3 + rng.uniform(size=2000) * 0.7, 0, 1)
    pred = (scores > 0.5).astype(int)
    result = monitor_performance(pred, y, scores=scores)
    m = result.metrics
    assert m["precision"] == pytest.approx(skm.precision_score(y, pred), abs=1e-12)
    assert m["recall"] == pytest.approx(skm.recall_score(y, pred), abs=1e-12)
    assert m["f1"] == pytest.approx(skm.f1_score(y, pred), abs=1e-12)
    assert m["roc_auc"] == pytest.approx(skm.roc_auc_score(y, scores), abs=1e-12)
    assert m["pr_auc"] == pytest.approx(skm.average_precision_score(y, scores), abs=1e-12)
    assert result.n_labelled == 2000


def test_regression_and_anomaly_metrics() -> None:
    rng = np.random.default_rng(1)
    y = rng.normal(size=500)
    pred = y + rng.normal(scale=0.2, size=500)
    m = monitor_performance(pred, y, task="regression").metrics
    assert m["mae"] == pytest.approx(skm.mean_absolute_error(y, pred), abs=1e-12)
    assert m["rmse"] == pytest.approx(np.sqrt(skm.mean_squared_error(y, pred)), abs=1e-12)
    assert m["r2"] == pytest.approx(skm.r2_score(y, pred), abs=1e-12)
    # IsolationForest-style outputs: -1 is the anomaly.
    truth = np.array([1, 1, -1, 1, -1, -1, 1, 1])
    guess = np.array([1, -1, -1, 1, -1, 1, 1, 1])
    monitor = PerformanceMonitor("iforest", task="anomaly", positive_label=-1, persist=False)
    monitor.log_inference(guess, truth)
    am = monitor.evaluate().metrics
    assert am["precision"] == pytest.approx(2 / 3)
    assert am["recall"] == pytest.approx(2 / 3)


def test_latency_throughput_error_rate_and_thresholds_with_units() -> None:
    monitor = PerformanceMonitor(
        "svc",
        metrics=["latency", "error_rate", "precision"],
        alert_thresholds={"latency": "100ms", "error_rate": "2%", "precision": 0.8},
        persist=False,
    )
    latencies = np.linspace(0.001, 0.2, 1000)
    errors = np.zeros(1000, dtype=bool)
    errors[:50] = True
    monitor.log_inference(np.ones(1000), latency=latencies, errors=errors, timestamp=T0 + 1)
    result = monitor.evaluate(T0)
    assert result.metrics["latency_p99"] == pytest.approx(np.percentile(latencies, 99))
    assert result.metrics["latency"] == pytest.approx(np.percentile(latencies, 95))
    assert result.metrics["error_rate"] == pytest.approx(0.05)
    assert result.metrics["throughput"] == pytest.approx(1000 / 3600)
    breached = {b.metric: b.direction for b in result.breaches}
    assert breached == {"latency": "above", "error_rate": "above"}  # no labels: no precision
    assert not result.healthy


def test_late_labels_join_by_id_and_rewrite_the_stored_window(mon_config: MLOpsConfig) -> None:
    monitor = PerformanceMonitor(
        "model_v1",
        metrics=["precision", "recall"],
        alert_thresholds={"precision": 0.8},
        config=mon_config,
    )
    ids = [f"p{i}" for i in range(100)]
    preds = np.array([1] * 50 + [0] * 50)
    monitor.log_inference(preds, prediction_ids=ids, timestamp=T0 + 5)
    # A prediction in the next hour closes (and stores) the first window, still unlabelled.
    monitor.log_inference([1], prediction_ids=["late"], timestamp=T0 + 3605)
    stored = monitoring_store(mon_config).list_results(monitor=monitor.name, kind="performance")
    assert [r.payload["n_labelled"] for r in stored] == [0]
    labels = np.array([1] * 30 + [0] * 20 + [0] * 40 + [1] * 10)  # precision 0.6
    changed = monitor.log_ground_truth(list(reversed(ids)), labels[::-1])
    assert changed == [T0]
    first = monitor.results()[0]
    assert first.n_labelled == 100
    assert first.metrics["precision"] == pytest.approx(0.6)
    assert first.metrics["recall"] == pytest.approx(30 / 40)
    assert [b.metric for b in first.breaches] == ["precision"]
    row = monitoring_store(mon_config).list_results(monitor=monitor.name, kind="performance")[0]
    assert row.model_name == "model_v1"
    assert row.model_version is None
    assert row.flagged


def test_bad_performance_input() -> None:
    with pytest.raises(InvalidMonitoringInputError, match="unknown metrics"):
        PerformanceMonitor("m", metrics=["precison"], persist=False)
    with pytest.raises(InvalidMonitoringInputError, match="task"):
        PerformanceMonitor("m", task="ranking", persist=False)
    monitor = PerformanceMonitor("m", persist=False)
    with pytest.raises(InvalidMonitoringInputError, match="3 ground_truth for 2 predictions"):
        monitor.log_inference([1, 0], [1, 0, 1])
    with pytest.raises(InvalidMonitoringInputError, match="not a number"):
        monitor.log_inference(["cat"], [1])


def test_an_id_logged_again_replaces_its_row(mon_config: MLOpsConfig) -> None:
    monitor = PerformanceMonitor("svc", window="1h", config=mon_config)
    ts = 1_800_000_000.0
    monitor.log_inference([1, 0, 1], [1, 1, 1], prediction_ids=["a", "b", "a"], timestamp=ts)
    monitor.log_inference([0], latency=0.5, prediction_ids=["b"], timestamp=ts + 60)
    rows = {
        r.prediction_id: r
        for r in monitoring_store(mon_config).list_predictions(
            monitor.name, monitor.window.start_of(ts)
        )
    }
    assert sorted(rows) == ["a", "b"]
    assert (rows["a"].prediction, rows["a"].label) == (1.0, 1.0)  # the later of the batch
    assert (rows["b"].prediction, rows["b"].label, rows["b"].latency) == (0.0, None, 0.5)


def test_generated_ids_sort_in_logging_order(mon_config: MLOpsConfig) -> None:
    # Time-ordered ids keep the store's primary-key inserts on the B-tree's newest pages.
    monitor = PerformanceMonitor("svc", window="1h", config=mon_config)
    first = monitor.log_inference([1, 0, 1]).wait()
    time.sleep(0.002)
    second = monitor.log_inference([0]).wait()
    assert max(first) < second[0]
    assert len(set(first)) == 3


def test_prediction_batch_columns_round_trip_rows() -> None:
    rows = [
        PredictionRow("a", 0.0, 1.0, 1.0, 0.9, None, 0.01, False),
        PredictionRow("b", 0.0, 2.0, None, None, 1.0, None, True),
    ]
    batch = PredictionBatch.from_rows(rows)
    assert len(batch) == 2
    assert batch.label == [None, 1.0]
    assert batch.rows() == rows
    assert batch.slice(1, 2).rows() == rows[1:]
    assert len(PredictionBatch.from_rows([])) == 0
    with pytest.raises(ValueError, match="same length"):
        PredictionBatch(["a"], [0.0], [1.0], [1.0], [None], [None], [None], [])
