"""The registry follows the deployment: a finished rollout promotes, its rollback rolls back.

A rollout that reached 100 % with every gate passed has shown the version works on real
traffic, so the registry should say it is in production; otherwise ``models:/NAME/production``
(and every server following it) would still name the old one. The promotion goes through
``ModelRegistry.promote_model`` under the registry's rules: a version with no stage passes
through staging first (the allowed path), and with ``approval_required`` an approval request is
filed instead, which the rollout's events say. Each registry change carries the deployment id in
its comment, and the deployment's events carry the registry's outcome: lineage both ways.

Rolling back a deployment whose rollout promoted rolls the registry back too
(``ModelRegistry.rollback``: the previous production version returns), but only while the
version it promoted is still the production one; a later promotion by someone else is theirs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlops.config import MLOpsConfig
from mlops.errors import InvalidStageTransitionError, MLOpsError
from mlops.models.deployment.records import Recorder
from mlops.models.entities import ALLOWED_TRANSITIONS, ApprovalRequest, ModelVersion, Stage
from mlops.models.registry import ModelRegistry

__all__ = ["Promotion", "promote_version", "roll_back_promotion"]

log = logging.getLogger(__name__)

EVENT = "registry"


@dataclass(frozen=True)
class Promotion:
    """What a rollout did in the registry (kept by the deployment for its rollback)."""

    model_name: str
    version: int
    stage: str
    deployment_id: str
    request_id: int | None = None  # set when an approval request was filed instead


def promote_version(
    config: MLOpsConfig, version: ModelVersion, stage: str, recorder: Recorder
) -> Promotion | None:
    """Promote ``version`` to ``stage`` for the deployment ``recorder`` records.

    Never raises: the rollout already succeeded, and a registry that refuses (a rule, a store
    error) is reported as a failed ``registry`` event, not as a failed deployment.
    """
    registry = ModelRegistry(config=config)
    comment = f"promoted by deployment {recorder.deployment_id}"
    try:
        target = Stage.parse(stage)
        current = registry.get_model(version.name, version=version.version)
        if current.stage is target:
            recorder.event(
                EVENT,
                passed=True,
                detail={"stage": target.value, "changed": False},
                message=f"{version.name} v{version.version} is already in {target.value}",
            )
            return None
        for step in _path(current.stage, target):
            result = registry.promote_model(version.name, version.version, step, comment=comment)
            if isinstance(result, ApprovalRequest):
                message = (
                    f"approval required: request #{result.id} filed to move {version.name} "
                    f"v{version.version} to {step.value}; approve it (mlops models approve "
                    f"{result.id}) to finish the promotion"
                )
                if step is not target:
                    # A request moves one step: the registry refuses a request to skip staging.
                    message = (
                        f"approval required: request #{result.id} filed to move {version.name} "
                        f"v{version.version} to {step.value}, the first step to {target.value}; "
                        f"once it is approved (mlops models approve {result.id}), promote it to "
                        f"{target.value}, which files the next request"
                    )
                recorder.event(
                    EVENT,
                    passed=True,
                    detail={"stage": step.value, "request_id": result.id, "pending": True},
                    message=message,
                )
                return Promotion(
                    version.name, version.version, step.value, recorder.deployment_id, result.id
                )
    except MLOpsError as exc:
        log.warning(
            "the registry was not promoted after deployment %s: %s", recorder.deployment_id, exc
        )
        recorder.event(
            EVENT, passed=False, detail={"stage": stage}, message=f"registry not promoted: {exc}"
        )
        return None
    recorder.event(
        EVENT,
        passed=True,
        detail={"stage": target.value, "changed": True},
        message=f"{version.name} v{version.version} promoted to {target.value} in the registry",
    )
    return Promotion(version.name, version.version, target.value, recorder.deployment_id)


def _path(start: Stage, target: Stage) -> list[Stage]:
    """The stages to pass through: directly when allowed, else through staging."""
    if target in ALLOWED_TRANSITIONS[start]:
        return [target]
    if Stage.STAGING in ALLOWED_TRANSITIONS[start] and target in ALLOWED_TRANSITIONS[Stage.STAGING]:
        return [Stage.STAGING, target]
    return [target]  # promote_model names the rule that forbids it


def roll_back_promotion(config: MLOpsConfig, promotion: Promotion, recorder: Recorder) -> None:
    """Undo ``promotion`` in the registry when it is still in effect; never raises."""
    registry = ModelRegistry(config=config)
    name, version = promotion.model_name, promotion.version
    comment = f"deployment {promotion.deployment_id} rolled back (by {recorder.deployment_id})"
    try:
        if promotion.request_id is not None:
            pending = {request.id for request in registry.list_requests("pending")}
            if promotion.request_id in pending:
                registry.reject(promotion.request_id, comment=comment)
                recorder.event(
                    EVENT,
                    passed=True,
                    detail={"request_id": promotion.request_id, "rejected": True},
                    message=f"approval request #{promotion.request_id} withdrawn: {comment}",
                )
                return
        current = registry.get_model(name, version=version)
        if current.stage.value != promotion.stage or promotion.stage != Stage.PRODUCTION.value:
            recorder.event(
                EVENT,
                passed=True,
                detail={"changed": False},
                message=f"registry left as is: {name} v{version} is {current.stage.value} now",
            )
            return
        try:
            result = registry.rollback(name, comment=comment)
        except InvalidStageTransitionError:
            # No earlier production version to return to: the version the deployment serves
            # again never was in production, so the promoted one steps back to staging.
            result = registry.promote_model(name, version, Stage.STAGING, comment=comment)
            if not isinstance(result, ApprovalRequest):
                recorder.event(
                    EVENT,
                    passed=True,
                    detail={"rollback": True, "stage": Stage.STAGING.value},
                    message=f"registry rolled back: {name} v{version} is back in staging",
                )
                return
    except MLOpsError as exc:
        log.warning(
            "the registry was not rolled back with deployment %s: %s", recorder.deployment_id, exc
        )
        recorder.event(EVENT, passed=False, message=f"registry not rolled back: {exc}")
        return
    if isinstance(result, ApprovalRequest):
        recorder.event(
            EVENT,
            passed=True,
            detail={"request_id": result.id, "pending": True, "rollback": True},
            message=f"approval required: request #{result.id} filed to roll {name} back",
        )
        return
    recorder.event(
        EVENT,
        passed=True,
        detail={"rollback": True, "production_version": result.version},
        message=f"registry rolled back: {name} v{result.version} is in production again",
    )
