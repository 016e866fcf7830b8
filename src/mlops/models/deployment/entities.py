"""What the store keeps about deployments: the deployment itself and what happened in it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["DeploymentEvent", "DeploymentRecord"]

STATUSES = ("running", "succeeded", "rolled_back", "failed", "stopped")


@dataclass(frozen=True)
class DeploymentEvent:
    """One thing that happened in a deployment, in order.

    ``kind`` is ``started``, ``step`` (traffic set to ``traffic`` percent), ``gate`` (a verdict:
    ``passed`` with the measurements in ``detail``), ``promoted``, ``rolled_back`` or
    ``stopped``.
    """

    id: int
    deployment_id: str
    kind: str
    traffic: float | None
    passed: bool | None
    detail: dict[str, Any]
    message: str | None
    at: int


@dataclass(frozen=True)
class DeploymentRecord:
    """A rollout of a model version to a target, linked to the version it deployed."""

    id: str
    name: str
    target: str
    strategy: str
    model_name: str
    model_version: int | None
    previous_version: int | None
    status: str
    url: str | None
    config: dict[str, Any]
    message: str | None
    created_by: str
    created_at: int
    updated_at: int
    finished_at: int | None
    events: list[DeploymentEvent] = field(default_factory=list)
