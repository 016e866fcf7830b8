"""The seed's Example 2, as written (import path ``mlops.X``), on real registered detectors."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pandas as pd
import pytest
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

from mlops.experiments.abtest import ABTestFramework as Direct
from mlops.experiments.abtest import ABTestResults
from mlops.models import ModelRegistry

# scikit-learn's LOF(novelty=True).predict converts a DataFrame to an array before its own
# neighbour search and then warns about the feature names it dropped (its bug, not ours).
pytestmark = pytest.mark.filterwarnings("ignore:X does not have valid feature names")


@pytest.fixture
def detectors(make_anomalies: Callable[..., pd.DataFrame]) -> pd.DataFrame:
    """Registers isolation_forest_v1 and lof_v1 (in staging: production is one step on), both
    trained on clean generated data; returns a labelled test set from the same process."""
    features = make_anomalies(3000, seed=1, rate=0.0)[["x1", "x2"]]
    registry = ModelRegistry()
    forest = IsolationForest(contamination=0.02, random_state=0).fit(features)
    lof = LocalOutlierFactor(novelty=True, contamination=0.02).fit(features)
    registry.register_model("isolation_forest_v1", forest, stage="staging",
                            input_example=features.head())  # fmt: skip
    registry.register_model("lof_v1", lof, stage="staging", input_example=features.head())
    return make_anomalies(4000, seed=2)


def test_seed_example_2_runs_as_written(detectors: pd.DataFrame) -> None:
    test_dataset = detectors

    async def example() -> ABTestResults:
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

        return test_results

    test_results = asyncio.run(example())
    # What the seed leaves implicit, checked: real metrics per variant, a split near 50/50, and
    # LOF (the local method, on local anomalies) winning and promoted.
    a, b = test_results.model_a, test_results.model_b
    assert a.units + b.units == len(test_dataset)
    assert abs(a.units - b.units) < 0.06 * len(test_dataset)
    assert a.performance == a.precision  # the primary (first) metric
    assert b.precision > 0.6 > a.precision
    assert b.recall > 0.9 > a.recall
    assert {c.metric for c in test_results.comparisons} == {"precision", "recall", "f1_score"}
    assert test_results.srm is not None
    assert not test_results.srm.mismatch
    assert test_results.verdict.winner == "model_b"
    assert ModelRegistry().get_model("lof_v1", stage="production").version == 1
    assert ModelRegistry().get_model("isolation_forest_v1").stage.value == "staging"
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
    assert results.verdict.winner == "lof", results.verdict
    promoted = test.promote_winner(results, registry=registry)
    event = registry.history(promoted.name, promoted.version)[-1]  # type: ignore[union-attr]
    assert event.to_value == "production"
    assert event.comment is not None
    assert "replay" in event.comment
    assert test.id in event.comment
