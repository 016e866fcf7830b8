"""The DuckDB side of the offline store: scanning sources and checking their columns.

DuckDB reads Parquet and CSV in place (local files directly, ``s3://`` through fsspec), scans
pandas and Arrow frames without copying, and streams a SQL table from a SQLAlchemy cursor as
Arrow record batches (no DuckDB extension, which would need a download). Every session runs in
UTC, and every timestamp is normalized to a naive UTC ``TIMESTAMP``: naive inputs are taken as
UTC, aware ones are converted, so comparisons never depend on the machine's time zone.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import pandas as pd
import pyarrow as pa
import sqlalchemy as sa

from mlops.errors import InvalidFeatureInputError
from mlops.features.entities import FeatureView, ValueType
from mlops.features.sources import FileSource, FrameSource, Source, SqlSource

if TYPE_CHECKING:
    import duckdb

_INTS = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT")
_FAMILIES: dict[ValueType, tuple[str, ...]] = {
    ValueType.INT64: (*_INTS, *(f"U{t}" for t in _INTS)),
    ValueType.FLOAT64: ("FLOAT", "DOUBLE", "DECIMAL", *_INTS, *(f"U{t}" for t in _INTS)),
    ValueType.STRING: ("VARCHAR",),
    ValueType.BOOL: ("BOOLEAN",),
    ValueType.TIMESTAMP: ("TIMESTAMP", "DATE"),
}
_SQL_CHUNK = 50_000

EngineFor = Callable[[str | None], sa.engine.Engine]


def quote(name: str) -> str:
    """A SQL identifier, quoted."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


def matches(value_type: ValueType, duck_type: str) -> bool:
    """Whether a DuckDB column type can hold values of ``value_type``."""
    base = duck_type.upper().split("(")[0].strip().strip('"')  # DuckDB says "NULL", quoted
    if base == "NULL":  # a column with no value at all fits any type
        return True
    return any(base.startswith(family) for family in _FAMILIES[value_type])


def timestamp_sql(column: str, duck_type: str, what: str) -> str:
    """SQL turning ``column`` into a naive UTC TIMESTAMP, or a clear error for other types."""
    base = duck_type.upper()
    col = quote(column)
    if base.startswith("TIMESTAMP WITH TIME ZONE") or base == "TIMESTAMPTZ":
        return f"timezone('UTC', {col})"
    if base == "TIMESTAMP":  # already naive microseconds: no cast over every row
        return col
    if base.startswith(("TIMESTAMP", "DATE")):
        return f"CAST({col} AS TIMESTAMP)"
    if base == "VARCHAR":  # ISO text: an offset is honoured, none means UTC (the session's zone)
        return f"timezone('UTC', CAST({col} AS TIMESTAMPTZ))"
    raise InvalidFeatureInputError(
        f"{what}: column {column!r} must hold timestamps, not {duck_type}; convert it "
        "(pd.to_datetime(..., unit='s') for epoch numbers)"
    )


def connect() -> duckdb.DuckDBPyConnection:
    """A private in-memory DuckDB session in UTC."""
    import duckdb  # here: importing it costs ~0.1 s, which `import mlops` need not pay

    con = duckdb.connect(":memory:")
    con.execute("SET TimeZone = 'UTC'")
    return con


