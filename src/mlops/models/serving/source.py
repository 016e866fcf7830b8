"""Which model a server serves: a registry reference, the loaded version, and hot swapping.

A server is started on a reference (``models:/NAME@ALIAS``, ``models:/NAME/STAGE``,
``models:/NAME/VERSION``). A fixed version never changes; an alias, a stage or ``latest`` can
move to another version. :class:`ModelSource` re-resolves the reference; when it names a new
version, the server loads it off the event loop, starts its batcher, points new requests at it
and only then drains the old batcher, so no request is dropped or sees a half-loaded model.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from numpy.typing import NDArray

from mlops.errors import InvalidInputError
from mlops.models.entities import ModelVersion, Stage
from mlops.models.flavors import LoadedModel
from mlops.models.registry import ModelRegistry
from mlops.models.serving.batching import BatchStats, MicroBatcher
from mlops.models.serving.payloads import ModelInput, assemble
from mlops.models.signature import Schema, Signature

__all__ = ["ModelSource", "ServedModel", "stage_reference"]

_REFERENCE = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<ref>[^/@]+)|@(?P<alias>[^/@]+))$")
_STAGES = frozenset({*(stage.value for stage in Stage), "latest"})


def stage_reference(uri: str) -> str:
    """``models:/NAME@production`` as ``models:/NAME/production``; anything else unchanged.

    The issue writes ``mlops serve models:/NAME@production``; a stage name can never be an
    alias (the registry refuses such aliases), so ``@STAGE`` is unambiguous and means the stage.
    """
    match = _REFERENCE.match(uri)
    if match is not None and match["alias"] is not None and match["alias"].lower() in _STAGES:
        return f"models:/{match['name']}/{match['alias'].lower()}"
    return uri


@dataclass
class ServedModel:
    """One loaded version with its signature and its own batcher."""

    version: ModelVersion
    model: LoadedModel
    signature: Signature | None
    batcher: MicroBatcher

    @property
    def schema(self) -> Schema | None:
        return None if self.signature is None else self.signature.inputs

    @property
    def name(self) -> str:
        return self.version.name


class ModelSource:
    """A registry reference a server follows.

    Args:
        uri: ``models:/NAME@ALIAS``, ``models:/NAME/VERSION`` or ``models:/NAME/STAGE``
            (also ``models:/NAME@STAGE``; ``latest`` counts as a stage: the newest version).
        registry: Where to resolve it.

    Raises:
        InvalidInputError: ``uri`` is not such a reference.
    """

    def __init__(self, uri: str, registry: ModelRegistry) -> None:
        uri = stage_reference(uri)
        match = _REFERENCE.match(uri)
        if match is None:
            raise InvalidInputError(
                f"model URI {uri!r} is not models:/NAME@ALIAS, models:/NAME/VERSION or "
                "models:/NAME/STAGE"
            )
        self.uri = uri
        self.name = match["name"]
        self.registry = registry
        ref = match["ref"]
        self.fixed = ref is not None and ref.isdigit()
        """A version number never moves, so a fixed reference is never polled."""

    def resolve(self) -> ModelVersion:
        """The version the reference names now.

        Raises:
            ModelVersionNotFoundError: It names nothing (no such model, alias or stage).
        """
        return self.registry.get_model(self.uri)

    def load(
        self,
        version: ModelVersion,
        *,
        max_batch_size: int,
        max_wait_ms: float,
        on_batch: Callable[[BatchStats], None] | None = None,
    ) -> ServedModel:
        """Load ``version`` (integrity-checked by the registry) with a batcher not yet started."""
        model = self.registry.load_model(version)
        signature = None if version.signature is None else Signature.from_dict(version.signature)
        schema = None if signature is None else signature.inputs
        sklearn = model.flavor == "sklearn"

        def predict(items: Sequence[ModelInput]) -> NDArray[Any]:
            return model.predict(assemble(items, schema, sklearn))

        batcher = MicroBatcher(
            predict, max_batch_size=max_batch_size, max_wait_ms=max_wait_ms, on_batch=on_batch
        )
        return ServedModel(version, model, signature, batcher)
