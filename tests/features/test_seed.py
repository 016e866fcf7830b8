"""The seed's feature-store lines (README, Advanced Usage) run as written, awaited.

Adapted, as the issue allows, in import path (``ai.mlops`` -> ``mlops``) and to local data and
services: the offline store is a local folder holding each view's Parquet files, the online
store is this machine's Redis (or the embedded SQLite). The backend is the seed's ``"feast"``
where Feast is installed (``mlops[feast]``, its own environment), and ``"mlops"`` always.
"""

from __future__ import annotations

import asyncio
import importlib.util
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from mlops.config import MLOpsConfig
from mlops.errors import ConfigError
from mlops.features import FeatureStore


class Batch:
    """What the seed's ``streaming_data`` yields: entity ids (and ground truth)."""

    def __init__(self, entity_ids: list[str]):
        self.entity_ids = entity_ids


def write_view_data(root: Path, view: str) -> None:
    now = datetime.now(UTC).replace(tzinfo=None)
    folder = root / view
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "device_id": ["d1", "d2", "d1"],
            "timestamp": [
                now - timedelta(hours=3),
                now - timedelta(hours=1),
                now - timedelta(hours=2),
            ],
            "temperature": [20.5, 30.0, 21.5],
            "pressure": [1.0, 1.1, 1.2],
            "vibration": [0.01, 0.02, 0.03],
        }
    ).to_parquet(folder / "part-0.parquet", index=False)


HAVE_FEAST = importlib.util.find_spec("feast") is not None


@pytest.fixture(params=["feast", "mlops"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "feast" and not HAVE_FEAST:
        pytest.skip("backend='feast' needs Feast: pip install 'mlops[feast]'")
    return str(request.param)


def test_seed_feature_store_lines(tmp_path: Path, online_uri: str, backend: str) -> None:
    offline = tmp_path / "offline"
    write_view_data(offline, "data_features_v1")
    write_view_data(offline, "anomaly_features_v1")
    config = MLOpsConfig(home=tmp_path / ".mlops", user="seed")
    streaming_data = [Batch(["d1", "d2", "d9"])]

    async def production_ml_workflow() -> list[object]:
        # Setup feature store
        feature_store = FeatureStore(
            backend=backend,
            offline_store=str(offline),
            online_store=online_uri,
            config=config,
            show_progress=False,
        )

        # Register features
        await feature_store.register_feature_view(
            name="data_features_v1",
            entities=["device_id", "timestamp"],
            features=["temperature", "pressure", "vibration"],
            ttl_hours=24,
        )
        await feature_store.register_feature_view(
            name="anomaly_features_v1",
            entities=["device_id", "timestamp"],
            features=["temperature", "pressure", "vibration"],
            ttl_hours=24,
        )
        feature_store.materialize_incremental(datetime.now(UTC))

        got = []
        for batch in streaming_data:
            # Get fresh features
            features = await feature_store.get_online_features(
                entities=batch.entity_ids, feature_view="anomaly_features_v1"
            )
            got.append(features)
        feature_store.close()
        return got

    [features] = asyncio.run(production_ml_workflow())
    assert features["device_id"] == ["d1", "d2", "d9"]
    assert features["temperature"] == [21.5, 30.0, None]
    assert features.fresh["anomaly_features_v1"] == [True, True, False]


def test_seed_registration_types_and_timestamp(tmp_path: Path) -> None:
    offline = tmp_path / "offline"
    write_view_data(offline, "data_features_v1")
    store = FeatureStore(offline_store=str(offline), config=MLOpsConfig(home=tmp_path / ".m"))
    view = store.register_feature_view(
        name="data_features_v1",
        entities=["device_id", "timestamp"],
        features=["temperature", "pressure", "vibration"],
        ttl_hours=24,
    ).wait()
    assert view.entities == ("device_id",)
    assert view.timestamp_field == "timestamp"
    assert [f.dtype.value for f in view.features] == ["float64"] * 3
    assert view.ttl == timedelta(hours=24)
    assert store.get_entity("device_id").join_keys[0][1].value == "string"


@pytest.mark.skipif(HAVE_FEAST, reason="Feast is installed here")
def test_feast_backend_without_feast_names_the_extra() -> None:
    with pytest.raises(ConfigError, match=r"backend=.feast. needs Feast"):
        FeatureStore(backend="feast")
