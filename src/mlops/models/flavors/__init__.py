"""Model flavors: save a model to a local folder and load it back, verified.

``save_model`` writes the model files plus an ``MLmodel.json`` manifest listing each file's
sha256, and returns the manifest's sha256 for the registry to record. ``load_model`` re-checks
that hash and every file's before any byte reaches a deserializer, so pickle and skops only ever
see bytes this platform wrote.

Flavors are looked up by name in :data:`FLAVORS`; when none is given, the first one (in that
order: onnx, sklearn, python) whose ``accepts`` is true for the model is used.
"""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from mlops.errors import InvalidInputError, ModelSerializationError
from mlops.models.flavors.base import PREDICT_METHODS, Flavor, FlavorArtifact, LoadedModel
from mlops.models.flavors.manifest import (
    MANIFEST_NAME,
    SavedModel,
    library_versions,
    manifest_sha256,
    read_verified,
    verify_model_dir,
    write_model_dir,
)
from mlops.models.flavors.onnx import OnnxFlavor
from mlops.models.flavors.python import PythonFlavor
from mlops.models.flavors.sklearn import SklearnFlavor

__all__ = [
    "FLAVORS",
    "MANIFEST_NAME",
    "PREDICT_METHODS",
    "Flavor",
    "FlavorArtifact",
    "LoadedModel",
    "OnnxFlavor",
    "PythonFlavor",
    "SavedModel",
    "SklearnFlavor",
    "detect_flavor",
    "get_flavor",
    "load_model",
    "manifest_sha256",
    "save_model",
    "verify_model_dir",
]

FLAVORS: Final = MappingProxyType(
    {flavor.name: flavor for flavor in (OnnxFlavor(), SklearnFlavor(), PythonFlavor())}
)
"""Flavor name -> flavor, in detection order: the most specific format wins."""


def get_flavor(name: str) -> Flavor:
    """Return the flavor registered under ``name``.

    Raises:
        InvalidInputError: No such flavor; the message lists the valid names.
    """
    try:
        return FLAVORS[name]
    except KeyError:
        raise InvalidInputError(
            f"unknown model flavor {name!r}; valid flavors: {sorted(FLAVORS)}"
        ) from None


def detect_flavor(model: object) -> str:
    """Name the flavor that would save ``model`` when none is given.

    Raises:
        ModelSerializationError: No flavor accepts the model, i.e. it has no ``predict``.
    """
    for name, flavor in FLAVORS.items():
        if flavor.accepts(model):
            return name
    raise ModelSerializationError(
        f"cannot save a model of type {type(model).__name__}: a model needs a callable predict "
        "method (or must be a scikit-learn estimator or an ONNX model)"
    )


def save_model(model: Any, path: Path, flavor: str | None = None) -> SavedModel:
    """Save ``model`` into the empty (or not yet existing) folder ``path``.

    Args:
        model: A scikit-learn estimator or pipeline (PyOD detectors included), an ONNX model
            (``ModelProto``, bytes or a ``.onnx`` path), or any picklable object with ``predict``.
        path: Destination folder; it must be empty so no stray file sits beside the model.
        flavor: Force a flavor by name instead of detecting it.

    Returns:
        The manifest's content; record its ``sha256`` to load the model later.

    Raises:
        InvalidInputError: Unknown flavor, or ``path`` is not an empty folder.
        ModelSerializationError: The flavor does not accept the model, or it cannot be serialized.
        ConfigError: The flavor's optional libraries are not installed.
    """
    chosen = get_flavor(flavor if flavor is not None else detect_flavor(model))
    if flavor is not None and not chosen.accepts(model):
        raise ModelSerializationError(
            f"flavor {flavor!r} cannot save a model of type {type(model).__name__}; "
            f"detected flavor would be {_detected_or_none(model)!r}"
        )
    path = Path(path)
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        # Checked before serializing, which can take minutes for a large model.
        raise InvalidInputError(f"model path {path} must be an empty folder or not exist yet")
    artifact = chosen.save(model)
    return write_model_dir(
        path,
        flavor=chosen.name,
        format=artifact.format,
        files=artifact.files,
        extra=artifact.extra,
        libraries=library_versions(model, chosen.libraries),
    )


def load_model(path: Path, expected_sha256: str) -> LoadedModel:
    """Verify the model folder against the registry's hash, then load it.

    Args:
        path: A folder written by :func:`save_model`.
        expected_sha256: The manifest sha256 the registry recorded at save time.

    Raises:
        InvalidInputError: ``expected_sha256`` is not a sha256, or the manifest names an
            unknown flavor.
        ModelIntegrityError: The manifest or any model file differs from what was recorded.
        ModelSerializationError: The verified bytes cannot be rebuilt in this environment.
        ConfigError: The flavor's optional libraries are not installed.
    """
    saved, contents = read_verified(Path(path), expected_sha256)
    flavor = get_flavor(saved.flavor)
    native = flavor.load(saved.format, contents, saved.extra)
    return LoadedModel(native, flavor, saved)


def _detected_or_none(model: object) -> str | None:
    try:
        return detect_flavor(model)
    except ModelSerializationError:
        return None
