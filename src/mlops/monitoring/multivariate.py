"""Multivariate drift by a domain classifier: can a model tell reference rows from current ones?

Why: per-column tests miss changes in how columns move together (a correlation flips while
every marginal stays put). A gradient-boosted classifier trained to separate the two samples
catches those; its out-of-fold ROC AUC is 0.5 when they are indistinguishable.

The AUC of out-of-fold scores is a Mann-Whitney U statistic, so under "no drift" it is close to
normal with mean 0.5 and variance (n1 + n2 + 1) / (12 n1 n2); that gives a p-value without
retraining on permutations. Deterministic: fixed sampling seed, folds and model seed.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from mlops.monitoring.results import MultivariateDrift
from mlops.monitoring.summaries import ColumnSummary

SAMPLE_ROWS = 5_000
AUC_THRESHOLD = 0.55
ALPHA = 0.05


def encode(frame: pd.DataFrame, summaries: list[ColumnSummary]) -> NDArray[np.float64]:
    """Rows as floats: numeric columns as they are, categories as their reference rank."""
    out = np.empty((len(frame), len(summaries)), dtype=np.float64)
    for j, s in enumerate(summaries):
        col = frame[s.name]
        if s.kind == "numeric":
            out[:, j] = pd.to_numeric(col, errors="coerce").to_numpy(np.float64, na_value=np.nan)
        else:
            codes = {k: i for i, k in enumerate(sorted(s.counts))}
            unseen = float(len(codes))
            out[:, j] = [
                np.nan if pd.isna(v) else codes.get(str(v), unseen) for v in col.to_numpy()
            ]
    return out


def sample_rows(
    x: NDArray[np.float64], rows: int = SAMPLE_ROWS, seed: int = 0
) -> NDArray[np.float64]:
    if x.shape[0] <= rows:
        return x
    idx = np.sort(np.random.default_rng(seed).choice(x.shape[0], rows, replace=False))
    return x[idx]


def domain_classifier_drift(
    reference: NDArray[np.float64],
    current: NDArray[np.float64],
    names: list[str],
    threshold: float = AUC_THRESHOLD,
    alpha: float = ALPHA,
) -> MultivariateDrift:
    """Train reference-vs-current classifiers in 5 folds and judge their out-of-fold AUC."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    cur = sample_rows(current, seed=1)
    x = np.vstack([reference, cur])
    y = np.concatenate([np.zeros(reference.shape[0]), np.ones(cur.shape[0])])
    model = HistGradientBoostingClassifier(max_iter=50, random_state=0, early_stopping=False)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    scores = cross_val_predict(model, x, y, cv=folds, method="predict_proba")[:, 1]
    auc = float(roc_auc_score(y, scores))
    n1, n2 = reference.shape[0], cur.shape[0]
    sd = math.sqrt((n1 + n2 + 1) / (12 * n1 * n2))
    p = float(stats.norm.sf((auc - 0.5) / sd))
    # Which columns separate the samples best on their own (AUC of the raw value, folded to >= .5).
    single = []
    for j, name in enumerate(names):
        col = np.nan_to_num(
            x[:, j], nan=np.nanmin(x[:, j]) - 1 if np.isfinite(x[:, j]).any() else 0
        )
        a = float(roc_auc_score(y, col)) if np.ptp(col) > 0 else 0.5
        single.append((name, round(max(a, 1 - a), 4)))
    single.sort(key=lambda t: -t[1])
    return MultivariateDrift(
        auc=auc,
        p_value=p,
        threshold=threshold,
        drifted=auc >= threshold and p <= alpha,
        top_features=single[:5],
    )
