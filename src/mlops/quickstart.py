"""The quickstart: three anomaly detectors tracked, compared, and the best one in production.

Data: scikit-learn's bundled breast-cancer set (nothing is downloaded). Benign tumours are the
normal class; a fixed sample of malignant ones are the anomalies to find (about 10%).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, clone
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import OneClassSVM

from mlops.config import MLOpsConfig
from mlops.experiments.comparison import ExperimentComparison
from mlops.experiments.tracking import ExperimentTracker
from mlops.models.entities import ApprovalRequest, ModelVersion, Stage
from mlops.models.registry import ModelRegistry

EXPERIMENT = "quickstart_anomaly_detection"
MODEL_NAME = "breast_cancer_anomaly_detector"
CONTAMINATION = 0.1
FOLDS = 5


@dataclass
class QuickstartResult:
    """What the quickstart produced."""

    run_ids: dict[str, str]
    best_algorithm: str
    comparison: ExperimentComparison
    model_version: ModelVersion
    promotion: ModelVersion | ApprovalRequest


def anomaly_dataset(seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """Benign rows plus enough malignant rows to make ``CONTAMINATION`` of the whole."""
    data = load_breast_cancer(as_frame=True)
    frame, target = data.frame.drop(columns="target"), data.target.to_numpy()
    normal = np.flatnonzero(target == 1)
    malignant = np.flatnonzero(target == 0)
    n_anomalies = round(len(normal) * CONTAMINATION / (1 - CONTAMINATION))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(malignant, size=n_anomalies, replace=False)
    rows = np.concatenate([normal, chosen])
    rng.shuffle(rows)
    labels = (target[rows] == 0).astype(int)  # 1 = anomaly
    return frame.iloc[rows].reset_index(drop=True), labels


def detectors() -> dict[str, tuple[Pipeline, dict[str, Any]]]:
    """The three detectors with the parameters that get logged."""
    iforest = {"n_estimators": 200, "contamination": CONTAMINATION, "random_state": 0}
    lof = {"n_neighbors": 20, "contamination": CONTAMINATION, "novelty": True}
    ocsvm = {"nu": CONTAMINATION, "gamma": "scale", "kernel": "rbf"}
    return {
        "isolation_forest": (make_pipeline(StandardScaler(), IsolationForest(**iforest)), iforest),
        "lof": (make_pipeline(StandardScaler(), LocalOutlierFactor(**lof)), lof),
        "one_class_svm": (make_pipeline(StandardScaler(), OneClassSVM(**ocsvm)), ocsvm),
    }


def evaluate_fold(model: BaseEstimator, x: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """Detection quality on one held-out fold (anomaly = positive class)."""
    predicted = (model.predict(x) == -1).astype(int)
    scores = -model.score_samples(x)  # higher = more anomalous
    return {
        "precision": float(precision_score(y, predicted, zero_division=0)),
        "recall": float(recall_score(y, predicted, zero_division=0)),
        "f1": float(f1_score(y, predicted, zero_division=0)),
        "roc_auc": float(roc_auc_score(y, scores)),
    }


def run_quickstart(
    config: MLOpsConfig, advance: Callable[[str], None] | None = None
) -> QuickstartResult:
    """Train, track and compare the detectors; register the best and promote it to production.

    ``advance`` is called once per finished fold (for a progress bar).
    """
    step = advance or (lambda _desc: None)
    tracker = ExperimentTracker(config=config)
    registry = ModelRegistry(config=config)
    x, y = anomaly_dataset()
    folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(x, y))
    fitted: dict[str, Pipeline] = {}
    run_ids: dict[str, str] = {}
    for name, (template, params) in detectors().items():
        with tracker.start_experiment(EXPERIMENT, run_name=name) as run:
            run.log_params({"algorithm": name, **params, "folds": FOLDS})
            run.set_tags({"task": "anomaly_detection", "dataset": "sklearn.breast_cancer"})
            run.log_dataset(x.assign(anomaly=y), name="breast_cancer_anomalies", context="training")
            per_fold: list[dict[str, float]] = []
            for i, (train, test) in enumerate(folds):
                model = clone(template).fit(x.iloc[train])
                scores = evaluate_fold(model, x.iloc[test], y[test])
                per_fold.append(scores)
                run.log_metrics({f"fold_{k}": v for k, v in scores.items()}, step=i)
                step(f"{name} fold {i + 1}/{FOLDS}")
            means = {k: float(np.mean([s[k] for s in per_fold])) for k in per_fold[0]}
            run.log_metrics(means, step=FOLDS)
            run.log_metric("f1_std", float(np.std([s["f1"] for s in per_fold])), step=FOLDS)
            fitted[name] = clone(template).fit(x)
            run_ids[name] = run.id
    tracker.flush()
    comparison = tracker.compare_experiments(run_ids.values())
    best_run = comparison.best("f1")
    best = best_run.params["algorithm"]
    version = registry.register_model(
        MODEL_NAME,
        fitted[best],
        run_id=best_run.id,
        stage=Stage.STAGING,
        description=f"{best} detector from the quickstart (mean F1 {best_run.metrics['f1']:.3f})",
        tags={"algorithm": best},
        input_example=x.head(5),
    )
    promotion = registry.promote_model(version, stage=Stage.PRODUCTION)
    return QuickstartResult(run_ids, best, comparison, version, promotion)
