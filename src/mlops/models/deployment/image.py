"""``build_image_context``: a Dockerfile and build context that serve one model version.

The context bakes the version's files into the image, verified against the manifest whose
sha256 the registry recorded, at the place ``ModelRegistry.load_model`` looks first (its cache,
``$MLOPS_HOME/cache/models/<sha256>``). A container therefore never reads the artifact store:
it needs only the metadata store (``MLOPS_TRACKING_URI``, as the Kubernetes manifests pass it)
to resolve the version, and it still re-verifies the files when it loads them.

The image runs the mlops that built the context (its package is copied in) on the Python minor
version the model was saved with, and installs a requirements file pinned to the versions of
this environment: mlops' own dependencies, the flavor's libraries the manifest lists, and the
database driver the tracking URI needs. ``build_image`` runs ``docker build`` when a Docker
engine answers; the context is useful without one (build it elsewhere, or in CI).

Layout::

    Dockerfile  requirements.txt  entrypoint.sh  model.json
    python/mlops/...                        # the mlops package
    home/cache/models/<sha256>/...          # the verified model files and MLmodel.json
"""

from __future__ import annotations

import importlib.metadata
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

import mlops
from mlops.config import MLOpsConfig, load_config
from mlops.errors import DeploymentError, InvalidInputError
from mlops.models.deployment.records import resolve_version
from mlops.models.entities import ModelVersion
from mlops.models.flavors.manifest import verify_model_dir
from mlops.models.registry import ModelRegistry

__all__ = ["ImageContext", "build_image", "build_image_context"]

HOME = "/opt/mlops/home"
_DRIVERS = {"postgresql": "psycopg[binary]", "postgresql+psycopg": "psycopg[binary]"}


@dataclass(frozen=True)
class ImageContext:
    """A written build context.

    Attributes:
        path: The context folder (``docker build PATH``).
        model_uri: The fixed version the image serves (``models:/NAME/VERSION``).
        sha256: The version's manifest hash; the baked files were checked against it.
        python: The base image's Python (``3.11``).
        requirements: The pinned requirement lines.
    """

    path: Path
    model_uri: str
    sha256: str
    python: str
    requirements: tuple[str, ...]

    @property
    def dockerfile(self) -> Path:
        return self.path / "Dockerfile"

    def build_command(self, tag: str) -> list[str]:
        """The ``docker build`` command for this context."""
        return ["docker", "build", "--tag", tag, str(self.path)]


