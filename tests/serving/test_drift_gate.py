"""The drift gate fed by monitoring: a canary's replicas run monitored, tagged with the rollout's
deployment id; a canary whose served inputs drifted from its attached reference is rolled back,
one whose inputs match it passes; the CLI and the recorded settings carry the gate."""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.config import MLOpsConfig
from mlops.errors import InvalidInputError
from mlops.models import ModelRegistry
from mlops.models.deployment import (
    DriftCheck,
    Gates,
    LocalDeployment,
    MonitoringDriftGate,
    Rollout,
    RolloutStrategy,
    Window,
    deploy_model,
    deployment_store,
)
from mlops.models.deployment.strategy import strategy_from
from mlops.monitoring import DriftDetector
from mlops.monitoring.store import monitoring_store


@pytest.fixture
def deployment(
    serving_config: MLOpsConfig, registry: ModelRegistry, iris_model: Any, iris_tree: Any
) -> Iterator[LocalDeployment]:
    deployment = LocalDeployment("models:/iris/1", 1, config=serving_config)
    deployment.deploy().wait()
    yield deployment
    deployment.stop()


def _drive(url: str, rollout: Rollout, rows: list[dict[str, Any]]) -> Counter[int]:
    """Two clients sending ``rows`` until the rollout ends, paced so the replicas' low-priority
    monitor feed gets CPU on a small machine; the answers' status codes."""
    statuses: Counter[int] = Counter()

    def load() -> None:
        with httpx.Client(base_url=url, timeout=30) as client:
            while not rollout.done():
                statuses[client.post("/predict", json=rows).status_code] += 1
                time.sleep(0.02)

    with ThreadPoolExecutor(2) as pool:
        for future in [pool.submit(load) for _ in range(2)]:
            future.result()
    return statuses


@pytest.mark.slow
def test_a_drifted_canary_is_rolled_back_and_a_matching_one_passes(
    serving_config: MLOpsConfig, iris: tuple[pd.DataFrame, Any], deployment: LocalDeployment
) -> None:
    x, _ = iris
    DriftDetector(x, config=serving_config).attach("iris/2", config=serving_config)
    # Two canary replicas: each process keeps its own monitor, the gate reads both.
    strategy = RolloutStrategy(
        replicas=2,
        steps=(50.0, 100.0),
        hold_seconds=0.3,
        min_requests=3,
        gates=Gates(max_p99_ms=10_000, drift=MonitoringDriftGate(min_rows=150, wait_seconds=30)),
    )

    # Every input shifted far from the reference: the canary's rows drift in every column.
    shifted = (x + 5.0).to_dict(orient="records")
    rollout = deploy_model("models:/iris/2", deployment=deployment, strategy=strategy)
    statuses = _drive(deployment.url, rollout, shifted)
    rollout.wait(60)
    assert set(statuses) == {200}
    assert rollout.status == "rolled_back", rollout.message
    assert "drift share 100%" in (rollout.message or "")
    record = deployment_store(serving_config).get_deployment(str(rollout.deployment_id))
    [gate] = [e for e in record.events if e.kind == "gate"]
    assert gate.passed is False
    assert gate.traffic == 50.0
    drift = gate.detail["drift"]
    assert drift["checked"] is True
    assert drift["drift_share"] == 1.0
    assert sorted(drift["drifted_columns"]) == sorted(x.columns)
    assert drift["rows_checked"] >= 150
    assert record.events[-1].kind == "rolled_back"
    assert record.config["gates"]["drift"]["kind"] == "monitoring"
    # The canary's rows were stored under its own replicas' monitors, not the version's.
    store = monitoring_store(serving_config)
    assert record.events[0].detail["monitored_as"] == [
        f"{rollout.deployment_id}.r0",
        f"{rollout.deployment_id}.r1",
    ]
    stored = [store.list_chunks(f"iris-v2-drift@{rollout.deployment_id}.r{i}") for i in (0, 1)]
    assert all(stored)  # both replicas answered and logged
    assert not store.list_chunks("iris-v2-drift")
    with httpx.Client(base_url=deployment.url) as client:
        assert client.post("/predict", json=shifted[:1]).json()["model_version"] == 1

    # Inputs that are the reference itself (all 150 rows per request): no column drifts.
    rollout = deploy_model("models:/iris/2", deployment=deployment, strategy=strategy)
    statuses = _drive(deployment.url, rollout, x.to_dict(orient="records"))
    rollout.wait(60)
    assert set(statuses) == {200}
    assert rollout.status == "succeeded", rollout.message
    record = deployment_store(serving_config).get_deployment(str(rollout.deployment_id))
    gates = [e for e in record.events if e.kind == "gate"]
    assert [g.traffic for g in gates] == [50.0, 100.0]
    for gate in gates:
        assert gate.passed is True
        assert gate.detail["drift"]["checked"] is True
        assert gate.detail["drift"]["drift_share"] == 0.0
        assert gate.detail["drift"]["rows_checked"] >= 150
    with httpx.Client(base_url=deployment.url) as client:
        assert client.post("/predict", json=shifted[:1]).json()["model_version"] == 2


