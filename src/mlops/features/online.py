"""Online lookups: entity keys in, values with their event times and freshness out.

Keys and payloads are encoded by DuckDB SQL (``encode_sql``) for both materialization and push,
and keys are encoded the same way here for lookups, so a value is found whichever way it came
in. A compound key joins its parts with the unit separator (0x1F).
"""

from __future__ import annotations

import json
import numbers
from collections.abc import Callable, Generator, Mapping, Sequence
from datetime import UTC, datetime
from importlib.metadata import entry_points
from typing import Any

import pandas as pd

from mlops.errors import ConfigError, InvalidFeatureInputError
from mlops.features.engine import quote
from mlops.features.entities import FeatureView, ValueType
from mlops.features.store import OnlineStore

SEPARATOR = "\x1f"
# Built-ins, also registered as entry points in pyproject; kept here so a source checkout whose
# installed metadata predates them still finds them.
BUILTIN_STORES = {
    "sqlite": "mlops.store.sql.online:SqliteOnlineStore",
    "redis": "mlops.store.redis:RedisOnlineStore",
    "rediss": "mlops.store.redis:RedisOnlineStore",
}


def open_online_store(uri: str) -> OnlineStore:
    """The online store for ``uri``, chosen by scheme among the ``mlops.online_stores`` plugins."""
    scheme = uri.split("://", 1)[0].lower() if "://" in uri else ""
    targets = dict(BUILTIN_STORES)
    for ep in entry_points(group="mlops.online_stores"):
        targets[ep.name] = ep.value
    if scheme not in targets:
        raise ConfigError(
            f"online store {uri!r} has no known scheme; use one of "
            f"{', '.join(f'{s}://' for s in sorted(targets))}"
        )
    module_name, _, attr = targets[scheme].partition(":")
    import importlib

    cls = getattr(importlib.import_module(module_name), attr)
    store: OnlineStore = cls(uri)
    return store


def table_name(view: FeatureView) -> str:
    """The online table of a view version."""
    return f"{view.name}__v{view.version}"


def key_sql(keys: Sequence[str]) -> str:
    """DuckDB SQL of the encoded entity key."""
    parts = [f"CAST({quote(k)} AS VARCHAR)" for k in keys]
    return parts[0] if len(parts) == 1 else f"concat_ws(chr(31), {', '.join(parts)})"


def payload_sql(features: Sequence[str]) -> str:
    """DuckDB SQL of the encoded feature values (a JSON array in feature order)."""
    return f"CAST(json_array({', '.join(quote(f) for f in features)}) AS VARCHAR)"


def _key_part(value: Any, key: str, kind: ValueType, view: str) -> str:
    if kind is ValueType.INT64:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        if isinstance(value, numbers.Integral) or (isinstance(value, float) and value.is_integer()):
            return str(int(value))
        raise InvalidFeatureInputError(
            f"entity key {key!r} of feature view {view!r} is int64, got {value!r}"
        )
    if not isinstance(value, str):
        raise InvalidFeatureInputError(
            f"entity key {key!r} of feature view {view!r} is a string, got {value!r}"
        )
    if SEPARATOR in value:
        raise InvalidFeatureInputError(f"entity key {key!r} may not contain the 0x1F character")
    return value


def key_columns(
    entities: Any, keys: Sequence[tuple[str, ValueType]], view: str
) -> dict[str, list[Any]]:
    """Entity keys given as scalars, tuples, dicts, a dict of lists or a DataFrame, by key."""
    names = [k for k, _ in keys]
    if isinstance(entities, pd.DataFrame):
        entities = {c: entities[c].tolist() for c in entities.columns}
    if isinstance(entities, Mapping):
        missing = [n for n in names if n not in entities]
        if missing:
            raise InvalidFeatureInputError(
                f"feature view {view!r} is keyed by {', '.join(names)}; entities lack {missing}"
            )
        return {n: list(entities[n]) for n in names}
    rows = list(entities)
    out: dict[str, list[Any]] = {n: [] for n in names}
    for row in rows:
        if isinstance(row, Mapping):
            values = [row.get(n) for n in names]
        elif isinstance(row, tuple | list):
            values = list(row)
        else:
            values = [row]
        if len(values) != len(names):
            raise InvalidFeatureInputError(
                f"feature view {view!r} is keyed by ({', '.join(names)}); entity {row!r} does "
                "not give one value per key"
            )
        for n, v in zip(names, values, strict=True):
            out[n].append(v)
    return out


