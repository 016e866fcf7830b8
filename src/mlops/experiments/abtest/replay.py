"""The offline replay behind ``ABTestFramework.run``: a labelled dataset through an ensemble.

Each row is a unit, assigned to a variant by the sticky hash of its id and scored by that
variant's ensemble member only, exactly as live traffic would be split. Anomaly detectors answer
+1 (inlier) / -1 (outlier), scikit-learn's convention; against 0/1 labels, -1 is read as 1 =
anomaly, the positive class of precision and recall.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from mlops.experiments.abtest.assignment import assign_many
from mlops.experiments.abtest.entities import Outcome
from mlops.experiments.abtest.errors import InvalidABTestError
from mlops.models.kinds import model_task

__all__ = ["LABEL_COLUMNS", "replay_outcomes"]

LABEL_COLUMNS = ("label", "is_anomaly", "anomaly", "target", "y")


def replay_outcomes(
    ensemble: Any,
    dataset: Any,
    split: Mapping[str, float],
    salt: str | None,
    at: int,
    *,
    label_column: str | None = None,
    unit_column: str | None = None,
) -> tuple[list[Outcome], dict[str, str]]:
    """Each row's ``prediction`` and ``label`` outcomes under its variant, and the registered
    version (``name/version``) behind each variant that has one."""
    members = list(getattr(ensemble, "member_names", ()))
    missing = [v for v in split if v not in members]
    if missing:
        raise InvalidABTestError(
            f"the ensemble has no member(s) {missing} for the test's variants; its members: "
            f"{members}"
        )
    models = _model_ids(ensemble, list(split))  # before predicting: members load in place
    features, labels, units = _split_dataset(dataset, label_column, unit_column)
    variants = assign_many(units, split, salt)
    outcomes: list[Outcome] = []
    for variant in split:
        rows = np.flatnonzero(variants == variant)
        if rows.size == 0:
            continue
        subset = features.iloc[rows] if isinstance(features, pd.DataFrame) else features[rows]
        pred = _as_labels(
            np.asarray(ensemble.predict_member(variant, subset)),
            labels[rows],
            anomaly=model_task(ensemble.member_model(variant)) == "anomaly",
        )
        for i, p, y in zip(rows, pred, labels[rows], strict=True):
            outcomes.append(Outcome(variant, units[i], "prediction", float(p), at))
            outcomes.append(Outcome(variant, units[i], "label", float(y), at))
    return outcomes, models


def _as_labels(
    pred: np.ndarray[Any, Any], label: np.ndarray[Any, Any], *, anomaly: bool
) -> np.ndarray[Any, Any]:
    """Predictions as 0/1 labels. Anomaly detectors (IsolationForest, LOF, OneClassSVM) answer
    +1 (inlier) / -1 (outlier): against 0/1 labels, -1 means anomaly, i.e. the positive class.

    Whether a member is a detector comes from its estimator (``anomaly``), not from the values:
    an arm where a 0/1 classifier answered only 1 looks like a detector's "all inliers". A model
    without scikit-learn's tags that answers -1 is read as a detector too.
    """
    values = set(np.unique(pred).tolist())
    binary = set(np.unique(label).tolist()) <= {0, 1}
    if binary and values <= {-1, 1} and (anomaly or -1 in values):
        return np.asarray(pred == -1, dtype=float)
    if not values <= {0, 1}:
        raise InvalidABTestError(
            f"classification metrics need 0/1 predictions (or +1/-1 from anomaly detectors); "
            f"got values like {sorted(values, key=str)[:5]}"
        )
    return pred.astype(float)


def _split_dataset(
    data: Any, label_column: str | None, unit_column: str | None
) -> tuple[Any, np.ndarray[Any, Any], list[str]]:
    if isinstance(data, tuple) and len(data) == 2:
        features, labels = data
        labels = np.asarray(labels)
        if len(features) != labels.size:
            raise InvalidABTestError(
                f"(X, y) have {len(features)} rows and {labels.size} labels; they must match"
            )
        return np.asarray(features), labels, [str(i) for i in range(labels.size)]
    if not isinstance(data, pd.DataFrame):
        raise InvalidABTestError(
            "evaluation_dataset must be a pandas DataFrame with a label column or a tuple (X, y)"
        )
    column = label_column or next((c for c in LABEL_COLUMNS if c in data.columns), None)
    if column is None or column not in data.columns:
        raise InvalidABTestError(
            f"evaluation_dataset has no label column {label_column or LABEL_COLUMNS!r}; its "
            f"columns: {list(data.columns)}; pass label_column=..."
        )
    if unit_column is not None and unit_column not in data.columns:
        raise InvalidABTestError(f"evaluation_dataset has no unit column {unit_column!r}")
    units = (data[unit_column] if unit_column else data.index.to_series()).astype(str).tolist()
    if len(set(units)) != len(units):
        raise InvalidABTestError("unit ids must be unique per row; pass unit_column=...")
    features = data.drop(columns=[c for c in (column, unit_column) if c is not None])
    return features, data[column].to_numpy(), units


def _model_ids(ensemble: Any, variants: list[str]) -> dict[str, str]:
    """``name/version`` of each variant backed by a registered version (others: left out)."""
    from mlops.models.entities import ModelVersion

    members = getattr(ensemble, "sources", {})
    found = {}
    for v in variants:
        member = members.get(v)
        if isinstance(member, ModelVersion):
            found[v] = member.id
        elif isinstance(member, str) and member.startswith("models:/"):
            ref = member[len("models:/") :]
            if re.fullmatch(r"[^/@]+/\d+", ref):
                found[v] = ref
    return found
