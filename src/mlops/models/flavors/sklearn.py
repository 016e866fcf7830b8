"""The ``sklearn`` flavor: scikit-learn estimators (and PyOD detectors), stored with skops.

skops refuses to load types it was not told to trust. We ask skops at save time which types the
file contains and record them in the manifest; at load time the sha256 check has proven the file
is the one we wrote, so exactly those types are trusted, nothing more. Objects skops cannot
round-trip fall back to pickle, which is safe for the same reason, and the manifest says why.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from mlops.errors import InvalidInputError, ModelSerializationError
from mlops.models.flavors.base import Flavor, FlavorArtifact
from mlops.models.flavors.python import PICKLE_FILE, class_path, from_pickle, to_pickle
from mlops.models.signature import to_frame_or_array

__all__ = ["SKOPS_FILE", "SklearnFlavor"]

SKOPS_FILE = "model.skops"


class SklearnFlavor(Flavor):
    """scikit-learn estimators and pipelines, and libraries built on them such as PyOD."""

    name = "sklearn"
    libraries = ("scikit-learn", "skops")

    @classmethod
    def accepts(cls, model: object) -> bool:
        """Accept instances of ``sklearn.base.BaseEstimator`` (PyOD detectors subclass it)."""
        from sklearn.base import BaseEstimator  # imported late: sklearn takes a second to import

        return isinstance(model, BaseEstimator)

    def save(self, model: Any) -> FlavorArtifact:
        """Serialize with skops, or pickle when skops cannot round-trip the object.

        Raises:
            ModelSerializationError: Neither skops nor pickle can serialize the model.
        """
        import sklearn
        import skops.io

        extra: dict[str, Any] = {
            "model_class": class_path(model),
            "sklearn_version": sklearn.__version__,
        }
        try:
            data = skops.io.dumps(model)
            trusted = skops.io.get_untrusted_types(data=data)
            # A file that saves but cannot load is found out now rather than at deploy time.
            skops.io.loads(data, trusted=trusted)
        # skops runs the object's own state hooks and re-raises whatever they raise, so the
        # exception type is open-ended; the reason is recorded, not swallowed.
        except Exception as exc:
            reason = f"{type(exc).__name__}: {exc}"
            pickled = to_pickle(
                model,
                hint=f"skops also failed ({reason}); make the estimator's attributes picklable",
            )
            return FlavorArtifact(
                format="pickle",
                files={PICKLE_FILE: pickled},
                extra={**extra, "skops_error": reason},
            )
        return FlavorArtifact(
            format="skops", files={SKOPS_FILE: data}, extra={**extra, "trusted_types": trusted}
        )

    def load(self, format: str, files: Mapping[str, bytes], extra: Mapping[str, Any]) -> Any:
        """Load verified bytes, trusting exactly the types recorded at save time.

        Raises:
            ModelSerializationError: The format is unknown, or this environment's scikit-learn
                cannot rebuild the estimator.
        """
        model_class = str(extra.get("model_class", "?"))
        if format == "pickle":
            return from_pickle(files[PICKLE_FILE], model_class)
        if format != "skops":
            raise ModelSerializationError(f"sklearn flavor cannot load format {format!r}")
        import skops.io

        trusted = [str(t) for t in extra.get("trusted_types", [])]
        try:
            return skops.io.loads(files[SKOPS_FILE], trusted=trusted)
        except (ImportError, AttributeError, TypeError, ValueError, KeyError) as exc:
            raise ModelSerializationError(
                f"cannot load {model_class} saved with scikit-learn "
                f"{extra.get('sklearn_version', '?')}: {exc}"
            ) from exc

    def prepare(self, native: Any, data: Any) -> Any:
        """Match the input to how the estimator was fitted: by column name, or by position.

        An estimator fitted on a DataFrame remembers ``feature_names_in_``; columns are selected
        in that order (records arrive in any order). One fitted on an array gets an array, since
        scikit-learn warns when names appear that it never saw.

        Raises:
            InvalidInputError: A column the estimator was fitted on is missing.
        """
        value = to_frame_or_array(data)
        names = getattr(native, "feature_names_in_", None)
        if isinstance(value, pd.DataFrame):
            if names is None:
                return value.to_numpy()
            expected = [str(n) for n in names]
            missing = [n for n in expected if n not in value.columns]
            if missing:
                raise InvalidInputError(f"missing input column(s) {missing}; expected {expected}")
            return value[expected]
        if names is not None and value.ndim == 2 and value.shape[1] == len(names):
            return pd.DataFrame(value, columns=[str(n) for n in names])
        return value
