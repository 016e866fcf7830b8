"""Point-in-time-correct training sets, as one DuckDB query of ASOF joins over the sources.

For every entity row (keys, time T) and every requested view, the value is that of the view's
row with the same keys and the greatest ``event_timestamp <= T``; equal event times are decided
by the greatest created timestamp. A value older than ``T - ttl`` is null (the boundary itself
is still valid), and so is a value when nothing matches: the output has exactly one row per
entity row, in the input's order, duplicates included.

Known-at mode also requires ``created <= T`` (the row had been written by then), which is not a
single ordering, so it runs as a range join ranked per entity row instead of an ASOF join.

Before joining, each view's rows are pruned to those that can matter: keys some entity row has
(a semi-join) and event times within ``[min T - ttl, max T]`` (literal bounds, which DuckDB
pushes into the Parquet scan). A pruned row could only ever have been matched as a value
outside every entity row's TTL, which is null either way, so the answer is the same; the ASOF
join, which sorts its right side, then sorts far fewer rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from mlops.errors import InvalidFeatureInputError
from mlops.features.engine import (
    Scanner,
    check_view_columns,
    describe_frame,
    matches,
    quote,
    timestamp_sql,
)
from mlops.features.entities import FeatureView, ValueType

if TYPE_CHECKING:
    import duckdb

ROW = "__mlops_row"
TS = "__mlops_ts"
ORDER = "__mlops_order"


@dataclass(frozen=True)
class ViewRequest:
    """The features wanted from one view, with the view's typed join keys."""

    view: FeatureView
    keys: tuple[tuple[str, ValueType], ...]
    features: tuple[str, ...]


def as_arrow(entity_df: pd.DataFrame | pa.Table) -> pa.Table:
    """The entity frame as Arrow, with its row number (the output's order) appended."""
    if isinstance(entity_df, pd.DataFrame):
        table = pa.Table.from_pandas(entity_df, preserve_index=False)
    elif isinstance(entity_df, pa.Table):
        table = entity_df
    else:
        raise InvalidFeatureInputError(
            "entity_df must be a pandas DataFrame or an Arrow table, not "
            f"{type(entity_df).__name__}"
        )
    if ROW in table.column_names or TS in table.column_names:
        raise InvalidFeatureInputError(
            f"entity_df may not have columns named {ROW} or {TS} (the query's own); rename them"
        )
    return table.append_column(ROW, pa.array(np.arange(table.num_rows, dtype=np.int64)))


def _key_cols(req: ViewRequest, i: int) -> list[str]:
    return [f"__k{i}_{j}" for j in range(len(req.keys))]


@dataclass(frozen=True)
class Bounds:
    """The entity rows' relation and their time range in epoch microseconds (None: no rows)."""

    entities: str
    low: int | None
    high: int | None


def _prune(req: ViewRequest, bounds: Bounds, ts: str) -> str:
    """The WHERE clause keeping only the view rows that some entity row can match in its TTL."""
    keys = " AND ".join(f"x.{quote(k)} = s.{quote(k)}" for k, _ in req.keys)
    where = [f"EXISTS (SELECT 1 FROM {quote(bounds.entities)} x WHERE {keys})"]
    if bounds.low is not None and bounds.high is not None:
        where.append(f"{ts} <= make_timestamp({bounds.high})")
        ttl = _ttl_micros(req.view)
        if ttl is not None:
            where.append(f"{ts} >= make_timestamp({bounds.low - ttl})")
    return " WHERE " + " AND ".join(where)


def _view_cte(scanner: Scanner, req: ViewRequest, i: int, known_at: bool, bounds: Bounds) -> str:
    view = req.view
    columns = scanner.columns(view)
    check_view_columns(view, columns, list(req.keys))
    where = f"feature view {view.name!r}"
    ts = timestamp_sql(view.timestamp_field, columns[view.timestamp_field], where)
    select = [
        f"{quote(k)} AS {alias}" for (k, _), alias in zip(req.keys, _key_cols(req, i), strict=True)
    ]
    select.append(f"{ts} AS __ts{i}")
    created = view.created_timestamp_field
    if created is not None:
        cr = timestamp_sql(created, columns[created], where)
        select.append(f"{cr} AS __cr{i}")
    select += [f"{quote(f)} AS __f{i}_{n}" for n, f in enumerate(req.features)]
    rows = f"SELECT {', '.join(select)} FROM {scanner.relation(view)} s{_prune(req, bounds, ts)}"
    if created is not None and not known_at:
        # ASOF picks arbitrarily among rows of equal time, so it orders by (event, created)
        # packed into one HUGEINT: event microseconds in the high 64 bits, created (offset to
        # be non-negative; a null created loses every tie) in the low 64. One integer compare,
        # about as fast as the plain ASOF join, where deduplicating first costs a window.
        rows = f"SELECT *, {_order_key(f'__ts{i}', f'__cr{i}')} AS __o{i} FROM ({rows})"
    return f"v{i} AS ({rows})"


_HIGH = 2**64
_FOREVER = 2**62  # microseconds (~146,000 years): a longer TTL is taken as unlimited
_OFFSET = 2**63


def _order_key(ts: str, created: str | None) -> str:
    if created is None:  # an entity row: after every row of the same time
        low = f"{_HIGH - 1}"
    else:
        low = f"(coalesce(epoch_us({created}), -{_OFFSET})::HUGEINT + {_OFFSET})"
    return f"(epoch_us({ts})::HUGEINT * {_HIGH} + {low})"


