"""Idempotency keys: a retried write counts once, on the server and through the client."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from mlops.config import ClientSettings, MLOpsConfig
from mlops.server.app import create_app
from mlops.store.rest import RestClient, RestRegistryStore, RestTrackingStore
from mlops.store.sql import tables as t
from mlops.store.sql.database import Database


def _experiment(api: TestClient) -> str:
    return str(api.post("/api/v1/experiments", json={"name": "exp"}).json()["id"])


def _count_runs(api: TestClient, experiment_id: str) -> int:
    page = api.post("/api/v1/runs/search", json={"experiment_ids": [experiment_id]}).json()
    return len(page["items"])


def test_same_key_twice_creates_one_run(api: TestClient) -> None:
    experiment_id = _experiment(api)
    body = {"experiment_id": experiment_id, "user": "alice", "name": "once"}
    first = api.post("/api/v1/runs", json=body, headers={"Idempotency-Key": "k-1"})
    again = api.post("/api/v1/runs", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert "idempotency-replayed" not in first.headers
    assert again.headers["idempotency-replayed"] == "true"
    assert _count_runs(api, experiment_id) == 1
    other = api.post("/api/v1/runs", json=body, headers={"Idempotency-Key": "k-2"})
    assert other.json()["id"] != first.json()["id"]
    api.post("/api/v1/runs", json=body)  # no key: every request runs
    assert _count_runs(api, experiment_id) == 3


def test_a_key_reused_for_another_request_is_refused(api: TestClient) -> None:
    experiment_id = _experiment(api)
    headers = {"Idempotency-Key": "k"}
    api.post("/api/v1/runs", json={"experiment_id": experiment_id, "user": "a"}, headers=headers)
    response = api.post(
        "/api/v1/runs", json={"experiment_id": experiment_id, "user": "b"}, headers=headers
    )
    assert response.status_code == 400
    assert "different request" in response.json()["error"]["message"]
    assert _count_runs(api, experiment_id) == 1


def test_failures_are_not_remembered(api: TestClient) -> None:
    headers = {"Idempotency-Key": "k"}
    missing = api.post("/api/v1/runs", json={"experiment_id": "1", "user": "a"}, headers=headers)
    assert missing.status_code == 404
    experiment_id = _experiment(api)
    assert experiment_id == "1"
    retried = api.post("/api/v1/runs", json={"experiment_id": "1", "user": "a"}, headers=headers)
    assert retried.status_code == 201  # the retry ran: the first attempt had failed


def test_keys_expire_and_are_purged(server_config: MLOpsConfig) -> None:
    config = server_config.model_copy(
        update={"server": server_config.server.model_copy(update={"idempotency_ttl": 0.2})}
    )
    with TestClient(create_app(config)) as api:
        experiment_id = _experiment(api)
        body = {"experiment_id": experiment_id, "user": "alice"}
        headers = {"Idempotency-Key": "old"}
        first = api.post("/api/v1/runs", json=body, headers=headers).json()["id"]
        time.sleep(0.3)
        second = api.post("/api/v1/runs", json=body, headers=headers).json()["id"]
        assert second != first  # the key had expired: a new request
        state = api.app.state.mlops  # type: ignore[attr-defined]
        time.sleep(0.3)
        assert state.idempotency.purge() == 1
    db = Database(config.resolved_tracking_uri)
    with db.read() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(t.idempotency_keys)).scalar() == 0
        )
    db.dispose()


class DropFirstResponse(httpx.BaseTransport):
    """Sends every request to the server, but loses the first response to ``path``.

    The server has done the work; the client sees a dropped connection and retries.
    """

    def __init__(self, inner: httpx.BaseTransport, path: str):
        self.inner = inner
        self.path = path
        self.sent: list[httpx.Request] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.url.path == self.path:
            self.sent.append(request)
            if len(self.sent) == 1:
                response.read()
                response.close()
                raise httpx.ReadError("connection reset by peer", request=request)
        return response

    def close(self) -> None:
        self.inner.close()


@pytest.fixture
def lossy(rest_server: str) -> Callable[[str], tuple[RestClient, DropFirstResponse]]:
    def make(path: str) -> tuple[RestClient, DropFirstResponse]:
        transport = DropFirstResponse(httpx.HTTPTransport(), path)
        settings = ClientSettings(max_retries=3, backoff=0.01)
        return RestClient(rest_server, settings, transport=transport), transport

    return make


def test_client_retry_after_a_lost_response_creates_one_run(
    lossy: Callable[[str], tuple[RestClient, DropFirstResponse]],
) -> None:
    client, transport = lossy("/api/v1/runs")
    store = RestTrackingStore(client)
    experiment = store.create_experiment("exp")
    run = store.create_run(experiment.id, "r", user="alice")
    assert len(transport.sent) == 2  # the lost attempt and its retry
    keys = {r.headers["Idempotency-Key"] for r in transport.sent}
    assert len(keys) == 1  # one key per logical call, reused by the retry
    runs = store.search_runs([experiment.id])
    assert [r.id for r in runs] == [run.id]
    another = store.create_run(experiment.id, "r2", user="alice")
    assert another.id != run.id
    assert transport.sent[-1].headers["Idempotency-Key"] not in keys
    client.close()


def test_client_retry_after_a_lost_response_registers_one_version(
    lossy: Callable[[str], tuple[RestClient, DropFirstResponse]],
) -> None:
    client, transport = lossy("/api/v1/models/m/versions")
    store = RestRegistryStore(client)
    version = store.create_model_version(
        "m",
        artifact_uri="file:///m",
        sha256="0" * 64,
        size=1,
        flavor="python",
        format="pickle",
        user="alice",
    )
    assert version.version == 1
    assert len(transport.sent) == 2
    assert [v.version for v in store.list_model_versions("m")] == [1]
    assert [e.kind for e in store.list_events("m")] == ["register"]
    client.close()


def test_client_retry_of_a_metric_batch_stores_each_point_once(
    lossy: Callable[[str], tuple[RestClient, DropFirstResponse]],
) -> None:
    client, transport = lossy("/api/v1/metrics/batch")
    store = RestTrackingStore(client)
    run = store.create_run(store.create_experiment("exp").id, "r", user="alice")
    rows = [(run.id, "loss", float(i), i, 1000 + i) for i in range(500)]
    store.log_metric_rows(rows)
    assert len(transport.sent) == 2  # the batch reached the server twice
    history = store.get_metric_history(run.id, "loss")
    assert list(history.steps) == list(range(500))
    assert store.get_run(run.id).metrics == {"loss": 499.0}
    client.close()
