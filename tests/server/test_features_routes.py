"""Feature definitions and online lookups on the tracking server.

Definitions are applied and materialized by a ``FeatureStore`` on the server's database and
home (as a client on the same machine would); the server reads them back over REST.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from mlops.auth import access_control
from mlops.config import MLOpsConfig
from mlops.features import Entity, Feature, FeatureStore, FeatureView, FileSource, SqlSource
from mlops.features.specs import schema_hash, to_spec
from mlops.server.app import create_app


@pytest.fixture
def applied(server_config: MLOpsConfig, tmp_path: Path) -> MLOpsConfig:
    """``driver`` and ``stats`` (two versions: a breaking change), materialized."""
    path = tmp_path / "stats.parquet"
    frame = {"driver_id": [1, 2], "event_timestamp": [datetime(2024, 1, 1)] * 2, "trips": [3, 4]}
    pd.DataFrame(frame).to_parquet(path)
    store = FeatureStore(config=server_config, show_progress=False)
    driver = Entity("driver", {"driver_id": "int64"})
    store.apply(
        driver,
        FeatureView("stats", ["driver"], [Feature("trips", "float64")], FileSource(str(path))),
    )
    store.apply(
        driver,
        FeatureView("stats", ["driver"], [Feature("trips", "int64")], FileSource(str(path))),
        force=True,
    )
    store.materialize(None, datetime(2024, 2, 1))
    store.close()
    return server_config


def test_lists_and_describes_definitions(applied: MLOpsConfig, api: TestClient) -> None:
    items = api.get("/api/v1/features/definitions").json()["items"]
    assert [(d["kind"], d["name"], d["version"]) for d in items] == [
        ("entity", "driver", 1),
        ("feature_view", "stats", 2),
    ]
    views = api.get("/api/v1/features/definitions", params={"kind": "feature_view"}).json()
    assert [d["name"] for d in views["items"]] == ["stats"]
    described = api.get("/api/v1/features/definitions/feature_view/stats").json()
    assert described["version"] == 2
    assert described["spec"]["features"][0]["dtype"] == "int64"
    assert [v["version"] for v in described["versions"]] == [1, 2]
    first = api.get("/api/v1/features/definitions/feature_view/stats", params={"version": 1})
    assert first.json()["spec"]["features"][0]["dtype"] == "float64"
    missing = api.get("/api/v1/features/definitions/feature_view/ghost")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "FeatureDefinitionNotFoundError"
    assert api.get("/api/v1/features/definitions/table/stats").status_code == 422


def test_online_lookup_on_the_server(applied: MLOpsConfig, api: TestClient) -> None:
    got = api.post("/api/v1/features/online", json={"feature_view": "stats", "entities": [2, 9]})
    assert got.status_code == 200, got.text
    assert got.json()["columns"] == {"driver_id": [2, 9], "trips": [4, None]}
    assert api.get("/api/v1/features/views").json()[0]["name"] == "stats"
    wrong = api.post("/api/v1/features/online", json={"feature_view": "stats", "entities": ["a"]})
    assert wrong.status_code == 400
    assert "int64" in wrong.json()["error"]["message"]
    neither = api.post("/api/v1/features/online", json={"entities": [1]})
    assert neither.status_code == 400
    # A lookup is bounded: too many entities are refused up front, with the limit.
    many = api.post(
        "/api/v1/features/online", json={"feature_view": "stats", "entities": list(range(40_000))}
    )
    assert many.status_code == 422
    assert "at most 10,000 entities" in many.json()["error"]["message"]


def test_a_sql_sources_password_is_not_shown(server_config: MLOpsConfig, api: TestClient) -> None:
    store = FeatureStore(config=server_config, show_progress=False)
    view = FeatureView(
        "remote",
        ["driver"],
        [Feature("trips", "int64")],
        SqlSource("stats", "postgresql://etl:s3cret@db.example/warehouse"),
    )
    # Stored as apply would store it (apply would check the unreachable source first).
    spec = to_spec(view)
    store.definitions.create_version(
        "feature_view", "remote", spec, schema_hash("feature_view", spec), "t"
    )
    shown = api.get("/api/v1/features/definitions/feature_view/remote").json()
    assert shown["spec"]["source"]["uri"] == "postgresql://etl:***@db.example/warehouse"
    assert "s3cret" not in str(shown)


def test_reading_features_needs_a_global_viewer(applied: MLOpsConfig) -> None:
    config = applied.model_copy(deep=True)
    config.server.auth = True
    access = access_control(config=applied)
    access.create_user("vic", "viewer", by="test")
    access.create_user("mo", None, by="test")
    viewer = {"Authorization": f"Bearer {access.create_token('vic').secret}"}
    scoped = {"Authorization": f"Bearer {access.create_token('mo').secret}"}
    with TestClient(create_app(config), raise_server_exceptions=False) as client:
        lookup = {"feature_view": "stats", "entities": [1]}
        assert client.post("/api/v1/features/online", json=lookup).status_code == 401
        assert client.post("/api/v1/features/online", json=lookup, headers=viewer).is_success
        assert client.get("/api/v1/features/definitions", headers=viewer).is_success
        assert client.get("/api/v1/features/definitions", headers=scoped).status_code == 403
        assert (
            client.post("/api/v1/features/online", json=lookup, headers=scoped).status_code == 403
        )
    # A lookup reads: an authenticated one leaves no audit entry, though it is a POST (the
    # unauthenticated attempt is recorded, as for every POST refused with 401).
    entries = access.audit.list_entries(action="features.online").items
    assert [(e.actor, e.status_code) for e in entries] == [("-", 401)]
