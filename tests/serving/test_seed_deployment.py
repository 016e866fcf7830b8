"""The seed's Example 1, deployment part, run as written (imports ``mlops.X``).

``training_result.best_model`` comes from pipelines (a later issue); here it is a registered
``ModelVersion``. There is no cluster on this machine: the lines run up to ``deploy()``, which
raises the documented ``DeploymentError`` naming how to configure a cluster or use ``dry_run``;
with ``dry_run=True`` the same lines render and validate the manifests."""

from __future__ import annotations

import asyncio
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mlops.config import MLOpsConfig
from mlops.errors import DeploymentError
from mlops.models import ModelRegistry
from mlops.models.entities import ModelVersion

SEED = """
from mlops.models.deployment import KubernetesDeployment
deployment = KubernetesDeployment(model_version=training_result.best_model, replicas=3,
    resources={"cpu": "500m", "memory": "1Gi"}, autoscaling={"min_replicas": 2, "max_replicas": 10})
await deployment.deploy()
"""


@dataclass
class TrainingResult:
    """What a pipeline run will return; only ``best_model`` is used by the seed's lines."""

    best_model: ModelVersion


@pytest.fixture
def seed_environment(
    serving_config: MLOpsConfig, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The seed builds its own config from the environment: point it at the test's store, and
    make sure no cluster is configured."""
    monkeypatch.setenv("MLOPS_TRACKING_URI", serving_config.resolved_tracking_uri)
    monkeypatch.setenv("MLOPS_ARTIFACT_URI", serving_config.resolved_artifact_uri)
    monkeypatch.setenv("MLOPS_HOME", str(serving_config.home))
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)


def run_seed(source: str, namespace: dict[str, Any]) -> Any:
    """Run the seed's lines as the body of a coroutine (they ``await``), as a notebook would."""
    body = textwrap.indent(source, "    ")
    exec(compile(f"async def _seed():\n{body}\n    return deployment\n", "seed", "exec"), namespace)
    return asyncio.run(namespace["_seed"]())


@pytest.mark.usefixtures("seed_environment")
def test_seed_example_1_deployment_runs_as_written_up_to_the_missing_cluster(
    registry: ModelRegistry, iris_model: Any, serving_config: MLOpsConfig
) -> None:
    result = TrainingResult(best_model=registry.get_model("iris", version=1))
    namespace: dict[str, Any] = {"training_result": result}
    with pytest.raises(DeploymentError) as caught:
        run_seed(SEED, namespace)
    message = str(caught.value)
    assert "no Kubernetes cluster is configured" in message
    assert "kubeconfig" in message
    assert "dry_run=True" in message
    from mlops.models.deployment import deployment_store

    (record,) = deployment_store(serving_config).list_deployments("iris")
    assert (record.target, record.status) == ("kubernetes", "failed")


@pytest.mark.usefixtures("seed_environment")
def test_seed_example_1_with_dry_run_renders_and_validates(
    registry: ModelRegistry, iris_model: Any, serving_config: MLOpsConfig
) -> None:
    result = TrainingResult(best_model=registry.get_model("iris", version=1))
    dry = SEED.replace('max_replicas": 10})', 'max_replicas": 10}, dry_run=True)')
    assert dry != SEED
    deployment = run_seed(dry, {"training_result": result})
    rollout = deployment.rollout
    assert rollout.status == "succeeded"
    assert "validated against the Kubernetes 1.30.0 schemas" in rollout.message
    assert "nothing applied" in rollout.message
    kinds = [m["kind"] for m in deployment.manifests]
    assert kinds == ["ConfigMap", "Deployment", "Service", "HorizontalPodAutoscaler"]
    from mlops.models.deployment import deployment_store

    assert list(deployment_store(serving_config).list_deployments("iris")) == []  # no record


def test_dry_run_refuses_a_manifest_that_does_not_validate(
    registry: ModelRegistry, iris_model: Any, serving_config: MLOpsConfig
) -> None:
    from mlops.models.deployment import KubernetesDeployment

    class Broken(KubernetesDeployment):
        def render(self) -> list[dict[str, Any]]:
            manifests = super().render()
            manifests[1]["spec"]["replicas"] = "three"
            return manifests

    deployment = Broken(registry.get_model("iris", version=1), dry_run=True, config=serving_config)
    with pytest.raises(DeploymentError, match="does not validate against the Kubernetes"):
        deployment.deploy()


def test_the_seeds_names_import_from_mlops_models_serving_too() -> None:
    from mlops.models import deployment, serving

    for name in ("KubernetesDeployment", "LocalDeployment", "ModelDeployment"):
        assert getattr(serving, name) is getattr(deployment, name)
    assert {"ModelServing", "ModelEnsemble"} <= set(serving.__all__)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        serving.Nope  # noqa: B018
