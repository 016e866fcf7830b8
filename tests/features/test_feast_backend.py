"""``backend="feast"``: the point-in-time contract where Feast's semantics allow, and pinned
differences where they do not (documented in docs/features.md, "Feast backend").

Runs where Feast is installed (``mlops[feast]``, in its own environment: it pins pandas and
SQLAlchemy ranges of its own); skipped elsewhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops.config import MLOpsConfig
from mlops.errors import (
    FeatureBackendUnsupportedError,
    FeatureDefinitionNotFoundError,
    InvalidFeatureInputError,
    InvalidStateError,
)
from mlops.features import (
    Entity,
    Expectation,
    Feature,
    FeatureService,
    FeatureStore,
    FeatureView,
    FileSource,
    OnDemandFeatureView,
)
from mlops.features.feast_backend import generate_repo

pytest.importorskip("feast", reason="backend='feast' needs Feast: pip install 'mlops[feast]'")
pytestmark = pytest.mark.filterwarnings("ignore")  # Feast warns about its own deprecations

T0 = datetime(2024, 1, 1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def row(
    driver: int, minute: float, value: float | None, created: float | None = None
) -> dict[str, Any]:
    made = at(created if created is not None else minute)
    return {"driver_id": driver, "event_timestamp": at(minute), "created": made, "value": value}


def feast_values(
    tmp_path: Path,
    rows: list[dict[str, Any]],
    entities: list[tuple[int, datetime]],
    ttl_hours: float | None = None,
) -> pd.DataFrame:
    folder = tmp_path / "offline" / "stats"
    folder.mkdir(parents=True)
    pd.DataFrame(rows).to_parquet(folder / "part-0.parquet", index=False)
    store = FeatureStore(
        backend="feast",
        offline_store=str(tmp_path / "offline"),
        config=MLOpsConfig(home=tmp_path / ".mlops"),
        show_progress=False,
    )
    store.register_feature_view(
        "stats", ["driver_id"], ["value"], ttl_hours, created_timestamp_field="created"
    ).wait()
    entity_df = pd.DataFrame(entities, columns=["driver_id", "event_timestamp"])
    return store.get_historical_features(entity_df, ["stats:value"]).to_pandas()


def test_ties_on_event_time_go_to_the_latest_created(tmp_path: Path) -> None:
    rows = [row(1, 5, 1.0, created=6), row(1, 5, 2.0, created=9), row(1, 5, 3.0, created=7)]
    assert feast_values(tmp_path, rows, [(1, at(5))])["value"].tolist() == [2.0]


def test_null_feature_values_stay_null(tmp_path: Path) -> None:
    out = feast_values(tmp_path, [row(1, 0, 1.0), row(1, 5, None)], [(1, at(6))])
    assert out["value"].isna().tolist() == [True]


def test_unlimited_ttl(tmp_path: Path) -> None:
    out = feast_values(tmp_path, [row(1, 0, 1.0)], [(1, at(60 * 24 * 365))])
    assert out["value"].tolist() == [1.0]


def test_difference_rows_outside_the_ttl_are_dropped(tmp_path: Path) -> None:
    """mlops keeps the row with a null; Feast drops it (the boundary itself is kept by both)."""
    entities = [(1, at(600)), (1, at(600) + timedelta(microseconds=1))]
    out = feast_values(tmp_path, [row(1, 0, 1.0)], entities, ttl_hours=10)
    assert out["value"].tolist() == [1.0]


def test_difference_rows_before_any_feature_row_are_dropped(tmp_path: Path) -> None:
    """mlops returns nulls for them; Feast drops them."""
    out = feast_values(tmp_path, [row(1, 10, 1.0)], [(1, at(9)), (1, at(10))])
    assert out["value"].tolist() == [1.0]


def test_difference_duplicate_entity_rows_are_merged(tmp_path: Path) -> None:
    """mlops keeps every entity row in input order; Feast keeps one per (keys, time)."""
    entities = [(2, at(1)), (1, at(1)), (2, at(1)), (2, at(1))]
    out = feast_values(tmp_path, [row(1, 0, 1.0), row(2, 0, 2.0)], entities)
    assert sorted(out["value"].tolist()) == [1.0, 2.0]


def test_known_at_is_not_supported(tmp_path: Path) -> None:
    folder = tmp_path / "offline" / "stats"
    folder.mkdir(parents=True)
    pd.DataFrame([row(1, 0, 1.0)]).to_parquet(folder / "p.parquet")
    store = FeatureStore(
        backend="feast", offline_store=str(tmp_path / "offline"),
        config=MLOpsConfig(home=tmp_path / ".mlops"),
    )  # fmt: skip
    store.register_feature_view(
        "stats", ["driver_id"], ["value"], created_timestamp_field="created"
    )
    entity_df = pd.DataFrame({"driver_id": [1], "event_timestamp": [at(1)]})
    with pytest.raises(InvalidStateError, match=r"not supported by the feast backend"):
        store.get_historical_features(entity_df, ["stats:value"], known_at=True)


# --- apply, feature services, push, and what Feast cannot do -----------------------------------


def feast_store(tmp_path: Path, online: str | None = None) -> FeatureStore:
    return FeatureStore(
        backend="feast",
        offline_store=str(tmp_path / "offline"),
        online_store=online or f"sqlite:///{tmp_path / 'online.db'}",
        config=MLOpsConfig(home=tmp_path / ".mlops"),
        show_progress=False,
    )


def stats_definitions(
    tmp_path: Path, one_file: bool = False
) -> tuple[Entity, FeatureView, FeatureService]:
    folder = tmp_path / "offline" / "stats"
    folder.mkdir(parents=True)
    rows = [row(1, 0, 1.0), row(1, 10, 2.0), row(2, 5, 5.0)]
    frame = pd.DataFrame(rows).assign(trips=[3, 4, 7])
    frame.to_parquet(folder / "part-0.parquet", index=False)
    if one_file:
        folder = folder / "part-0.parquet"
    driver = Entity("driver", {"driver_id": "int64"})
    view = FeatureView(
        "stats",
        ["driver"],
        [Feature("value"), Feature("trips", "int64")],
        FileSource(str(folder)),
        created_timestamp_field="created",
        ttl=timedelta(hours=1),
    )
    return driver, view, FeatureService("model_a", ["stats:trips"])


def test_apply_writes_entities_views_and_services_to_feasts_registry(tmp_path: Path) -> None:
    store = feast_store(tmp_path)
    plan = store.apply(*stats_definitions(tmp_path))
    assert [(c.kind, c.name, c.action) for c in plan.changes] == [
        ("entity", "driver", "create"),
        ("feature_view", "stats", "create"),
        ("feature_service", "model_a", "create"),
    ]
    # Feast's own API, on the same repository, sees them.
    import feast

    own = feast.FeatureStore(repo_path=str(tmp_path / ".mlops" / "feast"))
    assert [e.join_key for e in own.list_entities()] == ["driver_id"]
    assert [f.name for f in own.get_feature_view("stats").features] == ["value", "trips"]
    assert own.get_feature_view("stats").ttl == timedelta(hours=1)
    assert store.get_feature_service("model_a").features == ("stats:trips",)
    again = store.plan(*stats_definitions_again(tmp_path))
    assert {c.action for c in again.changes} == {"update"}


def stats_definitions_again(tmp_path: Path) -> tuple[Entity, FeatureView, FeatureService]:
    folder = tmp_path / "offline" / "stats"
    driver = Entity("driver", {"driver_id": "int64"})
    view = FeatureView("stats", ["driver"], [Feature("value")], FileSource(str(folder)))
    return driver, view, FeatureService("model_a", ["stats:value"])


def test_feature_service_drives_training_sets_and_lookups(tmp_path: Path) -> None:
    store = feast_store(tmp_path)
    store.apply(*stats_definitions(tmp_path))
    entity_df = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [at(11), at(6)]})
    training = store.get_historical_features(entity_df, "model_a").to_pandas()
    assert sorted(training.columns) == ["driver_id", "event_timestamp", "trips"]
    assert dict(zip(training.driver_id, training.trips, strict=True)) == {1: 4, 2: 7}
    store.materialize(None, at(30))
    online = store.get_online_features([1, 2, 3], features="model_a")
    assert online["trips"] == [4, 7, None]
    assert set(online.event_timestamps) == {"stats"}
    both = store.get_online_features([2], features=["stats:value", "stats:trips"])
    assert (both["value"], both["trips"]) == ([5.0], [7])


def test_compound_keys_become_one_feast_entity_per_key(tmp_path: Path) -> None:
    folder = tmp_path / "offline" / "sales"
    folder.mkdir(parents=True)
    pd.DataFrame(
        {
            "store_id": [1, 1, 2],
            "sku": ["a", "b", "a"],
            "event_timestamp": [at(0)] * 3,
            "units": [10, 20, 30],
        }
    ).to_parquet(folder / "p.parquet", index=False)
    store = feast_store(tmp_path)
    store.apply(
        Entity("store_sku", {"store_id": "int64", "sku": "string"}),
        FeatureView("sales", ["store_sku"], [Feature("units", "int64")], FileSource(str(folder))),
    )
    entity_df = pd.DataFrame(
        {"store_id": [1, 2], "sku": ["b", "a"], "event_timestamp": [at(1), at(1)]}
    )
    out = store.get_historical_features(entity_df, ["sales:units"]).to_pandas()
    assert sorted(zip(out.store_id, out.sku, out.units, strict=True)) == [
        (1, "b", 20),
        (2, "a", 30),
    ]
    store.materialize(None, at(30))
    assert store.get_online_features([(2, "a"), (1, "a")], feature_view="sales")["units"] == [
        30,
        10,
    ]


@pytest.fixture
def feast_online(tmp_path: Path, online_uri: str) -> Iterator[str]:
    """The online store for a Feast repository of a project of its own: Feast's Redis keys
    end with the project's name instead of having a prefix, so they are found and removed."""
    project = f"t{uuid.uuid4().hex[:10]}"
    folder = tmp_path / ".mlops" / "feast"
    generate_repo(folder, online_uri.split("?", 1)[0])
    config = folder / "feature_store.yaml"
    config.write_text(config.read_text().replace("project: mlops", f"project: {project}"))
    yield online_uri.split("?", 1)[0]
    if online_uri.startswith("redis"):
        import redis

        client = redis.Redis.from_url(online_uri.split("?", 1)[0])
        for key in client.scan_iter(match=f"*{project}"):
            client.delete(key)
        client.close()


