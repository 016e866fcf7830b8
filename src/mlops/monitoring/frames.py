"""Every accepted form of data as one pandas DataFrame, with clear errors for the rest.

Reference and current data may be a pandas DataFrame or Series, an Arrow table, a numpy array
(columns named ``feature_0``, ``feature_1``, ...), a mapping of column to values, a list of row
mappings, a Parquet or CSV path, or a ``Dataset`` logged to a run (read from its source file).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from mlops.monitoring.units import InvalidMonitoringInputError


def array_columns(width: int) -> list[str]:
    return [f"feature_{i}" for i in range(width)]


def as_frame(data: Any, what: str, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """``data`` as a DataFrame; ``columns`` names a numpy array's columns.

    Raises:
        InvalidMonitoringInputError: The type is not supported, or an array has the wrong shape.
    """
    if data is None:
        raise InvalidMonitoringInputError(f"{what} is missing (None)")
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame(name=str(data.name) if data.name is not None else "value")
    if isinstance(data, pa.Table | pa.RecordBatch):
        converted: pd.DataFrame = data.to_pandas()
        return converted
    if isinstance(data, str | os.PathLike):
        return _read_file(Path(data), what)
    source = getattr(data, "source", None)
    if source is not None and hasattr(data, "digest"):  # a Dataset logged to a run
        path = Path(str(source))
        if not path.is_file():
            raise InvalidMonitoringInputError(
                f"{what} is dataset {getattr(data, 'name', '?')!r}, whose source {source!r} is "
                "not a readable file; pass the data itself (a DataFrame or a Parquet path)"
            )
        return _read_file(path, what)
    if isinstance(data, np.ndarray):
        arr = data.reshape(-1, 1) if data.ndim == 1 else data
        if arr.ndim != 2:
            raise InvalidMonitoringInputError(
                f"{what} is a {data.ndim}-d array; pass rows x columns (2-d) or one column (1-d)"
            )
        names = list(columns) if columns is not None else array_columns(arr.shape[1])
        if len(names) != arr.shape[1]:
            raise InvalidMonitoringInputError(
                f"{what} has {arr.shape[1]} columns but the reference has {len(names)} "
                f"({', '.join(names[:8])}{'...' if len(names) > 8 else ''})"
            )
        return pd.DataFrame(arr, columns=names)
    if isinstance(data, Mapping):
        try:
            return pd.DataFrame({str(k): np.atleast_1d(np.asarray(v)) for k, v in data.items()})
        except ValueError as exc:
            raise InvalidMonitoringInputError(f"{what}: columns of unequal length ({exc})") from exc
    if isinstance(data, list) and data and isinstance(data[0], Mapping):
        return pd.DataFrame.from_records(data)
    if isinstance(data, list | tuple):
        return as_frame(np.asarray(data), what, columns)
    raise InvalidMonitoringInputError(
        f"{what} must be a pandas DataFrame, an Arrow table, a numpy array, a mapping of "
        f"columns, a list of rows, a Parquet/CSV path or a logged Dataset; got "
        f"{type(data).__name__}"
    )


def with_text_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its column names as text; a renamed copy only when needed, so the
    caller's DataFrame is never changed."""
    if all(isinstance(c, str) for c in frame.columns):
        return frame
    return frame.rename(columns=str)


def _read_file(path: Path, what: str) -> pd.DataFrame:
    if not path.is_file():
        raise InvalidMonitoringInputError(f"{what}: {str(path)!r} does not exist or is not a file")
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return pd.read_parquet(path)
    if suffix in (".csv", ".tsv"):
        return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    raise InvalidMonitoringInputError(
        f"{what}: {str(path)!r} is neither Parquet nor CSV (by its extension)"
    )
