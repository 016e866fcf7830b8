"""Deployments: a model version behind an address, with traffic split across versions.

``ModelDeployment`` is the interface; ``LocalDeployment`` runs model server processes on this
machine behind ``TrafficRouter``, a real HTTP router that splits by weight, sticky by key.
"""

from mlops.models.deployment.base import DeploymentStatus, ModelDeployment
from mlops.models.deployment.local import LocalDeployment
from mlops.models.deployment.router import ROUTING_KEY_HEADER, Backend, TrafficRouter

__all__ = [
    "ROUTING_KEY_HEADER",
    "Backend",
    "DeploymentStatus",
    "LocalDeployment",
    "ModelDeployment",
    "TrafficRouter",
]
