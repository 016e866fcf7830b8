"""Definitions to and from the JSON specs kept in the metadata store, and their schema hashes.

The schema hash covers what readers depend on (join keys, feature names and types, timestamp
columns); a change to it is breaking and makes a new version. Everything else (description,
TTL, source location, expectations) can change in place.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from typing import Any

from mlops.errors import InvalidFeatureInputError
from mlops.features.entities import (
    Definition,
    Entity,
    Feature,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
)
from mlops.features.sources import source_from_spec
from mlops.features.validation import Expectation


def _features(features: tuple[Feature, ...]) -> list[dict[str, str]]:
    return [
        {"name": f.name, "dtype": f.dtype.value, "description": f.description} for f in features
    ]


def to_spec(definition: Definition) -> dict[str, Any]:
    """The JSON-able description of a definition (without its version)."""
    if isinstance(definition, Entity):
        return {
            "name": definition.name,
            "join_keys": [[k, t.value] for k, t in definition.join_keys],
            "description": definition.description,
        }
    if isinstance(definition, FeatureView):
        return {
            "name": definition.name,
            "entities": list(definition.entities),
            "features": _features(definition.features),
            "source": definition.source.to_spec(),
            "timestamp_field": definition.timestamp_field,
            "created_timestamp_field": definition.created_timestamp_field,
            "ttl_seconds": definition.ttl.total_seconds() if definition.ttl else None,
            "description": definition.description,
            "tags": dict(definition.tags),
            "expectations": [e.to_spec() for e in definition.expectations],
        }
    if isinstance(definition, FeatureService):
        return {
            "name": definition.name,
            "features": list(definition.features),
            "description": definition.description,
        }
    return {
        "name": definition.name,
        "inputs": list(definition.inputs),
        "features": _features(definition.features),
        "function_ref": definition.function_ref,
        "function_source": definition.function_source,
        "description": definition.description,
    }


def from_spec(kind: str, spec: dict[str, Any], version: int) -> Definition:
    """Rebuild a stored definition at ``version``."""
    feats = tuple(
        Feature(f["name"], f["dtype"], f.get("description", ""))
        for f in spec.get("features", [])
        if kind != "feature_service"  # a service's features are references, not typed features
    )
    if kind == "entity":
        return Entity(
            spec["name"],
            [tuple(p) for p in spec["join_keys"]],
            spec.get("description", ""),
            version,
        )
    if kind == "feature_view":
        ttl = spec.get("ttl_seconds")
        return FeatureView(
            name=spec["name"],
            entities=tuple(spec["entities"]),
            features=feats,
            source=source_from_spec(spec["source"]),
            timestamp_field=spec["timestamp_field"],
            created_timestamp_field=spec.get("created_timestamp_field"),
            ttl=timedelta(seconds=ttl) if ttl else None,
            description=spec.get("description", ""),
            tags=tuple(sorted(spec.get("tags", {}).items())),
            expectations=tuple(Expectation.from_spec(e) for e in spec.get("expectations", [])),
            version=version,
        )
    if kind == "feature_service":
        return FeatureService(
            spec["name"], tuple(spec["features"]), spec.get("description", ""), version
        )
    if kind == "on_demand_view":
        return OnDemandFeatureView(
            name=spec["name"],
            inputs=tuple(spec["inputs"]),
            features=feats,
            function_ref=spec.get("function_ref", ""),
            function_source=spec.get("function_source", ""),
            description=spec.get("description", ""),
            version=version,
        )
    raise InvalidFeatureInputError(f"unknown definition kind {kind!r}")


def schema_hash(kind: str, spec: dict[str, Any]) -> str:
    """The hash of the parts of a spec whose change breaks readers."""
    if kind == "feature_view":
        schema: Any = [
            spec["entities"],
            [[f["name"], f["dtype"]] for f in spec["features"]],
            spec["timestamp_field"],
            spec["created_timestamp_field"],
        ]
    elif kind == "on_demand_view":
        schema = [spec["inputs"], [[f["name"], f["dtype"]] for f in spec["features"]]]
    elif kind == "entity":
        schema = spec["join_keys"]
    else:
        schema = spec["features"]
    return hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()


def is_breaking(kind: str, old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether replacing ``old`` by ``new`` breaks readers of ``old``.

    Adding features to a view is compatible (old readers still find theirs); removing or
    retyping one, or changing keys or timestamp columns, is not. Services may change freely.
    """
    if kind == "feature_service" or schema_hash(kind, old) == schema_hash(kind, new):
        return False
    if kind in ("feature_view", "on_demand_view"):
        old_feats = {f["name"]: f["dtype"] for f in old["features"]}
        new_feats = {f["name"]: f["dtype"] for f in new["features"]}
        same_shape = all(
            old.get(k) == new.get(k)
            for k in ("entities", "timestamp_field", "created_timestamp_field", "inputs")
        )
        kept = all(new_feats.get(n) == t for n, t in old_feats.items())
        return not (same_shape and kept)
    return True
