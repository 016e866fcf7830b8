"""Rollouts at their edges, on real replicas behind the real router: a gate that raises and a
gate with a bug roll back like a failed gate; a rollback after a promotion through a moving
reference restores the version it replaced; a rollback by id acts only on the current rollout;
a rollback whose replicas cannot start is recorded as failed; stop() leaves no replica behind."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest

from mlops.config import MLOpsConfig
from mlops.errors import DeploymentError, InvalidStateError
from mlops.models import ModelRegistry
from mlops.models.deployment import (
    DriftCheck,
    Gates,
    LocalDeployment,
    RolloutStrategy,
    deployment_store,
    rollback_deployment,
)

from .test_rollout import _drive_iris


def _strategy(**gates: Any) -> RolloutStrategy:
    """One step of 100 % (the leanest rollout), judged after a few requests."""
    return RolloutStrategy(
        name="blue_green",
        steps=(100,),
        hold_seconds=0.2,
        min_requests=5,
        gates=Gates(max_p99_ms=10_000, **gates),
    )


def _table(deployment: LocalDeployment) -> list[tuple[str, float]]:
    return [(b["name"], b["weight"]) for b in deployment.status().backends]


def _version_served(deployment: LocalDeployment, rows: list[dict[str, Any]]) -> int:
    answer = httpx.post(f"{deployment.url}/predict", json=rows, timeout=30)
    assert answer.status_code == 200, answer.text
    return int(answer.json()["model_version"])


@pytest.fixture
def rows(iris: tuple[pd.DataFrame, Any]) -> list[dict[str, Any]]:
    return list(iris[0].iloc[[0, 60, 120]].to_dict(orient="records"))


@pytest.fixture
def deployment(
    serving_config: MLOpsConfig, registry: ModelRegistry, iris_model: Any, iris_tree: Any
) -> Iterator[LocalDeployment]:
    """Version 1, reached through the moving reference ``models:/iris/production``."""
    registry.promote_model("iris", 1, "staging")
    registry.promote_model("iris", 1, "production")
    deployment = LocalDeployment(
        "models:/iris/production", 1, strategy=_strategy(), config=serving_config
    )
    deployment.deploy().wait()
    yield deployment
    deployment.stop()


@pytest.mark.slow
def test_a_gate_that_raises_or_breaks_rolls_back_and_frees_the_deployment(
    serving_config: MLOpsConfig, deployment: LocalDeployment, rows: list[dict[str, Any]]
) -> None:
    store = deployment_store(serving_config)

    def unreachable(name: str, version: int | None) -> bool:
        raise ConnectionError("monitoring at http://10.0.0.9:5000 refused the connection")

    # A drift gate that raises is a failed gate: rolled back, traffic on stable, canary gone.
    deployment.strategy = _strategy(drift=unreachable)
    rollout = deployment.deploy("models:/iris/2")
    _drive_iris(deployment.url, rollout, rows, clients=2)
    rollout.wait(60)
    assert rollout.status == "rolled_back"
    assert "raised ConnectionError: monitoring at" in (rollout.message or "")
    assert _table(deployment) == [("stable", 1.0)]
    assert set(deployment.servers) == {"stable"}
    assert store.get_deployment(rollout.deployment_id).status == "rolled_back"

    def buggy(name: str, version: int | None) -> DriftCheck:
        return DriftCheck(True, None, ["not", "a", "dict"])  # type: ignore[arg-type]

    # A bug past the gate's call (judging its answer raises TypeError): the same roll-back
    # path, ending "failed" with the exception named, in the handle and in the record.
    deployment.strategy = _strategy(drift=buggy)
    rollout = deployment.deploy("models:/iris/2")
    _drive_iris(deployment.url, rollout, rows, clients=2)
    with pytest.raises(DeploymentError, match="TypeError"):
        rollout.wait(60)
    assert rollout.status == "failed"
    assert _table(deployment) == [("stable", 1.0)]
    assert set(deployment.servers) == {"stable"}
    record = store.get_deployment(rollout.deployment_id)
    assert record.status == "failed"
    assert "TypeError" in (record.message or "")
    assert record.events[-1].kind == "rolled_back"
    assert _version_served(deployment, rows) == 1

    # The deployment is free for the next rollout (no "backend 'canary' exists already").
    deployment.strategy = _strategy()
    rollout = deployment.deploy("models:/iris/2")
    _drive_iris(deployment.url, rollout, rows, clients=2)
    assert rollout.wait(60).status == "succeeded", rollout.message
    assert _version_served(deployment, rows) == 2


def _break_version(config: MLOpsConfig, registry: ModelRegistry, version: int) -> None:
    """Delete a version's artifacts and cached copy, so no replica of it can start."""
    mv = registry.get_model("iris", version=version)
    shutil.rmtree(config.home / "cache" / "models" / mv.sha256, ignore_errors=True)
    path = Path(mv.artifact_uri.removeprefix("file://"))
    assert path.exists(), mv.artifact_uri
    shutil.rmtree(path)