class Scanner:
    """Turns sources into DuckDB table expressions within one session.

    Args:
        con: The session.
        frames: In-memory frames of ``FrameSource`` views, by view name.
        engine_for: The SQLAlchemy engine of a SQL source's URI (None: the metadata store).
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        frames: Mapping[str, pd.DataFrame | pa.Table],
        engine_for: EngineFor,
    ):
        self.con = con
        self.frames = frames
        self.engine_for = engine_for
        self._fs_registered: set[str] = set()

    def relation(self, view: FeatureView, sample: bool = False) -> str:
        """A FROM-clause expression for the view's rows (``sample``: just enough for a schema)."""
        return self.source_relation(view.source, view.name, sample)

    def source_relation(self, source: Source, owner: str, sample: bool = False) -> str:
        if isinstance(source, FileSource):
            path = self._path(source.path, source.format)
            reader = "read_parquet" if source.format == "parquet" else "read_csv"
            extra = ", union_by_name = true" if source.format == "parquet" else ""
            return f"{reader}({literal(path)}{extra})"
        if isinstance(source, FrameSource):
            frame = source.frame if source.frame is not None else self.frames.get(owner)
            if frame is None:
                raise InvalidFeatureInputError(
                    f"feature view {owner!r} reads an in-memory frame that was registered in "
                    "another process; register the view again with its frame here, or give it "
                    "a file or SQL source"
                )
            return self._register(frame)
        return self._register(self._sql_reader(source, sample))

    def columns(self, view: FeatureView) -> dict[str, str]:
        """The source's column names and DuckDB types (reads only metadata or a sample)."""
        import duckdb

        try:
            rows = self.con.execute(
                f"DESCRIBE SELECT * FROM {self.relation(view, sample=True)}"
            ).fetchall()
        except duckdb.IOException as exc:
            raise InvalidFeatureInputError(
                f"feature view {view.name!r}: cannot read its source {view.source.to_spec()}: "
                f"{exc}; "
                "check that the path exists and holds files of the source's format"
            ) from exc
        return {str(r[0]): str(r[1]) for r in rows}

    def _register(self, data: pd.DataFrame | pa.Table | pa.RecordBatchReader) -> str:
        name = f"__mlops_{uuid.uuid4().hex[:12]}"
        self.con.register(name, data)
        return name

    def _path(self, path: str, fmt: str) -> str:
        if "://" in path and not path.startswith("file://"):
            protocol = path.split("://", 1)[0]
            if protocol not in self._fs_registered:
                try:
                    self.con.register_filesystem(filesystem(protocol))
                except (ImportError, ValueError) as exc:
                    raise InvalidFeatureInputError(
                        f"reading {path!r} needs an fsspec filesystem for {protocol!r} "
                        f"(for s3://: pip install 'mlops[s3]'): {exc}"
                    ) from exc
                self._fs_registered.add(protocol)
        if not any(ch in path for ch in "*?[") and not path.lower().endswith((f".{fmt}", ".gz")):
            return path.rstrip("/") + f"/**/*.{fmt}"  # a folder: every such file below it
        return path

    def _sql_reader(self, source: SqlSource, sample: bool) -> pa.RecordBatchReader:
        engine = self.engine_for(source.uri)
        query = sa.text(f"SELECT * FROM {quote(source.table)}" + (" LIMIT 1000" if sample else ""))

        def batches() -> Iterator[pa.RecordBatch]:
            with engine.connect() as conn:
                result = conn.execution_options(stream_results=True).execute(query)
                names = list(result.keys())
                while chunk := result.fetchmany(_SQL_CHUNK):
                    columns = list(zip(*chunk, strict=True))
                    yield pa.RecordBatch.from_arrays([pa.array(c) for c in columns], names=names)

        try:
            iterator = batches()
            first = next(iterator, None)
        except sa.exc.DBAPIError as exc:
            raise InvalidFeatureInputError(
                f"cannot read SQL table {source.table!r} ({source.uri or 'metadata store'}): "
                f"{exc}; "
                "check the table name and the database URI"
            ) from exc
        if first is None:
            raise InvalidFeatureInputError(
                f"SQL table {source.table!r} is empty; a SQL source needs rows to learn its types"
            )
        return pa.RecordBatchReader.from_batches(first.schema, itertools.chain([first], iterator))


def filesystem(protocol: str) -> Any:
    """The fsspec filesystem for a URL scheme; ``s3`` is configured like the artifact store's
    (endpoint from ``MLOPS_S3_ENDPOINT_URL``, credentials from the AWS environment)."""
    if protocol in ("s3", "s3a"):
        from mlops.artifacts.filesystems import create_filesystem

        return create_filesystem("s3", None)
    import fsspec

    return fsspec.filesystem(protocol)


def append_parquet(folder: str, frame: pd.DataFrame | pa.Table) -> str:
    """Write ``frame`` as a new Parquet file in ``folder`` (local or a URL); returns its path.

    A new, uniquely named file rather than a rewrite: readers of the folder see the rows once
    the file is complete, and nothing already there is touched.
    """
    import time

    import fsspec
    import pyarrow.parquet as pq

    table = (
        frame if isinstance(frame, pa.Table) else pa.Table.from_pandas(frame, preserve_index=False)
    )
    if "://" in folder:
        protocol, root = folder.split("://", 1)
        fs = filesystem(protocol)
    else:
        fs, root = fsspec.filesystem("file"), folder
    fs.makedirs(root, exist_ok=True)
    path = f"{root}/push-{time.time_ns()}-{uuid.uuid4().hex[:8]}.parquet"
    with fs.open(path, "wb") as fh:
        pq.write_table(table, fh)
    return path


def describe_frame(con: duckdb.DuckDBPyConnection, name: str) -> dict[str, str]:
    """Column names and DuckDB types of a registered relation."""
    return {str(r[0]): str(r[1]) for r in con.execute(f"DESCRIBE {quote(name)}").fetchall()}


def check_view_columns(view: FeatureView, columns: Mapping[str, str], keys: list[Any]) -> None:
    """Errors naming the view and column when the source lacks a column or has the wrong type."""
    where = f"feature view {view.name!r}"
    for key, key_type in keys:
        if key not in columns:
            raise InvalidFeatureInputError(
                f"{where}: its source has no join key column {key!r}; add it to the source, or "
                "use an entity whose join keys the source has"
            )
        if not matches(key_type, columns[key]):
            raise InvalidFeatureInputError(
                f"{where}: join key {key!r} is {columns[key]} in the source but the entity "
                f"declares {key_type.value}; declare the key with the source's type, or cast "
                "the column"
            )
    for ts in (view.timestamp_field, view.created_timestamp_field):
        if ts is not None:
            if ts not in columns:
                raise InvalidFeatureInputError(
                    f"{where}: its source has no timestamp column {ts!r}; set timestamp_field / "
                    "created_timestamp_field to the right column"
                )
            timestamp_sql(ts, columns[ts], where)
    for feature in view.features:
        if feature.name not in columns:
            raise InvalidFeatureInputError(
                f"{where}: its source has no column {feature.name!r} for feature "
                f"{feature.name!r}; rename the feature or the column (columns: "
                f"{', '.join(columns)})"
            )
        if not matches(feature.dtype, columns[feature.name]):
            raise InvalidFeatureInputError(
                f"{where}: feature {feature.name!r} is declared {feature.dtype.value} but the "
                f"source column is {columns[feature.name]}; declare the type the column has, "
                "or cast the column"
            )
