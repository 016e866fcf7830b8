"""DriftDetector: verdicts, edge cases, bad input, JSON, saving and attaching to a version."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlops.config import MLOpsConfig
from mlops.errors import MonitoringError, NotFittedError
from mlops.models.registry import ModelRegistry
from mlops.monitoring import DriftDetector, DriftResult, detect_drift
from mlops.monitoring.units import InvalidMonitoringInputError

MakeFrame = Callable[..., pd.DataFrame]


def test_a_shifted_dataset_drifts_and_a_fresh_sample_does_not(make_frame: MakeFrame) -> None:
    ref = make_frame(5000, seed=1)
    detector = DriftDetector(ref, persist=False)
    same = detector.check(make_frame(5000, seed=2))
    assert not same.dataset_drift, same.drifted_columns
    shifted = detector.check(make_frame(5000, seed=3, shift=1.0))
    assert shifted.dataset_drift
    assert set(shifted.drifted_columns) >= {"age", "income"}
    assert "score" not in shifted.drifted_columns
    assert shifted.drift_share == pytest.approx(len(shifted.drifted_columns) / 6)


def test_tests_are_chosen_by_type_and_size(make_frame: MakeFrame) -> None:
    small = detect_drift(make_frame(500, 1), make_frame(500, 2))
    chosen = {name: c.stattest for name, c in small.columns.items()}
    assert chosen == {
        "age": "ks",
        "income": "ks",
        "score": "ks",
        "visits": "ks",
        "color": "chisquare",
        "member": "z",
    }
    large = detect_drift(make_frame(5000, 1), make_frame(5000, 2))
    chosen = {name: c.stattest for name, c in large.columns.items()}
    assert chosen["age"] == "wasserstein"
    assert chosen["color"] == "jensenshannon"
    assert chosen["member"] == "jensenshannon"


def test_named_tests_and_thresholds_apply(make_frame: MakeFrame) -> None:
    result = detect_drift(
        make_frame(800, 1),
        make_frame(800, 2),
        stattest={"age": "psi", "color": "hellinger"},
        stattest_threshold={"age": 0.5},
        columns=["age", "color"],
    )
    assert result.columns["age"].stattest == "psi"
    assert result.columns["age"].threshold == 0.5
    assert result.columns["color"].stattest == "hellinger"
    assert result.columns["color"].threshold == 0.1


def test_new_categories_are_reported(make_frame: MakeFrame) -> None:
    result = detect_drift(make_frame(3000, 1), make_frame(3000, 2, new_category=True))
    color = result.columns["color"]
    assert color.new_categories == ["new"]
    assert color.drifted
    assert "categories not in the reference" in (color.note or "")


def test_missing_values_are_counted_and_an_all_missing_column_is_drifted(
    make_frame: MakeFrame,
) -> None:
    ref = make_frame(1000, 1)
    cur = make_frame(1000, 2)
    cur.loc[:99, "age"] = np.nan
    cur["score"] = np.nan
    result = detect_drift(ref, cur)
    assert result.columns["age"].missing_share_current == pytest.approx(0.1)
    assert result.columns["age"].current_count == 900
    score = result.columns["score"]
    assert score.drifted
    assert score.stattest == "missing"
    assert "every current value is missing" in (score.note or "")
    assert "NaN" in result.to_json() or '"nan"' in result.to_json()


def test_constant_columns_get_a_verdict_not_a_nan() -> None:
    ref = pd.DataFrame({"k": np.ones(2000), "x": np.arange(2000.0)})
    same = detect_drift(ref, pd.DataFrame({"k": np.ones(500), "x": np.arange(500.0)}))
    assert same.columns["k"].constant
    assert same.columns["k"].score == 0.0
    assert not same.columns["k"].drifted
    moved = detect_drift(ref, pd.DataFrame({"k": np.full(500, 2.0), "x": np.arange(500.0)}))
    assert moved.columns["k"].drifted
    assert np.isfinite(moved.columns["k"].score)


def test_infinite_current_values_count_as_missing(make_frame: MakeFrame) -> None:
    ref = pd.DataFrame({"x": np.random.default_rng(0).normal(size=500)})
    cur = pd.DataFrame({"x": np.r_[np.random.default_rng(1).normal(size=498), np.inf, -np.inf]})
    column = detect_drift(ref, cur).columns["x"]
    assert column.current_count == 498
    assert "2 infinite values counted as missing" in (column.note or "")


@pytest.mark.parametrize(
    ("current", "message"),
    [
        (lambda f: pd.DataFrame({"age": [1.0]}), "lacks columns"),
        (lambda f: f(0, 1), "empty"),
        (lambda f: f(10, 1).assign(age="forty"), "numeric in the reference but"),
        (lambda f: np.zeros((5, 3)), "has 3 columns but the reference has 6"),
        (lambda f: "nope.parquet", "does not exist"),
        (lambda f: 42, "must be a pandas DataFrame"),
    ],
)
def test_bad_current_data_is_a_clear_monitoring_error(
    current: Callable[[MakeFrame], object], message: str, make_frame: MakeFrame
) -> None:
    detector = DriftDetector(make_frame(100, 1), persist=False)
    with pytest.raises(MonitoringError, match=message):
        detector.check(current(make_frame))


def test_bad_settings_are_clear_errors(make_frame: MakeFrame) -> None:
    with pytest.raises(InvalidMonitoringInputError, match="does not parse"):
        DriftDetector(make_frame(10, 1), detection_window="1 fortnight")
    with pytest.raises(InvalidMonitoringInputError, match="share of columns"):
        DriftDetector(make_frame(10, 1), alert_threshold=5)
    with pytest.raises(InvalidMonitoringInputError, match="unknown stattest"):
        DriftDetector(make_frame(10, 1), stattest="t-test")
    with pytest.raises(InvalidMonitoringInputError, match="not in the reference"):
        DriftDetector(make_frame(10, 1), columns=["height"]).fit()
    ref = make_frame(10, 1).assign(empty=np.nan)
    with pytest.raises(InvalidMonitoringInputError, match="'empty' has no values"):
        DriftDetector(ref).fit()
    with pytest.raises(NotFittedError):
        DriftDetector().check(make_frame(10, 1))
    with pytest.raises(InvalidMonitoringInputError, match="takes numeric"):
        detect_drift(make_frame(50, 1), make_frame(50, 2), stattest="ks")


def test_every_input_form_is_accepted(tmp_path: Path, make_frame: MakeFrame) -> None:
    frame = make_frame(300, 1)[["age", "score"]]
    path = tmp_path / "ref.parquet"
    frame.to_parquet(path)
    expected = detect_drift(frame, frame).to_dict()
    for form in (pa.Table.from_pandas(frame), str(path), frame.to_dict("list")):
        assert detect_drift(form, frame).to_dict() == expected
    arr = detect_drift(frame.to_numpy(), frame.to_numpy())
    assert list(arr.columns) == ["feature_0", "feature_1"]


def test_same_input_same_result_and_json_round_trip(make_frame: MakeFrame) -> None:
    ref, cur = make_frame(3000, 1), make_frame(3000, 5, shift=0.2)
    first = DriftDetector(ref, multivariate=True, persist=False).check(cur)
    second = DriftDetector(ref, multivariate=True, persist=False).check(cur)
    assert first.to_json() == second.to_json()
    assert DriftResult.from_json(first.to_json()) == first


def test_domain_classifier_sees_a_correlation_flip_the_marginals_miss() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=4000)
    noise = rng.normal(scale=0.3, size=4000)
    ref = pd.DataFrame({"a": x, "b": x + noise})
    y = rng.normal(size=4000)
    cur = pd.DataFrame({"a": y, "b": -y + rng.normal(scale=0.3, size=4000)})
    result = DriftDetector(ref, multivariate=True, persist=False).check(cur)
    assert result.multivariate is not None
    assert result.multivariate.drifted
    assert result.multivariate.auc > 0.9
    same = DriftDetector(ref, multivariate=True, persist=False).check(
        pd.DataFrame({"a": y, "b": y + rng.normal(scale=0.3, size=4000)})
    )
    assert same.multivariate is not None
    assert not same.multivariate.drifted


def test_prediction_drift(make_frame: MakeFrame) -> None:
    rng = np.random.default_rng(4)
    ref = make_frame(2000, 1)
    detector = DriftDetector(ref, reference_predictions=rng.uniform(size=2000), persist=False)
    result = detector.check(make_frame(2000, 2), predictions=rng.uniform(0.3, 1.0, size=2000))
    assert result.prediction is not None
    assert result.prediction.drifted
    calm = detector.check(make_frame(2000, 3), predictions=rng.uniform(size=2000))
    assert calm.prediction is not None
    assert not calm.prediction.drifted


def test_saved_detector_gives_identical_results_without_the_reference(
    tmp_path: Path, make_frame: MakeFrame
) -> None:
    ref, cur = make_frame(150_000, 1), make_frame(20_000, 2, shift=0.1)
    detector = DriftDetector(ref, categorical_columns=["visits"], persist=False).fit()
    path = detector.save(tmp_path / "detector.npz")
    loaded = DriftDetector.load(path, persist=False)
    assert loaded.reference_data is None  # nothing re-read: only the summary
    assert loaded.check(cur).to_dict() == detector.check(cur).to_dict()
    assert loaded.kinds_["visits"] == "categorical"
    (tmp_path / "junk.npz").write_bytes(b"nope")
    with pytest.raises(InvalidMonitoringInputError, match="not a saved DriftDetector"):
        DriftDetector.load(tmp_path / "junk.npz")


def test_attach_to_a_registered_version_and_load_it_back(
    mon_config: MLOpsConfig, make_frame: MakeFrame
) -> None:
    from sklearn.linear_model import LogisticRegression

    ref = make_frame(1000, 1)
    model = LogisticRegression().fit(ref[["age", "score"]], ref["member"])
    registry = ModelRegistry(config=mon_config)
    version = registry.register_model("churn", model)
    detector = DriftDetector(ref, config=mon_config)
    name = detector.attach(version)
    assert name == "churn-v1-drift"
    again = DriftDetector.for_model("churn/1", config=mon_config, persist=False)
    cur = make_frame(1000, 2)
    assert again.check(cur).to_dict() == detector.check(cur).to_dict()
    assert again.model_version == "churn/1"
    with pytest.raises(MonitoringError.__mro__[1], match="no drift detector"):
        DriftDetector.for_model("churn/1", name="other", config=mon_config)


def test_monitoring_through_a_server_uri_uses_the_server(rest_server: str, tmp_path: Path) -> None:
    from mlops.monitoring.store import monitoring_store
    from mlops.store.rest.monitoring import RestMonitoringStore

    config = MLOpsConfig(home=tmp_path / "h", tracking_uri=rest_server)
    assert isinstance(monitoring_store(config), RestMonitoringStore)
