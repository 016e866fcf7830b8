"""Views declared by name only, the seed's way: entities, timestamps and types found in the data.

``register_feature_view(name, entities=["device_id", "timestamp"], features=["temperature"])``
gives no types and lists the timestamp among the entities. Here a name that is no known entity
becomes one keyed by the column of that name (int64 if the column holds integers, else
string); a name like a timestamp column becomes the view's timestamp field; an untyped feature
("temperature", as opposed to "temperature:float64") takes the type of its source column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from mlops.errors import InvalidFeatureInputError
from mlops.features import engine
from mlops.features.entities import Entity, Feature, FeatureView, ValueType
from mlops.features.refs import infer_type
from mlops.features.sources import Source

TIMESTAMP_NAMES = ("timestamp", "event_timestamp", "event_time", "ts")


def declare_view(
    scanner: engine.Scanner,
    name: str,
    entities: Sequence[str | Entity],
    features: Sequence[str | Feature],
    source: Source,
    known_entity: Callable[[str], Entity | None],
    *,
    timestamp_field: str | None,
    created_timestamp_field: str | None,
    ttl: timedelta | None,
    description: str = "",
    expectations: tuple[Any, ...] = (),
) -> tuple[FeatureView, list[Entity]]:
    """The view, and the entities it needs that are not stored yet."""
    probe = FeatureView(name, ("_",), (Feature("_"),), source)
    columns: dict[str, str] = {}

    def column_types() -> dict[str, str]:
        if not columns:
            columns.update(scanner.columns(probe))
        return columns

    names: list[str] = []
    new_entities: list[Entity] = []
    ts_field = timestamp_field
    for entity in entities:
        if isinstance(entity, Entity):
            new_entities.append(entity)
            names.append(entity.name)
        elif ts_field is None and entity in TIMESTAMP_NAMES:
            ts_field = entity
        else:
            if known_entity(entity) is None:
                kind = column_types().get(entity, "VARCHAR")
                is_int = engine.matches(ValueType.INT64, kind)
                new_entities.append(
                    Entity(entity, {entity: ValueType.INT64 if is_int else ValueType.STRING})
                )
            names.append(entity)
    typed: list[Feature] = []
    for feature in features:
        if isinstance(feature, Feature):
            typed.append(feature)
            continue
        fname, _, ftype = feature.partition(":")
        if not ftype:
            cols = column_types()
            if fname not in cols:
                raise InvalidFeatureInputError(
                    f"feature view {name!r}: its source has no column {fname!r}; name only "
                    "features "
                    f"the source has (columns: {', '.join(cols)})"
                )
            ftype = infer_type(cols[fname], f"feature {fname!r} of view {name!r}")
        typed.append(Feature(fname, ValueType.parse(ftype, f"feature {fname!r}")))
    view = FeatureView(
        name=name,
        entities=tuple(names),
        features=tuple(typed),
        source=source,
        timestamp_field=ts_field or "event_timestamp",
        created_timestamp_field=created_timestamp_field,
        ttl=ttl,
        description=description,
        expectations=expectations,
    )
    return view, new_entities
