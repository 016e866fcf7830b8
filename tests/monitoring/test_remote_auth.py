"""Remote monitoring on a server with ``--auth``: a model's editor may feed its monitors, a
viewer may only read them, and nobody reaches another model's rows through these routes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sklearn.dummy import DummyClassifier

from mlops.auth import access_control
from mlops.config import MLOpsConfig
from mlops.models.registry import ModelRegistry
from mlops.monitoring import ModelMonitor
from mlops.server.app import create_app

Headers = dict[str, str]
API = "/api/v1/monitoring"
PREDICTION = {"prediction_id": "p1", "window_start": 0.0, "predicted_at": 1.0, "prediction": 1.0}


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, Headers]]]:
    config = MLOpsConfig(
        home=tmp_path / "h",
        tracking_uri=f"sqlite:///{tmp_path / 'db' / 'mlops.db'}",
        artifact_uri=str(tmp_path / "art"),
        user="server",
    )
    config.server.auth = True
    registry = ModelRegistry(config=config)
    for name in ("fraud", "churn"):
        registry.register_model(name, DummyClassifier().fit([[0.0]], [0]))
    access = access_control(config=config)
    people: dict[str, Headers] = {}
    for name, role, models in (
        ("ed", None, {"fraud": "editor"}),
        ("vic", None, {"fraud": "viewer"}),
        ("boss", "editor", {}),
    ):
        access.create_user(name, role, by="test")
        for model, r in models.items():
            access.grant(name, r, model=model, by="test")
        people[name] = {"Authorization": f"Bearer {access.create_token(name).secret}"}
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        yield client, people


def test_a_models_editor_feeds_its_monitors_only(
    setup: tuple[TestClient, dict[str, Headers]],
) -> None:
    client, people = setup
    path = f"{API}/monitors/fraud-v1-performance/predictions"
    body = {"rows": [PREDICTION]}
    ok = client.post(path, params={"model": "fraud"}, json=body, headers=people["ed"])
    assert ok.status_code == 204, ok.text
    other = client.post(path, params={"model": "churn"}, json=body, headers=people["ed"])
    assert other.status_code == 403
    unnamed = client.post(path, json=body, headers=people["ed"])
    assert unnamed.status_code == 403  # no model: the global role counts
    viewer = client.post(path, params={"model": "fraud"}, json=body, headers=people["vic"])
    assert viewer.status_code == 403
    read = client.get(
        f"{API}/monitors/fraud-v1-performance/predictions",
        params={"model": "fraud", "window_start": 0.0},
        headers=people["vic"],
    )
    assert read.status_code == 200
    assert [r["prediction_id"] for r in read.json()["items"]] == ["p1"]
    assert client.post(path, json=body, headers=people["boss"]).status_code == 204


def test_alert_writes_and_delivery_claims_are_checked(
    setup: tuple[TestClient, dict[str, Headers]],
) -> None:
    client, people = setup
    alert = {
        "fingerprint": "f" * 64,
        "rule": "r",
        "metric": "drift_share",
        "severity": "warning",
        "status": "pending",
        "model_name": "fraud",
        "group_key": "r/fraud",
        "message": "m",
        "labels": {"model": "fraud"},
        "count": 1,
        "started_at": 1.0,
        "last_seen_at": 1.0,
    }
    made = client.post(f"{API}/alerts", json=alert, headers=people["ed"])
    assert made.status_code == 201, made.text
    churn = client.post(
        f"{API}/alerts", json={**alert, "model_name": "churn"}, headers=people["ed"]
    )
    assert churn.status_code == 403
    alert_id = made.json()["id"]
    patched = client.patch(
        f"{API}/alerts/{alert_id}", json={"status": "firing"}, headers=people["vic"]
    )
    assert patched.status_code == 403
    assert (
        client.patch(
            f"{API}/alerts/{alert_id}", json={"status": "firing"}, headers=people["ed"]
        ).json()["status"]
        == "firing"
    )
    claim = {"at": 2.0, "lease": 60.0}
    assert (
        client.post(f"{API}/deliveries/claim", json=claim, headers=people["ed"]).status_code == 403
    )
    assert (
        client.post(f"{API}/deliveries/claim", json=claim, headers=people["boss"]).status_code
        == 200
    )
    rule = {"metric": "drift_share", "threshold": 0.3, "labels": {"model": "fraud"}}
    assert client.put(f"{API}/rules/r1", json=rule, headers=people["ed"]).status_code == 200
    assert client.put(f"{API}/rules/r2", json=rule, headers=people["vic"]).status_code == 403
    listed = client.get(f"{API}/rules", headers=people["vic"]).json()["items"]
    assert [r["name"] for r in listed] == ["r1"]
    assert client.delete(f"{API}/rules/r1", headers=people["ed"]).status_code == 403
    assert client.delete(f"{API}/rules/r1", headers=people["boss"]).status_code == 204


def _client_of(
    tmp_path: Path, serve: Callable[[MLOpsConfig], str], user: str, role: str
) -> MLOpsConfig:
    """A client config for ``user``, holding ``role`` on the model fraud of a served store with
    ``--auth``."""
    config = MLOpsConfig(
        home=tmp_path / "h",
        tracking_uri=f"sqlite:///{tmp_path / 'db' / 'mlops.db'}",
        artifact_uri=str(tmp_path / "art"),
        user="server",
    )
    config.server.auth = True
    ModelRegistry(config=config).register_model("fraud", DummyClassifier().fit([[0.0]], [0]))
    access = access_control(config=config)
    access.create_user(user, None, by="test")
    access.grant(user, role, model="fraud", by="test")
    url = serve(config)
    return MLOpsConfig(
        home=tmp_path / "c", tracking_uri=url, tracking_token=access.create_token(user).secret
    )


def test_a_model_editors_monitor_records_alerts_and_leaves_sending_to_others(
    tmp_path: Path, serve: Callable[[MLOpsConfig], str]
) -> None:
    client = _client_of(tmp_path, serve, "ed", "editor")
    monitor = ModelMonitor(
        model_version="fraud/1",
        reference_data=pd.DataFrame({"a": np.arange(100.0)}),
        detection_window=50,
        alert_thresholds={"accuracy": 0.9},
        config=client,
    )
    monitor.start_monitoring()
    monitor.log_predictions(pd.DataFrame({"a": np.arange(50.0)}), [1] * 50, ground_truth=[0] * 50)
    monitor.performance.evaluate()
    monitor.stop()  # delivering is denied: logged, not raised
    [alert] = [a for a in monitor.alerts.list_alerts() if a.rule == "accuracy_threshold"]
    assert (alert.rule, alert.status, alert.model_name) == ("accuracy_threshold", "firing", "fraud")
    assert [d.status for d in alert.deliveries] == ["pending"]  # for a global editor to send


def test_rows_a_viewer_may_not_write_fail_their_ack(
    tmp_path: Path, serve: Callable[[MLOpsConfig], str]
) -> None:
    from mlops.errors import PermissionDeniedError
    from mlops.monitoring import DriftDetector

    client = _client_of(tmp_path, serve, "vic", "viewer")
    detector = DriftDetector(
        pd.DataFrame({"a": np.arange(100.0)}), model_version="fraud/1", config=client
    )
    ack = detector.log_predictions(pd.DataFrame({"a": np.arange(10.0)}))
    with pytest.raises(PermissionDeniedError, match="editor"):
        ack.wait(30)
    with pytest.raises(PermissionDeniedError):
        detector.flush(30)  # reported once more, then the writer goes on
    detector.stop()


def test_a_monitor_belongs_to_its_model_whichever_model_a_caller_names(
    setup: tuple[TestClient, dict[str, Headers]],
) -> None:
    """Monitor names are global: an editor of fraud cannot reach churn's monitor by naming
    fraud (where its role holds), to write into its windows or to read them."""
    client, people = setup
    churn = f"{API}/monitors/churn-v1-drift"
    chunk = {"chunks": [{"seq": 1, "window_start": 0.0, "n_rows": 1, "payload": "AA=="}]}
    first = client.post(f"{churn}/chunks", params={"model": "churn"}, json=chunk,
                        headers=people["boss"])  # fmt: skip
    assert first.status_code == 204, first.text  # the first write binds churn-v1-drift to churn
    for method, path, body in (
        ("POST", f"{churn}/chunks", {"chunks": [{**chunk["chunks"][0], "seq": 2}]}),
        ("POST", f"{churn}/predictions", {"rows": [PREDICTION]}),
        ("POST", f"{churn}/labels", {"ids": ["p1"], "labels": [1.0], "at": 2.0}),
        ("GET", f"{churn}/chunks", None),
        ("GET", f"{churn}/windows", None),
    ):
        answer = client.request(
            method, path, params={"model": "fraud"}, json=body, headers=people["ed"]
        )
        assert answer.status_code == 403, (method, path, answer.text)
        assert "belongs to model 'churn'" in answer.json()["error"]["message"]
    chunks = client.get(f"{churn}/chunks", params={"model": "churn"}, headers=people["boss"])
    assert [c["seq"] for c in chunks.json()["items"]] == [1]  # nothing was written
    # A reader never binds a name: fraud's viewer reading an unused monitor leaves it free.
    fresh = f"{API}/monitors/fraud-v2-drift/chunks"
    assert client.get(fresh, params={"model": "fraud"}, headers=people["vic"]).status_code == 200
    assert client.post(fresh, params={"model": "fraud"}, json=chunk,
                       headers=people["ed"]).status_code == 204  # fmt: skip


def test_a_local_monitor_binds_its_name_for_the_server(
    setup: tuple[TestClient, dict[str, Headers]], tmp_path: Path
) -> None:
    """A monitor that writes to the database directly binds its name when it starts, so the
    server refuses another model's editor even before any write went through the server."""
    client, people = setup
    config = MLOpsConfig(
        home=tmp_path / "local",
        tracking_uri=f"sqlite:///{tmp_path / 'db' / 'mlops.db'}",
        artifact_uri=str(tmp_path / "art"),
        user="server",
    )
    reference = pd.DataFrame({"x": np.random.default_rng(0).normal(size=500)})
    monitor = ModelMonitor(model_version="churn/1", reference_data=reference, config=config)
    monitor.start_monitoring()
    try:
        name = monitor.performance.name
    finally:
        monitor.stop()
    answer = client.get(
        f"{API}/monitors/{name}/chunks", params={"model": "fraud"}, headers=people["vic"]
    )
    assert answer.status_code == 403, answer.text


