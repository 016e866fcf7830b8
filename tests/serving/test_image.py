"""``mlops models build-image``: the Dockerfile and build context, checked without a Docker
engine: the Dockerfile's structure, the pinned requirements, the baked model files against the
manifest, and the entrypoint actually serving the model when run from the context folder."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.cli import app
from mlops.config import MLOpsConfig
from mlops.errors import DeploymentError, InvalidInputError, ModelIntegrityError
from mlops.models.deployment import build_image, build_image_context
from mlops.models.flavors.manifest import verify_model_dir

# Dockerfile instructions (docs.docker.com/reference/dockerfile).
INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}  # fmt: skip


def instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments skipped."""
    parsed: list[tuple[str, str]] = []
    pending = ""
    for line in dockerfile.read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip().removesuffix("\\") + " "
        if line.rstrip().endswith("\\"):
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        parsed.append((keyword, " ".join(arguments.split())))
        pending = ""
    assert not pending, "a continuation line ends the file"
    return parsed


def test_context_builds_from_a_verified_model_and_its_entrypoint_serves_it(
    serving_config: MLOpsConfig,
    iris_model: Any,
    iris: tuple[pd.DataFrame, Any],
    tmp_path: Path,
) -> None:
    context = build_image_context("models:/iris@prod", tmp_path / "image", config=serving_config)
    assert context.model_uri == "models:/iris/1"  # the alias is resolved: a fixed version

    parsed = instructions(context.dockerfile)
    assert {keyword for keyword, _ in parsed} <= INSTRUCTIONS
    assert parsed[0] == ("FROM", f"python:{sys.version_info[0]}.{sys.version_info[1]}-slim")
    assert parsed[-1] == ("ENTRYPOINT", '["/opt/mlops/entrypoint.sh"]')
    copied = [args.split()[-2] for keyword, args in parsed if keyword == "COPY"]
    for source in copied:  # every COPY source exists in the context
        assert (context.path / source.rstrip("/")).exists(), source
    env = next(args for keyword, args in parsed if keyword == "ENV")
    assert "MLOPS_HOME=/opt/mlops/home" in env
    assert "PYTHONPATH=/opt/mlops/python" in env

    # Pinned requirements: mlops' dependencies and the flavor's libraries, at our versions.
    lines = [
        line
        for line in (context.path / "requirements.txt").read_text().splitlines()
        if not line.startswith("#")
    ]
    assert all("==" in line for line in lines), lines
    assert f"scikit-learn=={importlib.metadata.version('scikit-learn')}" in lines
    assert f"fastapi=={importlib.metadata.version('fastapi')}" in lines
    assert not any(line.lower().startswith("mlops") for line in lines)  # copied, not installed

    # The baked model files verify against the hash the registry recorded...
    baked = context.path / "home" / "cache" / "models" / context.sha256
    assert verify_model_dir(baked, context.sha256).flavor == "sklearn"
    assert json.loads((context.path / "model.json").read_text())["sha256"] == context.sha256
    # ...and a tampered copy would not.
    spoiled = tmp_path / "spoiled"
    shutil.copytree(baked, spoiled)
    victim = next(p for p in spoiled.iterdir() if p.name != "MLmodel.json")
    victim.write_bytes(victim.read_bytes() + b"x")
    with pytest.raises(ModelIntegrityError):
        verify_model_dir(spoiled, context.sha256)

    # The entrypoint, run from the context with this venv's python and the copied mlops, serves
    # the model; the artifact store is unreachable, so the files come from the baked cache.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        "PYTHONPATH": str(context.path / "python"),
        "MLOPS_HOME": str(context.path / "home"),
        "MLOPS_TRACKING_URI": serving_config.resolved_tracking_uri,
        "MLOPS_ARTIFACT_URI": str(tmp_path / "no-such-artifact-store"),
        "MLOPS_SERVE_HOST": "127.0.0.1",
        "PORT": str(port),
    }
    server = subprocess.Popen(
        ["sh", "./entrypoint.sh", "--poll-interval", "0"], cwd=context.path, env=env
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            assert server.poll() is None, "the entrypoint exited"
            try:
                if httpx.get(f"{url}/v2/health/ready").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        rows = iris[0].iloc[[0, 60, 120]]
        answer = httpx.post(f"{url}/predict", json=rows.to_dict(orient="records"))
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == iris_model.predict(rows).tolist()
        assert answer.json()["model_version"] == 1
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    assert not (tmp_path / "no-such-artifact-store").exists()


def test_output_must_be_new_or_empty(
    serving_config: MLOpsConfig, iris_model: Any, tmp_path: Path
) -> None:
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(InvalidInputError, match="not an empty folder"):
        build_image_context("models:/iris/1", tmp_path / "busy", config=serving_config)


def _docker_answers() -> bool:
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=20).returncode == 0
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False


@pytest.mark.skipif(_docker_answers(), reason="a Docker engine answers: --build would build")
def test_cli_writes_the_context_and_build_without_docker_says_how(
    serving_config: MLOpsConfig,
    iris_model: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MLOPS_HOME", str(serving_config.home))
    monkeypatch.setenv("MLOPS_ARTIFACT_URI", serving_config.resolved_artifact_uri)
    out = tmp_path / "ctx"
    result = CliRunner().invoke(
        app,
        [
            "models", "build-image", "models:/iris/1", "--output", str(out), "--build",
            "--tracking-uri", serving_config.resolved_tracking_uri,
        ],
    )  # fmt: skip
    # `mlops` (main) prints an MLOpsError as one line and exits 1; the runner hands it back.
    assert isinstance(result.exception, DeploymentError), result.output
    message = " ".join(str(result.exception).split())
    assert "no Docker engine answers" in message
    assert f"build context is written to {out}" in message
    assert f"docker build --tag mlops-iris:1 {out}" in message
    assert "files verified" in result.output
    assert (out / "Dockerfile").is_file()
    with pytest.raises(DeploymentError, match="build context is written"):
        build_image(
            build_image_context("models:/iris/1", tmp_path / "again", config=serving_config), "x:1"
        )
