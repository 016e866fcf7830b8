"""Feature references (``"view:feature"``, ``"view"``, ``"view@2:feature"``) and DuckDB type
inference for definitions declared by name only (the seed's ``features=["temperature", ...]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from mlops.errors import InvalidFeatureInputError
from mlops.features.entities import FeatureService, ValueType


@dataclass(frozen=True)
class Ref:
    """One parsed reference: a view (and version), and a feature or None for all of them."""

    view: str
    version: int | None
    feature: str | None


def parse_ref(ref: str) -> Ref:
    """Parse ``view[@version][:feature]``."""
    if not isinstance(ref, str) or not ref:
        raise InvalidFeatureInputError(f"feature reference {ref!r} is not 'view:feature'")
    view, _, feature = ref.partition(":")
    name, _, version = view.partition("@")
    if version and not version.isdigit():
        raise InvalidFeatureInputError(f"feature reference {ref!r}: version must be a number")
    return Ref(name, int(version) if version else None, feature or None)


def parse_refs(features: Sequence[str] | FeatureService) -> list[Ref]:
    """References from a list or a feature service."""
    items = features.features if isinstance(features, FeatureService) else features
    if isinstance(items, str):
        raise InvalidFeatureInputError(
            "features= takes a list of 'view:feature' references or a FeatureService, not one "
            f"string ({items!r}); wrap it in a list"
        )
    return [parse_ref(r) for r in items]


def infer_type(duck_type: str, what: str) -> ValueType:
    """The ``ValueType`` of a DuckDB column type, for features declared without a type."""
    base = duck_type.upper()
    if base.startswith(("TIMESTAMP", "DATE")):
        return ValueType.TIMESTAMP
    if base == "BOOLEAN":
        return ValueType.BOOL
    if base == "VARCHAR":
        return ValueType.STRING
    if any(
        base.startswith(t) for t in ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "U")
    ):
        return ValueType.INT64
    if base.startswith(("FLOAT", "DOUBLE", "DECIMAL", "REAL")):
        return ValueType.FLOAT64
    raise InvalidFeatureInputError(
        f"{what} has type {duck_type}, which no feature type holds; give the type explicitly"
    )