def test_push_writes_feasts_online_store_and_optionally_its_offline_store(
    tmp_path: Path, feast_online: str
) -> None:
    store = feast_store(tmp_path, feast_online)
    store.apply(*stats_definitions(tmp_path, one_file=True))
    store.materialize(None, at(30))
    pushed = pd.DataFrame(
        {
            "driver_id": [1],
            "event_timestamp": [at(20)],
            "created": [at(20)],
            "value": [9.5],
            "trips": [40],
        }
    )
    assert store.push("stats", pushed) == 1
    assert store.get_online_features([1], feature_view="stats")["trips"] == [40]
    entity_df = pd.DataFrame({"driver_id": [1], "event_timestamp": [at(25)]})
    before = store.get_historical_features(entity_df, ["stats:trips"]).to_pandas()
    assert before.trips.tolist() == [4]  # online only, so far
    store.push("stats", pushed.assign(event_timestamp=at(21), trips=41), to_offline=True)
    after = store.get_historical_features(entity_df, ["stats:trips"]).to_pandas()
    assert after.trips.tolist() == [41]
    with pytest.raises(InvalidFeatureInputError, match=r"lack its join key column\(s\) driver_id"):
        store.push("stats", pushed.drop(columns="driver_id"))
    with pytest.raises(InvalidFeatureInputError, match=r"exactly the source's columns"):
        store.push("stats", pushed.assign(extra=1), to_offline=True)


