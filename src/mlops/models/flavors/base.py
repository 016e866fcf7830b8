"""The Flavor interface, and the wrapper every loaded model is returned in.

A flavor turns one family of models into bytes and back. It works on bytes in memory, never on a
folder: :func:`mlops.models.flavors.save_model` writes what ``save`` returns and hashes it in the
same pass, and :func:`mlops.models.flavors.load_model` hands ``load`` only bytes whose sha256 it
has just checked, so no flavor can read a file between verification and deserialization.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mlops.errors import InvalidStateError
from mlops.models.flavors.manifest import SavedModel
from mlops.models.signature import to_frame_or_array

__all__ = ["PREDICT_METHODS", "Flavor", "FlavorArtifact", "LoadedModel"]

PREDICT_METHODS = ("predict", "decision_function", "score_samples", "predict_proba")
"""The model methods :class:`LoadedModel` exposes, when the native model has them."""


@dataclass(frozen=True)
class FlavorArtifact:
    """What a flavor made of a model: the files to write and facts for the manifest.

    Attributes:
        format: How the bytes are encoded (``skops``, ``pickle``, ``onnx``); the registry
            stores it so operators can see which models still rely on pickle.
        files: Relative file name -> content.
        extra: JSON-serializable facts ``load`` needs back (e.g. skops trusted types).
    """

    format: str
    files: Mapping[str, bytes]
    extra: Mapping[str, Any] = field(default_factory=dict)


class Flavor(abc.ABC):
    """One way of saving and loading a family of models."""

    name: ClassVar[str]
    """The registry key, recorded in the manifest."""

    libraries: ClassVar[tuple[str, ...]] = ()
    """Distributions whose installed versions the manifest records."""

    @classmethod
    @abc.abstractmethod
    def accepts(cls, model: object) -> bool:
        """Return whether this flavor can save ``model``; used to pick a flavor automatically."""

    @abc.abstractmethod
    def save(self, model: Any) -> FlavorArtifact:
        """Serialize ``model`` in memory.

        Raises:
            ModelSerializationError: The model cannot be encoded by this flavor.
        """

    @abc.abstractmethod
    def load(self, format: str, files: Mapping[str, bytes], extra: Mapping[str, Any]) -> Any:
        """Rebuild the native model from bytes that have already passed sha256 verification.

        Raises:
            ModelSerializationError: The bytes decode, but the model cannot be rebuilt here
                (e.g. its class is not importable in this environment).
        """

    def methods(self, native: Any) -> frozenset[str]:
        """Return which of :data:`PREDICT_METHODS` the native model supports."""
        return frozenset(m for m in PREDICT_METHODS if callable(getattr(native, m, None)))

    def prepare(self, native: Any, data: Any) -> Any:
        """Convert user input into what the native model's methods take."""
        return to_frame_or_array(data)

    def call(self, native: Any, method: str, data: Any) -> NDArray[Any]:
        """Run one of the native model's :data:`PREDICT_METHODS` on ``data``.

        Raises:
            InvalidStateError: The native model has no such method.
            InvalidInputError: ``data`` is not in a shape the model accepts.
        """
        fn = getattr(native, method, None)
        if not callable(fn):
            raise InvalidStateError(f"{type(native).__name__} model has no {method} method")
        result = fn(self.prepare(native, data))
        if isinstance(result, pd.DataFrame | pd.Series):
            return result.to_numpy()
        return np.asarray(result)


class LoadedModel:
    """A verified, loaded model with one calling convention whatever its flavor.

    ``predict`` (and ``decision_function``, ``score_samples``, ``predict_proba`` where the native
    model has them) accept a DataFrame, numpy array, dict of columns, list of records or list of
    lists, and return a numpy array. ``hasattr(model, "predict_proba")`` is true only when the
    native model supports it, so callers can probe the way they would a scikit-learn estimator.
    """

    def __init__(self, native: Any, flavor: Flavor, saved: SavedModel) -> None:
        self._native = native
        self._flavor = flavor
        self._saved = saved

    def __repr__(self) -> str:
        return (
            f"LoadedModel(flavor={self.flavor!r}, format={self._saved.format!r}, "
            f"native={type(self._native).__name__})"
        )

    @property
    def native(self) -> Any:
        """The underlying model object (estimator, ``InferenceSession``, custom class)."""
        return self._native

    @property
    def flavor(self) -> str:
        """The flavor name it was saved with."""
        return self._flavor.name

    @property
    def saved(self) -> SavedModel:
        """The verified manifest: format, files, hashes, library versions."""
        return self._saved

    def predict(self, data: Any) -> NDArray[Any]:
        """Predict on ``data``.

        Raises:
            InvalidStateError: The native model cannot predict (e.g. a fitted transformer).
            InvalidInputError: ``data`` is not in a shape the model accepts.
        """
        return self._flavor.call(self._native, "predict", data)

    @property
    def decision_function(self) -> Callable[[Any], NDArray[Any]]:
        """The native ``decision_function``; absent (``AttributeError``) when it has none."""
        return self._method("decision_function")

    @property
    def score_samples(self) -> Callable[[Any], NDArray[Any]]:
        """The native ``score_samples``; absent (``AttributeError``) when it has none."""
        return self._method("score_samples")

    @property
    def predict_proba(self) -> Callable[[Any], NDArray[Any]]:
        """The native ``predict_proba``; absent (``AttributeError``) when it has none."""
        return self._method("predict_proba")

    def _method(self, name: str) -> Callable[[Any], NDArray[Any]]:
        if name not in self._flavor.methods(self._native):
            # AttributeError, not an mlops error: it is what makes hasattr() report False.
            raise AttributeError(f"{type(self._native).__name__} model has no {name} method")
        return functools.partial(self._flavor.call, self._native, name)