def _ttl_micros(view: FeatureView) -> int | None:
    """The view's TTL in microseconds; None when unlimited (or too long for a timestamp)."""
    if view.ttl is None:
        return None
    micros = int(view.ttl.total_seconds() * 1_000_000)
    return micros if micros < _FOREVER else None


def _ttl_guard(req: ViewRequest, i: int, alias: str) -> str:
    micros = _ttl_micros(req.view)
    if micros is None:
        return "TRUE"
    return f"{alias}.__ts{i} >= e.{TS} - to_microseconds({micros})"


def build_query(
    scanner: Scanner,
    entity_name: str,
    timestamp_column: str,
    requests: list[ViewRequest],
    known_at: bool = False,
    full_feature_names: bool = False,
) -> str:
    """The SQL of a point-in-time join of the registered entity relation with every view."""
    con = scanner.con
    entity_cols = describe_frame(con, entity_name)
    if timestamp_column not in entity_cols:
        raise InvalidFeatureInputError(
            f"entity_df has no timestamp column {timestamp_column!r}; name it with "
            f"timestamp_column= (columns: {', '.join(c for c in entity_cols if c != ROW)})"
        )
    ts = timestamp_sql(timestamp_column, entity_cols[timestamp_column], "entity_df")
    _check_entity_keys(entity_cols, requests)
    names = _output_names(requests, full_feature_names, entity_cols)
    [(low, high)] = con.execute(
        f"SELECT epoch_us(min({ts})), epoch_us(max({ts})) FROM {quote(entity_name)}"
    ).fetchall()
    bounds = Bounds(entity_name, low, high)
    ctes = [
        f"e0 AS (SELECT *, {ts} AS {TS} FROM {quote(entity_name)})",
        f"e AS (SELECT *, {_order_key(TS, None)} AS {ORDER} FROM e0)",
    ]
    joins, outputs = [], []
    for i, req in enumerate(requests):
        if known_at and req.view.created_timestamp_field is None:
            raise InvalidFeatureInputError(
                f"known-at retrieval needs created timestamps, and feature view "
                f"{req.view.name!r} has no created_timestamp_field; set one on the view, or "
                "leave known_at off"
            )
        ctes.append(_view_cte(scanner, req, i, known_at, bounds))
        keys_eq = [
            f"e.{quote(k)} = {{a}}.{alias}"
            for (k, _), alias in zip(req.keys, _key_cols(req, i), strict=True)
        ]
        if known_at:
            ranked = (
                f"SELECT e.{ROW} AS __r{i}, v{i}.* FROM e JOIN v{i} ON "
                + " AND ".join(k.format(a=f"v{i}") for k in keys_eq)
                + f" AND v{i}.__ts{i} <= e.{TS} AND v{i}.__cr{i} <= e.{TS}"
                + f" QUALIFY row_number() OVER (PARTITION BY e.{ROW} "
                f"ORDER BY v{i}.__ts{i} DESC, v{i}.__cr{i} DESC) = 1"
            )
            ctes.append(f"k{i} AS ({ranked})")
            joins.append(f"LEFT JOIN k{i} j{i} ON j{i}.__r{i} = e.{ROW}")
        else:
            cond = " AND ".join(k.format(a=f"j{i}") for k in keys_eq)
            if req.view.created_timestamp_field is None:
                cond += f" AND e.{TS} >= j{i}.__ts{i}"
            else:
                cond += f" AND e.{ORDER} >= j{i}.__o{i}"
            joins.append(f"ASOF LEFT JOIN v{i} j{i} ON {cond}")
        guard = _ttl_guard(req, i, f"j{i}")
        for n, feature in enumerate(req.features):
            value = f"j{i}.__f{i}_{n}"
            if guard != "TRUE":
                value = f"CASE WHEN {guard} THEN {value} END"
            outputs.append(f"{value} AS {quote(names[(i, feature)])}")
    passthrough = ", ".join(f"e.{quote(c)}" for c in entity_cols if c != ROW)
    return (
        "WITH "
        + ", ".join(ctes)
        + f" SELECT {passthrough}, {', '.join(outputs)} FROM e "
        + " ".join(joins)
        + f" ORDER BY e.{ROW}"
    )


def _check_entity_keys(entity_cols: dict[str, str], requests: list[ViewRequest]) -> None:
    for req in requests:
        for key, key_type in req.keys:
            if key not in entity_cols:
                raise InvalidFeatureInputError(
                    f"entity_df has no column {key!r}, a join key of feature view "
                    f"{req.view.name!r}; "
                    "add the column to entity_df"
                )
            if not matches(key_type, entity_cols[key]):
                raise InvalidFeatureInputError(
                    f"entity_df column {key!r} is {entity_cols[key]} but feature view "
                    f"{req.view.name!r} joins on it as {key_type.value}; cast the column"
                )


def _output_names(
    requests: list[ViewRequest], full: bool, entity_cols: dict[str, str]
) -> dict[tuple[int, str], str]:
    names: dict[tuple[int, str], str] = {}
    seen: dict[str, str] = {}
    for i, req in enumerate(requests):
        for feature in req.features:
            name = f"{req.view.name}__{feature}" if full else feature
            if name in seen or name in entity_cols:
                clash = seen.get(name, "entity_df")
                raise InvalidFeatureInputError(
                    f"feature {feature!r} of view {req.view.name!r} would be output as {name!r}, "
                    f"which {clash} already uses; pass full_feature_names=True"
                )
            seen[name] = req.view.name
            names[(i, feature)] = name
    return names


def run_arrow(con: duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The query's result as an Arrow table."""
    return con.sql(sql).to_arrow_table()