@pytest.mark.slow
def test_rollback_by_id_restores_the_replaced_version_and_refuses_other_ids(
    serving_config: MLOpsConfig,
    registry: ModelRegistry,
    deployment: LocalDeployment,
    rows: list[dict[str, Any]],
) -> None:
    first = deployment.rollout
    assert first is not None
    rollout = deployment.deploy("models:/iris/2")
    _drive_iris(deployment.url, rollout, rows, clients=2)
    assert rollout.wait(60).status == "succeeded", rollout.message
    # The promotion moved models:/iris/production to version 2...
    assert registry.get_model("iris", stage="production").version == 2

    # An old, finished deployment id is refused, naming the one that can be rolled back.
    with pytest.raises(InvalidStateError, match=rollout.deployment_id or "?"):
        rollback_deployment(first.deployment_id or "", config=serving_config)
    assert _version_served(deployment, rows) == 2

    # ...yet rolling the promotion back restores version 1, not what production names now.
    result = rollback_deployment(rollout.deployment_id or "", config=serving_config)
    assert result["status"] == "succeeded"
    assert _version_served(deployment, rows) == 1
    store = deployment_store(serving_config)
    record = store.get_deployment(result["deployment_id"])
    assert (record.model_version, record.previous_version) == (1, 2)
    assert deployment.previous_uri == "models:/iris/2"
    # The canary's id is no longer current: its rollback is done.
    with pytest.raises(InvalidStateError, match=result["deployment_id"]):
        rollback_deployment(rollout.deployment_id or "", config=serving_config)

    # Rolling back again needs version 2's replicas; they cannot start: the rollback fails,
    # its record says so (not "running" forever), and version 1 keeps serving.
    _break_version(serving_config, registry, 2)
    with pytest.raises(DeploymentError, match="did not start"):
        deployment.rollback("back to 2")
    failed = deployment.rollout
    assert failed is not None
    assert failed.status == "failed"
    assert store.get_deployment(failed.deployment_id or "").status == "failed"
    assert set(deployment.servers) == {"stable"}
    assert _version_served(deployment, rows) == 1


def _serve_children() -> set[int]:
    """Live child processes of this one running ``mlops serve`` (Linux: /proc)."""
    found = set()
    me = os.getpid()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == me and fields[0] != "Z" and b"serve" in cmdline:
            found.add(int(entry.name))
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc")
def test_stop_during_a_canary_start_leaves_no_replica_running(
    deployment: LocalDeployment,
) -> None:
    before = _serve_children()
    assert len(before) == 1  # the stable replica
    rollout = deployment.deploy("models:/iris/2")
    deployment.stop(timeout=0)  # returns while the canary's replica is still starting
    with pytest.raises(DeploymentError, match="stopped"):
        rollout.wait(120)
    assert _serve_children() == set()


@pytest.mark.slow
def test_a_removed_backend_answers_requests_routed_to_it_before_it_stops(
    deployment: LocalDeployment, rows: list[dict[str, Any]]
) -> None:
    deployment.drain_seconds = 3.0
    deployment.add_backend("canary", "models:/iris/2", replicas=1, weight=0.0)
    replica = deployment.servers["canary"][0]
    with ThreadPoolExecutor(1) as pool:
        removing = pool.submit(deployment.remove_backend, "canary")
        # Out of the routing table at once; a request that was already on its way (sent here
        # straight to the replica, as the router would have a moment before) is still answered.
        time.sleep(0.5)
        assert _table(deployment) == [("stable", 1.0)]
        late = httpx.post(f"{replica.url}/predict", json=rows, timeout=30)
        assert late.status_code == 200
        assert late.json()["model_version"] == 2
        removing.result(30)
    assert replica.pid is None  # stopped once drained
    assert "canary" not in deployment.servers
