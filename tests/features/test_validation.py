"""Expectations at materialization and on training sets, statistics, and the skew check."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.errors import MLOpsError
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


def skew_view(store: FeatureStore, tmp_path: Path, n: int = 200) -> pd.DataFrame:
    """A view of three features (float, int, string) over ``n`` drivers, materialized."""
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "driver_id": np.arange(n, dtype=np.int64),
            "event_timestamp": [datetime(2024, 1, 1)] * n,
            "speed": rng.normal(50, 5, n),
            "trips": rng.integers(0, 20, n),
            "city": rng.choice(["oslo", "rome", "lima"], n),
        }
    )
    path = tmp_path / "skew.parquet"
    frame.to_parquet(path, index=False)
    store.apply(
        Entity("driver", {"driver_id": "int64"}),
        FeatureView(
            "trips",
            ["driver"],
            [Feature("speed"), Feature("trips", "int64"), Feature("city", "string")],
            FileSource(str(path)),
        ),
    )
    store.materialize(None, END)
    return frame


def pushed(frame: pd.DataFrame, **changes: object) -> pd.DataFrame:
    """The rows again, later (but before the materialization's end), with some columns changed:
    online-only values, as a push that was never logged offline leaves them."""
    out = frame.assign(event_timestamp=datetime(2024, 1, 15))
    return out.assign(**changes)


def test_skew_check_runs_the_monitoring_drift_tests_per_feature(
    store: FeatureStore, tmp_path: Path
) -> None:
    skew_view(store, tmp_path)
    report = store.check_skew("trips", sample=200)
    assert report.ok
    assert set(report.tests) == {"speed", "trips", "city"}
    for test in report.tests.values():
        assert test.stattest is not None
        assert not test.drifted
        assert test.threshold is not None
    assert report.tests["speed"].stattest == "ks"
    assert report.tests["speed"].statistic == 0.0  # the same sample on both sides


def test_injected_skew_is_found_by_drift_tests_and_by_counts(
    store: FeatureStore, tmp_path: Path
) -> None:
    frame = skew_view(store, tmp_path)
    # Online, speed is in another unit (+30) and every city reads "oslo"; trips is untouched.
    store.push("trips", pushed(frame, speed=frame.speed + 30, city="oslo"))
    report = store.check_skew("trips", sample=200)
    assert not report.ok
    assert report.mismatches["speed"] == 200
    assert report.mismatches["trips"] == 0
    assert sorted(report.drifted) == ["city", "speed"]
    speed = report.tests["speed"]
    assert speed.stattest == "ks"
    assert speed.p_value is not None
    assert speed.p_value < 1e-6
    assert report.tests["trips"].drifted is False
    assert report.tests["city"].stattest is not None


def test_a_few_wrong_values_are_counted_but_not_a_distribution_change(
    store: FeatureStore, tmp_path: Path
) -> None:
    frame = skew_view(store, tmp_path)
    store.push("trips", pushed(frame.head(3), speed=frame.speed.head(3) + 1.0))
    report = store.check_skew("trips", sample=200)
    assert report.mismatches == {"speed": 3, "trips": 0, "city": 0}
    assert report.drifted == []
    assert not report.ok  # exact differences still fail the check


def test_skew_stattest_and_threshold_are_passed_to_the_drift_tests(
    store: FeatureStore, tmp_path: Path
) -> None:
    frame = skew_view(store, tmp_path)
    store.push("trips", pushed(frame, speed=frame.speed + 30))
    report = store.check_skew(
        "trips", sample=200, stattest={"speed": "psi"}, threshold={"speed": 0.2}
    )
    assert report.tests["speed"].stattest == "psi"
    assert report.tests["speed"].threshold == 0.2
    assert report.tests["speed"].drifted
    with pytest.raises(MLOpsError, match="nope"):
        store.check_skew("trips", stattest="nope")


def test_a_feature_without_values_on_one_side_is_not_tested(
    store: FeatureStore, tmp_path: Path
) -> None:
    setup(store, tmp_path, [None] * 5)
    store.materialize(None, END)
    report = store.check_skew("v")
    test = report.tests["value"]
    assert test.stattest is None
    assert not test.drifted
    assert test.note == "no offline or online values in the sample: nothing to test"
    assert report.ok
