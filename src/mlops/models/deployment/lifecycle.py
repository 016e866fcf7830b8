"""The seed's module functions: ``deploy_model`` and ``rollback_deployment``.

``deploy_model`` starts a deployment (local or Kubernetes) or rolls a new version out on a
running local one. ``rollback_deployment`` takes a deployment object, or a deployment id from
the store: a local deployment in another process (``mlops deploy``) is reached through its
router's control endpoint, with the control token its record holds. ``promote_model`` is the
registry's (``mlops.models.promote_model``): a stage change, which a server following
``models:/NAME/production`` picks up by hot swap.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from mlops.config import MLOpsConfig, load_config
from mlops.errors import DeploymentError, InvalidInputError, InvalidStateError
from mlops.models.deployment.base import ModelDeployment
from mlops.models.deployment.entities import DeploymentRecord
from mlops.models.deployment.kubernetes import KubernetesDeployment
from mlops.models.deployment.local import LocalDeployment
from mlops.models.deployment.rollout import Rollout
from mlops.models.deployment.store import deployment_store
from mlops.models.deployment.strategy import RolloutStrategy, make_strategy
from mlops.models.entities import ModelVersion

__all__ = ["control", "deploy_model", "find_running", "rollback_deployment"]

TARGETS = ("local", "kubernetes")


def deploy_model(
    model_version: ModelVersion | str,
    *,
    target: str = "local",
    replicas: int = 2,
    strategy: RolloutStrategy | str = "canary",
    deployment: LocalDeployment | None = None,
    resources: Mapping[str, str] | None = None,
    autoscaling: Mapping[str, int] | None = None,
    config: MLOpsConfig | None = None,
    promote_to: str | None = "production",
    **kwargs: Any,
) -> Rollout:
    """Deploy a model version and return the rollout (``.wait()`` or ``await`` it).

    Args:
        model_version: A registered version or a ``models:/`` reference.
        target: ``local`` (server processes here behind a router) or ``kubernetes``.
        replicas: Replicas (pods) of the version.
        strategy: How a new version replaces a running one (local target).
        deployment: A running ``LocalDeployment`` to roll ``model_version`` out on; without
            one, a new deployment starts (``rollout.deployment`` is it: stop it when done).
        resources: Kubernetes resources per pod.
        autoscaling: Kubernetes autoscaling (see ``KubernetesDeployment``).
        config: Where the registry and the records are.
        promote_to: Registry stage a version that finishes its rollout is promoted to (local
            target; ``None``: leave the registry alone).
        **kwargs: Passed to the deployment's constructor.

    Raises:
        InvalidInputError: An unknown target, or options of the other target.
    """
    if target not in TARGETS:
        raise InvalidInputError(f"target {target!r} is not one of {list(TARGETS)}")
    if target == "kubernetes":
        if deployment is not None:
            raise InvalidInputError("deployment= is a running LocalDeployment; not for kubernetes")
        return KubernetesDeployment(
            model_version, replicas, resources, autoscaling, config=config, **kwargs
        ).deploy()
    if resources is not None or autoscaling is not None:
        raise InvalidInputError("resources and autoscaling apply to target='kubernetes' only")
    if deployment is not None:
        if isinstance(strategy, str):
            strategy = make_strategy(strategy, replicas=deployment.replicas)
        deployment.strategy = strategy
        deployment.promote_to = promote_to
        return deployment.deploy(model_version)
    return LocalDeployment(
        model_version, replicas, strategy=strategy, config=config, promote_to=promote_to, **kwargs
    ).deploy()


def rollback_deployment(
    deployment: ModelDeployment | str,
    reason: str = "rolled back by hand",
    *,
    config: MLOpsConfig | None = None,
    timeout: float = 120.0,
) -> dict[str, Any]:
    """Roll a deployment back: its running rollout stops, or its previous version returns.

    Args:
        deployment: A ``LocalDeployment`` object, or a deployment id (or 6+ character prefix)
            from the store.
        reason: Recorded with the rollback.
        config: Where the records are (for an id).
        timeout: Seconds to wait for the rollback.

    Returns:
        ``{"deployment_id", "status"}`` of the rollback.

    Raises:
        DeploymentError: The deployment's process is gone, or it is not a local deployment.
        InvalidStateError: Nothing to roll back, or the id is not the deployment's current
            rollout (the running one, or the one that put its serving version in place).
    """
    if isinstance(deployment, LocalDeployment):
        rollout = deployment.rollback(reason, timeout=timeout)
        return {"deployment_id": rollout.deployment_id, "status": rollout.status}
    if isinstance(deployment, ModelDeployment):
        raise DeploymentError(
            f"{type(deployment).__name__} has no rollback here; deploy the previous version"
        )
    record = deployment_store(config or load_config()).get_deployment(deployment)
    if record.target == "kubernetes":
        return _rollback_kubernetes(record, config)
    # The id goes along: the deployment refuses unless it is its current rollout, so an old id
    # never rolls back whatever version runs now.
    return control(record, "rollback", {"reason": reason, "deployment_id": record.id}, timeout)


def _rollback_kubernetes(record: DeploymentRecord, config: MLOpsConfig | None) -> dict[str, Any]:
    """Apply the version the deployment replaced, with the same settings."""
    if record.previous_version is None:
        raise InvalidStateError(
            f"deployment {record.id} replaced no version applied from here; nothing to roll back to"
        )
    settings = record.config
    rollout = KubernetesDeployment(
        f"models:/{record.model_name}/{record.previous_version}",
        int(settings.get("replicas", 2)),
        settings.get("resources"),
        settings.get("autoscaling"),
        name=record.name,
        namespace=str(settings.get("namespace", "default")),
        image=str(settings.get("image", "mlops-serve:latest")),
        tracking_uri=settings.get("tracking_uri"),
        artifact_uri=settings.get("artifact_uri"),
        config=config,
    ).deploy()
    return {"deployment_id": rollout.deployment_id, "status": rollout.status}


def find_running(name: str, config: MLOpsConfig | None = None) -> DeploymentRecord | None:
    """The newest local deployment named ``name`` whose router still answers, if any."""
    for record in deployment_store(config or load_config()).list_deployments(limit=100):
        if record.name != name or record.target != "local" or not record.url:
            continue
        try:
            httpx.get(f"{record.url}/-/routes", timeout=2.0).raise_for_status()
        except httpx.HTTPError:
            continue
        return record
    return None


def control(
    record: DeploymentRecord, action: str, body: dict[str, Any], timeout: float = 120.0
) -> dict[str, Any]:
    """Ask the process running a local deployment to ``deploy`` or ``rollback``.

    Raises:
        DeploymentError: The process is gone or refused.
        InvalidStateError: The deployment is not in a state for it (e.g. nothing to roll back).
    """
    token = record.config.get("control_token")
    if not record.url or not token:
        raise InvalidStateError(f"deployment {record.id} has no address to reach it at")
    try:
        response = httpx.post(
            f"{record.url}/-/control/{action}",
            json=body,
            headers={"x-control-token": str(token)},
            timeout=timeout,
        )
        answer = response.json()
    except (httpx.HTTPError, ValueError) as exc:
        raise DeploymentError(
            f"deployment {record.id} at {record.url} does not answer ({exc}); its process has "
            "stopped, and with it the deployment"
        ) from exc
    if response.status_code != 200:
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        message = f"{action} on {record.id} refused: {error.get('message', response.text)}"
        if response.status_code == 409:
            raise InvalidStateError(message)
        if response.status_code == 400:
            raise InvalidInputError(message)
        raise DeploymentError(message)
    return dict(answer)
