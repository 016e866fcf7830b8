"""LocalDeployment: real server processes behind the real router; weighted sticky split, a
canary added and rolled back, and a replica killed under load costs the client nothing."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pandas as pd
import pytest

from mlops.config import MLOpsConfig
from mlops.errors import InvalidInputError, InvalidStateError
from mlops.models import ModelRegistry
from mlops.models.deployment import LocalDeployment, ModelDeployment


@pytest.mark.slow
def test_weighted_sticky_split_canary_and_a_killed_replica(
    serving_config: MLOpsConfig,
    registry: ModelRegistry,
    iris: tuple[pd.DataFrame, Any],
    iris_model: Any,
    iris_tree: Any,
) -> None:
    frame = iris[0].iloc[[0, 60, 120]]
    body = frame.to_dict(orient="records")
    deployment = LocalDeployment(registry.get_model("iris", version=1), 2, config=serving_config)
    assert isinstance(deployment, ModelDeployment)
    assert deployment.status().running is False
    with pytest.raises(InvalidStateError, match="deploy"):
        deployment.set_weights({"stable": 1})
    deployment.deploy().wait()
    try:
        status = deployment.status()
        assert status.running
        assert [b["name"] for b in status.backends] == ["stable"]
        assert len(status.backends[0]["replicas"]) == 2

        # A canary of version 2 with 25 % of the traffic, sticky by key.
        deployment.add_backend("canary", "models:/iris/2", replicas=1, weight=0.0)
        deployment.set_weights({"stable": 75, "canary": 25})
        with httpx.Client(base_url=deployment.url, timeout=30) as client:
            served: dict[str, str] = {}
            for i in range(200):
                response = client.post(
                    "/predict", json=body, headers={"X-Routing-Key": f"user-{i}"}
                )
                assert response.status_code == 200, response.text
                backend = response.headers["x-served-by"]
                served[f"user-{i}"] = backend
                version = response.json()["model_version"]
                assert version == (2 if backend == "canary" else 1)
            share = Counter(served.values())["canary"] / len(served)
            assert 0.15 < share < 0.35
            for key in list(served)[:30]:  # the same user reaches the same backend again
                again = client.post("/predict", json=body, headers={"X-Routing-Key": key})
                assert again.headers["x-served-by"] == served[key]
            deployment.remove_backend("canary")  # roll the canary back
            after = {
                client.post("/predict", json=body, headers={"X-Routing-Key": k}).headers[
                    "x-served-by"
                ]
                for k in list(served)[:40]
            }
            assert after == {"stable"}
        with pytest.raises(InvalidInputError, match="no backend"):
            deployment.set_weights({"canary": 1})

        # Kill one stable replica (SIGKILL, mid-load): no request fails for the client.
        stop = threading.Event()
        results: list[int] = []

        def load() -> None:
            with httpx.Client(base_url=deployment.url, timeout=30) as client:
                while not stop.is_set():
                    response = client.post("/predict", json=body)
                    results.append(response.status_code)

        with ThreadPoolExecutor(6) as pool:
            loads = [pool.submit(load) for _ in range(6)]
            time.sleep(0.5)
            victim = deployment.servers["stable"][0]
            assert victim.pid is not None
            os.kill(victim.pid, signal.SIGKILL)
            killed_at = len(results)
            time.sleep(1.5)
            stop.set()
            for future in loads:
                future.result()
        assert killed_at > 0
        assert len(results) > killed_at + 20  # traffic kept flowing after the kill
        assert Counter(results) == {200: len(results)}
    finally:
        deployment.stop()
    assert deployment.status().running is False
