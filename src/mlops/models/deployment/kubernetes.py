"""``KubernetesDeployment``: a model version as Deployment, Service, HPA and ConfigMap.

The manifests are plain dicts rendered here (``render()``, ``to_yaml()`` for ``--dry-run``), so
they can be read, diffed and validated without a cluster; the tests validate them against the
Kubernetes JSON schemas that the kubernetes-validate package ships. ``deploy()`` applies them
with the official ``kubernetes`` client (server-side apply, so a second deploy updates in
place) only when a cluster is configured (a kubeconfig, or running inside a pod); otherwise it
raises a ``DeploymentError`` that says so and how to go on. With ``dry_run=True``, ``deploy()``
renders the manifests and validates them against the Kubernetes schemas (when the
kubernetes-validate package is installed) without any cluster, and records nothing. Pods run
``mlops serve`` on a fixed version, so the cluster's own RollingUpdate replaces pods one at a
time, gated on the readiness probe.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from mlops.config import MLOpsConfig, load_config
from mlops.errors import DeploymentError, InvalidInputError
from mlops.models.deployment.base import DeploymentStatus, ModelDeployment
from mlops.models.deployment.records import Recorder, resolve_version
from mlops.models.deployment.rollout import Rollout
from mlops.models.entities import ModelVersion
from mlops.models.serving.options import ServingOptions

__all__ = ["KubernetesDeployment"]

_QUANTITY = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")
_PORT = 8080


def _dns_name(text: str) -> str:
    """A DNS-1123 label from a model name: lowercase, alphanumerics and '-', at most 63."""
    name = re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-")
    return (name or "model")[:63].rstrip("-")


class KubernetesDeployment(ModelDeployment):
    """A registered model version on a Kubernetes cluster.

    Args:
        model_version: A registered ``ModelVersion`` or a ``models:/`` reference (resolved to
            a fixed version at render time, so every pod serves the same one).
        replicas: Pods to start with.
        resources: Per pod, ``{"cpu": "500m", "memory": "1Gi"}`` (requests; also limits unless
            ``limits`` is given).
        autoscaling: ``{"min_replicas", "max_replicas", "target_cpu_utilization"}`` for a
            HorizontalPodAutoscaler (None: no autoscaler).
        name: Kubernetes object name (default: from the model's name).
        namespace: Where the objects go.
        image: The container image with mlops and the model's libraries
            (``mlops models build-image`` writes one).
        tracking_uri: The registry the pods read (default: this configuration's; it must be
            reachable from the cluster, e.g. postgresql:// or an mlops server).
        artifact_uri: The artifact root the pods read (default: this configuration's).
        limits: Per pod limits, if they differ from ``resources``.
        options: Serving options passed to ``mlops serve``.
        config: Where the registry and the deployment records are.
        record: Record the deployment in the store.
        dry_run: ``deploy()`` renders and validates the manifests (``manifests`` afterwards,
            ``to_yaml()`` to print them) and applies nothing.
    """

    target = "kubernetes"
    schema_version = "1.30.0"
    """The Kubernetes release whose schemas a dry run validates against."""

    def __init__(
        self,
        model_version: ModelVersion | str,
        replicas: int = 2,
        resources: Mapping[str, str] | None = None,
        autoscaling: Mapping[str, int] | None = None,
        *,
        name: str | None = None,
        namespace: str = "default",
        image: str = "mlops-serve:latest",
        tracking_uri: str | None = None,
        artifact_uri: str | None = None,
        limits: Mapping[str, str] | None = None,
        options: ServingOptions | None = None,
        config: MLOpsConfig | None = None,
        record: bool = True,
        dry_run: bool = False,
    ) -> None:
        if replicas < 1:
            raise InvalidInputError(f"replicas must be at least 1, got {replicas}")
        self.model_version = model_version
        self.replicas = replicas
        self.resources = _check_resources(dict(resources or {"cpu": "500m", "memory": "1Gi"}))
        self.limits = _check_resources(dict(limits)) if limits is not None else None
        self.autoscaling = _check_autoscaling(dict(autoscaling) if autoscaling else None, replicas)
        self.name = name
        self.namespace = _dns_name(namespace)
        self.image = image
        self.tracking_uri = tracking_uri
        self.artifact_uri = artifact_uri
        self.options = options or ServingOptions()
        self.config = config
        self.record = record
        self.dry_run = dry_run
        self.rollout: Rollout | None = None
        self.manifests: list[dict[str, Any]] = []
        """What the last ``deploy()`` rendered (and, in a dry run, validated)."""

    def _config(self) -> MLOpsConfig:
        if self.config is None:
            self.config = load_config()
        return self.config

    def version(self) -> ModelVersion:
        """The registered version these manifests serve."""
        return resolve_version(self.model_version, self._config())

    def render(self) -> list[dict[str, Any]]:
        """ConfigMap, Deployment, Service and (with autoscaling) HorizontalPodAutoscaler."""
        mv = self.version()
        config = self._config()
        name = _dns_name(self.name or f"mlops-{mv.name}")
        uri = f"models:/{mv.name}/{mv.version}"
        labels = {
            "app.kubernetes.io/name": "mlops-model",
            "app.kubernetes.io/instance": name,
            "app.kubernetes.io/managed-by": "mlops",
        }
        pod_labels = {**labels, "mlops.dev/model-version": str(mv.version)}
        annotations = {"mlops.dev/model-uri": uri, "mlops.dev/model-sha256": mv.sha256}
        meta = {"name": name, "namespace": self.namespace, "labels": labels}
        options = self.options
        config_map = {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {**meta, "name": f"{name}-config", "annotations": annotations},
            "data": {
                "MLOPS_MODEL_URI": uri,
                "MLOPS_TRACKING_URI": self.tracking_uri or config.resolved_tracking_uri,
                "MLOPS_ARTIFACT_URI": self.artifact_uri or config.resolved_artifact_uri,
                "MLOPS_SERVING_OPTIONS": options.to_json(),
            },
        }
        probe = {"httpGet": {"path": "/v2/health/ready", "port": "http"}, "periodSeconds": 5}
        container = {
            "name": "model",
            "image": self.image,
            "args": [
                "serve",
                uri,
                "--host",
                "0.0.0.0",
                "--port",
                str(_PORT),
                "--max-batch-size",
                str(options.max_batch_size),
                "--max-wait-ms",
                str(options.max_wait_ms),
                "--poll-interval",
                "0",
                "--max-body-size",
                str(options.max_body_size),
            ],
            "envFrom": [{"configMapRef": {"name": f"{name}-config"}}],
            "ports": [{"name": "http", "containerPort": _PORT, "protocol": "TCP"}],
            "resources": {"requests": self.resources, "limits": self.limits or self.resources},
            "readinessProbe": probe,
            "livenessProbe": {
                "httpGet": {"path": "/v2/health/live", "port": "http"},
                "periodSeconds": 10,
                "failureThreshold": 3,
            },
        }
        deployment = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {**meta, "annotations": annotations},
            "spec": {
                "replicas": self.replicas,
                "selector": {"matchLabels": {"app.kubernetes.io/instance": name}},
                # One new pod at a time, none taken away before its replacement is ready.
                "strategy": {
                    "type": "RollingUpdate",
                    "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0},
                },
                "template": {
                    "metadata": {"labels": pod_labels, "annotations": annotations},
                    "spec": {"containers": [container], "terminationGracePeriodSeconds": 40},
                },
            },
        }
        service = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta,
            "spec": {
                "type": "ClusterIP",
                "selector": {"app.kubernetes.io/instance": name},
                "ports": [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}],
            },
        }
        manifests: list[dict[str, Any]] = [config_map, deployment, service]
        if self.autoscaling is not None:
            scaling = self.autoscaling
            manifests.append(
                {
                    "apiVersion": "autoscaling/v2",
                    "kind": "HorizontalPodAutoscaler",
                    "metadata": meta,
                    "spec": {
                        "scaleTargetRef": {
                            "apiVersion": "apps/v1",
                            "kind": "Deployment",
                            "name": name,
                        },
                        "minReplicas": scaling["min_replicas"],
                        "maxReplicas": scaling["max_replicas"],
                        "metrics": [
                            {
                                "type": "Resource",
                                "resource": {
                                    "name": "cpu",
                                    "target": {
                                        "type": "Utilization",
                                        "averageUtilization": scaling["target_cpu_utilization"],
                                    },
                                },
                            }
                        ],
                    },
                }
            )
        return manifests

    def to_yaml(self) -> str:
        """The manifests as one multi-document YAML (what ``--dry-run`` prints)."""
        return "".join(f"---\n{to_yaml(manifest)}" for manifest in self.render())

    def deploy(self) -> Rollout:
        """Apply the manifests to the configured cluster and record the deployment.

        Returns a finished ``Rollout`` (awaitable, like the seed's ``await deployment.deploy()``).
        With ``dry_run`` nothing is applied or recorded: the rollout's message says what was
        rendered and validated.

        Raises:
            DeploymentError: No cluster is configured (the message says how to configure one
                or to use ``dry_run``), the ``kubernetes`` client is not installed, the API
                server refused a manifest, or (dry run) a manifest fails its schema.
        """
        manifests = self.manifests = self.render()
        if self.dry_run:
            return self._dry_run(manifests)
        mv = self.version()
        store = None
        if self.record:
            from mlops.models.deployment.store import deployment_store

            store = deployment_store(self._config())
        name = manifests[1]["metadata"]["name"]
        previous = None
        if store is not None:
            # What this name last ran on the cluster (applied from here): a rollback's target.
            for earlier in store.list_deployments(mv.name):
                same = earlier.target == self.target and earlier.name == name
                if same and earlier.status == "succeeded":
                    previous = earlier.model_version
                    break
        recorder = Recorder.start(
            store,
            name=name,
            target=self.target,
            strategy="rolling",
            version=mv,
            previous_version=previous,
            settings={
                "replicas": self.replicas,
                "resources": self.resources,
                "autoscaling": self.autoscaling,
                "namespace": self.namespace,
                "image": self.image,
                "tracking_uri": self.tracking_uri,
                "artifact_uri": self.artifact_uri,
            },
            user=self._config().user,
            url=None,
        )
        rollout = Rollout(recorder.deployment_id, self)
        recorder.rollout = rollout
        self.rollout = rollout
        try:
            applied = apply_manifests(manifests, self.namespace)
        except DeploymentError as exc:
            recorder.event("failed", message=str(exc))
            recorder.finish("failed", str(exc))
            raise
        recorder.event("step", traffic=100.0, detail={"applied": applied})
        recorder.finish("succeeded", f"applied {', '.join(applied)} in {self.namespace}")
        return rollout

    def _dry_run(self, manifests: list[dict[str, Any]]) -> Rollout:
        try:
            import kubernetes_validate  # type: ignore[import-untyped]
        except ImportError:
            checked = "not validated (pip install kubernetes-validate to check them)"
        else:
            for manifest in manifests:
                try:
                    kubernetes_validate.validate(manifest, self.schema_version, strict=True)
                except kubernetes_validate.ValidationError as exc:
                    raise DeploymentError(
                        f"{manifest['kind']}/{manifest['metadata']['name']} does not validate "
                        f"against the Kubernetes {self.schema_version} schema: {exc.message}"
                    ) from exc
            checked = f"validated against the Kubernetes {self.schema_version} schemas"
        rollout = Rollout(None, self)
        kinds = ", ".join(f"{m['kind']}/{m['metadata']['name']}" for m in manifests)
        rollout.finish("succeeded", f"dry run: {kinds} rendered and {checked}; nothing applied")
        self.rollout = rollout
        return rollout

    def status(self) -> DeploymentStatus:
        """What was last applied from here (the cluster itself is not queried)."""
        applied = self.rollout is not None and self.rollout.status == "succeeded"
        return DeploymentStatus(url=None, running=applied)

    def stop(self) -> None:
        """Not done from here: delete the objects with ``kubectl delete -f`` on the dry-run YAML.

        Raises:
            DeploymentError: Always; stopping a cluster deployment is an operator's act.
        """
        raise DeploymentError(
            "stopping a Kubernetes deployment is not done from mlops: delete its objects with "
            "kubectl (mlops deploy ... --target kubernetes --dry-run prints them)"
        )


def apply_manifests(manifests: list[dict[str, Any]], namespace: str) -> list[str]:
    """Server-side apply each manifest with the official client; the ``Kind/name``s applied.

    Raises:
        DeploymentError: No cluster configured, client missing, or the API refused.
    """
    try:
        from kubernetes import (  # type: ignore[import-untyped]
            client as k8s_client,
        )
        from kubernetes import config as k8s_config
        from kubernetes import dynamic
        from kubernetes.client.exceptions import (  # type: ignore[import-untyped]
            ApiException,
        )
        from kubernetes.config.config_exception import (  # type: ignore[import-untyped]
            ConfigException,
        )
    except ImportError as exc:
        raise DeploymentError(
            "applying manifests needs the kubernetes client: pip install 'mlops[kubernetes]' "
            "(or print them with --dry-run)"
        ) from exc
    try:
        k8s_config.load_kube_config()
    except (ConfigException, FileNotFoundError, TypeError):
        try:
            k8s_config.load_incluster_config()
        except ConfigException as exc:
            raise DeploymentError(
                "no Kubernetes cluster is configured (no kubeconfig at $KUBECONFIG or "
                "~/.kube/config, and not running in a pod): configure one (kubectl config "
                "use-context ...), or render and validate the manifests without a cluster with "
                "KubernetesDeployment(..., dry_run=True) / mlops deploy --target kubernetes "
                "--dry-run, and apply them with kubectl"
            ) from exc
    applied = []
    with k8s_client.ApiClient() as api:
        resources = dynamic.DynamicClient(api).resources
        for manifest in manifests:
            kind, name = manifest["kind"], manifest["metadata"]["name"]
            try:
                resource = resources.get(api_version=manifest["apiVersion"], kind=kind)
                resource.server_side_apply(
                    body=manifest, name=name, namespace=namespace, field_manager="mlops"
                )
            except ApiException as exc:
                raise DeploymentError(f"the cluster refused {kind}/{name}: {exc.reason}") from exc
            applied.append(f"{kind}/{name}")
    return applied


def to_yaml(value: Any, indent: int = 0) -> str:
    """Block-style YAML for JSON-like data (dicts, lists, str, int, float, bool, None).

    Scalars are written as JSON (a JSON string is a valid YAML double-quoted scalar), so no
    value is ever misread (``"0"``, ``"on"``, ``"1e3"`` stay strings) and no YAML library is
    needed for ``--dry-run``.
    """
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return f"{pad}{{}}\n"
        lines = []
        for key, item in value.items():
            if isinstance(item, dict | list) and item:
                lines.append(f"{pad}{json.dumps(str(key))}:\n{to_yaml(item, indent + 2)}")
            else:
                lines.append(f"{pad}{json.dumps(str(key))}: {_scalar(item)}\n")
        return "".join(lines)
    if isinstance(value, list):
        if not value:
            return f"{pad}[]\n"
        lines = []
        for item in value:
            if isinstance(item, dict | list) and item:
                body = to_yaml(item, indent + 2)
                lines.append(f"{pad}- {body[indent + 2 :]}")
            else:
                lines.append(f"{pad}- {_scalar(item)}\n")
        return "".join(lines)
    return f"{pad}{_scalar(value)}\n"


def _scalar(value: Any) -> str:
    if isinstance(value, dict):
        return "{}"
    if isinstance(value, list):
        return "[]"
    return json.dumps(value)


def _check_resources(resources: dict[str, str]) -> dict[str, str]:
    unknown = sorted(set(resources) - {"cpu", "memory", "ephemeral-storage"})
    bad = [f"{k}={v!r}" for k, v in resources.items() if not _QUANTITY.match(str(v))]
    if unknown or bad:
        raise InvalidInputError(
            "resources take cpu, memory and ephemeral-storage as Kubernetes quantities "
            f"(e.g. cpu='500m', memory='1Gi'); unknown: {unknown}, malformed: {bad}"
        )
    return {k: str(v) for k, v in resources.items()}


def _check_autoscaling(scaling: dict[str, int] | None, replicas: int) -> dict[str, int] | None:
    if scaling is None:
        return None
    unknown = sorted(set(scaling) - {"min_replicas", "max_replicas", "target_cpu_utilization"})
    low = int(scaling.get("min_replicas", replicas))
    high = int(scaling.get("max_replicas", max(low, replicas)))
    target = int(scaling.get("target_cpu_utilization", 70))
    if unknown or not 1 <= low <= high or not 1 <= target <= 100:
        raise InvalidInputError(
            "autoscaling takes min_replicas >= 1, max_replicas >= min_replicas and "
            f"target_cpu_utilization in 1..100; got {scaling}"
        )
    return {"min_replicas": low, "max_replicas": high, "target_cpu_utilization": target}
