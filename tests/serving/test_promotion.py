"""The registry follows deployments: a finished rollout promotes (through staging, or by an
approval request when the registry requires one), and its rollback rolls the registry back.

Real SQLite registry and deployment store; the rollout itself is exercised end to end in
test_rollout.py (a healthy canary promotes v2, its rollback steps v2 back to staging)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mlops.config import MLOpsConfig
from mlops.models import ModelRegistry
from mlops.models.deployment import deployment_store
from mlops.models.deployment.promotion import promote_version, roll_back_promotion
from mlops.models.deployment.records import Recorder
from mlops.models.entities import ModelVersion


def _recorder(config: MLOpsConfig, version: ModelVersion) -> Recorder:
    return Recorder.start(
        deployment_store(config),
        name=version.name,
        target="local",
        strategy="canary",
        version=version,
        previous_version=None,
        settings={},
        user=config.user,
        url=None,
    )


def test_promotes_through_staging_and_rolls_back_to_the_previous_production(
    serving_config: MLOpsConfig, registry: ModelRegistry, iris_tree: Any
) -> None:
    v1 = registry.get_model("iris", version=1)
    v2 = registry.get_model("iris", version=2)
    registry.promote_model("iris", 1, "staging")
    registry.promote_model("iris", 1, "production")

    recorder = _recorder(serving_config, v2)
    promotion = promote_version(serving_config, v2, "production", recorder)
    assert promotion is not None
    assert promotion.request_id is None
    assert registry.get_model("iris", version=2).stage.value == "production"
    assert registry.get_model("iris", version=1).stage.value == "archived"
    moves = [(e.from_value, e.to_value) for e in registry.history("iris", 2) if e.kind == "stage"]
    assert moves == [("none", "staging"), ("staging", "production")]
    assert all(
        recorder.deployment_id in (e.comment or "")
        for e in registry.history("iris", 2)
        if e.kind == "stage"
    )
    [event] = deployment_store(serving_config).get_deployment(recorder.deployment_id).events
    assert (event.kind, event.passed, event.detail["changed"]) == ("registry", True, True)

    # A second deployment of the same version changes nothing in the registry.
    again = _recorder(serving_config, v2)
    assert promote_version(serving_config, v2, "production", again) is None
    assert "already in production" in _events(serving_config, again)[0]

    rollback = _recorder(serving_config, v1)
    roll_back_promotion(serving_config, promotion, rollback)
    assert registry.get_model("iris", version=1).stage.value == "production"
    assert registry.get_model("iris", version=2).stage.value == "archived"
    last = registry.history("iris", 1)[-1]
    assert last.kind == "rollback"
    assert promotion.deployment_id in (last.comment or "")
    assert "in production again" in _events(serving_config, rollback)[0]


def test_approval_required_files_a_request_and_says_so(
    tmp_path: Path, iris: tuple[pd.DataFrame, Any]
) -> None:
    from sklearn.linear_model import LogisticRegression

    config = MLOpsConfig(
        home=tmp_path / ".mlops",
        tracking_uri=f"sqlite:///{tmp_path / 'approvals.db'}",
        artifact_uri=str(tmp_path / "artifacts"),
        user="deployer",
        model_registry={"approval_required": True},
    )
    registry = ModelRegistry(config=config)
    x, y = iris
    version = registry.register_model(
        "iris", LogisticRegression(max_iter=500).fit(x, y), input_example=x.head()
    )
    recorder = _recorder(config, version)
    promotion = promote_version(config, version, "production", recorder)
    assert promotion is not None
    assert promotion.request_id is not None
    [request] = registry.list_requests()
    assert request.id == promotion.request_id
    assert (request.target, request.status) == ("staging", "pending")
    assert recorder.deployment_id in (request.comment or "")
    assert registry.get_model("iris", version=1).stage.value == "none"  # nothing moved yet
    [message] = _events(config, recorder)
    assert f"request #{request.id}" in message
    assert "approve" in message
    assert "first step to production" in message  # approving it alone does not reach production

    # Rolling the deployment back withdraws the request it filed.
    roll_back_promotion(config, promotion, _recorder(config, version))
    assert registry.list_requests() == []
    assert registry.list_requests(status="rejected")[0].id == request.id


def test_a_registry_that_refuses_does_not_fail_the_deployment(
    serving_config: MLOpsConfig, registry: ModelRegistry, iris_model: Any
) -> None:
    version = registry.get_model("iris", version=1)
    recorder = _recorder(serving_config, version)
    assert promote_version(serving_config, version, "nonsense", recorder) is None
    [event] = deployment_store(serving_config).get_deployment(recorder.deployment_id).events
    assert event.passed is False
    assert "unknown stage 'nonsense'" in (event.message or "")


def _events(config: MLOpsConfig, recorder: Recorder) -> list[str]:
    record = deployment_store(config).get_deployment(recorder.deployment_id)
    return [e.message or "" for e in record.events]
