"""Online stores: one contract for SQLite and Redis, materialization, lookups, freshness, push."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops.errors import ConfigError
from mlops.features import (
    Entity,
    Feature,
    FeatureStore,
    FeatureView,
    FileSource,
    InvalidFeatureInputError,
)
from mlops.features import materialize as materialize_module
from mlops.features.online import open_online_store
from mlops.features.store import OnlineStore, writing

T0 = datetime(2024, 1, 1, tzinfo=UTC)


# --- the OnlineStore contract ----------------------------------------------------------------


@pytest.fixture
def online(online_uri: str) -> OnlineStore:
    store = open_online_store(online_uri)
    yield store  # type: ignore[misc]
    store.delete_table("t")
    store.close()


def test_missing_table_and_keys_read_as_none(online: OnlineStore) -> None:
    assert online.read("t", ["a", "b"]) == [None, None]
    assert online.read("t", []) == []
    online.write("t", [("a", 5, "[1]")])
    assert online.read("t", ["b", "a"]) == [None, (5, "[1]")]


def test_an_older_event_never_replaces_a_newer_one(online: OnlineStore) -> None:
    online.write("t", [("a", 10, "[1]")])
    online.write("t", [("a", 9, "[2]")])
    assert online.read("t", ["a"]) == [(10, "[1]")]
    online.write("t", [("a", 10, "[3]"), ("b", -5, "[4]")])  # equal time: the later write wins
    assert online.read("t", ["a", "b"]) == [(10, "[3]"), (-5, "[4]")]


def test_batched_write_is_invisible_until_commit(online: OnlineStore) -> None:
    online.write("t", [("a", 1, "[1]")])
    writer = online.begin("t")
    writer.write([("a", 2, "[2]"), ("b", 2, "[2]")])
    writer.write([("c", 2, "[2]")])
    assert online.read("t", ["a", "b", "c"]) == [(1, "[1]"), None, None]
    writer.commit()
    assert online.read("t", ["a", "b", "c"]) == [(2, "[2]")] * 3


def test_aborted_write_leaves_the_old_rows(online: OnlineStore) -> None:
    online.write("t", [("a", 1, "[1]")])

    def fail_midway() -> None:
        with writing(online.begin("t")) as writer:
            writer.write([("a", 2, "[2]")])
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        fail_midway()
    assert online.read("t", ["a"]) == [(1, "[1]")]


def test_delete_table(online: OnlineStore) -> None:
    online.write("t", [("a", 1, "[1]")])
    online.delete_table("t")
    assert online.read("t", ["a"]) == [None]


def test_unknown_scheme_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"redis://.*sqlite://"):
        open_online_store("mongodb://x")


# --- materialization and lookups ---------------------------------------------------------------


def write_rows(path: Path, rows: list[dict[str, Any]]) -> str:
    pd.DataFrame(rows).to_parquet(path, index=False)
    return str(path)


def setup_view(
    store: FeatureStore, path: str, ttl: timedelta | None = None, name: str = "stats"
) -> None:
    store.apply(
        Entity("driver", {"driver_id": "int64"}),
        FeatureView(
            name,
            ["driver"],
            [Feature("value"), Feature("trips", "int64"), Feature("city", "string")],
            FileSource(path),
            created_timestamp_field="created",
            ttl=ttl,
        ),
    )


def random_rows(seed: int, drivers: int = 30, n: int = 300) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        minute = rng.randint(0, 100)
        rows.append(
            {
                "driver_id": rng.randint(0, drivers),
                "event_timestamp": (T0 + timedelta(minutes=minute)).replace(tzinfo=None),
                "created": (T0 + timedelta(minutes=minute, seconds=i)).replace(tzinfo=None),
                "value": None if rng.random() < 0.1 else rng.uniform(0, 1),
                "trips": rng.randint(0, 50),
                "city": rng.choice(["a", "b", "c"]),
            }
        )
    return rows


def test_online_equals_offline_point_in_time_value(
    make_store: Callable[..., FeatureStore], online_uri: str, tmp_path: Path
) -> None:
    store = make_store(online_store=online_uri)
    setup_view(store, write_rows(tmp_path / "s.parquet", random_rows(1)))
    end = T0 + timedelta(minutes=70)
    [result] = store.materialize(None, end)
    drivers = list(range(32))
    got = store.get_online_features(drivers, feature_view="stats")
    entity_df = pd.DataFrame({"driver_id": drivers, "event_timestamp": [end] * len(drivers)})
    expected = store.get_historical_features(entity_df, ["stats"]).to_pandas()
    assert result.rows == sum(1 for s in got.event_timestamps["stats"] if s is not None)
    for column in ("value", "trips", "city"):
        offline = [None if pd.isna(v) else v for v in expected[column]]
        assert got[column] == offline, column
    assert any(v is not None for v in got["trips"])


def test_incremental_materialization_continues_where_it_ended(
    make_store: Callable[..., FeatureStore], online_uri: str, tmp_path: Path
) -> None:
    store = make_store(online_store=online_uri)
    rows = random_rows(2)
    setup_view(store, write_rows(tmp_path / "s.parquet", rows))
    first = store.materialize_incremental(T0 + timedelta(minutes=40))
    second = store.materialize_incremental(T0 + timedelta(minutes=100))
    assert first[0].start is None
    assert second[0].start == T0 + timedelta(minutes=40)
    drivers = list(range(31))
    got = store.get_online_features(drivers, feature_view="stats")
    entity_df = pd.DataFrame(
        {"driver_id": drivers, "event_timestamp": [T0 + timedelta(minutes=100)] * 31}
    )
    expected = store.get_historical_features(entity_df, ["stats:trips"]).to_pandas()
    assert got["trips"] == [None if pd.isna(v) else v for v in expected["trips"]]


def test_event_timestamps_and_freshness(
    make_store: Callable[..., FeatureStore], online_uri: str, tmp_path: Path
) -> None:
    store = make_store(online_store=online_uri)
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    rows = [
        {"driver_id": 1, "event_timestamp": now - timedelta(minutes=5), "created": now,
         "value": 1.0, "trips": 1, "city": "a"},
        {"driver_id": 2, "event_timestamp": now - timedelta(hours=5), "created": now,
         "value": 2.0, "trips": 2, "city": "b"},
    ]  # fmt: skip
    setup_view(store, write_rows(tmp_path / "s.parquet", rows), ttl=timedelta(hours=1))
    store.materialize(None, datetime.now(UTC))
    got = store.get_online_features([1, 2, 3], feature_view="stats")
    assert got.fresh["stats"] == [True, False, False]
    stamps = got.event_timestamps["stats"]
    assert stamps[0] == (now - timedelta(minutes=5)).replace(tzinfo=UTC)
    assert stamps[2] is None
    assert got.to_dict()["stats__fresh"] == [True, False, False]


def test_readers_never_see_a_mix_during_materialization(
    make_store: Callable[..., FeatureStore],
    online_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(materialize_module, "BATCH", 100)  # many batches, one publication
    store = make_store(online_store=online_uri)
    drivers = list(range(2000))

    def generation(value: float, minute: int) -> list[dict[str, Any]]:
        ts = (T0 + timedelta(minutes=minute)).replace(tzinfo=None)
        return [
            {"driver_id": d, "event_timestamp": ts, "created": ts, "value": value, "trips": 0,
             "city": "x"}
            for d in drivers
        ]  # fmt: skip

    path = tmp_path / "gen.parquet"
    setup_view(store, write_rows(path, generation(1.0, 1)))
    store.materialize(None, T0 + timedelta(hours=1))
    write_rows(path, generation(2.0, 2))
    seen: list[set[Any]] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.append(set(store.get_online_features(drivers, feature_view="stats")["value"]))

    reads_during: list[int] = []

    def slow_progress(done: int, total: int) -> None:
        # Between batches: let the reader in, and note that it did read meanwhile.
        before = len(seen)
        deadline = time.monotonic() + 2
        while len(seen) == before and time.monotonic() < deadline:
            time.sleep(0.001)
        reads_during.append(len(seen) - before)

    reader = threading.Thread(target=read)
    reader.start()
    try:
        store.materialize(None, T0 + timedelta(hours=1), progress=slow_progress)
    finally:
        stop.set()
        reader.join()
    assert len(reads_during) == 20
    assert all(n > 0 for n in reads_during)
    seen.append(set(store.get_online_features(drivers, feature_view="stats")["value"]))
    assert all(s in ({1.0}, {2.0}) for s in seen), [s for s in seen if len(s) > 1][:1]
    assert seen[0] == {1.0}
    assert seen[-1] == {2.0}


def test_compound_keys_online(
    make_store: Callable[..., FeatureStore], online_uri: str, tmp_path: Path
) -> None:
    store = make_store(online_store=online_uri)
    rows = [
        {"store_id": 1, "sku": "a", "event_timestamp": datetime(2024, 1, 1), "sales": 10},
        {"store_id": 1, "sku": "b", "event_timestamp": datetime(2024, 1, 1), "sales": 20},
    ]
    store.apply(
        Entity("store_sku", {"store_id": "int64", "sku": "string"}),
        FeatureView(
            "sales", ["store_sku"], [Feature("sales", "int64")],
            FileSource(write_rows(tmp_path / "sales.parquet", rows)),
        ),
    )  # fmt: skip
    store.materialize(None, datetime(2024, 2, 1))
    by_tuple = store.get_online_features([(1, "b"), (1, "a"), (2, "a")], feature_view="sales")
    assert by_tuple["sales"] == [20, 10, None]
    by_dict = store.get_online_features({"store_id": [1], "sku": ["a"]}, feature_view="sales")
    assert by_dict["sales"] == [10]
    with pytest.raises(InvalidFeatureInputError, match="one value per key"):
        store.get_online_features([1], feature_view="sales")
    with pytest.raises(InvalidFeatureInputError, match="'store_id' of feature view 'sales'"):
        store.get_online_features([("x", "a")], feature_view="sales")


def test_push_writes_online_and_appends_offline(
    make_store: Callable[..., FeatureStore], online_uri: str, tmp_path: Path
) -> None:
    store = make_store(online_store=online_uri)
    folder = tmp_path / "stats"
    folder.mkdir()
    write_rows(folder / "base.parquet", random_rows(3, n=20))
    setup_view(store, str(folder))
    ts = datetime(2030, 1, 1)
    pushed = [{"driver_id": 7, "event_timestamp": ts, "created": ts, "value": 0.5, "trips": 99,
               "city": "z"}]  # fmt: skip
    assert store.push("stats", pushed, to_offline=True) == 1
    assert store.get_online_features([7], feature_view="stats")["trips"] == [99]
    older = [{**pushed[0], "event_timestamp": datetime(2029, 1, 1), "trips": 1}]
    store.push("stats", older)
    assert store.get_online_features([7], feature_view="stats")["trips"] == [99]
    entity_df = pd.DataFrame({"driver_id": [7], "event_timestamp": [datetime(2031, 1, 1)]})
    offline = store.get_historical_features(entity_df, ["stats:trips"]).to_pandas()
    assert offline["trips"].tolist() == [99]
