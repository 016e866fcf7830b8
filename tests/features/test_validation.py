"""Expectations at materialization and on training sets, statistics, and the skew check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd
import pytest

from mlops.features import (
    Entity,
    Expectation,
    Feature,
    FeatureStore,
    FeatureValidationError,
    FeatureView,
    FileSource,
    InvalidFeatureInputError,
)
from mlops.features.skew import SkewCheckError

END = datetime(2024, 2, 1, tzinfo=UTC)


def setup(store: FeatureStore, tmp_path: Path, values: list[float | None], **kw: object) -> str:
    path = tmp_path / "v.parquet"
    n = len(values)
    pd.DataFrame(
        {
            "driver_id": list(range(n)),
            "event_timestamp": [datetime(2024, 1, 1)] * n,
            "value": values,
        }
    ).to_parquet(path, index=False)
    store.apply(
        Entity("driver", {"driver_id": "int64"}),
        FeatureView("v", ["driver"], [Feature("value")], FileSource(str(path)), **kw),  # type: ignore[arg-type]
    )
    return str(path)


RANGE = (Expectation("value", min_value=0, max_value=10, max_null_share=0.25),)


def test_good_data_materializes_with_a_report(store: FeatureStore, tmp_path: Path) -> None:
    setup(store, tmp_path, [1.0, 2.0, 3.0, None], expectations=RANGE)
    [result] = store.materialize(None, END)
    assert result.validation is not None
    assert result.validation.ok
    assert result.validation.stats["value"].nulls == 1
    assert result.validation.stats["value"].max == 3.0


def test_bad_data_stops_materialization_before_anything_is_written(
    store: FeatureStore, tmp_path: Path
) -> None:
    setup(store, tmp_path, [1.0, 20.0, None, None], expectations=RANGE)
    with pytest.raises(FeatureValidationError, match=r"above 10.*50\.0% null") as caught:
        store.materialize(None, END)
    assert not caught.value.report.ok  # type: ignore[attr-defined]
    assert store.get_online_features([0, 1], feature_view="v")["value"] == [None, None]
    store.materialize(None, END, validate=False)
    assert store.get_online_features([0, 1], feature_view="v")["value"] == [1.0, 20.0]


def test_unique_keys_expectation(store: FeatureStore, tmp_path: Path) -> None:
    path = tmp_path / "dup.parquet"
    pd.DataFrame(
        {"driver_id": [1, 1], "event_timestamp": [datetime(2024, 1, 1)] * 2, "value": [1.0, 2.0]}
    ).to_parquet(path)
    store.apply(
        Entity("driver", {"driver_id": "int64"}),
        FeatureView("v", ["driver"], [Feature("value")], FileSource(str(path)),
                    expectations=(Expectation.unique_keys(),)),
    )  # fmt: skip
    report = store.validate("v")
    assert report.failures == ["feature view 'v': 1 rows repeat join keys and event time"]


def test_training_set_validation(store: FeatureStore, tmp_path: Path) -> None:
    setup(store, tmp_path, [1.0, 50.0], expectations=RANGE)
    entities = pd.DataFrame({"driver_id": [0, 1, 5], "event_timestamp": [END] * 3})
    training = store.get_historical_features(entities, ["v:value"])
    report = training.validate()
    assert report.failures == [
        "training set: 'value' has values above 10 (max 50.0)",
        "training set: 'value' is 33.3% null, more than 25.0%",
    ]
    with pytest.raises(FeatureValidationError):
        training.validate(raise_on_failure=True)


def test_bad_expectation_is_refused() -> None:
    with pytest.raises(InvalidFeatureInputError, match=r"max_null_share must be in 0\.\.1"):
        Expectation("value", max_null_share=2)


def test_skew_check_agrees_after_materialization_and_finds_rewritten_sources(
    make_store: Callable[..., FeatureStore], tmp_path: Path
) -> None:
    store = make_store()
    path = setup(store, tmp_path, [float(i) for i in range(20)])
    with pytest.raises(SkewCheckError, match="never materialized"):
        store.check_skew("v")
    store.materialize(None, END)
    report = store.check_skew("v", sample=10)
    assert report.sampled == 10
    assert report.ok
    # The source is rewritten after materialization: training would now see other values.
    frame = pd.read_parquet(path)
    frame.loc[frame.driver_id < 5, "value"] = -1.0
    frame.to_parquet(path, index=False)
    report = store.check_skew("v", sample=20)
    assert report.mismatches == {"value": 5}
    assert report.examples[0]["offline"] == -1.0
