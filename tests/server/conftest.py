"""Server fixtures: the app on a temporary SQLite store, in-process or on a real socket."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mlops.config import MLOpsConfig
from mlops.server.app import create_app


@pytest.fixture
def server_config(tmp_path: Path) -> MLOpsConfig:
    """A server configuration on a fresh SQLite file and artifact folder."""
    return MLOpsConfig(
        home=tmp_path / "server-home",
        tracking_uri=f"sqlite:///{tmp_path / 'server.db'}",
        artifact_uri=str(tmp_path / "artifacts"),
        user="server",
    )


@pytest.fixture
def api(server_config: MLOpsConfig) -> Iterator[TestClient]:
    """The app in-process (startup and shutdown run); server errors are responses, not raises."""
    with TestClient(create_app(server_config), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def make_run(api: TestClient) -> Callable[..., str]:
    """Creates a run through the API (and its experiment, if new); returns the run's id."""

    def make(experiment: str = "exp", user: str = "alice") -> str:
        found = api.get("/api/v1/experiments/by-name", params={"name": experiment})
        if found.status_code == 404:
            found = api.post("/api/v1/experiments", json={"name": experiment})
        body = {"experiment_id": found.json()["id"], "user": user}
        response = api.post("/api/v1/runs", json=body)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    return make
