"""Rollouts on LocalDeployment with real replicas behind the real router: a canary that fails
30% of requests is rolled back automatically; a healthy one is promoted; drift and manual
rollbacks; every step recorded in the store."""

from __future__ import annotations

import itertools
import os
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from mlops.config import MLOpsConfig
from mlops.errors import InvalidStateError
from mlops.models import ModelRegistry
from mlops.models.deployment import (
    Gates,
    LocalDeployment,
    Rollout,
    RolloutStrategy,
    deploy_model,
    deployment_store,
    rollback_deployment,
)

HELPERS = Path(__file__).parent / "helpers"


@pytest.fixture
def flaky(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The helper module, importable here and in replica processes (PYTHONPATH)."""
    monkeypatch.syspath_prepend(str(HELPERS))
    path = os.pathsep.join(filter(None, [str(HELPERS), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)
    import flaky_model

    yield flaky_model
    sys.modules.pop("flaky_model", None)


def _drive(url: str, rollout: Rollout, threads: int = 4) -> list[tuple[int, str, int]]:
    """Send single-row requests (x = 0, 1, 2, ..., routing key = x) until the rollout ends.

    Returns (x, backend that answered, status) for every request.
    """
    counter = itertools.count()
    results: list[tuple[int, str, int]] = []
    lock = threading.Lock()

    def load() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not rollout.done():
                x = next(counter)
                response = client.post(
                    "/predict", json=[{"x": x}], headers={"X-Routing-Key": str(x)}
                )
                with lock:
                    backend = response.headers.get("x-served-by", "?")
                    results.append((x, backend, response.status_code))

    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(load) for _ in range(threads)]:
            future.result()
    return results


@pytest.mark.slow
def test_canary_failing_30_percent_of_requests_is_rolled_back_automatically(
    serving_config: MLOpsConfig, registry: ModelRegistry, flaky: Any
) -> None:
    example = pd.DataFrame({"x": [5.0, 6.0, 7.0]})
    healthy = registry.register_model("flaky", flaky.FlakyDoubler(0), input_example=example)
    failing = registry.register_model("flaky", flaky.FlakyDoubler(3), input_example=example)
    strategy = RolloutStrategy(
        steps=(5, 25, 50, 100), hold_seconds=5, min_requests=40, gates=Gates(max_error_rate=0.05)
    )
    deployment = LocalDeployment(healthy, 1, strategy=strategy, config=serving_config)
    first = deployment.deploy().wait()
    assert first.status == "succeeded"
    try:
        rollout = deployment.deploy(failing)
        results = _drive(deployment.url, rollout)
        rollout.wait(60)

        assert rollout.status == "rolled_back"
        kinds = [(e.kind, e.traffic) for e in rollout.steps]
        # Judged at the first step (5 %), as soon as min_requests reached the canary.
        assert kinds == [
            ("started", 0.0),
            ("step", 5.0),
            ("gate", 5.0),
            ("rolled_back", 0.0),
        ]
        gate = rollout.steps[2]
        assert gate.passed is False
        assert "error rate" in (gate.message or "")
        assert gate.detail["requests"] >= 40
        assert gate.detail["stable_error_rate"] == 0.0

        # How many requests reached the failing version: the client's count of answers from
        # the canary equals the router's count recorded with the rollback.
        to_canary = [(x, status) for x, backend, status in results if backend == "canary"]
        reached = rollout.steps[3].detail["requests_to_new_version"]
        assert len(to_canary) == reached
        assert 40 <= reached < 200, reached  # a few more than min_requests were in flight
        assert len(results) > 10 * reached  # ~5 % of the traffic went to the canary
        # It failed exactly on its 30 % of inputs (x ending in 0, 1, 2), with 422s, and the
        # stable version answered every one of its requests.
        for x, status in to_canary:
            assert status == (422 if x % 10 < 3 else 200), (x, status)
        # The model fails on 30 % of all inputs; the ~40-60 that reached it are a sample of
        # them (chosen by the routing keys' hashes), so its observed failure share is near 0.3
        # (binomial: 0.3 +- 0.07 at 40 requests), e.g. 18 of 40 in one run.
        share = Counter(s for _, s in to_canary)[422] / reached
        assert 0.1 < share < 0.55, share
        assert all(s == 200 for _, b, s in results if b == "stable")

        # Traffic is back on the stable version; the canary's replicas are stopped.
        assert set(deployment.servers) == {"stable"}
        with httpx.Client(base_url=deployment.url, timeout=30) as client:
            for x in range(20):
                response = client.post("/predict", json=[{"x": x}])
                assert response.status_code == 200
                assert response.headers["x-served-by"] == "stable"
                assert response.json()["model_version"] == healthy.version

        # Recorded in the store, linked to the model version.
        store = deployment_store(serving_config)
        record = store.get_deployment(rollout.deployment_id)
        assert record.status == "rolled_back"
        assert (record.model_name, record.model_version) == ("flaky", failing.version)
        assert record.previous_version == healthy.version
        assert record.strategy == "canary"
        assert [e.kind for e in record.events] == ["started", "step", "gate", "rolled_back"]
        assert record.events[3].detail["requests_to_new_version"] == reached
        listed = store.list_deployments(model_name="flaky")
        assert [d.status for d in listed] == ["rolled_back", "succeeded"]
        assert [d.strategy for d in listed] == ["canary", "direct"]
    finally:
        deployment.stop()


@pytest.fixture
def iris_deployment(
    serving_config: MLOpsConfig, registry: ModelRegistry, iris_model: Any, iris_tree: Any
) -> Iterator[LocalDeployment]:
    # Generous p99 limit: this fixture tests the steps, not this machine's latency.
    strategy = RolloutStrategy(hold_seconds=0.3, min_requests=10, gates=Gates(max_p99_ms=10_000))
    deployment = LocalDeployment(
        registry.get_model("iris", version=1), 1, strategy=strategy, config=serving_config
    )
    deployment.deploy().wait()
    yield deployment
    deployment.stop()


def _drive_iris(
    url: str, rollout: Rollout, rows: list[dict[str, Any]], clients: int = 4
) -> Counter[int]:
    """``clients`` threads post ``rows`` until the rollout ends; the answers' status counts."""
    statuses: Counter[int] = Counter()

    def load() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not rollout.done():
                statuses[client.post("/predict", json=rows).status_code] += 1

    with ThreadPoolExecutor(clients) as pool:
        for future in [pool.submit(load) for _ in range(clients)]:
            future.result()
    return statuses


@pytest.mark.slow
def test_healthy_canary_is_promoted_then_rolled_back_by_hand(
    serving_config: MLOpsConfig,
    iris: tuple[pd.DataFrame, Any],
    iris_deployment: LocalDeployment,
) -> None:
    deployment = iris_deployment
    rows = iris[0].iloc[[0, 60, 120]].to_dict(orient="records")
    old_stable = list(deployment.servers["stable"])

    rollout = deploy_model("models:/iris/2", deployment=deployment, strategy=deployment.strategy)
    with pytest.raises(InvalidStateError, match="still running"):
        deployment.deploy("models:/iris/2")
    statuses = _drive_iris(deployment.url, rollout, rows)
    rollout.wait(60)
    assert rollout.status == "succeeded", rollout.message
    assert statuses == {200: sum(statuses.values())}  # no request failed during the rollout
    assert [(e.kind, e.traffic) for e in rollout.steps if e.kind != "gate"] == [
        ("started", 0.0),
        ("step", 5.0),
        ("step", 25.0),
        ("step", 50.0),
        ("step", 100.0),
        ("promoted", 100.0),
        ("registry", None),
    ]
    # The registry followed: version 2 is in production, with the deployment as lineage.
    registry = ModelRegistry(config=serving_config)
    assert registry.get_model("iris", version=2).stage.value == "production"
    assert rollout.steps[-1].passed is True
    assert "promoted to production" in (rollout.steps[-1].message or "")
    promoted = [e for e in registry.history("iris", 2) if e.to_value == "production"]
    assert rollout.deployment_id in (promoted[-1].comment or "")
    gates = [e for e in rollout.steps if e.kind == "gate"]
    assert [g.passed for g in gates] == [True] * 4
    assert all(g.detail["requests"] >= 10 for g in gates)
    # The new version replaced the old replicas.
    assert set(deployment.servers) == {"stable"}
    assert all(s.pid is None for s in old_stable)
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        answer = client.post("/predict", json=rows)
        assert answer.json()["model_version"] == 2
        assert answer.headers["x-served-by"] == "stable"

    # By hand, by id, through the deployment's control endpoint (as `mlops deployments
    # rollback` does from another process): version 1 serves again.
    result = rollback_deployment(rollout.deployment_id, config=serving_config)
    assert result["status"] == "succeeded"
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        assert client.post("/predict", json=rows).json()["model_version"] == 1
    record = deployment_store(serving_config).get_deployment(result["deployment_id"])
    assert record.strategy == "rollback"
    assert (record.model_version, record.previous_version) == (1, 2)
    assert [e.kind for e in record.events] == ["rolled_back", "registry"]
    # ...and so did the registry: v1 was never in production, so v2 steps back to staging.
    assert registry.get_model("iris", version=2).stage.value == "staging"
    assert "back in staging" in (record.events[-1].message or "")

    # A drift gate (e.g. from monitoring) that objects rolls the next canary back.
    seen: list[tuple[str, int | None]] = []

    def drift(name: str, version: int | None) -> str | None:
        seen.append((name, version))
        return "drift detected in petal_length (PSI 0.31)"

    deployment.strategy = RolloutStrategy(
        hold_seconds=0.2, min_requests=10, gates=Gates(max_p99_ms=10_000, drift=drift)
    )
    rollout = deployment.deploy("models:/iris/2")
    _drive_iris(deployment.url, rollout, rows)
    rollout.wait(60)
    assert rollout.status == "rolled_back"
    assert seen == [("iris", 2)]
    assert "drift detected" in (rollout.message or "")
    with pytest.raises(InvalidStateError, match="deploy"):
        LocalDeployment("models:/iris/1", 1, config=serving_config).rollback()


@pytest.mark.slow
def test_shadow_is_compared_and_never_answers(
    iris: tuple[pd.DataFrame, Any], iris_deployment: LocalDeployment
) -> None:
    deployment = iris_deployment
    # Rows the two versions disagree on (a depth-1 tree cannot tell versicolor from virginica).
    rows = iris[0].iloc[[0, 60, 120]].to_dict(orient="records")
    deployment.strategy = RolloutStrategy(
        name="shadow", steps=(100,), hold_seconds=0.3, min_requests=20,
        gates=Gates(max_p99_ms=10_000, min_agreement=0.9),
    )  # fmt: skip
    answers: Counter[tuple[str, int]] = Counter()
    rollout = deployment.deploy("models:/iris/2")
    with httpx.Client(base_url=deployment.url, timeout=30) as client:
        while not rollout.done():
            response = client.post("/predict", json=rows)
            answers[(response.headers["x-served-by"], response.json()["model_version"])] += 1
    rollout.wait(60)
    assert set(answers) == {("stable", 1)}  # the shadow's answers never reached the client
    assert rollout.status == "rolled_back"
    gate = next(e for e in rollout.steps if e.kind == "gate")
    assert gate.detail["requests"] >= 20
    assert gate.detail["agreement"] == 0.0
    assert "agreement 0.0% < 90.0%" in (gate.message or "")
    assert set(deployment.servers) == {"stable"}
    assert deployment.router is not None
    assert deployment.router.shadow is None
