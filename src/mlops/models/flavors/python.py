"""The ``python`` flavor: any object with a ``predict`` method, stored with stdlib pickle.

Pickle runs code when it loads, so this flavor is only safe because loading happens after the
sha256 check: the bytes are proven to be the ones this platform wrote. The class must still be
importable where the model is loaded; its dotted name is recorded to say which one.
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from typing import Any

from mlops.errors import ModelSerializationError
from mlops.models.flavors.base import Flavor, FlavorArtifact

__all__ = ["PICKLE_FILE", "PythonFlavor", "class_path", "from_pickle", "to_pickle"]

PICKLE_FILE = "model.pkl"
# Protocol 5 is readable by every Python we support (3.8+), unlike HIGHEST_PROTOCOL which may
# move ahead of the Python that serves the model.
_PROTOCOL = 5


class PythonFlavor(Flavor):
    """Custom models: anything with a callable ``predict``."""

    name = "python"

    @classmethod
    def accepts(cls, model: object) -> bool:
        """Accept any object with a callable ``predict``."""
        return callable(getattr(model, "predict", None))

    def save(self, model: Any) -> FlavorArtifact:
        """Pickle ``model``.

        Raises:
            ModelSerializationError: The model cannot be pickled (it holds a lambda, a lock, a
                generator, an open file, ...).
        """
        data = to_pickle(
            model,
            hint="make it picklable (drop or rebuild the attribute in __getstate__/__setstate__) "
            "or save it with the sklearn or onnx flavor",
        )
        return FlavorArtifact(
            format="pickle", files={PICKLE_FILE: data}, extra={"model_class": class_path(model)}
        )

    def load(self, format: str, files: Mapping[str, bytes], extra: Mapping[str, Any]) -> Any:
        """Unpickle verified bytes.

        Raises:
            ModelSerializationError: The format is not ``pickle`` or the class is not importable.
        """
        if format != "pickle":
            raise ModelSerializationError(f"python flavor cannot load format {format!r}")
        return from_pickle(files[PICKLE_FILE], str(extra.get("model_class", "?")))


def class_path(model: object) -> str:
    """Dotted name of the model's class, e.g. ``sklearn.ensemble._iforest.IsolationForest``."""
    cls = type(model)
    return f"{cls.__module__}.{cls.__qualname__}"


def to_pickle(model: object, *, hint: str) -> bytes:
    """Pickle ``model``, turning pickle's assorted failures into one error that says what to do.

    Raises:
        ModelSerializationError: Names the model's class, pickle's reason and ``hint``.
    """
    try:
        return pickle.dumps(model, protocol=_PROTOCOL)
    # pickle reports unpicklable members as TypeError (locks, files, generators),
    # PicklingError (lambdas) or AttributeError (local classes and functions).
    except (pickle.PicklingError, TypeError, AttributeError) as exc:
        raise ModelSerializationError(
            f"cannot pickle model of type {class_path(model)}: {exc}; {hint}"
        ) from exc


def from_pickle(data: bytes, model_class: str) -> Any:
    """Unpickle bytes that passed sha256 verification.

    Raises:
        ModelSerializationError: The model's class (or something it references) cannot be
            imported in this environment.
    """
    try:
        return pickle.loads(data)  # safe only because the bytes passed sha256 verification
    except (ImportError, AttributeError) as exc:
        raise ModelSerializationError(
            f"cannot load pickled {model_class}: {exc}; install the package that defines it "
            "and make sure the class is importable (not defined in __main__ or a function)"
        ) from exc
