"""Monitoring fixtures: a store on SQLite (and PostgreSQL when configured), data factories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops.config import MLOpsConfig


@pytest.fixture
def mon_config(backend: str, tmp_path: Path) -> MLOpsConfig:
    """A config on a fresh store: SQLite, PostgreSQL, or an mlops server (``rest``: a real
    server on loopback, which monitoring reaches through ``RestMonitoringStore``)."""
    return MLOpsConfig(
        home=tmp_path / ".mlops",
        tracking_uri=backend,
        artifact_uri=str(tmp_path / "art"),
        user="ann",
    )


@pytest.fixture
def make_frame() -> Callable[..., pd.DataFrame]:
    """``make_frame(n, seed, shift=0.0, new_category=False)``: see ``frame``."""
    return frame


def frame(n: int, seed: int, shift: float = 0.0, new_category: bool = False) -> pd.DataFrame:
    """Mixed columns: two normals, a skewed one, an int count, a category and a flag."""
    rng = np.random.default_rng(seed)
    cats = ["red", "green", "blue", "new"] if new_category else ["red", "green", "blue"]
    p = [0.45, 0.25, 0.2, 0.1] if new_category else [0.5, 0.3, 0.2]
    return pd.DataFrame(
        {
            "age": rng.normal(40 + 10 * shift, 10, n),
            "income": rng.lognormal(10 + shift, 0.5, n),
            "score": rng.normal(0, 1, n),
            "visits": rng.poisson(3, n),
            "color": rng.choice(cats, n, p=p),
            "member": rng.choice([True, False], n),
        }
    )
