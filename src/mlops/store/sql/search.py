"""Compile a parsed run filter and order-by into one SQL query over the metadata tables.

The whole search runs in the database, so a page of 100 runs out of 100,000 costs the same as
out of 100: metric tests read ``latest_metrics`` (the newest point per run and key, indexed by
``(key, value)``), param and tag tests read ``params`` and ``tags``, each as a
``runs.id IN (SELECT run_id ...)`` semi-join; attributes are columns of ``runs``. Every value is
a bound parameter.

Semantics the two backends must agree on, and the tests hold them to:

* A NaN metric (stored as 0 with ``is_nan`` set) matches no numeric comparison, but it exists
  for ``IS NOT NULL``.
* ``params.k != 'v'`` means "has k, with another value"; ``NOT params.k = 'v'`` also matches
  runs without k; ``IS NULL`` means the key is absent.
* LIKE is case-sensitive and ILIKE is not, on SQLite as on PostgreSQL; ``\\`` escapes ``%``
  and ``_``. SQLite's own LIKE ignores case, so there LIKE becomes an equivalent GLOB.
* Ordering puts runs lacking the key last in either direction (for metrics: values, then NaN,
  then absent), compares text bytewise on both backends, and breaks ties by ``start_time``
  descending then run id, so pages never overlap or skip.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import operators
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from mlops.errors import InvalidFilterError, InvalidInputError
from mlops.experiments.filter import (
    NULLABLE_ATTRIBUTES,
    RUN_STATUSES,
    And,
    Comparison,
    Expr,
    Not,
    Or,
    OrderKey,
)
from mlops.store.sql.tables import experiments, latest_metrics, params, runs, tags

_ATTRIBUTE_COLUMNS: dict[str, sa.Column[Any]] = {
    "status": runs.c.status,
    "run_name": runs.c.name,
    "start_time": runs.c.start_time,
    "end_time": runs.c.end_time,
    "run_id": runs.c.id,
    "user": runs.c.user,
    "experiment_id": runs.c.experiment_id,
    "parent_run_id": runs.c.parent_run_id,
}
_TEXT_ATTRIBUTES = frozenset({"status", "run_name", "run_id", "user", "parent_run_id"})
_KEY_VALUE_TABLES = {"param": params, "tag": tags}
_BINARY = {
    "=": operators.eq,
    "!=": operators.ne,
    "<": operators.lt,
    "<=": operators.le,
    ">": operators.gt,
    ">=": operators.ge,
}


def search_runs_query(
    experiment_ids: Sequence[int],
    filter: Expr | None,
    order_by: Sequence[OrderKey],
    max_results: int,
    offset: int = 0,
    include_deleted: bool = False,
    statuses: Sequence[str] | None = None,
) -> sa.Select[str]:
    """One page of matching run ids, in order.

    Args:
        experiment_ids: Experiments to search; an empty sequence matches nothing.
        filter: A parsed filter (``parse_filter``); None matches every run.
        order_by: Parsed keys (``parse_order_by``); empty means ``start_time`` descending.
        max_results: Page size, at least 1.
        offset: Runs to skip, for the page after this one.
        include_deleted: Also return deleted runs and runs of deleted experiments.
        statuses: Only runs in these statuses (case-insensitive); None means any.

    Returns:
        A SELECT of ``runs.id`` with ORDER BY, LIMIT and OFFSET; it reads no run into Python.

    Raises:
        InvalidInputError: ``max_results`` or ``offset`` is out of range.
        InvalidFilterError: A status or a hand-built key is unknown.
    """
    if max_results < 1:
        raise InvalidInputError(f"max_results must be at least 1, got {max_results}")
    if offset < 0:
        raise InvalidInputError(f"offset must not be negative, got {offset}")
    source: sa.FromClause = runs
    ordering: list[ColumnElement[Any]] = []
    for index, key in enumerate(order_by):
        source, columns = _order(source, index, key)
        ordering.extend(columns)
    ordering += [runs.c.start_time.desc(), runs.c.id.asc()]
    return (
        sa.select(runs.c.id)
        .select_from(source)
        .where(*_conditions(experiment_ids, filter, include_deleted, statuses))
        .order_by(*ordering)
        .limit(max_results)
        .offset(offset)
    )


def count_runs_query(
    experiment_ids: Sequence[int],
    filter: Expr | None,
    include_deleted: bool = False,
    statuses: Sequence[str] | None = None,
) -> sa.Select[int]:
    """The number of runs ``search_runs_query`` would page through, for the UI's page count.

    Args:
        experiment_ids: Experiments to search; an empty sequence matches nothing.
        filter: A parsed filter; None counts every run.
        include_deleted: Also count deleted runs and runs of deleted experiments.
        statuses: Only runs in these statuses (case-insensitive); None means any.

    Returns:
        A SELECT of one row holding the count.
    """
    conditions = _conditions(experiment_ids, filter, include_deleted, statuses)
    return sa.select(sa.func.count()).select_from(runs).where(*conditions)


def _conditions(
    experiment_ids: Sequence[int],
    filter: Expr | None,
    include_deleted: bool,
    statuses: Sequence[str] | None,
) -> list[ColumnElement[bool]]:
    ids = list(experiment_ids)
    conditions: list[ColumnElement[bool]]
    if include_deleted:
        conditions = [runs.c.experiment_id.in_(ids)]
    else:
        live = sa.select(experiments.c.id).where(
            experiments.c.id.in_(ids), experiments.c.deleted_at.is_(None)
        )
        conditions = [runs.c.experiment_id.in_(live), runs.c.deleted_at.is_(None)]
    if statuses is not None:
        wanted = [status.upper() for status in statuses]
        unknown = sorted(set(wanted) - set(RUN_STATUSES))
        if unknown:
            raise InvalidFilterError(
                f"unknown run status {', '.join(unknown)}; statuses are {', '.join(RUN_STATUSES)}"
            )
        conditions.append(runs.c.status.in_(wanted))
    if filter is not None:
        conditions.append(_condition(filter))
    return conditions


def _condition(expr: Expr) -> ColumnElement[bool]:
    if isinstance(expr, And):
        return sa.and_(*(_condition(item) for item in expr.items))
    if isinstance(expr, Or):
        return sa.or_(*(_condition(item) for item in expr.items))
    if isinstance(expr, Not):
        return sa.not_(_condition(expr.item))
    return _comparison(expr)


def _comparison(comparison: Comparison) -> ColumnElement[bool]:
    op, value = comparison.op, comparison.value
    if comparison.kind == "attribute":
        column = _attribute(comparison.key)
        if op == "IS NULL":
            return column.is_(None)
        if op == "IS NOT NULL":
            return column.is_not(None)
        test = _apply(column, op, value)
        if comparison.key in NULLABLE_ATTRIBUTES:
            # NULL would make the test unknown, and NOT unknown is unknown: a running run
            # (no end_time) must match `NOT end_time = 5`, so a missing value is plain false.
            return sa.and_(column.is_not(None), test)
        return test
    metric = comparison.kind == "metric"
    table = latest_metrics if metric else _KEY_VALUE_TABLES[comparison.kind]
    # `runs.id IN (SELECT run_id ...)` rather than a correlated EXISTS: SQLite then answers a
    # selective test from the (key, value) index once instead of probing every run.
    with_key = sa.select(table.c.run_id).where(table.c.key == comparison.key)
    if op == "IS NULL":
        return runs.c.id.not_in(with_key)  # run_id is never NULL, so NOT IN is safe
    if op == "IS NOT NULL":
        return runs.c.id.in_(with_key)
    value_test = _apply(table.c.value, op, value)
    if metric:
        value_test = sa.and_(sa.not_(table.c.is_nan), value_test)
    return runs.c.id.in_(with_key.where(value_test))


def _apply(column: ColumnElement[Any], op: str, value: Any) -> ColumnElement[bool]:
    if op in _BINARY:
        return column.operate(_BINARY[op], value)
    match op:
        case "IN":
            return column.in_(list(value))
        case "NOT IN":
            return column.not_in(list(value))
        case "LIKE":
            return _CaseSensitiveLike(column, value, _like_to_glob(value))
        case "NOT LIKE":
            return sa.not_(_CaseSensitiveLike(column, value, _like_to_glob(value)))
        case "ILIKE":
            return column.ilike(value, escape="\\")
        case "NOT ILIKE":
            return sa.not_(column.ilike(value, escape="\\"))
    raise InvalidFilterError(f"unknown comparison operator {op!r}")


def _order(
    source: sa.FromClause, index: int, key: OrderKey
) -> tuple[sa.FromClause, list[ColumnElement[Any]]]:
    """Join what ``key`` needs onto ``source``; return the ORDER BY terms, missing last."""

    def direction(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return column.desc() if key.descending else column.asc()

    if key.kind == "attribute":
        column = _attribute(key.key)
        terms: list[ColumnElement[Any]] = []
        if key.key in NULLABLE_ATTRIBUTES:
            terms.append(sa.case((column.is_(None), 1), else_=0))
        terms.append(direction(_Bytewise(column) if key.key in _TEXT_ATTRIBUTES else column))
        return source, terms
    if key.kind == "metric":
        metric = latest_metrics.alias(f"order_{index}")
        joined = source.outerjoin(
            metric, sa.and_(metric.c.run_id == runs.c.id, metric.c.key == key.key)
        )
        # Values first, then NaN, then runs that never logged the metric, in both directions.
        rank = sa.case((metric.c.run_id.is_(None), 2), (metric.c.is_nan, 1), else_=0)
        return joined, [rank, direction(metric.c.value)]
    table = _KEY_VALUE_TABLES.get(key.kind)
    if table is None:
        raise InvalidFilterError(f"cannot order by {key.kind}.{key.key}")
    pair = table.alias(f"order_{index}")
    joined = source.outerjoin(pair, sa.and_(pair.c.run_id == runs.c.id, pair.c.key == key.key))
    rank = sa.case((pair.c.run_id.is_(None), 1), else_=0)
    return joined, [rank, direction(_Bytewise(pair.c.value))]


def _attribute(name: str) -> sa.Column[Any]:
    try:
        return _ATTRIBUTE_COLUMNS[name]
    except KeyError:
        raise InvalidFilterError(
            f"unknown attribute {name!r}; attributes are {', '.join(sorted(_ATTRIBUTE_COLUMNS))}"
        ) from None


def _like_to_glob(pattern: str) -> str:
    """The GLOB pattern matching exactly what ``LIKE pattern ESCAPE '\\'`` matches, with case."""
    out: list[str] = []
    chars = iter(pattern)
    for char in chars:
        if char == "\\":
            char = next(chars, "\\")
            out.append(f"[{char}]" if char in "*?[" else char)
        elif char == "%":
            out.append("*")
        elif char == "_":
            out.append("?")
        else:
            out.append(f"[{char}]" if char in "*?[" else char)
    return "".join(out)


class _CaseSensitiveLike(FunctionElement[bool]):
    """``column LIKE pattern ESCAPE '\\'``, rendered as GLOB on SQLite to keep case."""

    name = "mlops_like"
    type = sa.Boolean()
    inherit_cache = True


@compiles(_CaseSensitiveLike)
def _render_like(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, pattern, _glob = element.clauses
    left, right = compiler.process(column, **kw), compiler.process(pattern, **kw)
    return f"({left} LIKE {right} ESCAPE '\\')"


@compiles(_CaseSensitiveLike, "sqlite")
def _render_like_sqlite(element: _CaseSensitiveLike, compiler: SQLCompiler, **kw: Any) -> str:
    column, _pattern, glob = element.clauses
    return f"({compiler.process(column, **kw)} GLOB {compiler.process(glob, **kw)})"


class _Bytewise(FunctionElement[str]):
    """A text column compared by bytes: PostgreSQL's default collation may follow the locale."""

    name = "mlops_bytewise"
    type = sa.Text()
    inherit_cache = True


@compiles(_Bytewise)
def _render_bytewise(element: _Bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return str(compiler.process(column, **kw))


@compiles(_Bytewise, "postgresql")
def _render_bytewise_postgresql(element: _Bytewise, compiler: SQLCompiler, **kw: Any) -> str:
    (column,) = element.clauses
    return f'{compiler.process(column, **kw)} COLLATE "C"'


__all__ = ["count_runs_query", "search_runs_query"]
