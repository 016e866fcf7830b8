"""Training sets beyond the join: on-demand features, services, and lineage to runs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from mlops.experiments.tracking import ExperimentTracker
from mlops.features import (
    Entity,
    Feature,
    FeatureService,
    FeatureStore,
    FeatureView,
    FileSource,
    OnDemandFeatureView,
)


def trips_per_hour(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"trips_per_hour": frame["trips"] / frame["hours"]})


def setup(store: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.parquet"
    pd.DataFrame(
        {
            "driver_id": [1, 2],
            "event_timestamp": [datetime(2024, 1, 1)] * 2,
            "trips": [10, 30],
            "hours": [2.0, 4.0],
        }
    ).to_parquet(path)
    store.apply(
        Entity("driver", {"driver_id": "int64"}),
        FeatureView("stats", ["driver"], [Feature("trips", "int64"), Feature("hours")],
                    FileSource(str(path))),
        OnDemandFeatureView("rates", ["stats:trips", "stats:hours"], [Feature("trips_per_hour")],
                            trips_per_hour),
        FeatureService("model_a", ["stats:trips", "rates:trips_per_hour"]),
    )  # fmt: skip


def test_on_demand_features_are_identical_offline_and_online(
    store: FeatureStore, tmp_path: Path
) -> None:
    setup(store, tmp_path)
    entities = pd.DataFrame({"driver_id": [2, 1, 3], "event_timestamp": [datetime(2024, 2, 1)] * 3})
    offline = store.get_historical_features(entities, ["rates:trips_per_hour"]).to_pandas()
    assert list(offline.columns) == ["driver_id", "event_timestamp", "trips_per_hour"]
    store.materialize(None, datetime(2024, 2, 1, tzinfo=UTC))
    online = store.get_online_features([2, 1, 3], features=["rates:trips_per_hour"])
    expected = [7.5, 5.0, None]
    assert [None if pd.isna(v) else v for v in offline["trips_per_hour"]] == expected
    assert [None if pd.isna(v) else v for v in online["trips_per_hour"]] == expected


def test_feature_service_by_object_and_name(store: FeatureStore, tmp_path: Path) -> None:
    setup(store, tmp_path)
    entities = pd.DataFrame({"driver_id": [1], "event_timestamp": [datetime(2024, 2, 1)]})
    by_name = store.get_historical_features(entities, "model_a").to_pandas()
    by_object = store.get_historical_features(entities, store.get_feature_service("model_a"))
    assert by_name[["trips", "trips_per_hour"]].values.tolist() == [[10, 5.0]]
    assert by_object.to_pandas().equals(by_name)


def test_logging_a_training_set_records_views_versions_and_entity_hash(
    store: FeatureStore, tmp_path: Path
) -> None:
    setup(store, tmp_path)
    entities = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [datetime(2024, 2, 1)] * 2})
    training = store.get_historical_features(entities, ["stats:trips"])
    tracker = ExperimentTracker(config=store.config)
    with tracker.start_experiment("features") as run:
        dataset = training.log_to(run, name="train")
    tracker.close()
    assert dataset.source == "features:stats@1"
    assert [i.dataset.id for i in tracker.get_run(run.id).inputs] == [dataset.id]
    from mlops.store.open import open_stores
    from mlops.store.sql import tables as t

    with open_stores(store.config).db.read() as conn:
        edges = conn.execute(
            sa.select(t.lineage_edges.c.src_type, t.lineage_edges.c.src_id).where(
                t.lineage_edges.c.dst_id == dataset.id
            )
        ).all()
    assert sorted(edges) == sorted(
        [("feature_view", "stats@1"), ("entity_set", training.entity_digest)]
    )