def test_offline_push_to_a_folder_source_is_refused(tmp_path: Path) -> None:
    store = feast_store(tmp_path)
    store.apply(*stats_definitions(tmp_path))
    rows = pd.DataFrame(
        {"driver_id": [1], "event_timestamp": [at(20)], "created": [at(20)], "value": [1.0]}
    )
    with pytest.raises(FeatureBackendUnsupportedError, match=r"single Parquet file source"):
        store.push("stats", rows.assign(trips=1), to_offline=True)


def test_what_feast_cannot_do_is_a_clear_error(tmp_path: Path) -> None:
    store = feast_store(tmp_path)
    driver, view, _ = stats_definitions(tmp_path)
    store.apply(driver, view)
    inline = OnDemandFeatureView(
        "inline", ["stats:value"], [Feature("value2")], function=lambda f: f.rename(columns=str)
    )
    cases = [
        (lambda: store.apply(inline), r"'inline', whose function is not importable by name"),
        (lambda: store.validate("stats"), r"validation is not supported by the feast backend"),
        (lambda: store.check_skew("stats"), r"skew check is not supported by the feast backend"),
        (
            lambda: store.apply(
                FeatureView("v", ["driver"], [Feature("value")], FileSource("x.csv"))
            ),
            r"reads .*csv.* not supported by the feast backend; .*Parquet",
        ),
        (
            lambda: store.apply(
                FeatureView(
                    "v",
                    ["driver"],
                    [Feature("value")],
                    FileSource("x.parquet"),
                    expectations=[Expectation("value", min_value=0)],
                )
            ),
            r"expectations, which is not supported by the feast backend",
        ),
        (
            lambda: store.apply(FeatureView("v", ["nobody"], [Feature("x")], FileSource("x"))),
            r"no entity 'nobody' in the Feast registry",
        ),
    ]
    for call, message in cases:
        with pytest.raises(FeatureBackendUnsupportedError if "registry" not in message
                           else FeatureDefinitionNotFoundError, match=message):  # fmt: skip
            call()
    with pytest.raises(FeatureDefinitionNotFoundError, match="no feature service 'nope'"):
        store.get_feature_service("nope")


