"""`mlops gc` removes monitoring data past its retention, and never an open window's rows."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from mlops.cli import app
from mlops.config import MLOpsConfig, MonitoringRetention, MonitoringSettings
from mlops.monitoring import AlertManager, DriftDetector, PerformanceMonitor
from mlops.monitoring.store import monitoring_store
from mlops.store.lifecycle import collect_garbage
from mlops.store.open import open_stores
from mlops.store.sql import tables as t

DAY = 86_400.0


def _config(uri: str, tmp_path: Path, **retention: float | None) -> MLOpsConfig:
    return MLOpsConfig(
        home=tmp_path / ".mlops",
        tracking_uri=uri,
        artifact_uri=str(tmp_path / "art"),
        user="ann",
        monitoring=MonitoringSettings(retention_days=MonitoringRetention(**retention)),
    )


def _count(config: MLOpsConfig, table: sa.Table) -> int:
    with open_stores(config).db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def test_gc_keeps_what_retention_allows_and_every_open_window(
    sql_backend: str, tmp_path: Path
) -> None:
    config = _config(sql_backend, tmp_path, predictions=30, results=90, alerts=60)
    now = time.time()
    perf = PerformanceMonitor("svc", window="1d", config=config)
    # Three closed, evaluated days: 100, 40 and 10 days ago; and today's open window.
    for age in (100, 40, 10):
        perf.log_inference([1, 0, 1], [1, 0, 0], timestamp=now - age * DAY)
    perf.log_inference([1, 1], [1, 1], timestamp=now)
    perf.evaluate()  # today's result exists, but its window is still open
    # A window nobody evaluated (its process died before the day ended) keeps its rows.
    lost = PerformanceMonitor("lost", window="1d", config=config)
    lost.log_inference([1], timestamp=now - 200 * DAY)
    # A drift window still open (200 days old: a count window that never filled).
    rng = np.random.default_rng(0)
    drift = DriftDetector(
        pd.DataFrame({"a": rng.normal(size=500)}),
        detection_window=10_000,
        name="open-drift",
        config=config,
    )
    drift.log_predictions(pd.DataFrame({"a": rng.normal(size=50)}), timestamp=now - 200 * DAY)
    drift.flush()
    # Alerts: one resolved 70 days ago, one resolved yesterday, one firing since 100 days.
    manager = AlertManager(["log"], config=config)
    old = manager.fire("old", "gone", labels={"model": "m"})
    recent = manager.fire("recent", "kept", labels={"model": "m"})
    firing = manager.fire("firing", "still on", labels={"model": "m"})
    store = monitoring_store(config)
    store.create_deliveries(old.id, ["log"], "firing", now)
    store.update_alert(old.id, status="resolved", resolved_at=now - 70 * DAY)
    store.update_alert(recent.id, status="resolved", resolved_at=now - DAY)
    store.update_alert(firing.id, started_at=now - 100 * DAY)
    store.create_silence({"model": "m"}, now - 80 * DAY, now - 70 * DAY, "ann", None)
    store.create_silence({"model": "m"}, now, now + DAY, "ann", None)
    assert _count(config, t.monitoring_predictions) == 3 * 3 + 2 + 1

    report = collect_garbage(open_stores(config))

    assert report.monitoring == {"predictions": 6, "results": 1, "alerts": 1, "silences": 1}
    starts = store.list_prediction_windows(perf.name)
    assert starts == [perf.window.start_of(now - 10 * DAY), perf.window.start_of(now)]
    assert store.list_prediction_windows(lost.name) == [lost.window.start_of(now - 200 * DAY)]
    assert [r.window_end > now - 90 * DAY for r in store.list_results(monitor=perf.name)] == [
        True
    ] * 3
    assert len(store.list_chunks(drift.stream.name)) == 1  # the open window is untouched
    assert drift.close_window() is not None
    assert sorted(a.rule for a in store.list_alerts()) == ["firing", "recent"]
    assert _count(config, t.monitoring_deliveries) == 2  # those of the two kept alerts
    assert [s.ends_at > now for s in store.list_silences()] == [True]
    assert collect_garbage(open_stores(config)).monitoring == dict.fromkeys(
        ("predictions", "results", "alerts", "silences"), 0
    )
    drift.stop()


def test_results_retention_takes_their_predictions_along(sql_backend: str, tmp_path: Path) -> None:
    config = _config(sql_backend, tmp_path, predictions=None, results=5, alerts=None)
    now = time.time()
    perf = PerformanceMonitor("svc", window="1h", config=config)
    perf.log_inference([1, 0], [1, 1], timestamp=now - 10 * DAY)
    perf.log_inference([1], [1], timestamp=now - DAY)
    perf.evaluate()
    report = collect_garbage(open_stores(config))
    assert report.monitoring["results"] == 1
    assert report.monitoring["predictions"] == 2
    assert monitoring_store(config).list_prediction_windows(perf.name) == [
        perf.window.start_of(now - DAY)
    ]


def test_nothing_is_removed_with_retention_off(sql_backend: str, tmp_path: Path) -> None:
    config = _config(sql_backend, tmp_path, predictions=None, results=None, alerts=None)
    perf = PerformanceMonitor("svc", window="1h", config=config)
    perf.log_inference([1], [1], timestamp=time.time() - 1000 * DAY)
    perf.log_inference([1], [1])
    assert collect_garbage(open_stores(config)).monitoring == dict.fromkeys(
        ("predictions", "results", "alerts", "silences"), 0
    )
    assert _count(config, t.monitoring_predictions) == 2


def test_gc_cli_reports_monitoring_removals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"sqlite:///{tmp_path / 'store' / 'mlops.db'}"
    config = _config(uri, tmp_path, predictions=1, results=1, alerts=1)
    perf = PerformanceMonitor("svc", window="1h", config=config)
    perf.log_inference([1, 0, 1], [1, 0, 0], timestamp=time.time() - 3 * DAY)
    perf.log_inference([1], [1])
    monkeypatch.setenv("MLOPS_MONITORING__RETENTION_DAYS__PREDICTIONS", "2")
    out = CliRunner().invoke(app, ["gc", "--tracking-uri", uri])
    assert out.exit_code == 0, out.output
    assert "3 predictions" in out.output
    assert _count(config, t.monitoring_predictions) == 1


def test_bad_retention_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        MonitoringRetention(predictions=0)
