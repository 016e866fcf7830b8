"""``backend="feast"``: the point-in-time contract where Feast's semantics allow, and pinned
differences where they do not (documented in docs/features.md, "Feast backend").

Runs where Feast is installed (``mlops[feast]``, in its own environment: it pins pandas and
SQLAlchemy ranges of its own); skipped elsewhere.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from mlops.config import MLOpsConfig
from mlops.errors import InvalidStateError
from mlops.features import FeatureStore

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
