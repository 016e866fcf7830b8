"""Materialization: the latest row per entity of a time window, from the source to an online store.

DuckDB picks the latest row per entity (greatest event time, then greatest created time) and
encodes keys and payloads, into a temporary table; the data is validated there, then streamed
to the online store in batches inside one atomic write, so readers see the view's old rows or
all of its new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mlops.errors import FeatureValidationError
from mlops.features.engine import Scanner, check_view_columns, quote, timestamp_sql
from mlops.features.entities import FeatureView, ValueType
from mlops.features.online import key_sql, payload_sql
from mlops.features.store import OnlineStore, writing
from mlops.features.validation import ValidationReport, check, column_stats

if TYPE_CHECKING:
    import duckdb

Progress = Callable[[int, int], None]  # (rows written, rows in total)
BATCH = 20_000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class MaterializeResult:
    """What one view's materialization wrote."""

    view: str
    version: int
    rows: int
    start: datetime | None
    end: datetime
    validation: ValidationReport | None


def to_micros(moment: datetime) -> int:
    """Epoch microseconds of an aware time, or of a naive one taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // timedelta(microseconds=1)


def window_sql(
    scanner: Scanner,
    view: FeatureView,
    keys: list[tuple[str, ValueType]],
    start_us: int | None,
    end_us: int,
    start_inclusive: bool = True,
) -> str:
    """The view's source rows with event time in the window, timestamps normalized."""
    columns = scanner.columns(view)
    check_view_columns(view, columns, keys)
    where = f"feature view {view.name!r}"
    ts = timestamp_sql(view.timestamp_field, columns[view.timestamp_field], where)
    created = view.created_timestamp_field
    cr = timestamp_sql(created, columns[created], where) if created else "NULL"
    conds = [f"{quote(k)} IS NOT NULL" for k, _ in keys]
    conds.append(f"__ts <= make_timestamp({end_us})")
    if start_us is not None:
        conds.append(f"__ts {'>=' if start_inclusive else '>'} make_timestamp({start_us})")
    cols = [quote(k) for k, _ in keys] + [quote(f.name) for f in view.features]
    inner = f"SELECT {', '.join(cols)}, {ts} AS __ts, {cr} AS __cr FROM {scanner.relation(view)}"
    return f"(SELECT * FROM ({inner}) WHERE {' AND '.join(conds)})"


def validate_window(
    con: duckdb.DuckDBPyConnection, view: FeatureView, keys: list[str], window: str
) -> ValidationReport:
    """Statistics and expectations of the rows a materialization is about to publish."""
    numeric = (ValueType.INT64, ValueType.FLOAT64)
    rows, stats = column_stats(con, window, [(f.name, f.dtype in numeric) for f in view.features])
    duplicates = None
    if any(e.unique for e in view.expectations):
        distinct = ", ".join([*(quote(k) for k in keys), "__ts"])
        row = con.execute(
            f"SELECT count(*) - count(DISTINCT ({distinct})) FROM {window}"
        ).fetchall()[0]
        duplicates = int(row[0]) if row else 0
    return check(f"feature view {view.name!r}", rows, stats, view.expectations, duplicates)


def materialize_view(
    scanner: Scanner,
    view: FeatureView,
    keys: list[tuple[str, ValueType]],
    store: OnlineStore,
    table: str,
    start_us: int | None,
    end_us: int,
    start_inclusive: bool = True,
    validate: bool = True,
    progress: Progress | None = None,
    atomic: bool = True,
) -> tuple[int, ValidationReport | None]:
    """Write the latest row per entity in the window; returns rows written and the report.

    ``atomic=False`` (push) writes each batch as it comes instead of staging the whole table,
    which on Redis would copy the view's hash for a few rows.
    """
    con = scanner.con
    key_names = [k for k, _ in keys]
    window = window_sql(scanner, view, keys, start_us, end_us, start_inclusive)
    report = None
    if validate and view.expectations:
        report = validate_window(con, view, key_names, window)
        if not report.ok:
            raise FeatureValidationError(
                f"not materializing feature view {view.name!r}: " + "; ".join(report.failures),
                report,
            )
    partition = ", ".join(quote(k) for k in key_names)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE __mlops_latest AS SELECT {key_sql(key_names)} AS key, "
        f"epoch_us(__ts) AS event_us, {payload_sql([f.name for f in view.features])} AS payload "
        f"FROM {window} QUALIFY row_number() OVER (PARTITION BY {partition} "
        "ORDER BY __ts DESC, __cr DESC NULLS LAST) = 1"
    )
    counted = con.execute("SELECT count(*) FROM __mlops_latest").fetchall()[0]
    total = int(counted[0]) if counted else 0
    written = 0
    cursor = con.execute("SELECT key, event_us, payload FROM __mlops_latest")
    if atomic:
        with writing(store.begin(table)) as writer:
            while batch := cursor.fetchmany(BATCH):
                writer.write(batch)
                written += len(batch)
                if progress is not None:
                    progress(written, total)
    else:
        while batch := cursor.fetchmany(BATCH):
            store.write(table, batch)
            written += len(batch)
    con.execute("DROP TABLE __mlops_latest")
    if progress is not None and total == 0:
        progress(0, 0)
    return written, report


@contextmanager
def rich_progress(enabled: bool) -> Iterator[Callable[[str], Progress | None]]:
    """One Rich progress bar per materialized view: ``bar(view_name)`` gives its callback."""
    if not enabled:
        yield lambda _name: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn
    from rich.progress import Progress as Bars

    with Bars(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    ) as bars:

        def for_view(name: str) -> Progress:
            task = bars.add_task(f"materializing {name}", total=None)

            def update(done: int, total: int) -> None:
                bars.update(task, completed=done, total=total)

            return update

        yield for_view
