"""Feature definitions: entities, typed features, feature views, services, on-demand views.

Definitions are frozen dataclasses, declared in Python or in a feature repo folder and stored in
the metadata store as JSON specs (``specs.py``). A view's *schema* (its join keys, feature names
and types, timestamp columns) decides whether a change is breaking: a breaking change becomes a
new version of the view, so training sets and online tables of the old version stay readable.
"""

from __future__ import annotations

import contextlib
import enum
import inspect
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from mlops.errors import InvalidFeatureInputError

if TYPE_CHECKING:
    import pandas as pd

    from mlops.features.sources import Source
    from mlops.features.validation import Expectation


class ValueType(enum.StrEnum):
    """The type of a join key or feature; each maps onto a family of DuckDB column types."""

    INT64 = "int64"
    FLOAT64 = "float64"
    STRING = "string"
    BOOL = "bool"
    TIMESTAMP = "timestamp"

    @classmethod
    def parse(cls, value: ValueType | str | type, what: str) -> ValueType:
        """A type from its name (``"int64"``, ``"float"``, ``int``, ...), or a clear error."""
        if isinstance(value, ValueType):
            return value
        if isinstance(value, type):
            value = {int: "int64", float: "float64", str: "string", bool: "bool"}.get(value, "")
        name = _ALIASES.get(str(value).lower(), str(value).lower())
        try:
            return cls(name)
        except ValueError:
            raise InvalidFeatureInputError(
                f"{what} has unknown type {value!r}; use one of {', '.join(t.value for t in cls)}"
            ) from None


_ALIASES = {
    "int": "int64",
    "integer": "int64",
    "bigint": "int64",
    "int32": "int64",
    "float": "float64",
    "double": "float64",
    "float32": "float64",
    "str": "string",
    "varchar": "string",
    "boolean": "bool",
    "datetime": "timestamp",
}


def _check_name(kind: str, name: str) -> str:
    if not isinstance(name, str) or not name or len(name) > 200:
        raise InvalidFeatureInputError(f"{kind} name {name!r} must be 1-200 characters")
    if not all(c.isalnum() or c in "_-." for c in name):
        raise InvalidFeatureInputError(
            f"{kind} name {name!r} may only hold letters, digits, '_', '-' and '.'"
        )
    return name


@dataclass(frozen=True)
class Entity:
    """What features describe (a driver, a device, a store x product pair): its typed join keys.

    Args:
        name: The entity's name, used by views.
        join_keys: Key column names and types, e.g. ``{"store_id": "int64", "sku": "string"}``;
            several keys make a compound key. Default: one string key named like the entity.
        description: Free text.
    """

    name: str
    join_keys: tuple[tuple[str, ValueType], ...] = ()
    description: str = ""
    version: int = 0

    def __init__(
        self,
        name: str,
        join_keys: Mapping[str, ValueType | str | type]
        | Iterable[tuple[str, ValueType | str | type]]
        | None = None,
        description: str = "",
        version: int = 0,
    ):
        _check_name("entity", name)
        pairs = list(join_keys.items() if isinstance(join_keys, Mapping) else join_keys or [])
        if not pairs:
            pairs = [(name, ValueType.STRING)]
        keys = tuple(
            (_check_name("join key", k), ValueType.parse(t, f"join key {k!r} of entity {name!r}"))
            for k, t in pairs
        )
        for _key, kind in keys:
            if kind not in (ValueType.INT64, ValueType.STRING):
                raise InvalidFeatureInputError(
                    f"entity {name!r}: join keys must be int64 or string, not {kind.value}; "
                    "cast the key column to integers or strings"
                )
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "join_keys", keys)
        object.__setattr__(self, "description", description)
        object.__setattr__(self, "version", version)

    @property
    def key_names(self) -> tuple[str, ...]:
        """The join key column names, in order."""
        return tuple(k for k, _ in self.join_keys)


@dataclass(frozen=True)
class Feature:
    """One typed column of a feature view."""

    name: str
    dtype: ValueType = ValueType.FLOAT64
    description: str = ""

    def __post_init__(self) -> None:
        _check_name("feature", self.name)
        object.__setattr__(self, "dtype", ValueType.parse(self.dtype, f"feature {self.name!r}"))


