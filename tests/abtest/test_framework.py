"""ABTestFramework on a real store (SQLite and PostgreSQL): assignment, outcomes, live analysis
with daily looks, the sample-ratio block, stopping, and the errors bad input gets."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import IsolationForest

from mlops.config import MLOpsConfig
from mlops.errors import InvalidInputError, InvalidStateError, NotFoundError
from mlops.experiments.abtest import ABTestExistsError, ABTestFramework, ABTestResults
from mlops.experiments.abtest.analysis import DAY_MS
from mlops.experiments.abtest.assignment import assign
from mlops.experiments.abtest.replay import replay_outcomes
from mlops.experiments.abtest.srm import srm_check
from mlops.models.deployment.router import Backend, TrafficRouter
from mlops.models.serving import ModelEnsemble


def _test(config: MLOpsConfig, name: str = "checkout", **kwargs: object) -> ABTestFramework:
    kwargs.setdefault("traffic_split", {"control": 0.5, "treatment": 0.5})
    kwargs.setdefault("success_metrics", ["conversion", "revenue:mean", "latency_ms"])
    return ABTestFramework(name, config=config, **kwargs)  # type: ignore[arg-type]


def _simulate(
    test: ABTestFramework, days: int, per_day: int, rates: dict[str, float], seed: int
) -> None:
    """Units arrive over ``days`` days; each logs conversion, revenue and latency."""
    rng = np.random.default_rng(seed)
    start = test.record.created_at
    rows = []
    for day in range(days):
        for i in range(per_day):
            unit = f"u{day}-{i}"
            variant = test.assign(unit)
            rows.append(
                {
                    "unit_id": unit,
                    "at": start + day * DAY_MS + 1000 * i,
                    "values": {
                        "conversion": float(rng.random() < rates[variant]),
                        "revenue": float(rng.gamma(2.0, 10.0)),
                        "latency_ms": float(rng.lognormal(3, 0.5)),
                    },
                }
            )
    test.log_outcomes(rows)


# --- assignment -------------------------------------------------------------------------------


def test_assignment_is_sticky_and_matches_the_split() -> None:
    split = {"a": 0.7, "b": 0.2, "c": 0.1}
    keys = [f"user-{i}" for i in range(20_000)]
    first = [assign(k, split) for k in keys]
    assert first == [assign(k, split) for k in keys]  # sticky: the same key, the same variant
    shares = pd.Series(first).value_counts(normalize=True)
    for name, share in split.items():
        assert shares[name] == pytest.approx(share, abs=0.012)
    assert not srm_check(pd.Series(first).value_counts().to_dict(), split).mismatch
    # Salted, a different test reshuffles users but keeps the split.
    salted = pd.Series([assign(k, split, salt="other") for k in keys])
    assert (salted != pd.Series(first)).mean() > 0.3
    assert salted.value_counts(normalize=True)["a"] == pytest.approx(0.7, abs=0.012)


def test_assignment_agrees_with_the_ensemble_and_the_router(sqlite_config: MLOpsConfig) -> None:
    test = _test(sqlite_config, traffic_split={"control": 0.3, "treatment": 0.7})
    ensemble = ModelEnsemble({"control": object(), "treatment": object()},
                             weights={"control": 0.3, "treatment": 0.7})  # fmt: skip
    router = TrafficRouter([Backend("control", ["http://a"], 0.3),
                            Backend("treatment", ["http://b"], 0.7)])  # fmt: skip
    for i in range(2000):
        assert test.assign(f"k{i}") == ensemble.assign(f"k{i}") == router.choose(f"k{i}").name


def test_srm_is_detected_on_52_48_at_scale() -> None:
    split = {"a": 0.5, "b": 0.5}
    assert srm_check({"a": 10_400, "b": 9_600}, split).mismatch
    assert not srm_check({"a": 10_040, "b": 9_960}, split).mismatch
    # A/A on honest binomial counts: the 0.001 threshold almost never trips.
    rng = np.random.default_rng(5)
    trips = [srm_check({"a": int(a), "b": 20_000 - int(a)}, split).mismatch
             for a in rng.binomial(20_000, 0.5, 2000)]  # fmt: skip
    assert np.mean(trips) < 0.005


# --- live tests on the store ------------------------------------------------------------------


def test_live_test_declares_a_winner_mid_test(ab_config: MLOpsConfig) -> None:
    test = _test(ab_config)
    _simulate(test, days=6, per_day=400, rates={"control": 0.10, "treatment": 0.16}, seed=1)
    results = test.analyze(at=test.record.created_at + 6 * DAY_MS)
    assert results.verdict.status == "winner", results.verdict
    assert results.verdict.winner == "treatment"
    looks = results.sequential[0]
    assert len(looks.z_values) == 6
    assert looks.crossed_at is not None
    assert not looks.complete
    assert results.treatment.performance > results["control"].performance  # a field's name
    tests = {c.metric: c.test for c in results.comparisons}
    assert tests == {"conversion": "z-test", "revenue": "welch", "latency_ms": "mann-whitney"}
    # The analysis is stored with the test and the same test loads from the store.
    loaded = ABTestFramework.load("checkout", config=ab_config)
    assert loaded.record.result is not None
    assert loaded.record.result["verdict"]["winner"] == "treatment"
    assert loaded.status().units == {"control": pytest.approx(1200, abs=120),
                                     "treatment": pytest.approx(1200, abs=120)}  # fmt: skip


def test_live_null_test_keeps_running_then_ends_without_a_difference(
    sqlite_config: MLOpsConfig,
) -> None:
    test = _test(sqlite_config, duration_days=4)
    _simulate(test, days=4, per_day=300, rates={"control": 0.1, "treatment": 0.1}, seed=2)
    start = test.record.created_at
    assert test.analyze(at=start + 2 * DAY_MS).verdict.status == "running"
    final = test.analyze(at=start + 4 * DAY_MS + 1)
    assert final.verdict.status == "no_difference"
    assert final.sequential[0].complete


def test_sample_ratio_mismatch_blocks_the_verdict(sqlite_config: MLOpsConfig) -> None:
    test = _test(sqlite_config, success_metrics=["conversion"], sequential=None)
    rng = np.random.default_rng(3)
    rows = [
        {"unit_id": f"u{i}", "variant": "control" if i < 10_400 else "treatment",
         "values": {"conversion": float(rng.random() < (0.1 if i < 10_400 else 0.2))}}
        for i in range(20_000)
    ]  # fmt: skip
    test.log_outcomes(rows)
    results = test.analyze()
    assert results.srm is not None
    assert results.srm.mismatch
    assert results.verdict.status == "srm_mismatch"
    assert results.verdict.winner is None
    assert results.verdict.blocked
    with pytest.raises(InvalidStateError, match="no winner"):
        test.promote_winner(results)


def test_outcomes_replace_by_unit_and_stop_closes_the_test(ab_config: MLOpsConfig) -> None:
    test = _test(ab_config, success_metrics=["conversion"])
    test.log_outcome("u1", {"conversion": 0}, variant="control")
    test.log_outcome("u1", {"conversion": 1}, variant="control")
    frame = test.store.list_outcomes(test.id)
    assert frame[["unit_id", "value"]].values.tolist() == [["u1", 1.0]]
    assert test.stop().status == "stopped"
    with pytest.raises(InvalidStateError, match="stopped"):
        test.log_outcome("u2", {"conversion": 1})


def test_the_same_plan_reuses_the_test_and_another_plan_is_refused(
    sqlite_config: MLOpsConfig,
) -> None:
    first = _test(sqlite_config).record
    assert _test(sqlite_config).record.id == first.id
    with pytest.raises(ABTestExistsError, match="another plan"):
        _test(sqlite_config, duration_days=7).create()


def test_sample_size_follows_the_primary_metric(sqlite_config: MLOpsConfig) -> None:
    test = _test(sqlite_config, traffic_split={"a": 0.5, "b": 0.5}, success_metrics=["conversion"])
    sizes = test.sample_size(baseline=0.10, minimum_detectable_effect=0.02)
    assert sizes["a"] == sizes["b"] > 3000
    mean_test = _test(sqlite_config, name="m", success_metrics=["revenue:mean"])
    with pytest.raises(InvalidInputError, match="sd"):
        mean_test.sample_size(10.0, 1.0)
    assert mean_test.sample_size(10.0, 0.5, sd=1.0)["control"] == 64


# --- bad input ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"traffic_split": {"a": 0.6, "b": 0.6}}, "sum to 1.2"),
        ({"traffic_split": {"a": 1.0}}, "at least two"),
        ({"traffic_split": {"a": -0.5, "b": 1.5}}, "share"),
        ({"success_metrics": ["f1"]}, "unknown metric 'f1'"),
        ({"success_metrics": ["revenue:average"]}, "kind one of"),
        ({"success_metrics": []}, "non-empty"),
        ({"control": "nope"}, "control 'nope' is not a variant"),
        ({"duration_days": 0}, "duration_days"),
        ({"sequential": "wald"}, "sequential"),
    ],
)
def test_bad_plans_are_refused_clearly(
    sqlite_config: MLOpsConfig, kwargs: dict[str, object], message: str
) -> None:
    with pytest.raises(InvalidInputError, match=message):
        _test(sqlite_config, **kwargs)


def test_bad_outcomes_and_empty_analyses_are_refused(sqlite_config: MLOpsConfig) -> None:
    test = _test(sqlite_config, success_metrics=["conversion"])
    with pytest.raises(InvalidStateError, match="no outcomes yet"):
        test.analyze()
    with pytest.raises(InvalidInputError, match="unknown variant 'model_c'"):
        test.log_outcome("u1", {"conversion": 1}, variant="model_c")
    with pytest.raises(InvalidInputError, match="unknown metric 'revenue'"):
        test.log_outcome("u1", {"revenue": 3.0})
    with pytest.raises(InvalidInputError, match="finite"):
        test.log_outcome("u1", {"conversion": float("nan")})
    with pytest.raises(InvalidInputError, match="0/1 outcome"):
        test.log_outcome("u1", {"conversion": 3})
    with pytest.raises(NotFoundError, match="no A/B test named 'missing'"):
        ABTestFramework.load("missing", config=sqlite_config)


def test_run_refuses_an_ensemble_without_the_variants(
    sqlite_config: MLOpsConfig, make_anomalies: Callable[..., pd.DataFrame]
) -> None:
    test = _test(sqlite_config, success_metrics=["recall"])
    with pytest.raises(InvalidInputError, match="no member"):
        test.run(ModelEnsemble({"x": object()}), make_anomalies(100, seed=0))
    with pytest.raises(InvalidInputError, match="classification"):
        _test(sqlite_config, name="n").run(ModelEnsemble({"x": object()}), make_anomalies(10, 0))


def test_the_docs_example_runs(tmp_path: Path) -> None:
    text = (Path(__file__).parents[2] / "docs" / "abtests.md").read_text()
    block = re.findall(r"```python\n(.*?)```", text, re.S)[0]
    namespace: dict[str, object] = {}
    exec(compile(block, "docs/abtests.md", "exec"), namespace)
    results = namespace["results"]
    assert isinstance(results, ABTestResults)
    assert results.verdict.status == "insufficient_data"
    assert results["control"].conversion == 1.0


def test_thompson_allocation_moves_traffic_to_the_better_arm(sqlite_config: MLOpsConfig) -> None:
    test = _test(sqlite_config, success_metrics=["conversion"], allocation="thompson")
    rng = np.random.default_rng(4)
    rows = [
        {"unit_id": f"u{i}", "variant": v, "values": {"conversion": float(rng.random() < p)}}
        for i, (v, p) in enumerate([("control", 0.05), ("treatment", 0.15)] * 500)
    ]
    test.log_outcomes(rows)
    weights = test.refresh_allocation()
    assert weights["treatment"] > 0.9
    share = np.mean([test.assign(f"new-{i}") == "treatment" for i in range(4000)])
    assert share == pytest.approx(weights["treatment"], abs=0.02)
    results = test.analyze()
    assert results.srm is None  # a bandit gives up the fixed split
    assert results.verdict.winner == "treatment"
    with pytest.raises(InvalidStateError, match="fixed split"):
        _test(sqlite_config, name="fixed").refresh_allocation()


def test_replay_reads_a_classifier_that_always_answers_one_as_positive() -> None:
    # Only an outlier detector's answers are +1/-1; an arm where a 0/1 classifier said 1 to
    # every row must stay all-positive, not be read as a detector's "all inliers".
    x = np.arange(400, dtype=float).reshape(-1, 1)
    y = (np.arange(400) % 10 != 0).astype(int)  # 90% positive
    ones = DummyClassifier(strategy="constant", constant=1).fit(x, y)
    forest = IsolationForest(random_state=0).fit(x)
    ensemble = ModelEnsemble({"ones": ones, "forest": forest})
    outcomes, _ = replay_outcomes(ensemble, (x, y), {"ones": 0.5, "forest": 0.5}, None, 0)
    predictions = {
        variant: {o.value for o in outcomes if o.variant == variant and o.metric == "prediction"}
        for variant in ("ones", "forest")
    }
    assert predictions["ones"] == {1.0}
    # The forest's -1 (outlier) is the positive class, its +1 (inlier, most rows) the negative.
    assert 0.0 in predictions["forest"]
    assert predictions["forest"] <= {0.0, 1.0}
