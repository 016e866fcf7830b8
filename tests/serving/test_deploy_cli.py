"""``mlops deploy`` and ``mlops deployments``: dry runs, the no-cluster error, the records."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import httpx
import kubernetes_validate
import pytest
import yaml
from typer.testing import CliRunner

from mlops.cli import app
from mlops.config import MLOpsConfig
from mlops.errors import DeploymentError, InvalidInputError
from mlops.models import ModelRegistry
from mlops.models.deployment import DeploymentNotFoundError, deployment_store

runner = CliRunner()


def invoke(*args: str) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_deploy_dry_runs(serving_config: MLOpsConfig, iris_model: Any) -> None:
    uri = serving_config.resolved_tracking_uri
    text = invoke(
        "deploy", "models:/iris/1", "--target", "kubernetes", "--dry-run", "--replicas", "3",
        "--resources", "cpu=250m,memory=512Mi", "--min-replicas", "2", "--max-replicas", "6",
        "--tracking-uri", uri,
    )  # fmt: skip
    manifests = list(yaml.safe_load_all(text))
    assert [m["kind"] for m in manifests] == [
        "ConfigMap",
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
    ]
    for manifest in manifests:
        kubernetes_validate.validate(manifest, "1.30.0", strict=True)
    assert manifests[3]["spec"]["maxReplicas"] == 6

    # The step-by-step strategies and their gates are the local router's: asked of a cluster
    # rollout they are refused by name, never silently dropped.
    for extra in (["--strategy", "canary"], ["--steps", "5,100"], ["--drift-gate"]):
        refused = runner.invoke(
            app,
            ["deploy", "models:/iris/1", "--target", "kubernetes", "--dry-run", *extra,
             "--tracking-uri", uri],
        )  # fmt: skip
        assert isinstance(refused.exception, InvalidInputError)
        assert extra[0] in str(refused.exception)
        assert "--target local" in str(refused.exception)
    rolling = ["deploy", "models:/iris/1", "--target", "kubernetes", "--strategy", "rolling"]
    rendered = yaml.safe_load_all(invoke(*rolling, "--dry-run", "--tracking-uri", uri))
    assert "Deployment" in [m["kind"] for m in rendered]

    args = ["deploy", "models:/iris/1", "--dry-run", "--steps", "10,50,100", "--hold", "5"]
    plan = json.loads(invoke(*args, "--tracking-uri", uri))
    assert plan["strategy"] == "canary"
    assert plan["steps"] == [10.0, 50.0, 100.0]
    assert plan["hold_seconds"] == 5.0


def test_deploy_to_kubernetes_without_a_cluster_then_list_and_status(
    serving_config: MLOpsConfig, iris_model: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    uri = serving_config.resolved_tracking_uri
    result = runner.invoke(
        app, ["deploy", "models:/iris/1", "--target", "kubernetes", "--tracking-uri", uri]
    )
    assert isinstance(result.exception, DeploymentError)
    assert "no Kubernetes cluster is configured" in str(result.exception)

    (record,) = deployment_store(serving_config).list_deployments()
    listing = invoke("deployments", "list", "--tracking-uri", uri)
    assert "Deployments" in listing
    assert record.id[:6] in listing
    record_id = record.id[:8]
    status = json.loads(invoke("deployments", "status", record_id, "--json", "--tracking-uri", uri))
    assert status["model_name"] == "iris"
    assert status["status"] == "failed"
    assert [e["kind"] for e in status["events"]] == ["failed"]

    missing = runner.invoke(app, ["deployments", "rollback", "ffffffff", "--tracking-uri", uri])
    assert isinstance(missing.exception, DeploymentNotFoundError)
    bad = runner.invoke(
        app, ["deploy", "models:/iris/1", "--target", "mars", "--tracking-uri", uri]
    )
    assert "target 'mars'" in str(bad.exception)


@pytest.mark.slow
def test_deploy_rolls_out_on_a_running_deployment_then_rollback(
    serving_config: MLOpsConfig, iris: Any, iris_model: Any, iris_tree: Any
) -> None:
    """`mlops deploy` from "another process" reaches the running deployment by its record."""
    from mlops.models.deployment import LocalDeployment

    uri = serving_config.resolved_tracking_uri
    deployment = LocalDeployment("models:/iris/1", 1, config=serving_config)
    deployment.deploy().wait()
    stop = threading.Event()
    rows = iris[0].iloc[[0, 60, 120]].to_dict(orient="records")

    def load() -> None:
        with httpx.Client(base_url=deployment.url, timeout=30) as client:
            while not stop.is_set():
                assert client.post("/predict", json=rows).status_code == 200

    loader = threading.Thread(target=load)
    loader.start()
    try:
        output = invoke(
            "deploy", "models:/iris/2", "--steps", "50,100", "--hold", "0.2",
            "--min-requests", "5", "--max-p99-ms", "10000", "--tracking-uri", uri,
        )  # fmt: skip
        assert f"Rolling models:/iris/2 out on iris at {deployment.url}" in output
        assert "succeeded" in output
        assert deployment.rollout is not None
        rolled = deployment.rollout.deployment_id
        assert rolled is not None
        record = deployment_store(serving_config).get_deployment(rolled)
        assert [e.kind for e in record.events if e.kind != "gate"] == [
            "started", "step", "step", "promoted", "registry",
        ]  # fmt: skip
        assert record.config["steps"] == [50.0, 100.0]
        registry = ModelRegistry(config=serving_config)
        assert registry.get_model("iris", version=2).stage.value == "production"
        output = invoke("deployments", "rollback", rolled[:8], "--tracking-uri", uri)
        assert "Rolled back" in output
        with httpx.Client(base_url=deployment.url, timeout=30) as client:
            assert client.post("/predict", json=rows).json()["model_version"] == 1
        assert registry.get_model("iris", version=2).stage.value == "staging"
    finally:
        stop.set()
        loader.join()
        deployment.stop()
