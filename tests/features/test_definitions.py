"""Definitions in the metadata store: plans, versions, breaking changes, and bad input."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from mlops.features import (
    BreakingChangeError,
    Entity,
    Feature,
    FeatureDefinitionNotFoundError,
    FeatureService,
    FeatureStore,
    FeatureView,
    FileSource,
    InvalidFeatureInputError,
    SqlSource,
)
from mlops.features.sources import FrameSource


@pytest.fixture
def data(tmp_path: Path) -> str:
    path = tmp_path / "stats.parquet"
    pd.DataFrame(
        {
            "driver_id": [1, 2],
            "event_timestamp": [datetime(2024, 1, 1), datetime(2024, 1, 2)],
            "trips": [3, 4],
            "rating": [4.5, 3.9],
            "city": ["a", "b"],
        }
    ).to_parquet(path)
    return str(path)


def view(path: str, *features: Feature, **kw: object) -> FeatureView:
    feats = features or (Feature("trips", "int64"),)
    return FeatureView("stats", ["driver"], feats, FileSource(path), **kw)  # type: ignore[arg-type]


DRIVER = Entity("driver", {"driver_id": "int64"})


def test_apply_creates_version_one_then_is_unchanged(store: FeatureStore, data: str) -> None:
    plan = store.apply(DRIVER, view(data))
    assert [(c.kind, c.action, c.version) for c in plan.changes] == [
        ("entity", "create", 1),
        ("feature_view", "create", 1),
    ]
    again = store.apply(DRIVER, view(data))
    assert {c.action for c in again.changes} == {"unchanged"}
    assert store.get_feature_view("stats").version == 1


def test_compatible_change_updates_in_place(store: FeatureStore, data: str) -> None:
    store.apply(DRIVER, view(data))
    plan = store.apply(
        view(data, Feature("trips", "int64"), Feature("rating"), ttl=timedelta(days=2))
    )
    assert plan.changes[0].action == "update"
    stored = store.get_feature_view("stats")
    assert stored.version == 1
    assert [f.name for f in stored.features] == ["trips", "rating"]
    assert stored.ttl == timedelta(days=2)


def test_breaking_change_needs_force_and_makes_a_new_version(
    store: FeatureStore, data: str
) -> None:
    store.apply(DRIVER, view(data, Feature("trips", "int64"), Feature("rating")))
    retyped = view(data, Feature("trips", "float64"))
    plan = store.plan(retyped)
    assert plan.breaking
    assert "features" in plan.breaking[0].detail
    with pytest.raises(BreakingChangeError, match=r"--force"):
        store.apply(retyped)
    assert store.get_feature_view("stats").version == 1
    store.apply(retyped, force=True)
    assert store.get_feature_view("stats").version == 2
    assert store.get_feature_view("stats", version=1).feature("trips").dtype.value == "int64"


def test_listing_and_services(store: FeatureStore, data: str) -> None:
    store.apply(DRIVER, view(data), FeatureService("model_a", ["stats:trips"]))
    kinds = sorted((type(d).__name__, d.name) for d in store.list_definitions())
    assert kinds == [("Entity", "driver"), ("FeatureService", "model_a"), ("FeatureView", "stats")]
    with pytest.raises(InvalidFeatureInputError, match=r"'stats' has no feature 'nope'"):
        store.apply(FeatureService("bad", ["stats:nope"]))


def test_unknown_view_and_feature_are_named(store: FeatureStore, data: str) -> None:
    store.apply(DRIVER, view(data))
    entities = pd.DataFrame({"driver_id": [1], "event_timestamp": [datetime(2024, 1, 3)]})
    with pytest.raises(FeatureDefinitionNotFoundError, match=r"'nope'"):
        store.get_historical_features(entities, ["nope:trips"])
    with pytest.raises(InvalidFeatureInputError, match=r"feature view 'stats' has no feature 'x'"):
        store.get_historical_features(entities, ["stats:x"])


def test_missing_timestamp_column_is_named(store: FeatureStore, data: str) -> None:
    with pytest.raises(InvalidFeatureInputError, match=r"'stats'.*no timestamp column 'when'"):
        store.apply(DRIVER, view(data, timestamp_field="when"))
    store.apply(DRIVER, view(data))
    entities = pd.DataFrame({"driver_id": [1], "when": [datetime(2024, 1, 3)]})
    with pytest.raises(InvalidFeatureInputError, match=r"no timestamp column 'event_timestamp'"):
        store.get_historical_features(entities, ["stats:trips"])


def test_wrong_dtype_is_named(store: FeatureStore, data: str) -> None:
    with pytest.raises(
        InvalidFeatureInputError, match="'stats': feature 'city' is declared float64"
    ):
        store.apply(DRIVER, view(data, Feature("city", "float64")))


def test_entity_key_type_mismatch_is_named(store: FeatureStore, data: str) -> None:
    with pytest.raises(InvalidFeatureInputError, match=r"join key 'driver_id'.*declares string"):
        store.apply(Entity("driver", {"driver_id": "string"}), view(data))
    store.apply(DRIVER, view(data))
    entities = pd.DataFrame({"driver_id": ["1"], "event_timestamp": [datetime(2024, 1, 3)]})
    with pytest.raises(InvalidFeatureInputError, match=r"column 'driver_id' is VARCHAR.*'stats'"):
        store.get_historical_features(entities, ["stats:trips"])


def test_view_with_an_undefined_entity_is_refused(store: FeatureStore, data: str) -> None:
    with pytest.raises(InvalidFeatureInputError, match=r"entity 'driver', which is not defined"):
        store.apply(view(data))


def test_frame_and_sql_sources(store: FeatureStore, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {"driver_id": [1], "event_timestamp": [datetime(2024, 1, 1)], "trips": [7]}
    )
    store.apply(
        DRIVER, FeatureView("mem", ["driver"], [Feature("trips", "int64")], FrameSource(frame))
    )
    # A SQL table in the metadata store's own database.
    engine = store._engine_for(None)
    frame.assign(trips=[9]).to_sql("trip_table", engine, index=False)
    store.apply(
        FeatureView("tbl", ["driver"], [Feature("trips", "int64")], SqlSource("trip_table"))
    )
    entities = pd.DataFrame({"driver_id": [1], "event_timestamp": [datetime(2024, 1, 2)]})
    out = store.get_historical_features(
        entities, ["mem:trips", "tbl:trips"], full_feature_names=True
    ).to_pandas()
    assert out[["mem__trips", "tbl__trips"]].values.tolist() == [[7, 9]]


def test_csv_source(store: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "stats.csv"
    path.write_text("driver_id,event_timestamp,trips\n1,2024-01-01T00:00:00,5\n")
    store.apply(
        DRIVER, FeatureView("csv", ["driver"], [Feature("trips", "int64")], FileSource(str(path)))
    )
    entities = pd.DataFrame({"driver_id": [1], "event_timestamp": [datetime(2024, 1, 2)]})
    assert store.get_historical_features(entities, ["csv:trips"]).to_pandas()["trips"].tolist() == [
        5
    ]


def test_s3_folder_source_and_offline_push(
    store: FeatureStore, s3_bucket: object, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    monkeypatch.setenv("MLOPS_S3_ENDPOINT_URL", moto_endpoint)
    buffer = io.BytesIO()
    pd.DataFrame(
        {"driver_id": [1], "event_timestamp": [datetime(2024, 1, 1)], "trips": [5]}
    ).to_parquet(buffer, index=False)
    name = s3_bucket.name  # type: ignore[attr-defined]
    s3_bucket.put_object(Key="offline/stats/part-0.parquet", Body=buffer.getvalue())  # type: ignore[attr-defined]
    source = FileSource(f"s3://{name}/offline/stats")
    store.apply(DRIVER, FeatureView("stats", ["driver"], [Feature("trips", "int64")], source))
    pushed = {"driver_id": 2, "event_timestamp": datetime(2024, 1, 2), "trips": 7}
    store.push("stats", [pushed], to_offline=True)
    entities = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [datetime(2024, 2, 1)] * 2})
    out = store.get_historical_features(entities, ["stats:trips"]).to_pandas()
    assert out["trips"].tolist() == [5, 7]


def test_definitions_on_each_sql_backend(sql_backend: str, tmp_path: Path, data: str) -> None:
    from mlops.config import MLOpsConfig

    store = FeatureStore(
        config=MLOpsConfig(home=tmp_path / ".m", tracking_uri=sql_backend, user="bob"),
        show_progress=False,
    )
    store.apply(DRIVER, view(data))
    store.apply(view(data, Feature("trips", "float64")), force=True)
    assert [v.version for v in store.definitions.list_versions("feature_view", "stats")] == [1, 2]
    assert store.definitions.get_definition("feature_view", "stats", 1).created_by == "bob"
    store.materialize(None, datetime(2024, 2, 1))
    last = store.definitions.get_last_materialization("stats", 2, store.online.uri)
    assert last is not None
    assert last.rows == 2
    store.definitions.delete_definition("feature_view", "stats")
    with pytest.raises(FeatureDefinitionNotFoundError):
        store.get_feature_view("stats")
    store.close()
