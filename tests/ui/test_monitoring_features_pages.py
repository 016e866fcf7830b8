"""The Monitoring and Features pages in a real browser, over data the Python API stored."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.features import Entity, Feature, FeatureStore, FeatureView, FileSource
from mlops.monitoring import AlertManager, WindowResult, detect_drift
from mlops.monitoring.store import monitoring_store

HOUR = 3600.0
START = 1_700_000_000.0
SHIFTS = [0.0, 0.0, 0.5, 2.0]


@pytest.fixture(scope="module")
def extra(ui_store: Any, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Drift windows and a firing alert on iris-classifier v2, and a feature repo applied."""
    config = ui_store.config
    rng = np.random.default_rng(5)
    reference = pd.DataFrame({"petal": rng.normal(size=2000), "sepal": rng.normal(size=2000)})
    store = monitoring_store(config)
    for i, shift in enumerate(SHIFTS):
        current = pd.DataFrame(
            {"petal": rng.normal(loc=shift, size=500), "sepal": rng.normal(size=500)}
        )
        result = detect_drift(reference, current, alert_threshold=0.4)
        start = START + i * HOUR
        store.create_result(
            WindowResult(
                monitor="iris-drift",
                kind="drift",
                model_name=ui_store.model,
                model_version=2,
                deployment=None,
                window_start=start,
                window_end=start + HOUR,
                n_rows=500,
                flagged=result.dataset_drift,
                score=result.drift_share,
                payload=result.to_dict(),
                created_at=0,
                updated_at=0,
            )
        )
    manager = AlertManager(config=config, channels=["log"])
    manager.create_rule(
        "drift-share", "drift_share", condition=">", threshold=0.3, severity="critical"
    )
    manager.evaluate({"drift_share": 0.5}, {"model": ui_store.model, "version": 2})

    folder = tmp_path_factory.mktemp("features")
    path = folder / "stats.parquet"
    pd.DataFrame(
        {"driver_id": [1, 2], "event_timestamp": [datetime(2024, 1, 1)] * 2, "trips": [3, 4]}
    ).to_parquet(path)
    features = FeatureStore(config=config, show_progress=False)
    driver = Entity("driver", {"driver_id": "int64"}, description="A driver")
    features.apply(
        driver,
        FeatureView(
            "driver_stats", ["driver"], [Feature("trips", "float64")], FileSource(str(path))
        ),
    )
    features.apply(
        driver,
        FeatureView("driver_stats", ["driver"], [Feature("trips", "int64")], FileSource(str(path))),
        force=True,
    )
    features.close()
    return ui_store


def test_monitoring_pages_show_verdicts_chart_and_alerts(page: Any, extra: Any) -> None:
    tab = page.open("/monitoring")
    row = tab.locator("table.monitored tbody tr[data-model='iris-classifier']")
    assert row.get_attribute("data-version") == "2"
    assert row.locator("td.num").inner_text() == "1"  # one open alert
    assert "drift" in row.inner_text()
    assert tab.locator("nav a.active").inner_text() == "Monitoring"
    page.screenshot("monitoring")
    row.get_by_role("link", name="iris-classifier").click()
    page.settle()
    assert tab.locator("h1").inner_text() == "iris-classifier v2"
    latest = tab.locator("table.latest tbody tr")
    assert latest.count() == 1
    assert latest.locator("td.drifted").inner_text() == "petal"
    series = tab.locator("svg.chart path.series")
    assert series.get_attribute("data-points") == str(len(SHIFTS))
    drifted = tab.locator("table.columns-drift tbody tr.differs")
    assert drifted.locator("td").first.inner_text() == "petal"
    alert = tab.locator("table.alerts tbody tr")
    assert alert.count() == 1
    assert "firing" in alert.inner_text()
    page.screenshot("monitoring-version")
    alert.get_by_role("button", name="Acknowledge").click()
    page.settle()
    assert "acknowledged" in tab.locator(".flash").inner_text()
    status = tab.locator("table.alerts tbody tr td").nth(3).inner_text()
    assert status.startswith("acknowledged")
    assert tab.get_by_role("button", name="Acknowledge").count() == 0


def test_features_pages_list_definitions_and_versions(page: Any, extra: Any) -> None:
    tab = page.open("/features")
    views = tab.locator("table.definitions[data-kind='feature_view'] tbody tr")
    assert views.count() == 1
    assert "v2" in views.inner_text()
    assert "1 features of driver" in views.inner_text()
    entities = tab.locator("table.definitions[data-kind='entity'] tbody tr")
    assert "driver_id: int64" in entities.inner_text()
    page.screenshot("features")
    views.get_by_role("link", name="driver_stats").click()
    page.settle()
    assert tab.locator("h1").inner_text() == "driver_stats"
    versions = tab.locator("table.versions tbody tr")
    assert versions.evaluate_all("rows => rows.map(r => r.dataset.version)") == ["2", "1"]
    assert tab.locator("table.features tbody tr td").nth(1).inner_text() == "int64"
    page.screenshot("feature-view")
