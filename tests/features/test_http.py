"""Online lookups over HTTP (the router ``mlops features serve`` runs)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd
from fastapi.testclient import TestClient

from mlops.features import Entity, Feature, FeatureStore, FeatureView, FileSource
from mlops.features.http import create_features_app


def test_online_lookup_and_views_over_http(store: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "s.parquet"
    pd.DataFrame(
        {"driver_id": [1, 2], "event_timestamp": [datetime(2024, 1, 1)] * 2, "trips": [3, 4]}
    ).to_parquet(path)
    store.apply(
        Entity("driver", {"driver_id": "int64"}),
        FeatureView("stats", ["driver"], [Feature("trips", "int64")], FileSource(str(path))),
    )
    store.materialize(None, datetime(2024, 2, 1))
    client = TestClient(create_features_app(store))
    got = client.post("/api/v1/features/online", json={"feature_view": "stats", "entities": [2, 9]})
    assert got.status_code == 200
    body = got.json()
    assert body["columns"] == {"driver_id": [2, 9], "trips": [4, None]}
    assert body["event_timestamps"]["stats"] == ["2024-01-01T00:00:00+00:00", None]
    assert body["fresh"] == {"stats": [True, False]}
    assert client.get("/api/v1/features/views").json()[0]["features"] == [
        {"name": "trips", "dtype": "int64"}
    ]
    missing = client.post("/api/v1/features/online", json={"feature_view": "x", "entities": [1]})
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "FeatureDefinitionNotFoundError"
