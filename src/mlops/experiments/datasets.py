"""Fingerprints of the data a run consumed: name, content hash, schema and row count.

The digest is of the *content*, so the same rows give the same dataset whether they came from a
DataFrame, an Arrow table or a file, and lineage can say "these two runs trained on identical
data" without storing the data.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlops.errors import InvalidInputError
from mlops.experiments.entities import Dataset, now_ms

_CHUNK = 1 << 20


def describe_dataset(data: Any, name: str | None = None, source: str | None = None) -> Dataset:
    """A ``Dataset`` for a pandas DataFrame/Series, Arrow table, numpy array or a file path."""
    if isinstance(data, str | os.PathLike):
        return _describe_file(Path(data), name, source)
    if isinstance(data, pa.Table):
        data = data.to_pandas()
    if isinstance(data, pd.Series):
        data = data.to_frame()
    if isinstance(data, pd.DataFrame):
        return _describe_frame(data, name, source)
    if isinstance(data, np.ndarray):
        return _describe_array(data, name, source)
    raise InvalidInputError(
        f"log_dataset takes a pandas DataFrame, an Arrow table, a numpy array or a file path; "
        f"got {type(data).__name__}"
    )


def _make(
    name: str, digest: str, source: str, schema: list[dict[str, str]], rows: int | None
) -> Dataset:
    return Dataset(
        id=uuid.uuid5(uuid.NAMESPACE_URL, f"{name}\0{digest}").hex,
        name=name,
        digest=digest,
        source=source,
        schema=schema,
        num_rows=rows,
        created_at=now_ms(),
    )


def _describe_frame(df: pd.DataFrame, name: str | None, source: str | None) -> Dataset:
    schema = [{"name": str(c), "type": str(t)} for c, t in df.dtypes.items()]
    digest = hashlib.sha256()
    digest.update(repr(schema).encode())
    # hash_pandas_object is vectorised: one uint64 per row, hashed in C.
    digest.update(pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes())
    return _make(
        name or "dataframe", digest.hexdigest(), source or "memory:dataframe", schema, len(df)
    )


def _describe_array(arr: np.ndarray, name: str | None, source: str | None) -> Dataset:
    contiguous = np.ascontiguousarray(arr)
    digest = hashlib.sha256(f"{arr.dtype.str}{arr.shape}".encode())
    if arr.dtype.hasobject:
        digest.update(repr(contiguous.tolist()).encode())
    else:
        digest.update(contiguous.data.cast("B"))
    schema = [{"name": "tensor", "type": f"{arr.dtype}{list(arr.shape)}"}]
    rows = int(arr.shape[0]) if arr.ndim else 1
    return _make(name or "array", digest.hexdigest(), source or "memory:ndarray", schema, rows)


def _describe_file(path: Path, name: str | None, source: str | None) -> Dataset:
    if not path.is_file():
        raise InvalidInputError(f"dataset file {str(path)!r} does not exist or is not a file")
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    schema: list[dict[str, str]] = []
    rows: int | None = None
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        meta = pq.ParquetFile(path)
        schema = [{"name": f.name, "type": str(f.type)} for f in meta.schema_arrow]
        rows = meta.metadata.num_rows
    elif suffix in (".csv", ".tsv"):
        head = pd.read_csv(path, nrows=1000, sep="\t" if suffix == ".tsv" else ",")
        schema = [{"name": str(c), "type": str(t)} for c, t in head.dtypes.items()]
        with path.open("rb") as fh:
            rows = max(
                sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(_CHUNK), b"")) - 1, 0
            )
    return _make(name or path.stem, digest.hexdigest(), source or str(path.resolve()), schema, rows)
