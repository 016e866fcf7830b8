"""Deployments: a model version behind an address, rolled out safely and recorded.

``ModelDeployment`` is the interface; ``LocalDeployment`` runs model server processes on this
machine behind ``TrafficRouter``, a real HTTP router that splits by weight, sticky by key, and
rolls new versions out by a ``RolloutStrategy`` (canary steps gated on error rate, latency
and, with ``MonitoringDriftGate``, monitoring's drift verdict on what the new version served;
automatic rollback). ``KubernetesDeployment`` renders and applies
manifests. Every deployment, step, verdict and rollback is recorded (``deployment_store``).
``build_image_context`` writes a Dockerfile and build context serving a version.
"""

from mlops.models.deployment.base import DeploymentStatus, ModelDeployment
from mlops.models.deployment.drift_gate import DriftCheck, MonitoringDriftGate
from mlops.models.deployment.entities import DeploymentEvent, DeploymentRecord
from mlops.models.deployment.image import ImageContext, build_image, build_image_context
from mlops.models.deployment.kubernetes import KubernetesDeployment
from mlops.models.deployment.lifecycle import deploy_model, rollback_deployment
from mlops.models.deployment.local import LocalDeployment
from mlops.models.deployment.rollout import Rollout, RolloutTimeoutError
from mlops.models.deployment.router import ROUTING_KEY_HEADER, Backend, TrafficRouter, Window
from mlops.models.deployment.store import (
    DeploymentNotFoundError,
    DeploymentStore,
    deployment_store,
)
from mlops.models.deployment.strategy import Gates, GateVerdict, RolloutStrategy, make_strategy

__all__ = [
    "ROUTING_KEY_HEADER",
    "Backend",
    "DeploymentEvent",
    "DeploymentNotFoundError",
    "DeploymentRecord",
    "DeploymentStatus",
    "DeploymentStore",
    "DriftCheck",
    "GateVerdict",
    "Gates",
    "ImageContext",
    "KubernetesDeployment",
    "LocalDeployment",
    "ModelDeployment",
    "MonitoringDriftGate",
    "Rollout",
    "RolloutStrategy",
    "RolloutTimeoutError",
    "TrafficRouter",
    "Window",
    "build_image",
    "build_image_context",
    "deploy_model",
    "deployment_store",
    "make_strategy",
    "rollback_deployment",
]
