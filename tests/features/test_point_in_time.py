"""Point-in-time semantics of get_historical_features, each rule in its own test, plus randomized
comparison with a brute-force reference (every candidate row checked in Python)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from mlops.features import (
    Entity,
    Feature,
    FeatureStore,
    FeatureView,
    FileSource,
    InvalidFeatureInputError,
)

T0 = datetime(2024, 1, 1)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def write(tmp_path: Path, name: str, rows: list[dict[str, Any]]) -> str:
    path = tmp_path / f"{name}.parquet"
    frame = pd.DataFrame(rows)
    frame.to_parquet(path, index=False)
    return str(path)


def simple_view(
    store: FeatureStore,
    tmp_path: Path,
    rows: list[dict[str, Any]],
    ttl: timedelta | None = None,
    created: bool = True,
    name: str = "stats",
) -> FeatureView:
    view = FeatureView(
        name,
        ["driver"],
        [Feature("value", "float64")],
        FileSource(write(tmp_path, name, rows)),
        created_timestamp_field="created" if created else None,
        ttl=ttl,
    )
    store.apply(Entity("driver", {"driver_id": "int64"}), view)
    return view


def entity_frame(rows: list[tuple[int, datetime]], **extra: list[Any]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["driver_id", "event_timestamp"])
    for name, values in extra.items():
        frame[name] = values
    return frame


def values(store: FeatureStore, entities: pd.DataFrame, refs: list[str], **kw: Any) -> list[Any]:
    out = store.get_historical_features(entities, refs, **kw).to_pandas()
    return [None if pd.isna(v) else v for v in out[refs[0].split(":")[1]]]


def row(
    driver: int, minute: float, value: float | None, created: float | None = None
) -> dict[str, Any]:
    return {
        "driver_id": driver,
        "event_timestamp": at(minute),
        "created": at(created if created is not None else minute),
        "value": value,
    }


def test_ttl_boundary_is_inclusive(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0)], ttl=timedelta(minutes=10))
    entities = entity_frame([(1, at(10)), (1, at(10) + timedelta(microseconds=1))])
    assert values(store, entities, ["stats:value"]) == [1.0, None]


def test_unlimited_ttl(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0)], ttl=None)
    entities = entity_frame([(1, at(60 * 24 * 365 * 10))])
    assert values(store, entities, ["stats:value"]) == [1.0]


def test_zero_ttl_means_unlimited(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0)], ttl=timedelta(0))
    assert values(store, entity_frame([(1, at(1000))]), ["stats:value"]) == [1.0]


def test_ties_on_event_time_go_to_the_latest_created(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(
        store,
        tmp_path,
        [row(1, 5, 1.0, created=6), row(1, 5, 2.0, created=9), row(1, 5, 3.0, created=7)],
    )
    assert values(store, entity_frame([(1, at(5))]), ["stats:value"]) == [2.0]


def test_late_arriving_rows_count_by_event_time(store: FeatureStore, tmp_path: Path) -> None:
    # Written at minute 50 about minute 5: by default it is the value as of minute 10.
    simple_view(store, tmp_path, [row(1, 0, 1.0), row(1, 5, 2.0, created=50)])
    assert values(store, entity_frame([(1, at(10))]), ["stats:value"]) == [2.0]


def test_known_at_mode_ignores_rows_written_later(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0), row(1, 5, 2.0, created=50)])
    entities = entity_frame([(1, at(10)), (1, at(50))])
    assert values(store, entities, ["stats:value"], known_at=True) == [1.0, 2.0]


def test_known_at_needs_created_timestamps(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0)], created=False)
    with pytest.raises(InvalidFeatureInputError, match=r"stats.*created_timestamp_field"):
        store.get_historical_features(entity_frame([(1, at(1))]), ["stats:value"], known_at=True)


def test_entity_rows_before_any_feature_row_get_nulls(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 10, 1.0)])
    assert values(store, entity_frame([(1, at(9)), (1, at(10))]), ["stats:value"]) == [None, 1.0]


def test_rows_outside_the_ttl_are_null_not_dropped(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0)], ttl=timedelta(minutes=5))
    entities = entity_frame([(1, at(1)), (1, at(6)), (1, at(2))], label=[1, 2, 3])
    out = store.get_historical_features(entities, ["stats:value"]).to_pandas()
    assert out["label"].tolist() == [1, 2, 3]
    assert [None if pd.isna(v) else v for v in out["value"]] == [1.0, None, 1.0]


def test_duplicate_entity_rows_are_kept_in_order(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0), row(2, 0, 2.0)])
    entities = entity_frame([(2, at(1)), (1, at(1)), (2, at(1)), (2, at(1))], n=[0, 1, 2, 3])
    out = store.get_historical_features(entities, ["stats:value"]).to_pandas()
    assert out["n"].tolist() == [0, 1, 2, 3]
    assert out["value"].tolist() == [2.0, 1.0, 2.0, 2.0]


def test_null_feature_values_stay_null(store: FeatureStore, tmp_path: Path) -> None:
    # The latest row's value is null: no fallback to the older non-null value.
    simple_view(store, tmp_path, [row(1, 0, 1.0), row(1, 5, None)])
    assert values(store, entity_frame([(1, at(6))]), ["stats:value"]) == [None]


def test_compound_keys(store: FeatureStore, tmp_path: Path) -> None:
    rows = [
        {"store_id": 1, "sku": "a", "event_timestamp": at(0), "sales": 10},
        {"store_id": 1, "sku": "b", "event_timestamp": at(0), "sales": 20},
        {"store_id": 2, "sku": "a", "event_timestamp": at(0), "sales": 30},
    ]
    store.apply(
        Entity("store_sku", {"store_id": "int64", "sku": "string"}),
        FeatureView(
            "sales",
            ["store_sku"],
            [Feature("sales", "int64")],
            FileSource(write(tmp_path, "sales", rows)),
        ),
    )
    entities = pd.DataFrame(
        {"store_id": [2, 1, 1, 2], "sku": ["a", "b", "a", "b"], "event_timestamp": [at(1)] * 4}
    )
    out = store.get_historical_features(entities, ["sales:sales"]).to_pandas()
    assert [None if pd.isna(v) else v for v in out["sales"]] == [30, 20, 10, None]


def test_several_views_with_different_ttls(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0)], ttl=timedelta(minutes=5), name="short")
    store.apply(
        FeatureView(
            "long",
            ["driver"],
            [Feature("value", "float64")],
            FileSource(write(tmp_path, "long", [row(1, 0, 7.0)])),
            ttl=timedelta(hours=1),
        )
    )
    entities = entity_frame([(1, at(3)), (1, at(30)), (1, at(90))])
    out = store.get_historical_features(
        entities, ["short:value", "long:value"], full_feature_names=True
    ).to_pandas()
    assert [None if pd.isna(v) else v for v in out["short__value"]] == [1.0, None, None]
    assert [None if pd.isna(v) else v for v in out["long__value"]] == [7.0, 7.0, None]


def test_same_feature_name_in_two_views_needs_full_names(
    store: FeatureStore, tmp_path: Path
) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0)], name="a")
    simple_view(store, tmp_path, [row(1, 0, 2.0)], name="b")
    with pytest.raises(InvalidFeatureInputError, match=r"full_feature_names=True"):
        store.get_historical_features(entity_frame([(1, at(1))]), ["a:value", "b:value"])


def test_aware_timestamps_are_converted_and_naive_ones_are_utc(
    store: FeatureStore, tmp_path: Path
) -> None:
    # Feature rows in Tokyo time; entity times naive (UTC) and in New York time.
    tokyo = pd.Timestamp(at(0), tz="UTC").tz_convert("Asia/Tokyo")
    rows = [{"driver_id": 1, "event_timestamp": tokyo, "value": 1.0}]
    store.apply(
        Entity("driver", {"driver_id": "int64"}),
        FeatureView(
            "tz",
            ["driver"],
            [Feature("value")],
            FileSource(write(tmp_path, "tz", rows)),
            ttl=timedelta(minutes=1),
        ),
    )
    just_before = pd.Timestamp(at(0) - timedelta(seconds=1), tz="UTC").tz_convert(
        "America/New_York"
    )
    at_boundary = pd.Timestamp(at(1), tz="UTC").tz_convert("America/New_York")
    aware = pd.DataFrame({"driver_id": [1, 1], "event_timestamp": [just_before, at_boundary]})
    naive = pd.DataFrame(
        {"driver_id": [1, 1], "event_timestamp": [at(0) - timedelta(seconds=1), at(1)]}
    )
    assert values(store, aware, ["tz:value"]) == [None, 1.0]
    assert values(store, naive, ["tz:value"]) == [None, 1.0]


def test_timestamp_column_of_the_wrong_type_is_named(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0)])
    entities = pd.DataFrame({"driver_id": [1], "event_timestamp": [1_700_000_000]})
    with pytest.raises(
        InvalidFeatureInputError, match=r"entity_df: column 'event_timestamp' must hold timestamps"
    ):
        store.get_historical_features(entities, ["stats:value"])


def test_results_as_arrow_and_parquet(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0)])
    training = store.get_historical_features(
        entity_frame([(1, at(1)), (2, at(1))]), ["stats:value"]
    )
    assert training.to_arrow().column("value").to_pylist() == [1.0, None]
    path = training.to_parquet(tmp_path / "out" / "train.parquet")
    assert pd.read_parquet(path)["value"].tolist()[0] == 1.0


# --- randomized comparison with a brute-force reference -------------------------------------------


def reference(
    feature_rows: list[dict[str, Any]],
    entity_rows: list[dict[str, Any]],
    ttl: timedelta | None,
    known_at: bool,
) -> list[Any]:
    out = []
    for e in entity_rows:
        t = e["event_timestamp"]
        candidates = [
            r
            for r in feature_rows
            if (r["a"], r["b"]) == (e["a"], e["b"])
            and r["event_timestamp"] <= t
            and (not known_at or r["created"] <= t)
        ]
        if not candidates:
            out.append(None)
            continue
        best = max(candidates, key=lambda r: (r["event_timestamp"], r["created"]))
        if ttl is not None and best["event_timestamp"] < t - ttl:
            out.append(None)
        else:
            out.append(best["value"])
    return out


def random_case(
    seed: int, first_minute: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Random feature and entity rows; entity times from ``first_minute`` on (later ones let the
    query prune old feature rows by time, which must not change any answer)."""
    rng = random.Random(seed)
    feature_rows = []
    created_offsets = iter(rng.sample(range(1, 10_000), 400))  # unique: no tie on (ts, created)
    for _ in range(rng.randint(0, 60)):
        minute = rng.randint(0, 20)
        feature_rows.append(
            {
                "a": rng.randint(0, 3),
                "b": rng.choice(["x", "y"]),
                "event_timestamp": at(minute),
                "created": at(minute) + timedelta(seconds=next(created_offsets)),
                "value": None if rng.random() < 0.15 else round(rng.uniform(-5, 5), 3),
            }
        )
    entity_rows = [
        {
            "a": rng.randint(0, 4),
            "b": rng.choice(["x", "y", "z"]),
            "event_timestamp": at(rng.randint(first_minute, 25)),
        }
        for _ in range(rng.randint(1, 40))
    ]
    return feature_rows, entity_rows


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("known_at", [False, True])
@pytest.mark.parametrize("first_minute", [0, 12])
def test_matches_brute_force_reference(
    make_store: Any, tmp_path: Path, seed: int, known_at: bool, first_minute: int
) -> None:
    feature_rows, entity_rows = random_case(seed, first_minute)
    ttl = [None, timedelta(minutes=5), timedelta(minutes=1)][seed % 3]
    store = make_store()
    schema = {
        "a": "int64",
        "b": "str",
        "event_timestamp": "datetime64[us]",
        "created": "datetime64[us]",
        "value": "float64",
    }
    frame = pd.DataFrame(feature_rows, columns=list(schema)).astype(schema)
    path = tmp_path / f"random{seed}.parquet"
    frame.to_parquet(path, index=False)
    store.apply(
        Entity("ab", {"a": "int64", "b": "string"}),
        FeatureView(
            "rnd",
            ["ab"],
            [Feature("value")],
            FileSource(str(path)),
            created_timestamp_field="created",
            ttl=ttl,
        ),
    )
    entities = pd.DataFrame(entity_rows)
    got = store.get_historical_features(entities, ["rnd:value"], known_at=known_at).to_pandas()
    expected = reference(feature_rows, entity_rows, ttl, known_at)
    assert len(got) == len(entity_rows)
    assert got[["a", "b"]].to_dict("records") == [{"a": e["a"], "b": e["b"]} for e in entity_rows]
    actual = [None if pd.isna(v) else v for v in got["value"]]
    assert actual == expected, (seed, known_at)
    assert np.array_equal(got["event_timestamp"].to_numpy(), entities["event_timestamp"].to_numpy())