@dataclass(frozen=True)
class FeatureView:
    """Typed features of some entities, read from one source, valid for ``ttl`` after the event.

    Args:
        name: The view's name.
        entities: Names of the entities whose join keys identify a row.
        features: The typed feature columns.
        source: Where the rows are (file, frame, SQL table).
        timestamp_field: Column with the event time (when the value became true).
        created_timestamp_field: Column with the time the row was written; it breaks ties on
            equal event times and is what "known-at" retrieval checks.
        ttl: How long a value stays valid after its event time; None (or zero) is unlimited.
        expectations: Checks run at materialization and on training sets.
        version: Assigned by the store; 0 until applied.
    """

    name: str
    entities: tuple[str, ...]
    features: tuple[Feature, ...]
    source: Source
    timestamp_field: str = "event_timestamp"
    created_timestamp_field: str | None = None
    ttl: timedelta | None = None
    description: str = ""
    tags: tuple[tuple[str, str], ...] = ()
    expectations: tuple[Expectation, ...] = ()
    version: int = 0

    def __post_init__(self) -> None:
        _check_name("feature view", self.name)
        object.__setattr__(self, "entities", tuple(self.entities))
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "expectations", tuple(self.expectations))
        if isinstance(self.tags, Mapping):
            object.__setattr__(self, "tags", tuple(sorted(self.tags.items())))
        if not self.entities:
            raise InvalidFeatureInputError(
                f"feature view {self.name!r} needs at least one entity; name the entities "
                "whose join keys identify its rows"
            )
        if not self.features:
            raise InvalidFeatureInputError(
                f"feature view {self.name!r} needs at least one feature; list its feature columns"
            )
        names = [f.name for f in self.features]
        if len(set(names)) != len(names):
            raise InvalidFeatureInputError(
                f"feature view {self.name!r} names a feature twice; remove the duplicate"
            )
        if self.ttl is not None and self.ttl.total_seconds() < 0:
            raise InvalidFeatureInputError(
                f"feature view {self.name!r}: ttl cannot be negative; give a positive "
                "timedelta, or None for values that never expire"
            )
        if self.ttl is not None and self.ttl.total_seconds() == 0:
            object.__setattr__(self, "ttl", None)  # 0 means unlimited, as None does

    def feature(self, name: str) -> Feature:
        """The feature called ``name``, or an error listing the view's features."""
        for f in self.features:
            if f.name == name:
                return f
        raise InvalidFeatureInputError(
            f"feature view {self.name!r} has no feature {name!r}; it has "
            f"{', '.join(f.name for f in self.features)}"
        )

    @property
    def ref(self) -> str:
        """``name@version``, how lineage names this exact view."""
        return f"{self.name}@{self.version}"


@dataclass(frozen=True)
class FeatureService:
    """A named set of features a model uses: ``["view:feature", "view", ...]`` (a bare view is all
    of its features)."""

    name: str
    features: tuple[str, ...]
    description: str = ""
    version: int = 0

    def __post_init__(self) -> None:
        _check_name("feature service", self.name)
        object.__setattr__(self, "features", tuple(self.features))
        if not self.features:
            raise InvalidFeatureInputError(
                f"feature service {self.name!r} lists no features; give it 'view:feature' "
                "or 'view' references"
            )


Transform = Callable[["pd.DataFrame"], "pd.DataFrame"]


@dataclass(frozen=True)
class OnDemandFeatureView:
    """Features computed by a Python function from other views' features, at request time.

    The same function runs on the training set (offline) and on the online lookup's frame, so
    training and serving compute them identically. It takes a pandas DataFrame holding the
    ``inputs`` columns and returns one holding the ``features`` columns, row for row.
    """

    name: str
    inputs: tuple[str, ...]  # "view:feature" references
    features: tuple[Feature, ...]
    function: Transform | None = field(default=None, compare=False)
    function_ref: str = ""  # module:qualname, so another process can import it
    function_source: str = ""
    description: str = ""
    version: int = 0

    def __post_init__(self) -> None:
        _check_name("on-demand feature view", self.name)
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "features", tuple(self.features))
        if self.function is not None and not self.function_ref:
            fn = self.function
            object.__setattr__(self, "function_ref", f"{fn.__module__}:{fn.__qualname__}")
            # Defined interactively there is no source: the reference alone must do.
            with contextlib.suppress(OSError, TypeError):
                object.__setattr__(self, "function_source", inspect.getsource(fn))


Definition = Entity | FeatureView | FeatureService | OnDemandFeatureView

KINDS: dict[type[Any], str] = {
    Entity: "entity",
    FeatureView: "feature_view",
    FeatureService: "feature_service",
    OnDemandFeatureView: "on_demand_view",
}


def kind_of(definition: Definition) -> str:
    """The stored kind of a definition (``"feature_view"``, ...)."""
    return KINDS[type(definition)]
