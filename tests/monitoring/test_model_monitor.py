"""ModelMonitor end to end, reports, Prometheus metrics, the CLI, and the seed's lines."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import urllib.request
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from prometheus_client import generate_latest
from sklearn.ensemble import IsolationForest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.config import MLOpsConfig
from mlops.experiments.tracking import ExperimentTracker
from mlops.models.registry import ModelRegistry
from mlops.monitoring import (
    DriftDetector,
    ModelMonitor,
    MonitoringDashboard,
    PerformanceMonitor,
    generate_report,
)
from mlops.monitoring.prometheus import monitoring_registry, start_exporter

from .test_alerts import Receiver

MakeFrame = Callable[..., pd.DataFrame]
T0 = 1_800_000_000.0 - 1_800_000_000.0 % 3600


def _register(config: MLOpsConfig, make_frame: MakeFrame, tmp_path: Path):  # type: ignore[no-untyped-def]
    """Train on a Parquet file logged to the run, and register the model."""
    train = make_frame(4000, 1)[["age", "income", "score", "visits"]]
    path = tmp_path / "train.parquet"
    train.to_parquet(path)
    tracker = ExperimentTracker(config=config)
    with tracker.start_experiment("fraud") as run:
        run.log_dataset(path, name="train", context="training")
        model = IsolationForest(random_state=0).fit(train)
        version = ModelRegistry(config=config).register_model("fraud", model, run_id=run.id)
    tracker.close()
    return version, model


def test_model_monitor_end_to_end(
    sqlite_config: MLOpsConfig, make_frame: MakeFrame, tmp_path: Path
) -> None:
    version, model = _register(sqlite_config, make_frame, tmp_path)
    receiver = Receiver()
    try:
        monitor = ModelMonitor(
            model_version=version,
            detection_window=2000,
            alert_thresholds={"precision": 0.8, "latency": "100ms"},
            channels=[f"webhook+{receiver.url}"],
            task="anomaly",
            config=sqlite_config,
        )
        assert monitor.detector is not None  # found through the run's logged dataset
        assert monitor.start_monitoring().wait() is monitor
        for seed in (2, 3):
            batch = make_frame(1000, seed)[["age", "income", "score", "visits"]]
            monitor.log_predictions(batch, model.predict(batch), latency=0.01).wait(30)
        drifted = make_frame(2000, 4, shift=1.5)[["age", "income", "score", "visits"]]
        monitor.log_predictions(drifted, model.predict(drifted), latency=0.2).wait(30)
        monitor.detector.flush()
        health = monitor.health_check()
        assert not health
        assert health.drift is not None
        assert health.drift["dataset_drift"]
        monitor.alerts.deliver()
        rules = {body["alerts"][0]["rule"] for _, body in receiver.requests}
        assert "dataset_drift" in rules
        monitor.stop()
        monitor.alerts.deliver()
        rules = {a["rule"] for _, body in receiver.requests for a in body["alerts"]}
        assert "latency_threshold" in rules  # p95 latency 0.2 s > 100ms
    finally:
        receiver.close()
    report = generate_report(model_version=version, config=sqlite_config)
    assert "Drift over time" in report.html
    assert "latency_threshold" in report.html
    assert report.html.count("<svg") >= 3
    # Self-contained: no script, nothing fetched (the SVG namespace is a name, not a fetch).
    assert not re.search(r"<script|(?:src|href)=[\"']?https?://", report.html)
    data = json.loads(report.to_json())
    assert [h["kind"] for h in data["history"]].count("drift") == 2


def test_a_monitor_needs_a_registered_version(sqlite_config: MLOpsConfig) -> None:
    from mlops.errors import NotFoundError

    with pytest.raises(NotFoundError, match="no registered model named 'nope'"):
        ModelMonitor(model_version="nope/1", config=sqlite_config)
    with pytest.raises(NotFoundError, match="not a registered model version"):
        ModelMonitor(model_version="just-a-label", config=sqlite_config)


def test_drift_report_shows_each_columns_distributions(
    make_frame: MakeFrame, tmp_path: Path
) -> None:
    report = generate_report(
        make_frame(3000, 1), make_frame(3000, 2, shift=0.5), output=tmp_path / "r.html"
    )
    text = (tmp_path / "r.html").read_text()
    assert text == report.html
    for column in ("age", "income", "color", "member"):
        assert f"<title>{column}</title>" in text
    assert "DRIFT" in text
    report.save(tmp_path / "r.json")
    assert json.loads((tmp_path / "r.json").read_text())["drift"]["dataset_drift"] is True


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_prometheus_metrics_from_the_store(
    sqlite_config: MLOpsConfig, make_frame: MakeFrame
) -> None:
    detector = DriftDetector(
        make_frame(2000, 1), detection_window=500, name="d1", config=sqlite_config
    )
    detector.log_predictions(make_frame(500, 2, shift=2.0)).wait(30)
    detector.flush()
    perf = PerformanceMonitor("svc", config=sqlite_config)
    perf.log_inference([1, 0, 1], [1, 0, 0], latency=[0.01, 0.02, 0.03], timestamp=T0)
    perf.evaluate(T0)
    text = generate_latest(monitoring_registry(sqlite_config)).decode()
    assert 'mlops_dataset_drift{model="",monitor="d1",version=""} 1.0' in text
    assert re.search(
        r'mlops_column_drifted\{column="age",model="",monitor="d1",version=""\} 1\.0', text
    )
    assert re.search(r'mlops_model_performance\{metric="precision",model="svc".*\} 0\.5', text)
    port = _free_port()
    start_exporter(port, config=sqlite_config)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert b"mlops_drift_share" in response.read()


def test_cli_drift_gates_a_pipeline(make_frame: MakeFrame, tmp_path: Path) -> None:
    ref, same, moved = tmp_path / "ref.parquet", tmp_path / "same.parquet", tmp_path / "m.csv"
    make_frame(3000, 1).to_parquet(ref)
    make_frame(3000, 2).to_parquet(same)
    make_frame(3000, 3, shift=1.0).to_csv(moved, index=False)
    runner = CliRunner()
    calm = runner.invoke(app, ["monitor", "drift", "--reference", str(ref), "--current", str(same)])
    assert calm.exit_code == 0, calm.output
    assert "no drift" in calm.output
    out = runner.invoke(
        app,
        [
            "monitor",
            "drift",
            "--reference",
            str(ref),
            "--current",
            str(moved),
            "--format",
            "json",
            "-o",
            str(tmp_path / "r.json"),
        ],
    )
    assert out.exit_code == 1
    assert json.loads((tmp_path / "r.json").read_text())["dataset_drift"] is True
    html = runner.invoke(
        app,
        [
            "monitor",
            "drift",
            "--reference",
            str(ref),
            "--current",
            str(moved),
            "--format",
            "html",
            "-o",
            str(tmp_path / "r.html"),
            "--stattest",
            "psi",
        ],
    )
    assert html.exit_code == 1
    assert "<svg" in (tmp_path / "r.html").read_text()
    bad = runner.invoke(
        app, ["monitor", "drift", "--reference", str(ref), "--current", str(tmp_path / "no.csv")]
    )
    assert bad.exit_code != 0


def test_cli_alerts(sqlite_config: MLOpsConfig) -> None:
    from mlops.monitoring import AlertManager

    manager = AlertManager(["log"], config=sqlite_config)
    alert = manager.fire("manual", "something broke", labels={"model": "m"})
    uri = ["--tracking-uri", sqlite_config.resolved_tracking_uri]
    runner = CliRunner()
    listed = runner.invoke(app, ["alerts", "list", *uri])
    assert listed.exit_code == 0, listed.output
    assert "something" in listed.output  # (wrapped at 80 columns)
    assert "manual" in listed.output
    assert runner.invoke(app, ["alerts", "ack", str(alert.id), *uri]).exit_code == 0
    assert runner.invoke(app, ["alerts", "silence", "model=m", "--for", "2h", *uri]).exit_code == 0
    assert runner.invoke(app, ["alerts", "resolve", str(alert.id), *uri]).exit_code == 0
    assert manager.store.get_alert(alert.id).status == "resolved"
    as_json = runner.invoke(app, ["alerts", "list", "--json", *uri])
    assert json.loads(as_json.output)[0]["status"] == "resolved"
    again = runner.invoke(app, ["alerts", "resolve", str(alert.id), *uri])
    assert again.exit_code == 1


def test_dashboard_pages_and_grafana(
    sqlite_config: MLOpsConfig, make_frame: MakeFrame, tmp_path: Path
) -> None:
    detector = DriftDetector(
        make_frame(1000, 1), detection_window=200, name="x", config=sqlite_config
    )
    detector.log_predictions(make_frame(400, 2)).wait(30)
    detector.flush()
    written = MonitoringDashboard(sqlite_config).save(tmp_path / "dash")
    assert (tmp_path / "dash" / "index.html").read_text().count("<tr") == 2
    grafana = MonitoringDashboard.grafana_dashboard()
    exprs = " ".join(t["expr"] for p in grafana["panels"] for t in p["targets"])
    for metric in ("mlops_drift_share", "mlops_model_performance", "mlops_alerts"):
        assert metric in exprs
    assert written[-1].name == "mlops-monitoring.json"
    out = CliRunner().invoke(app, ["monitor", "grafana"])
    assert json.loads(out.output)["uid"] == "mlops-monitoring"


def test_the_seeds_monitoring_lines_run_as_written(
    make_frame: MakeFrame, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Quick Start and Advanced Usage, with ``ai.mlops.X`` -> ``mlops.X`` and real local data.

    The seed's lines are kept verbatim; around them only what the seed leaves undefined is
    defined (a dataset, a model, a stream of batches).
    """
    monkeypatch.setenv("MLOPS_HOME", str(tmp_path / ".mlops"))
    # --- Quick Start (its monitoring lines) ---
    from mlops.experiments import ExperimentTracker
    from mlops.models import ModelRegistry
    from mlops.monitoring import ModelMonitor

    dataset = make_frame(2000, 1)[["age", "income", "score", "visits"]]
    tracker = ExperimentTracker()
    with tracker.start_experiment("anomaly_detection_v1") as experiment:
        detector = IsolationForest(contamination=0.1, random_state=0).fit(dataset)
        registry = ModelRegistry()
        model_version = registry.register_model(
            name="anomaly_detector_v1", model=detector, experiment_id=experiment.id, stage="staging"
        )
    # Monitor model in production
    monitor = ModelMonitor(model_version=model_version)
    monitor.start_monitoring()
    assert monitor.running
    monitor.stop()
    tracker.close()

    # --- Advanced Usage (its monitoring lines) ---
    from mlops.monitoring import DriftDetector, PerformanceMonitor

    reference_dataset = dataset

    class Batch:
        def __init__(self, seed: int):
            self.features = make_frame(200, seed)[["age", "income", "score", "visits"]]
            self.ground_truth = np.where(self.features["score"] > 1.5, -1, 1)

    async def streaming() -> object:
        for seed in range(2, 5):
            yield Batch(seed)

    streaming_data = streaming()

    class Model:
        async def predict(self, features: pd.DataFrame) -> np.ndarray:
            return detector.predict(features)

    model = Model()

    async def production_ml_workflow() -> None:
        # Setup monitoring
        drift_detector = DriftDetector(
            reference_data=reference_dataset, detection_window="1h", alert_threshold=0.1
        )

        performance_monitor = PerformanceMonitor(
            model_version="model_v1",
            metrics=["precision", "recall", "latency"],
            alert_thresholds={"precision": 0.8, "latency": "100ms"},
        )

        # Start monitoring
        await asyncio.gather(
            drift_detector.start_monitoring(),
            performance_monitor.start_monitoring(),
        )

        # Production inference with monitoring
        async for batch in streaming_data:
            features = batch.features
            predictions = await model.predict(features)

            # Log for monitoring
            await drift_detector.log_predictions(features, predictions)
            await performance_monitor.log_inference(predictions, batch.ground_truth)

        result = drift_detector.close_window()
        assert result is not None
        assert result.n_rows == 600
        assert not result.dataset_drift
        performance_monitor.stop()
        assert performance_monitor.results()[-1].n_labelled == 600
        drift_detector.stop()

    # Run workflow
    asyncio.run(production_ml_workflow())

    # --- Key Functions: monitoring operations ---
    from mlops.monitoring import create_alert, detect_drift, generate_report, monitor_performance

    assert not detect_drift(reference_dataset, make_frame(2000, 9)[list(reference_dataset.columns)])
    assert monitor_performance([1, -1], [1, -1]).metrics["accuracy"] == 1.0
    assert create_alert("drift", "drift_share", ">", 0.1).threshold == 0.1
    assert (
        "<svg" in generate_report(reference_dataset, make_frame(500, 3)[list(dataset.columns)]).html
    )
