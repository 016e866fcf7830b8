"""The seed's Example 2, as written (import path ``mlops.X``), on real registered detectors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

from mlops.experiments.abtest import ABTestFramework as Direct
from mlops.models import ModelRegistry

# scikit-learn's LOF(novelty=True).predict converts a DataFrame to an array before its own
# neighbour search and then warns about the feature names it dropped (its bug, not ours).
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")


@pytest.fixture
def detectors(make_anomalies: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    """Registers isolation_forest_v1 and lof_v1 (in staging) trained on generated data; returns
    a labelled test set from the same process."""
    train = make_anomalies(2000, seed=1)
    features = train[["x1", "x2"]]
    registry = ModelRegistry()
    forest = IsolationForest(contamination=0.08, random_state=0).fit(features)
    lof = LocalOutlierFactor(novelty=True, contamination=0.08).fit(features)
    registry.register_model("isolation_forest_v1", forest, stage="staging",
                            input_example=features.head())  # fmt: skip
    registry.register_model("lof_v1", lof, stage="staging", input_example=features.head())
    return make_anomalies(4000, seed=2)


def test_seed_example_2_runs_as_written(detectors: pd.DataFrame) -> None:
    test_dataset = detectors

    async def example() -> None:
        from mlops.experiments import ABTestFramework
        from mlops.models.serving import ModelEnsemble

        # Setup A/B test
        ab_test = ABTestFramework(
            name="isolation_forest_vs_lof",
            traffic_split={"model_a": 0.5, "model_b": 0.5},
            success_metrics=["precision", "recall", "f1_score"],
            duration_days=14,
        )

        # Configure model variants
        model_a = ModelRegistry().get_model("isolation_forest_v1")
        model_b = ModelRegistry().get_model("lof_v1")

        # Create ensemble for A/B testing
        ensemble = ModelEnsemble({"model_a": model_a, "model_b": model_b})

        # Start A/B test
        test_results = await ab_test.run(ensemble=ensemble, evaluation_dataset=test_dataset)

        # Analyze results
        if test_results.model_b.performance > test_results.model_a.performance:
            # Promote model B to production
            await ModelRegistry().promote_model(model_b.id, stage="production")
        else:
            await ModelRegistry().promote_model(model_a.id, stage="production")

        # What the seed leaves implicit, checked: real metrics per variant, split near 50/50.
        a, b = test_results.model_a, test_results.model_b
        assert a.units + b.units == len(test_dataset)
        assert abs(a.units - b.units) < 0.06 * len(test_dataset)
        for variant in (a, b):
            assert 0.3 < variant.precision <= 1
            assert 0.3 < variant.recall <= 1
            assert variant.performance == variant.precision  # the primary (first) metric
        assert {c.metric for c in test_results.comparisons} == {"precision", "recall", "f1_score"}
        assert test_results.srm is not None
        assert not test_results.srm.mismatch
        winner = "lof_v1" if b.performance > a.performance else "isolation_forest_v1"
        assert ModelRegistry().get_model(winner, stage="production").version == 1

    asyncio.run(example())
    stored = Direct.load("isolation_forest_vs_lof").record
    assert stored.models == {"model_a": "isolation_forest_v1/1", "model_b": "lof_v1/1"}
    assert stored.result is not None
    assert stored.result["mode"] == "offline"


def test_promote_winner_records_the_test(detectors: pd.DataFrame) -> None:
    from mlops.models.serving import ModelEnsemble

    registry = ModelRegistry()
    ensemble = ModelEnsemble(
        {"forest": registry.get_model("isolation_forest_v1"), "lof": registry.get_model("lof_v1")}
    )
    test = Direct("replay", {"forest": 0.5, "lof": 0.5}, ["recall", "precision"], duration_days=7)
    results = test.run(ensemble, detectors)  # plain scripts need no event loop
    if results.verdict.winner is None:
        pytest.skip(f"the detectors tie on this data: {results.verdict.reason}")
    promoted = test.promote_winner(results, registry=registry)
    event = registry.history(promoted.name, promoted.version)[-1]  # type: ignore[union-attr]
    assert event.to_value == "production"
    assert event.comment is not None
    assert "replay" in event.comment
    assert test.id in event.comment