def test_named_objects_of_another_model_are_neither_read_nor_replaced(
    setup: tuple[TestClient, dict[str, Headers]],
) -> None:
    """Detectors, rules, results and silences of churn stay churn's for fraud's editor, and a
    monitor named for churn's versions cannot be claimed before churn writes it."""
    client, people = setup
    ed, boss, vic = people["ed"], people["boss"], people["vic"]
    blob = {"model": "churn", "version": 1, "blob": "AA=="}
    assert client.put(f"{API}/detectors/churn-ref", json=blob, headers=boss).status_code == 204
    read = client.get(f"{API}/detector", params={"model": "fraud", "name": "churn-ref"},
                      headers=ed)  # fmt: skip
    assert read.status_code == 404  # the role held on fraud does not reach churn's detector
    mine = {**blob, "model": "fraud"}
    replace = client.put(f"{API}/detectors/churn-ref", json=mine, headers=ed)
    assert replace.status_code == 403, replace.text
    assert "belongs to model 'churn'" in replace.json()["error"]["message"]
    rule = {"metric": "drift_share", "threshold": 0.3}
    assert client.put(f"{API}/rules/watch", json={**rule, "labels": {"model": "churn"}},
                      headers=boss).status_code == 200  # fmt: skip
    taken = client.put(f"{API}/rules/watch", json={**rule, "labels": {"model": "fraud"}},
                       headers=ed)  # fmt: skip
    assert taken.status_code == 403
    result = {
        "monitor": "churn-v1-drift", "kind": "drift", "model_name": "fraud", "window_start": 0.0,
        "window_end": 1.0, "n_rows": 1, "flagged": False, "payload": {},
    }  # fmt: skip
    claimed = client.post(f"{API}/results", json={"result": result}, headers=ed)
    assert claimed.status_code == 403, claimed.text
    assert "named for model 'churn'" in claimed.json()["error"]["message"]
    silence = {"matchers": {"model": "churn"}, "starts_at": 0.0, "ends_at": 9e9, "user": "boss"}
    assert client.post(f"{API}/silences", json=silence, headers=boss).status_code == 201
    assert client.get(f"{API}/silences", headers=vic).json()["items"] == []
    assert len(client.get(f"{API}/silences", headers=boss).json()["items"]) == 1