def _double(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({"value2": frame["value"] * 2})


def test_on_demand_views_run_the_same_function_in_feast(tmp_path: Path) -> None:
    store = feast_store(tmp_path)
    driver, view, _ = stats_definitions(tmp_path)
    doubled = OnDemandFeatureView("doubled", ["stats:value"], [Feature("value2")], function=_double)
    plan = store.apply(driver, view, doubled, FeatureService("with_odfv", ["doubled:value2"]))
    assert ("on_demand_view", "doubled", "create") in [
        (c.kind, c.name, c.action) for c in plan.changes
    ]
    entity_df = pd.DataFrame({"driver_id": [1, 2], "event_timestamp": [at(11), at(6)]})
    training = store.get_historical_features(entity_df, ["doubled:value2"]).to_pandas()
    assert dict(zip(training.driver_id, training.value2, strict=True)) == {1: 4.0, 2: 10.0}
    store.materialize(None, at(30))
    online = store.get_online_features([2, 1], features=["doubled:value2", "stats:trips"])
    assert online["value2"] == [10.0, 4.0]
    assert online["trips"] == [7, 4]
    assert set(online.event_timestamps) == {"stats"}
    by_service = store.get_online_features([1], features="with_odfv", full_feature_names=True)
    assert by_service["doubled__value2"] == [4.0]
