"""The service endpoints: liveness, readiness, Prometheus metrics and the OpenAPI docs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlops.config import MLOpsConfig
from mlops.errors import ConfigError
from mlops.server.app import create_app


def test_healthz_and_readyz(api: TestClient) -> None:
    assert api.get("/healthz").json() == {"status": "ok"}
    assert api.get("/readyz").json() == {"status": "ready"}


def test_readyz_is_503_while_the_database_is_unreachable(tmp_path: Path) -> None:
    config = MLOpsConfig(
        home=tmp_path, tracking_uri="postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=2"
    )
    with TestClient(create_app(config), raise_server_exceptions=False) as api:
        assert api.get("/healthz").status_code == 200  # the process is up regardless
        response = api.get("/readyz")
        assert response.status_code == 503
        assert response.json()["error"]["type"] == "BackendUnavailableError"
        runs = api.get("/api/v1/runs/" + "0" * 32)
        assert runs.status_code == 503
        assert runs.json()["error"]["type"] == "BackendUnavailableError"


def test_metrics_count_requests_by_route_template_and_status(
    api: TestClient, make_run: Callable[..., str]
) -> None:
    run_id = make_run()
    api.get(f"/api/v1/runs/{run_id}")
    api.get("/api/v1/runs/nope")
    text = api.get("/metrics").text
    assert "# TYPE mlops_http_requests_total counter" in text
    ok = 'mlops_http_requests_total{method="GET",route="/api/v1/runs/{run_id}",status="200"} 1.0'
    missing = ok.replace('"200"', '"404"')
    assert ok in text
    assert missing in text
    assert run_id not in text  # ids never become label values
    assert 'mlops_http_request_duration_seconds_bucket{le="0.1",method="GET",route=' in text


def test_openapi_documents_every_domain(api: TestClient) -> None:
    assert api.get("/docs").status_code == 200
    paths = api.get("/openapi.json").json()["paths"]
    for path in (
        "/api/v1/experiments",
        "/api/v1/runs/search",
        "/api/v1/metrics/batch",
        "/api/v1/metrics/history",
        "/api/v1/artifacts/files/{path}",
        "/api/v1/models/{name}/versions/{version}/stage",
        "/api/v1/models/{name}/aliases/{alias}",
        "/api/v1/requests/{request_id}/decision",
        "/api/v1/models/{name}/events",
        "/healthz",
        "/readyz",
    ):
        assert path in paths, path


def test_a_server_cannot_serve_another_server(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="needs a database"):
        create_app(MLOpsConfig(home=tmp_path, tracking_uri="http://127.0.0.1:1"))
