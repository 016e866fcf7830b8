"""What kind of predictions a model makes, read from scikit-learn's estimator tags.

Monitoring picks its metrics by it (``mlops serve --monitor``), and A/B replays read an anomaly
detector's +1/-1 answers as labels by it: guessing from the values instead would read a 0/1
classifier that predicted 1 for a whole arm as a detector's "all inliers".
"""

from __future__ import annotations

from typing import Any

__all__ = ["model_task"]


def model_task(model: Any) -> str:
    """``regression``, ``anomaly`` (an outlier detector) or ``classification`` (anything else).

    A loaded mlops model is judged by the estimator it wraps (its ``native`` attribute).
    """
    from sklearn.base import is_outlier_detector, is_regressor

    native = getattr(model, "native", model)
    if is_regressor(native):
        return "regression"
    return "anomaly" if is_outlier_detector(native) else "classification"
