"""The monitoring routes and gauges of the tracking server, over results the domain stored.

Drift results are real checks (``detect_drift`` on shifted data) stored as a streaming monitor
stores a closed window; alerts come from ``AlertManager`` rules over them. The server reads the
same database (SQLite, and PostgreSQL when ``MLOPS_TEST_POSTGRES_URL`` is set).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlops.auth import access_control
from mlops.config import MLOpsConfig
from mlops.monitoring import AlertManager, DriftDetector, WindowResult, detect_drift
from mlops.monitoring.store import monitoring_store
from mlops.server.app import create_app
from mlops.store.open import open_stores

Headers = dict[str, str]
HOUR = 3600.0
START = 1_700_000_000.0


def register(config: MLOpsConfig, name: str, versions: int = 1) -> None:
    registry = open_stores(config).registry
    for _ in range(versions):
        registry.create_model_version(
            name,
            artifact_uri="file:///m",
            sha256="0" * 64,
            size=1,
            flavor="python",
            format="pickle",
            user="test",
        )


def store_windows(config: MLOpsConfig, model: str, version: int, shifts: list[float]) -> None:
    """One closed drift window per shift of the current data's ``x`` column."""
    rng = np.random.default_rng(3)
    reference = pd.DataFrame({"x": rng.normal(size=2000), "y": rng.normal(size=2000)})
    store = monitoring_store(config)
    for i, shift in enumerate(shifts):
        current = pd.DataFrame({"x": rng.normal(loc=shift, size=500), "y": rng.normal(size=500)})
        result = detect_drift(reference, current, alert_threshold=0.4)
        start = START + i * HOUR
        store.create_result(
            WindowResult(
                monitor=f"{model}-drift",
                kind="drift",
                model_name=model,
                model_version=version,
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


def fire(config: MLOpsConfig, model: str, version: int) -> int:
    manager = AlertManager(config=config, channels=["log"])
    manager.create_rule(
        "drift-share", "drift_share", condition=">", threshold=0.3, severity="critical"
    )
    (alert,) = manager.evaluate({"drift_share": 0.5}, {"model": model, "version": version})
    return alert.id


@pytest.fixture(params=["sqlite", "postgres"])
def server_config(request: pytest.FixtureRequest, tmp_path: Path) -> MLOpsConfig:
    """The server's configuration on each SQL backend (PostgreSQL when the tests have one)."""
    if request.param == "sqlite":
        db = f"sqlite:///{tmp_path / 'server.db'}"
    else:
        db = str(request.getfixturevalue("postgres_schema_uri"))
    return MLOpsConfig(
        home=tmp_path / "server-home",
        tracking_uri=db,
        artifact_uri=str(tmp_path / "artifacts"),
        user="server",
    )


@pytest.fixture
def monitored(server_config: MLOpsConfig) -> MLOpsConfig:
    """A store with churn v1 (3 windows, the last drifted, one firing alert) and fraud v1."""
    register(server_config, "churn")
    register(server_config, "fraud")
    store_windows(server_config, "churn", 1, [0.0, 0.0, 2.0])
    store_windows(server_config, "fraud", 1, [0.0])
    fire(server_config, "churn", 1)
    rng = np.random.default_rng(4)
    reference = pd.DataFrame({"x": rng.normal(size=200)})
    DriftDetector(reference).fit().attach("churn/1", config=server_config)
    return server_config


def test_metrics_show_drift_and_alert_gauges(monitored: MLOpsConfig, api: TestClient) -> None:
    text = api.get("/metrics").text
    labels = 'model="churn",monitor="churn-drift",version="1"'
    assert f"mlops_drift_share{{{labels}}} 0.5" in text
    assert f"mlops_dataset_drift{{{labels}}} 1.0" in text
    assert f'mlops_column_drifted{{column="x",{labels}}} 1.0' in text
    assert (
        'mlops_alerts{model="churn",rule="drift-share",severity="critical",status="firing"} 1.0'
        in text
    )
    assert "mlops_http_requests" in text  # the server's own metrics are still there


def test_metrics_without_monitoring_data(api: TestClient) -> None:
    response = api.get("/metrics")
    assert response.status_code == 200
    assert "mlops_alert_deliveries_failed 0.0" in response.text


def test_lists_monitored_versions(monitored: MLOpsConfig, api: TestClient) -> None:
    items = api.get("/api/v1/monitoring/models").json()["items"]
    assert [(i["model"], i["version"], i["open_alerts"]) for i in items] == [
        ("churn", 1, 1),
        ("fraud", 1, 0),
    ]
    (detector,) = items[0]["detectors"]
    assert detector["size"] > 0
    assert len(detector["sha256"]) == 64
    assert items[1]["detectors"] == []
    (churn_monitor,) = items[0]["monitors"]
    assert churn_monitor["monitor"] == "churn-drift"
    assert churn_monitor["flagged"] is True
    assert churn_monitor["window_start"] == START + 2 * HOUR


def test_results_newest_first_in_pages(monitored: MLOpsConfig, api: TestClient) -> None:
    url = "/api/v1/monitoring/models/churn/results"
    first = api.get(url, params={"version": 1, "limit": 2}).json()
    assert [r["window_start"] for r in first["items"]] == [START + 2 * HOUR, START + HOUR]
    newest = first["items"][0]
    assert newest["payload"]["drifted_columns"] == ["x"]
    assert newest["score"] == 0.5
    second = api.get(url, params={"version": 1, "limit": 2, "page_token": first["next_page_token"]})
    assert [r["window_start"] for r in second.json()["items"]] == [START]
    assert second.json()["next_page_token"] is None
    assert api.get(url, params={"kind": "performance"}).json()["items"] == []
    assert api.get("/api/v1/monitoring/models/ghost/results").json()["items"] == []


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"page_token": "garbage"}, "page_token"),
        ({"kind": "latency"}, "kind"),
        ({"limit": 0}, "limit"),
        ({"version": -1}, "version"),
    ],
)
def test_bad_result_queries_are_4xx(
    api: TestClient, params: dict[str, object], fragment: str
) -> None:
    response = api.get("/api/v1/monitoring/models/churn/results", params=params)
    assert response.status_code in (400, 422)
    assert fragment in response.json()["error"]["message"]


