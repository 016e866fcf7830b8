"""Recording a rollout as it happens: the store's rows and the handle's steps, kept together.

A deployment without a store (``record=False``) still fills its ``Rollout``'s steps, so the
handle always says what happened; the store adds the durable, listable history.
"""

from __future__ import annotations

import uuid
from typing import Any

from mlops.config import MLOpsConfig
from mlops.experiments.entities import now_ms
from mlops.models.deployment.entities import DeploymentEvent
from mlops.models.deployment.rollout import Rollout
from mlops.models.deployment.store import DeploymentStore
from mlops.models.entities import ModelVersion
from mlops.models.registry import ModelRegistry

__all__ = ["Recorder", "resolve_version"]


def resolve_version(uri: str | ModelVersion, config: MLOpsConfig) -> ModelVersion:
    """The registered version a reference names now (a deployment records the number).

    Raises:
        ModelVersionNotFoundError: The reference names nothing.
    """
    if isinstance(uri, ModelVersion):
        return uri
    from mlops.models.serving.source import stage_reference

    return ModelRegistry(config=config).get_model(stage_reference(uri))


class Recorder:
    """Appends a deployment's events to the store (if any) and to its ``Rollout``."""

    def __init__(self, store: DeploymentStore | None, deployment_id: str) -> None:
        self.store = store
        self.deployment_id = deployment_id
        self.rollout: Rollout | None = None
        self._seq = 0

    @classmethod
    def start(
        cls,
        store: DeploymentStore | None,
        *,
        name: str,
        target: str,
        strategy: str,
        version: ModelVersion,
        previous_version: int | None,
        settings: dict[str, Any],
        user: str,
        url: str | None,
        control_token: str | None = None,
    ) -> Recorder:
        """Create the deployment's record (status ``running``) and a recorder for it."""
        config = dict(settings)
        if control_token is not None:
            config["control_token"] = control_token
        if store is None:
            return cls(None, uuid.uuid4().hex)
        record = store.create_deployment(
            name=name,
            target=target,
            strategy=strategy,
            model_name=version.name,
            model_version=version.version,
            previous_version=previous_version,
            config=config,
            user=user,
            url=url,
        )
        return cls(store, record.id)

    def event(
        self,
        kind: str,
        *,
        traffic: float | None = None,
        passed: bool | None = None,
        detail: dict[str, Any] | None = None,
        message: str | None = None,
    ) -> DeploymentEvent:
        """Record one event and add it to the rollout's steps."""
        if self.store is not None:
            event = self.store.create_event(
                self.deployment_id,
                kind,
                traffic=traffic,
                passed=passed,
                detail=detail,
                message=message,
            )
        else:
            self._seq += 1
            event = DeploymentEvent(
                self._seq,
                self.deployment_id,
                kind,
                traffic,
                passed,
                detail or {},
                message,
                now_ms(),
            )
        if self.rollout is not None:
            self.rollout.steps.append(event)
        return event

    def update(self, *, url: str) -> None:
        """Record the deployment's address once it is known."""
        if self.store is not None:
            self.store.update_deployment(self.deployment_id, url=url)

    def finish(self, status: str, message: str | None = None) -> None:
        """Record the final status and end the rollout with it."""
        if self.store is not None:
            self.store.update_deployment(self.deployment_id, status=status, message=message)
        if self.rollout is not None and not self.rollout.done():
            self.rollout.finish(status, message)
