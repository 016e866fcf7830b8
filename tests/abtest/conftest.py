"""A/B test fixtures: a store on SQLite (and PostgreSQL when configured) and labelled data."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.config import MLOpsConfig


@pytest.fixture(params=["sqlite", "postgres"])
def ab_config(request: pytest.FixtureRequest, tmp_path: Path) -> MLOpsConfig:
    """A config on a fresh SQL store."""
    if request.param == "sqlite":
        uri = f"sqlite:///{tmp_path / 'store' / 'mlops.db'}"
    else:
        uri = str(request.getfixturevalue("postgres_schema_uri"))
    return MLOpsConfig(
        home=tmp_path / ".mlops", tracking_uri=uri, artifact_uri=str(tmp_path / "art"), user="ann"
    )


@pytest.fixture
def sqlite_config(tmp_path: Path) -> MLOpsConfig:
    return MLOpsConfig(
        home=tmp_path / ".mlops",
        tracking_uri=f"sqlite:///{tmp_path / 'store' / 'mlops.db'}",
        artifact_uri=str(tmp_path / "art"),
        user="ann",
    )


@pytest.fixture
def make_anomalies() -> Callable[..., pd.DataFrame]:
    """``make_anomalies(n, seed, rate=0.08)``: see ``anomaly_data``."""
    return anomaly_data


def anomaly_data(n: int, seed: int, rate: float = 0.08) -> pd.DataFrame:
    """Two features: a normal cluster plus scattered anomalies, labelled ``is_anomaly`` = 1."""
    rng = np.random.default_rng(seed)
    n_bad = int(n * rate)
    normal = rng.normal(0, 1, size=(n - n_bad, 2))
    bad = rng.uniform(-6, 6, size=(n_bad, 2))
    bad[np.abs(bad).max(axis=1) < 3] *= 2.5  # keep anomalies out of the cluster
    frame = pd.DataFrame(np.vstack([normal, bad]), columns=["x1", "x2"])
    frame["is_anomaly"] = np.r_[np.zeros(n - n_bad, int), np.ones(n_bad, int)]
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)