def build_image_context(
    model_version: ModelVersion | str,
    output: str | Path,
    *,
    config: MLOpsConfig | None = None,
    port: int = 8080,
) -> ImageContext:
    """Write a Docker build context serving ``model_version`` into the folder ``output``.

    Args:
        model_version: A registered version or a ``models:/`` reference (resolved now: the
            image serves that fixed version even if an alias moves later).
        output: A folder that does not exist yet or is empty.
        config: Where the registry is (default: the environment's); its tracking URI is the
            image's default ``MLOPS_TRACKING_URI`` (override it with ``docker run -e``).
        port: The port the container listens on.

    Raises:
        InvalidInputError: ``output`` is a file or a folder that is not empty.
        ModelVersionNotFoundError: The reference names no version.
        ModelIntegrityError: The version's files do not match its recorded hash.
    """
    config = config or load_config()
    target = Path(output)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise InvalidInputError(
            f"{target} is not an empty folder; give --output a new or empty folder"
        )
    version = resolve_version(model_version, config)
    registry = ModelRegistry(config=config)
    loaded = registry.load_model(version)  # downloads and verifies into the cache
    cached = config.home / "cache" / "models" / version.sha256
    baked = target / "home" / "cache" / "models" / version.sha256
    shutil.copytree(cached, baked)
    saved = verify_model_dir(baked, version.sha256)  # what goes into the image, checked again
    shutil.copytree(
        Path(mlops.__file__).resolve().parent,
        target / "python" / "mlops",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    python = ".".join(saved.python_version.split(".")[:2])
    requirements = tuple(_requirements(saved.library_versions, config.resolved_tracking_uri))
    uri = f"models:/{version.name}/{version.version}"
    (target / "requirements.txt").write_text(
        f"# Pinned from the environment that built the context for {uri} ({loaded.flavor}).\n"
        + "\n".join(requirements)
        + "\n"
    )
    (target / "entrypoint.sh").write_text(_ENTRYPOINT.format(uri=uri, port=port))
    (target / "entrypoint.sh").chmod(0o755)
    (target / "Dockerfile").write_text(
        _DOCKERFILE.format(
            python=python,
            home=HOME,
            port=port,
            uri=uri,
            tracking_uri=json.dumps(config.resolved_tracking_uri),
        )
    )
    context = ImageContext(target, uri, version.sha256, python, requirements)
    description = {**asdict(context), "path": None, "flavor": saved.flavor}
    (target / "model.json").write_text(json.dumps(description, indent=2) + "\n")
    return context


def build_image(context: ImageContext, tag: str) -> str:
    """``docker build`` the context as ``tag``; returns the tag.

    Raises:
        DeploymentError: No Docker engine answers (the context stays written: the message says
            how to build it elsewhere), or the build failed.
    """
    try:
        probe = subprocess.run(
            ["docker", "info"], capture_output=True, text=True, timeout=20, check=False
        )
        reason = probe.stderr.strip().splitlines()[-1:] if probe.returncode else None
    except FileNotFoundError:
        reason = ["the docker command is not installed"]
    except subprocess.TimeoutExpired:
        reason = ["`docker info` did not answer within 20 s"]
    if reason is not None:
        raise DeploymentError(
            f"no Docker engine answers here ({' '.join(reason) or 'docker info failed'}); the "
            f"build context is written to {context.path}: build it where Docker runs with "
            f"`{' '.join(context.build_command(tag))}`"
        )
    result = subprocess.run(context.build_command(tag), check=False)
    if result.returncode != 0:
        raise DeploymentError(f"docker build of {context.path} failed (status {result.returncode})")
    return tag


def _requirements(libraries: dict[str, str], tracking_uri: str) -> list[str]:
    """mlops' dependencies, the model's libraries and the store's driver, pinned to this
    environment's versions (the model's own record wins for its libraries)."""
    pins: dict[str, str] = {}
    for line in importlib.metadata.requires("mlops") or []:
        try:
            requirement = Requirement(line)
        except InvalidRequirement:
            continue
        if requirement.marker is not None and "extra" in str(requirement.marker):
            continue
        pins[requirement.name.lower()] = _pinned(requirement.name)
    for name, version in libraries.items():
        if name.lower() != "mlops":  # copied into the image, not installed
            pins[name.lower()] = f"{name}=={version}"
    driver = _DRIVERS.get(tracking_uri.split(":", 1)[0].lower())
    if driver is not None:
        pins[driver.split("[")[0]] = _pinned(driver)
    return sorted(pins.values(), key=str.lower)


def _pinned(name: str) -> str:
    base = name.split("[")[0]
    try:
        return f"{name}=={importlib.metadata.version(base)}"
    except importlib.metadata.PackageNotFoundError:
        return name  # not installed here: let pip choose


_ENTRYPOINT = """#!/bin/sh
# Serves {uri}, whose files are baked into this image; MLOPS_TRACKING_URI must reach the
# registry's metadata store. Extra arguments go to `mlops serve` (e.g. --workers 4, --monitor).
set -e
exec python -m mlops serve "{uri}" --host "${{MLOPS_SERVE_HOST:-0.0.0.0}}" \\
    --port "${{PORT:-{port}}}" "$@"
"""

_DOCKERFILE = """# Serves {uri} with `mlops serve` (written by `mlops models build-image`).
FROM python:{python}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PYTHONPATH=/opt/mlops/python \\
    MLOPS_HOME={home} \\
    MLOPS_TRACKING_URI={tracking_uri}

WORKDIR /opt/mlops
COPY requirements.txt ./
RUN pip install --no-cache-dir -r requirements.txt \\
    && useradd --create-home --uid 10001 mlops
COPY python/ python/
COPY --chown=mlops home/ home/
COPY model.json entrypoint.sh ./
RUN chmod 0755 entrypoint.sh

USER mlops
EXPOSE {port}
ENTRYPOINT ["/opt/mlops/entrypoint.sh"]
"""
