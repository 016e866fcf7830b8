"""ModelEnsemble: weighted sticky routing, averaging, voting, and shadows that never answer."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_wine
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.neighbors import LocalOutlierFactor
from sklearn.tree import DecisionTreeClassifier

from mlops.errors import InvalidInputError
from mlops.models import ModelRegistry
from mlops.models.serving import ModelEnsemble


@pytest.fixture
def classifiers(iris: tuple[pd.DataFrame, Any]) -> dict[str, Any]:
    x, y = iris
    return {
        "logistic": LogisticRegression(max_iter=1000).fit(x, y),
        "tree": DecisionTreeClassifier(max_depth=2, random_state=0).fit(x, y),
        "stump": DecisionTreeClassifier(max_depth=1, random_state=0).fit(x, y),
    }


def test_weighted_routing_is_sticky_and_matches_the_split(
    classifiers: dict[str, Any], iris: tuple[pd.DataFrame, Any]
) -> None:
    ensemble = ModelEnsemble(
        {"a": classifiers["logistic"], "b": classifiers["tree"]}, weights={"a": 0.8, "b": 0.2}
    )
    assignments = [ensemble.assign(f"user-{i}") for i in range(5000)]
    share = Counter(assignments)["a"] / len(assignments)
    assert 0.77 < share < 0.83
    assert [ensemble.assign(f"user-{i}") for i in range(100)] == assignments[:100]
    row = iris[0].iloc[[70]]
    for i in range(20):
        answer = ensemble.predict_detailed(row, key=f"user-{i}")
        (member,) = answer.members
        assert member == assignments[i]
        assert (
            answer.predictions.tolist()
            == classifiers["logistic" if member == "a" else "tree"].predict(row).tolist()
        )
    seeded = ModelEnsemble({"a": classifiers["logistic"], "b": classifiers["tree"]}, seed=3)
    unkeyed = Counter(seeded.assign() for _ in range(2000))
    assert 0.45 < unkeyed["a"] / 2000 < 0.55


def test_vote_and_average(classifiers: dict[str, Any], iris: tuple[pd.DataFrame, Any]) -> None:
    x, y = iris
    voting = ModelEnsemble(classifiers, strategy="vote")
    votes = voting.predict(x)
    each = np.stack([m.predict(x) for m in classifiers.values()])
    for i in range(len(x)):
        counts = Counter(each[:, i].tolist())
        top = max(counts.values())
        if top > 1:
            assert votes[i] == max(counts, key=lambda label: counts[label])
        else:
            assert votes[i] == each[0, i]  # a three-way tie goes to the first member
    weighted = ModelEnsemble(classifiers, strategy="vote", weights={"logistic": 5, "tree": 1})
    assert weighted.predict(x).tolist() == classifiers["logistic"].predict(x).tolist()

    a = LinearRegression().fit(x, y)
    c = DecisionTreeClassifier(max_depth=3, random_state=0).fit(x, y)
    averaging = ModelEnsemble({"a": a, "c": c}, strategy="average", weights={"a": 3, "c": 1})
    expected = (3 * a.predict(x) + 1 * c.predict(x)) / 4
    assert np.allclose(averaging.predict(x), expected)


def test_shadows_are_recorded_and_compared_but_never_returned(
    classifiers: dict[str, Any], iris: tuple[pd.DataFrame, Any]
) -> None:
    x, _ = iris

    class Broken:
        def predict(self, data: Any) -> Any:
            raise RuntimeError("shadow blew up")

    ensemble = ModelEnsemble(
        {"live": classifiers["logistic"]},
        shadows={"candidate": classifiers["stump"], "broken": Broken()},
    )
    for start in range(0, 150, 10):
        batch = x.iloc[start : start + 10]
        answer = ensemble.predict_detailed(batch)
        assert answer.members == ("live",)
        assert answer.predictions.tolist() == classifiers["logistic"].predict(batch).tolist()
    report = ensemble.shadow_report()
    candidate = report["candidate"]
    assert candidate.calls == 15
    assert candidate.rows == 150
    expected = np.mean(classifiers["stump"].predict(x) == classifiers["logistic"].predict(x))
    assert candidate.agreement == pytest.approx(expected)
    assert 0 < candidate.agreement < 1  # the stump really disagrees sometimes
    assert candidate.mean_abs_diff is not None
    assert candidate.mean_abs_diff > 0
    assert report["broken"].errors == 15
    assert "shadow blew up" in (report["broken"].last_error or "")
    ensemble.close()


def test_registered_versions_are_members_as_in_the_seed(registry: ModelRegistry) -> None:
    data = np.asarray(load_wine().data)
    registry.register_model(
        "isolation_forest_v1", IsolationForest(random_state=0).fit(data), input_example=data[:5]
    )
    registry.register_model(
        "lof_v1", LocalOutlierFactor(novelty=True).fit(data), input_example=data[:5]
    )
    model_a = registry.get_model("isolation_forest_v1")
    model_b = registry.get_model("lof_v1")
    ensemble = ModelEnsemble({"model_a": model_a, "model_b": model_b}, registry=registry)
    outputs = ensemble.predict_all(data[:20])
    assert set(outputs) == {"model_a", "model_b"}
    assert set(np.unique(outputs["model_a"])) <= {-1, 1}
    by_uri = ModelEnsemble({"x": "models:/lof_v1/1"}, registry=registry)
    assert by_uri.predict(data[:20]).tolist() == outputs["model_b"].tolist()


def test_bad_configurations_are_refused(classifiers: dict[str, Any]) -> None:
    one = {"a": classifiers["logistic"]}
    with pytest.raises(InvalidInputError, match="at least one"):
        ModelEnsemble({})
    with pytest.raises(InvalidInputError, match="strategy"):
        ModelEnsemble(one, strategy="median")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="unknown member"):
        ModelEnsemble(one, weights={"z": 1})
    with pytest.raises(InvalidInputError, match="non-negative"):
        ModelEnsemble(one, weights={"a": -1})
    with pytest.raises(InvalidInputError, match="both a member and a shadow"):
        ModelEnsemble(one, shadows=one)
    with pytest.raises(InvalidInputError, match="no member or shadow named"):
        ModelEnsemble(one).predict_member("b", [[1, 2, 3, 4]])


def test_seed_names_import_from_their_domains() -> None:
    import importlib

    seed = {
        "mlops.models.serving": ["ModelServing", "ModelEnsemble"],
        "mlops.models.deployment": ["ModelDeployment", "LocalDeployment"],
    }
    for module, names in seed.items():
        loaded = importlib.import_module(module)
        for name in names:
            assert hasattr(loaded, name), f"{module}.{name}"
            assert name in loaded.__all__