def encode_keys(
    columns: Mapping[str, list[Any]], keys: Sequence[tuple[str, ValueType]], view: str
) -> list[str]:
    """The encoded key of each entity."""
    parts = [[_key_part(v, k, t, view) for v in columns[k]] for k, t in keys]
    if len(parts) == 1:
        return parts[0]
    return [SEPARATOR.join(p) for p in zip(*parts, strict=True)]


def _decoder(kind: ValueType) -> Callable[[Any], Any] | None:
    """How to turn a JSON value into the feature's Python value (None: JSON's own is right)."""
    if kind is ValueType.TIMESTAMP:
        return lambda v: None if v is None else pd.Timestamp(v, tz="UTC")
    return None  # DuckDB writes doubles as 1.0 (and NaN), so JSON gives floats back


class OnlineFeatures:
    """The result of an online lookup; awaitable too (``await store.get_online_features(...)``).

    Attributes:
        columns: Join keys and feature values by column name, one entry per entity.
        event_timestamps: Per view, each entity's event time (None where nothing is online).
        fresh: Per view, whether each value is within the view's TTL now (False if missing).
    """

    def __init__(
        self,
        columns: dict[str, list[Any]],
        event_timestamps: dict[str, list[datetime | None]],
        fresh: dict[str, list[bool]],
    ):
        self.columns = columns
        self.event_timestamps = event_timestamps
        self.fresh = fresh

    def __len__(self) -> int:
        return len(next(iter(self.columns.values()), []))

    def __getitem__(self, column: str) -> list[Any]:
        return self.columns[column]

    def to_dict(self) -> dict[str, list[Any]]:
        """Columns, plus ``<view>__event_timestamp`` and ``<view>__fresh`` per view."""
        out = dict(self.columns)
        for view, stamps in self.event_timestamps.items():
            out[f"{view}__event_timestamp"] = stamps
            out[f"{view}__fresh"] = self.fresh[view]
        return out

    def to_pandas(self) -> pd.DataFrame:
        """The feature columns (keys and values) as a DataFrame."""
        return pd.DataFrame(self.columns)

    def __await__(self) -> Generator[Any, None, OnlineFeatures]:
        return self
        yield  # a generator, as __await__ must be

    def __repr__(self) -> str:
        return f"OnlineFeatures({len(self)} entities, columns={list(self.columns)})"


def decode(
    view: FeatureView,
    wanted: Sequence[str],
    found: Sequence[tuple[int, str] | None],
    now_us: int,
) -> tuple[dict[str, list[Any]], list[datetime | None], list[bool]]:
    """Feature columns, event times and freshness of one view's stored rows.

    All payloads are parsed by one ``json.loads`` of their concatenation: per-row calls cost
    more than the parsing itself on a 100-entity lookup.
    """
    index = {f.name: i for i, f in enumerate(view.features)}
    payloads = [row[1] for row in found if row is not None]
    parsed = iter(json.loads("[" + ",".join(payloads) + "]") if payloads else [])
    rows = [None if row is None else next(parsed) for row in found]
    width = len(view.features)
    # The common case, every key found with a full row: transpose in C.
    transposed = (
        list(zip(*rows, strict=True))
        if rows and all(row is not None and len(row) == width for row in rows)
        else None
    )
    values: dict[str, list[Any]] = {}
    for name in wanted:
        pos = index[name]
        if transposed is not None:
            column = list(transposed[pos])
        else:
            column = [None if row is None or pos >= len(row) else row[pos] for row in rows]
        convert = _decoder(view.features[pos].dtype)
        if convert is not None:
            column = [convert(v) for v in column]
        values[name] = column
    ttl_us = int(view.ttl.total_seconds() * 1_000_000) if view.ttl else None
    stamps: list[datetime | None] = [
        None if row is None else datetime.fromtimestamp(row[0] / 1_000_000, tz=UTC) for row in found
    ]
    fresh = [row is not None and (ttl_us is None or row[0] >= now_us - ttl_us) for row in found]
    return values, stamps, fresh
