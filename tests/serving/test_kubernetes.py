"""KubernetesDeployment: manifests validated against the Kubernetes schemas kubernetes-validate
ships (no network), the dry-run YAML, and a clear error when no cluster is configured."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from mlops.config import MLOpsConfig
from mlops.errors import DeploymentError, InvalidInputError, InvalidStateError
from mlops.models import ModelRegistry
from mlops.models.deployment import KubernetesDeployment, deployment_store, rollback_deployment

K8S_VERSION = "1.30.0"  # a release kubernetes-validate ships schemas for


@pytest.fixture
def k8s(serving_config: MLOpsConfig, registry: ModelRegistry, iris_model: Any) -> Any:
    return KubernetesDeployment(
        model_version=registry.get_model("iris", version=1),
        replicas=3,
        resources={"cpu": "500m", "memory": "1Gi"},
        autoscaling={"min_replicas": 2, "max_replicas": 10},
        config=serving_config,
    )


def test_manifests_validate_against_the_kubernetes_schemas(k8s: KubernetesDeployment) -> None:
    manifests = k8s.render()
    assert [m["kind"] for m in manifests] == [
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
    ]
    for manifest in manifests:
        # strict: unknown fields are errors too, so a typo in a field name fails here.
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    config_map, deployment, service, hpa = manifests
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:2] == ["serve", "models:/iris/1"]
    assert container["resources"]["requests"] == {"cpu": "500m", "memory": "1Gi"}
    assert deployment["spec"]["replicas"] == 3
    assert config_map["data"]["MLOPS_MODEL_URI"] == "models:/iris/1"
    assert service["spec"]["selector"] == deployment["spec"]["selector"]["matchLabels"]
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]

    # A broken manifest is caught by the same check (the test can fail).
    container["ports"][0]["containerPort"] = "eighty"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_dry_run_yaml_is_the_manifests(k8s: KubernetesDeployment) -> None:
    text = k8s.to_yaml()
    assert text.count("---\n") == 4
    assert list(yaml.safe_load_all(text)) == k8s.render()


def test_bad_resources_and_autoscaling_are_refused(
    serving_config: MLOpsConfig, registry: ModelRegistry, iris_model: Any
) -> None:
    with pytest.raises(InvalidInputError, match="malformed"):
        KubernetesDeployment("models:/iris/1", 1, {"cpu": "half"}, config=serving_config)
    with pytest.raises(InvalidInputError, match="unknown"):
        KubernetesDeployment("models:/iris/1", 1, {"gpu": "1"}, config=serving_config)
    with pytest.raises(InvalidInputError, match="autoscaling"):
        KubernetesDeployment(
            "models:/iris/1", 1, None, {"min_replicas": 5, "max_replicas": 2}, config=serving_config
        )


@pytest.fixture
def no_cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No kubeconfig anywhere and not in a pod."""
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


@pytest.mark.usefixtures("no_cluster")
def test_deploy_without_a_cluster_says_so_and_is_recorded(
    k8s: KubernetesDeployment, serving_config: MLOpsConfig
) -> None:
    with pytest.raises(DeploymentError, match="no Kubernetes cluster is configured"):
        k8s.deploy()
    (record,) = deployment_store(serving_config).list_deployments("iris")
    assert (record.target, record.status, record.model_version) == ("kubernetes", "failed", 1)
    assert "no Kubernetes cluster" in (record.message or "")


@pytest.mark.usefixtures("no_cluster")
def test_rollback_of_a_kubernetes_deployment_needs_a_previous_version(
    k8s: KubernetesDeployment, serving_config: MLOpsConfig
) -> None:
    with pytest.raises(DeploymentError):
        k8s.deploy()
    (record,) = deployment_store(serving_config).list_deployments("iris")
    assert record.previous_version is None  # nothing succeeded on the cluster before it
    with pytest.raises(InvalidStateError, match="nothing to roll back to"):
        rollback_deployment(record.id, config=serving_config)