def test_alerts_ack_silence_resolve(monitored: MLOpsConfig, api: TestClient) -> None:
    (alert,) = api.get("/api/v1/monitoring/alerts", params={"status": "open"}).json()["items"]
    assert (alert["status"], alert["model_name"], alert["severity"]) == (
        "firing",
        "churn",
        "critical",
    )
    acked = api.post(f"/api/v1/monitoring/alerts/{alert['id']}/acknowledge", json={"user": "bob"})
    assert acked.status_code == 200, acked.text
    assert (acked.json()["status"], acked.json()["acked_by"]) == ("acknowledged", "bob")
    silenced = api.post(f"/api/v1/monitoring/alerts/{alert['id']}/silence", json={"duration": "2h"})
    assert silenced.status_code == 201, silenced.text
    silence = silenced.json()
    assert silence["matchers"]["rule"] == "drift-share"
    assert silence["ends_at"] - silence["starts_at"] == 2 * HOUR
    bad = api.post(f"/api/v1/monitoring/alerts/{alert['id']}/silence", json={"duration": "soon"})
    assert bad.status_code == 400, bad.text
    resolved = api.post(f"/api/v1/monitoring/alerts/{alert['id']}/resolve")
    assert resolved.json()["status"] == "resolved"
    again = api.post(f"/api/v1/monitoring/alerts/{alert['id']}/acknowledge")
    assert again.status_code == 409
    assert "resolved" in again.json()["error"]["message"]
    assert api.get("/api/v1/monitoring/alerts", params={"status": "open"}).json()["items"] == []
    assert api.get(f"/api/v1/monitoring/alerts/{alert['id']}").json()["status"] == "resolved"
    assert api.get("/api/v1/monitoring/alerts/999").status_code == 404
    unknown = api.get("/api/v1/monitoring/alerts", params={"status": "sleeping"})
    assert unknown.status_code == 400


# --- with --auth ---------------------------------------------------------------------------------


@pytest.fixture
def secured(monitored: MLOpsConfig) -> Iterator[TestClient]:
    config = monitored.model_copy(deep=True)
    config.server.auth = True
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def people(monitored: MLOpsConfig, tmp_path: Path) -> Callable[..., Headers]:
    access = access_control(config=monitored)

    def make(name: str, role: str | None = None, models: dict[str, str] | None = None) -> Headers:
        access.create_user(name, role, by="test")
        for model, r in (models or {}).items():
            access.grant(name, r, model=model, by="test")
        return {"Authorization": f"Bearer {access.create_token(name).secret}"}

    return make


def test_roles_on_the_model_decide(
    monitored: MLOpsConfig, secured: TestClient, people: Callable[..., Headers]
) -> None:
    churn_viewer = people("vic", models={"churn": "viewer"})
    churn_editor = people("eve", models={"churn": "editor"})
    fraud_editor = people("fred", models={"fraud": "editor"})
    assert secured.get("/api/v1/monitoring/models").status_code == 401

    listed = secured.get("/api/v1/monitoring/models", headers=churn_viewer).json()["items"]
    assert [i["model"] for i in listed] == ["churn"]
    assert secured.get("/api/v1/monitoring/models/churn/results", headers=churn_viewer).is_success
    refused = secured.get("/api/v1/monitoring/models/churn/results", headers=fraud_editor)
    assert refused.status_code == 403
    assert "viewer" in refused.json()["error"]["message"]

    alerts = secured.get("/api/v1/monitoring/alerts", headers=fraud_editor).json()["items"]
    assert alerts == []  # filtered: not their model
    (alert,) = secured.get("/api/v1/monitoring/alerts", headers=churn_viewer).json()["items"]
    ack = f"/api/v1/monitoring/alerts/{alert['id']}/acknowledge"
    assert secured.post(ack, headers=churn_viewer).status_code == 403
    assert secured.post(ack, headers=fraud_editor).status_code == 403
    done = secured.post(ack, headers=churn_editor, json={"user": "someone-else"})
    assert done.status_code == 200, done.text
    assert done.json()["acked_by"] == "eve"  # with auth on, the caller, whatever the body says
    # An unknown alert is checked globally: a model-scoped editor learns nothing about it.
    assert (
        secured.post("/api/v1/monitoring/alerts/999/resolve", headers=churn_editor).status_code
        == 403
    )
    admin = people("ada", "admin")
    assert secured.post("/api/v1/monitoring/alerts/999/resolve", headers=admin).status_code == 404
