"""Where a feature view's rows live: files (local or ``s3://``), an in-memory frame, a SQL table.

Sources are plain descriptions; ``engine.py`` turns one into a DuckDB scan, so the offline
engine reads them in place (Parquet row groups, CSV chunks, SQL cursors) instead of loading them
whole into pandas.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import pyarrow as pa

from mlops.errors import InvalidFeatureInputError

FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class FileSource:
    """Parquet or CSV files: one file, a folder of them, or a glob; local or ``s3://``.

    Args:
        path: A file, a folder (every ``*.parquet``/``*.csv`` below it) or a glob pattern.
        format: ``"parquet"`` or ``"csv"``; default from the suffix, else Parquet.
    """

    path: str
    format: str = ""

    def __post_init__(self) -> None:
        fmt = self.format or ("csv" if self.path.lower().endswith((".csv", ".csv.gz")) else "")
        fmt = fmt or "parquet"
        if fmt not in FORMATS:
            raise InvalidFeatureInputError(
                f"file source {self.path!r}: format {fmt!r} is not one of {', '.join(FORMATS)}"
            )
        object.__setattr__(self, "format", fmt)

    def to_spec(self) -> dict[str, Any]:
        """The JSON-able description stored with the view."""
        return {"kind": "file", "path": self.path, "format": self.format}


@dataclass(frozen=True)
class FrameSource:
    """A pandas DataFrame or Arrow table in this process (not visible to other processes)."""

    frame: pd.DataFrame | pa.Table | None = field(compare=False, repr=False)
    name: str = "frame"

    def to_spec(self) -> dict[str, Any]:
        """Only the name is stored: the rows stay in the process that registered them."""
        return {"kind": "frame", "name": self.name}


@dataclass(frozen=True)
class SqlSource:
    """A table (or view) in a SQL database, by default the metadata store's own database."""

    table: str
    uri: str | None = None

    def to_spec(self) -> dict[str, Any]:
        """The JSON-able description stored with the view."""
        return {"kind": "sql", "table": self.table, "uri": self.uri}


Source = FileSource | FrameSource | SqlSource


def source_from_spec(spec: dict[str, Any]) -> Source:
    """Rebuild a stored source; a frame source comes back without its rows (``frame=None``)."""
    kind = spec.get("kind")
    if kind == "file":
        return FileSource(spec["path"], spec.get("format", ""))
    if kind == "sql":
        return SqlSource(spec["table"], spec.get("uri"))
    if kind == "frame":
        return FrameSource(None, spec.get("name", "frame"))
    raise InvalidFeatureInputError(f"unknown source kind {kind!r} in a stored feature view")


def as_source(value: Source | str | pd.DataFrame | pa.Table) -> Source:
    """A source from a path, a frame or a source."""
    if isinstance(value, FileSource | FrameSource | SqlSource):
        return value
    if isinstance(value, str):
        return FileSource(value)
    if isinstance(value, pd.DataFrame | pa.Table):
        return FrameSource(value)
    raise InvalidFeatureInputError(
        f"a feature view source is a path, a DataFrame, an Arrow table or a Source, "
        f"not {type(value).__name__}"
    )
