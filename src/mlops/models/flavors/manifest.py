"""The ``MLmodel.json`` manifest: one sha256 the registry records vouches for every model file.

The manifest lists each file's sha256, so the registry stores a single hash (the manifest's) and
verification is two steps: manifest bytes against the recorded hash, then each file against the
manifest. The manifest holds no timestamp, so saving the same model twice with the same library
versions yields the same hash when the serializer is deterministic.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import platform
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from mlops.errors import InvalidInputError, ModelIntegrityError

__all__ = [
    "MANIFEST_NAME",
    "SavedModel",
    "library_versions",
    "manifest_sha256",
    "read_verified",
    "verify_model_dir",
    "write_model_dir",
]

MANIFEST_NAME = "MLmodel.json"
MANIFEST_VERSION = 1
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_CORE_LIBRARIES = ("mlops", "numpy", "pandas")


@dataclass(frozen=True)
class SavedModel:
    """A model folder as its manifest describes it.

    Attributes:
        flavor: Flavor name (``sklearn``, ``python``, ``onnx``).
        format: Encoding of the model bytes (``skops``, ``pickle``, ``onnx``).
        files: Relative file name -> sha256 of its content, excluding the manifest itself.
        extra: Flavor facts needed at load time (skops trusted types, ONNX inputs, ...).
        sha256: sha256 of the manifest, which lists every file's sha256: the one hash the
            registry records and ``load_model`` checks.
        size: Total bytes of the model files plus the manifest.
        python_version: Python that saved the model.
        library_versions: Distribution name -> version installed when the model was saved.
    """

    flavor: str
    format: str
    files: dict[str, str]
    extra: dict[str, Any]
    sha256: str
    size: int
    python_version: str
    library_versions: dict[str, str]


def write_model_dir(
    path: Path,
    *,
    flavor: str,
    format: str,
    files: Mapping[str, bytes],
    extra: Mapping[str, Any],
    libraries: Mapping[str, str],
) -> SavedModel:
    """Write model files and their manifest into the empty folder ``path``.

    The manifest is written last, so a folder interrupted mid-save has none and fails
    verification instead of loading half a model.

    Raises:
        InvalidInputError: ``path`` is a file, or a folder that is not empty, or a file name
            would escape the folder.
    """
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        raise InvalidInputError(f"model path {path} must be an empty folder or not exist yet")
    for name in files:
        if not _is_safe_name(name):
            raise InvalidInputError(f"model file name {name!r} must be a relative path")
    hashes = {name: hashlib.sha256(content).hexdigest() for name, content in files.items()}
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "flavor": flavor,
        "format": format,
        "files": dict(sorted(hashes.items())),
        "extra": dict(extra),
        "python_version": platform.python_version(),
        "library_versions": dict(sorted(libraries.items())),
    }
    # Encode before touching the disk: a non-JSON extra must not leave a half-written folder.
    manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    path.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        target = path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    (path / MANIFEST_NAME).write_bytes(manifest_bytes)
    return _saved_model(manifest, manifest_bytes, sum(len(c) for c in files.values()))


def manifest_sha256(path: Path) -> str:
    """Return the sha256 of the model folder's manifest: the one hash the registry records.

    Raises:
        ModelIntegrityError: The folder has no manifest.
    """
    return hashlib.sha256(_read_manifest_bytes(path)).hexdigest()


def verify_model_dir(path: Path, expected_manifest_sha256: str) -> SavedModel:
    """Check the manifest against the recorded hash and every file against the manifest.

    Reads nothing into a deserializer, so it is safe to run on untrusted folders.

    Raises:
        InvalidInputError: ``expected_manifest_sha256`` is not a sha256 hex digest.
        ModelIntegrityError: The manifest or a file is missing, or a hash differs; the message
            names the file and both hashes.
    """
    saved, _ = _verify(path, expected_manifest_sha256, keep_bytes=False)
    return saved


def read_verified(path: Path, expected_manifest_sha256: str) -> tuple[SavedModel, dict[str, bytes]]:
    """Like :func:`verify_model_dir`, but return the very bytes that were hashed.

    Loaders deserialize these bytes rather than re-reading the files, so a file swapped after
    verification can never be loaded.
    """
    return _verify(path, expected_manifest_sha256, keep_bytes=True)


def library_versions(model: object, libraries: Iterable[str]) -> dict[str, str]:
    """Versions of the core libraries, the flavor's libraries and the package defining ``model``.

    Recording the model's own package (e.g. ``pyod``) tells whoever loads it what to install.
    """
    names = {*_CORE_LIBRARIES, *libraries}
    top_module = type(model).__module__.partition(".")[0]
    names.update(_distributions_of(top_module))
    versions = {}
    for name in sorted(names):
        version = _installed_version(name)
        if version is not None:  # an optional library that is not installed has no version
            versions[name] = version
    return versions


# Scanning every installed distribution costs a few hundred milliseconds; what is installed does
# not change while a process runs, so each answer is looked up once.
@functools.cache
def _distributions_of(top_module: str) -> tuple[str, ...]:
    return tuple(importlib.metadata.packages_distributions().get(top_module, []))


@functools.cache
def _installed_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


# --- verification ------------------------------------------------------------------------------


def _verify(path: Path, expected: str, *, keep_bytes: bool) -> tuple[SavedModel, dict[str, bytes]]:
    expected = expected.strip().lower()
    if not _SHA256.match(expected):
        raise InvalidInputError(f"expected sha256 must be 64 hex digits, got {expected!r}")
    manifest_bytes = _read_manifest_bytes(path)
    actual = hashlib.sha256(manifest_bytes).hexdigest()
    if actual != expected:
        raise ModelIntegrityError(
            f"{MANIFEST_NAME} in {path} has sha256 {actual}, but the registry recorded "
            f"{expected}; refusing to load a model whose manifest changed"
        )
    manifest = _parse_manifest(path, manifest_bytes)
    contents: dict[str, bytes] = {}
    size = 0
    for name, recorded in manifest["files"].items():
        target = path / name
        if not target.is_file():
            raise ModelIntegrityError(
                f"model file {name!r} is missing from {path}; "
                f"the manifest records sha256 {recorded}"
            )
        if keep_bytes:
            content = target.read_bytes()
            found = hashlib.sha256(content).hexdigest()
            contents[name] = content
            size += len(content)
        else:
            with target.open("rb") as stream:
                found = hashlib.file_digest(stream, "sha256").hexdigest()
            size += target.stat().st_size
        if found != recorded:
            raise ModelIntegrityError(
                f"model file {name!r} in {path} has sha256 {found}, but the manifest records "
                f"{recorded}; refusing to load a modified model"
            )
    return _saved_model(manifest, manifest_bytes, size), contents


def _read_manifest_bytes(path: Path) -> bytes:
    try:
        return (path / MANIFEST_NAME).read_bytes()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
        raise ModelIntegrityError(f"model folder {path} has no {MANIFEST_NAME} manifest") from exc


def _parse_manifest(path: Path, data: bytes) -> dict[str, Any]:
    # The bytes passed the hash check, so a bad manifest means a bad writer, not tampering;
    # it still must not reach a loader.
    try:
        manifest = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelIntegrityError(f"{MANIFEST_NAME} in {path} is not valid JSON: {exc}") from exc
    required = {"flavor": str, "format": str, "files": dict, "extra": dict}
    if not isinstance(manifest, dict) or any(
        not isinstance(manifest.get(key), kind) for key, kind in required.items()
    ):
        raise ModelIntegrityError(
            f"{MANIFEST_NAME} in {path} lacks one of {sorted(required)} or has the wrong type"
        )
    for name, recorded in manifest["files"].items():
        if not _is_safe_name(name) or not isinstance(recorded, str) or not _SHA256.match(recorded):
            raise ModelIntegrityError(
                f"{MANIFEST_NAME} in {path} lists {name!r} with sha256 {recorded!r}; "
                "expected a relative file name and a sha256 hex digest"
            )
    return manifest


def _is_safe_name(name: str) -> bool:
    """Whether ``name`` stays inside the model folder and is not the manifest itself."""
    pure = PurePosixPath(name)
    return not (
        pure.is_absolute() or ".." in pure.parts or name in ("", MANIFEST_NAME) or "\\" in name
    )


def _saved_model(manifest: Mapping[str, Any], manifest_bytes: bytes, files_size: int) -> SavedModel:
    return SavedModel(
        flavor=manifest["flavor"],
        format=manifest["format"],
        files=dict(manifest["files"]),
        extra=dict(manifest["extra"]),
        sha256=hashlib.sha256(manifest_bytes).hexdigest(),
        size=files_size + len(manifest_bytes),
        python_version=str(manifest.get("python_version", "")),
        library_versions=dict(manifest.get("library_versions", {})),
    )
