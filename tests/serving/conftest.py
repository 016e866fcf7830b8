"""Serving fixtures: real scikit-learn models on scikit-learn's bundled datasets, registered in a
fresh SQLite store, served by real uvicorn servers on loopback."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris, load_wine
from sklearn.ensemble import IsolationForest
from sklearn.linear_model import LogisticRegression
from sklearn.tree import DecisionTreeClassifier

from mlops.config import MLOpsConfig
from mlops.models import ModelRegistry
from mlops.models.serving import ModelServing, ServingOptions


@pytest.fixture
def serving_config(tmp_path: Path) -> MLOpsConfig:
    return MLOpsConfig(
        home=tmp_path / ".mlops",
        tracking_uri=f"sqlite:///{tmp_path / 'mlops.db'}",
        artifact_uri=str(tmp_path / "artifacts"),
        user="alice",
    )


@pytest.fixture
def registry(serving_config: MLOpsConfig) -> ModelRegistry:
    return ModelRegistry(config=serving_config)


@pytest.fixture
def iris() -> tuple[pd.DataFrame, pd.Series[Any]]:
    x, y = load_iris(return_X_y=True, as_frame=True)
    return x, y


@pytest.fixture
def iris_model(registry: ModelRegistry, iris: tuple[pd.DataFrame, Any]) -> LogisticRegression:
    """LogisticRegression on iris (a DataFrame: a column signature), version 1, alias prod."""
    x, y = iris
    model = LogisticRegression(max_iter=1000).fit(x, y)
    version = registry.register_model("iris", model, input_example=x.head())
    registry.set_alias("iris", "prod", version.version)
    return model


@pytest.fixture
def iris_tree(
    registry: ModelRegistry, iris: tuple[pd.DataFrame, Any], iris_model: Any
) -> DecisionTreeClassifier:
    """A second iris model, version 2 (no alias yet)."""
    x, y = iris
    model = DecisionTreeClassifier(max_depth=1, random_state=0).fit(x, y)
    registry.register_model("iris", model, input_example=x.head())
    return model


@pytest.fixture
def wine_array() -> np.ndarray[Any, Any]:
    return np.asarray(load_wine().data)


@pytest.fixture
def forest(registry: ModelRegistry, wine_array: np.ndarray[Any, Any]) -> IsolationForest:
    """IsolationForest on a numpy array (a tensor signature [-1, 13] float64), version 1."""
    model = IsolationForest(n_estimators=50, random_state=0).fit(wine_array)
    registry.register_model("forest", model, input_example=wine_array[:5])
    return model


@pytest.fixture
def start_server(serving_config: MLOpsConfig) -> Iterator[Callable[..., ModelServing]]:
    """Starts ``ModelServing`` on a free loopback port; stops every one at the end."""
    servers: list[ModelServing] = []

    def start(uri: str, **options: Any) -> ModelServing:
        workers = options.pop("workers", 1)
        consumer = options.pop("consumer", None)
        server = ModelServing(
            uri,
            config=serving_config,
            workers=workers,
            consumer=consumer,
            options=ServingOptions(**options),
            shutdown_timeout=20,
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def metric() -> Callable[[str, str], float]:
    """Reads one sample (name with its labels) of a server's /metrics; 0 when absent."""

    def read(base_url: str, name: str) -> float:
        text = httpx.get(f"{base_url}/metrics").text
        found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
        return float(found.group(1)) if found else 0.0

    return read