def test_a_gate_without_rows_or_detector_passes_and_says_why(
    serving_config: MLOpsConfig, iris_model: Any
) -> None:
    gate = MonitoringDriftGate(min_rows=10, wait_seconds=0, config=serving_config)
    check = gate("iris", 1, deployment="nobody")
    assert check.passed
    assert check.detail["checked"] is False
    assert "fewer than 10 served rows" in check.detail["note"]


def test_gates_record_any_drift_answer() -> None:
    window = Window()
    answers: list[Any] = [
        None,
        True,
        False,
        "psi 0.4 on x",
        DriftCheck(False, "x drifted", {"n": 3}),
    ]
    verdicts = [Gates(drift=lambda _n, _v, a=a: a).judge("m", 1, window, None) for a in answers]
    assert [v.passed for v in verdicts] == [True, True, False, False, False]
    assert verdicts[2].reasons == ["drift gate failed"]
    assert verdicts[3].reasons == ["psi 0.4 on x"]
    assert verdicts[4].drift == {"passed": False, "n": 3}
    assert Gates().judge("m", 1, window, None).drift is None


def test_drift_gate_settings_travel_and_bad_ones_are_named(
    serving_config: MLOpsConfig, iris_model: Any
) -> None:
    runner = CliRunner()
    uri = serving_config.resolved_tracking_uri
    args = ["deploy", "models:/iris/1", "--dry-run", "--drift-threshold", "0.3",
            "--drift-min-rows", "500", "--tracking-uri", uri]  # fmt: skip
    result = runner.invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    plan = json.loads(result.output)
    assert plan["gates"]["drift"] == {
        "kind": "monitoring",
        "threshold": 0.3,
        "min_rows": 500,
        "wait_seconds": 10.0,
    }
    # What a running deployment receives rebuilds the same gate.
    settings = {k: v for k, v in plan.items() if k not in ("target", "model_uri")}
    rebuilt = strategy_from(settings, replicas=1)
    assert rebuilt.gates.drift == MonitoringDriftGate(threshold=0.3, min_rows=500)

    off = runner.invoke(app, args[:3] + args[-2:], catch_exceptions=False)
    assert json.loads(off.output)["gates"]["drift"] is None
    bad = runner.invoke(app, [*args[:3], "--drift-threshold", "1.5"])
    assert bad.exit_code != 0
    assert "drift-threshold" in bad.output

    with pytest.raises(InvalidInputError, match="share of columns"):
        MonitoringDriftGate(threshold=1.5)
    with pytest.raises(InvalidInputError, match="min_rows"):
        MonitoringDriftGate(min_rows=0)
    with pytest.raises(InvalidInputError, match="callable gate is code"):
        strategy_from({"gates": {"drift": {"kind": "mine"}}}, replicas=1)