def test_reference_is_not_vacuous() -> None:
    # The randomized cases exercise hits, misses, TTL expiry and nulls.
    kinds = set()
    for seed in range(12):
        feature_rows, entity_rows = random_case(seed)
        for ttl in (None, timedelta(minutes=1)):
            for v in reference(feature_rows, entity_rows, ttl, False):
                kinds.add("null" if v is None else "value")
    assert kinds == {"null", "value"}
    assert datetime.now(UTC) > datetime(2020, 1, 1, tzinfo=UTC)


def test_empty_entity_frame_gives_no_rows(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0)], ttl=timedelta(minutes=5))
    empty = entity_frame([]).astype({"driver_id": "int64", "event_timestamp": "datetime64[us]"})
    out = store.get_historical_features(empty, ["stats:value"]).to_pandas()
    assert list(out.columns) == ["driver_id", "event_timestamp", "value"]
    assert len(out) == 0


def test_feature_rows_of_keys_not_asked_for_do_not_change_answers(
    store: FeatureStore, tmp_path: Path
) -> None:
    # Driver 2's rows are pruned before the join (no entity row has its key); driver 1's old
    # row is pruned by time yet still the answer must be null (outside the TTL), not another.
    rows = [row(1, 0, 1.0), row(1, 30, 2.0), row(2, 29, 9.0), row(2, 31, 8.0)]
    simple_view(store, tmp_path, rows, ttl=timedelta(minutes=5))
    entities = entity_frame([(1, at(29)), (1, at(33)), (1, at(40))])
    assert values(store, entities, ["stats:value"]) == [None, 2.0, None]


def test_a_ttl_of_centuries_is_as_good_as_unlimited(store: FeatureStore, tmp_path: Path) -> None:
    simple_view(store, tmp_path, [row(1, 0, 1.0)], ttl=timedelta(days=5 * 10**8))
    assert values(store, entity_frame([(1, at(10**6))]), ["stats:value"]) == [1.0]
