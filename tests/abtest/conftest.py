"""A/B test fixtures: a store on SQLite (and PostgreSQL when configured) and labelled data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.config import MLOpsConfig


@pytest.fixture
def ab_config(sql_backend: str, tmp_path: Path) -> MLOpsConfig:
    """A config on a fresh SQL store (``sql_backend``: SQLite and PostgreSQL)."""
    return MLOpsConfig(
        home=tmp_path / ".mlops",
        tracking_uri=sql_backend,
        artifact_uri=str(tmp_path / "art"),
        user="ann",
    )


@pytest.fixture
def make_anomalies() -> Callable[..., pd.DataFrame]:
    """``make_anomalies(n, seed, rate=0.05)``: see ``anomaly_data``."""
    return anomaly_data


def anomaly_data(n: int, seed: int, rate: float = 0.05) -> pd.DataFrame:
    """Two clusters, a dense one and a sparse one, plus ``rate`` local anomalies: points just
    outside the dense cluster, labelled ``is_anomaly`` = 1.

    They are far from their neighbours but not from the data as a whole, which is the case a
    local density method (LOF) is built for and a global one (IsolationForest) is not.
    """
    rng = np.random.default_rng(seed)
    n_bad = int(n * rate)
    n_ok = n - n_bad
    dense = rng.normal([0.0, 0.0], 0.3, size=(n_ok // 2, 2))
    sparse = rng.normal([6.0, 6.0], 2.0, size=(n_ok - n_ok // 2, 2))
    angle, radius = rng.uniform(0, 2 * np.pi, n_bad), rng.uniform(1.3, 2.2, n_bad)
    bad = np.c_[radius * np.cos(angle), radius * np.sin(angle)]
    frame = pd.DataFrame(np.vstack([dense, sparse, bad]), columns=["x1", "x2"])
    frame["is_anomaly"] = np.r_[np.zeros(n_ok, int), np.ones(n_bad, int)]
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
