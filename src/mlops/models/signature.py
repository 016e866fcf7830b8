"""What a model takes and returns: signatures inferred from examples, and checked at predict time.

A signature is either *columns* (named, typed, from a DataFrame, a dict of columns or a list of
records) or a *tensor* (a dtype and a shape whose first, batch, dimension is ``-1``). The column
types use a small vocabulary (``double float long integer boolean string datetime binary``)
rather than pandas dtypes, so a signature written today still means the same thing after a pandas
upgrade and can be checked against JSON sent to a model server.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mlops.errors import InvalidInputError

__all__ = [
    "COLUMN_TYPES",
    "ColumnSchema",
    "ColumnSpec",
    "Schema",
    "Signature",
    "TensorSchema",
    "infer_signature",
    "input_example_from_json",
    "input_example_to_json",
    "to_frame_or_array",
]

ColumnType = Literal[
    "double", "float", "long", "integer", "boolean", "string", "datetime", "binary"
]
COLUMN_TYPES: tuple[ColumnType, ...] = (
    "double",
    "float",
    "long",
    "integer",
    "boolean",
    "string",
    "datetime",
    "binary",
)
_INT_TYPES = frozenset({"integer", "long"})
_FLOAT_TYPES = frozenset({"float", "double"})


@dataclass(frozen=True)
class ColumnSpec:
    """One named, typed input column."""

    name: str
    type: ColumnType


@dataclass(frozen=True)
class ColumnSchema:
    """Tabular data: the columns a model expects, in order."""

    columns: tuple[ColumnSpec, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return {
            "type": "columns",
            "columns": [{"name": c.name, "type": c.type} for c in self.columns],
        }


@dataclass(frozen=True)
class TensorSchema:
    """An n-dimensional array; ``-1`` in ``shape`` means any size (the batch dimension)."""

    dtype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form."""
        return {"type": "tensor", "dtype": self.dtype, "shape": list(self.shape)}


Schema = ColumnSchema | TensorSchema


@dataclass(frozen=True)
class Signature:
    """The inputs a model accepts and, when known, the outputs it returns."""

    inputs: Schema
    outputs: Schema | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON-ready form: ``{"inputs": {...}, "outputs": {...} | None}``."""
        outputs = None if self.outputs is None else self.outputs.to_dict()
        return {"inputs": self.inputs.to_dict(), "outputs": outputs}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Signature:
        """Rebuild a signature from :meth:`to_dict` output.

        Raises:
            InvalidInputError: The mapping is not a signature.
        """
        if not isinstance(raw, Mapping) or "inputs" not in raw:
            raise InvalidInputError("a signature must be an object with an 'inputs' key")
        outputs = raw.get("outputs")
        return cls(
            inputs=_schema_from_dict(raw["inputs"]),
            outputs=None if outputs is None else _schema_from_dict(outputs),
        )

    def to_json(self) -> str:
        """Serialize to the JSON text the registry stores."""
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> Signature:
        """Rebuild a signature from :meth:`to_json` output.

        Raises:
            InvalidInputError: The text is not a signature.
        """
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidInputError(f"signature is not valid JSON: {exc}") from exc
        return cls.from_dict(raw)

    def validate(self, data: Any) -> None:
        """Check that ``data`` matches the input schema before it reaches the model.

        Integer data is accepted where floating point is expected (JSON clients send ``1`` for
        ``1.0``); nothing else is converted, because a silent cast hides a client bug.

        Raises:
            InvalidInputError: Names the missing or extra column, the wrong type or the wrong shape.
        """
        value = to_frame_or_array(data)
        if isinstance(self.inputs, ColumnSchema):
            _validate_columns(self.inputs, value)
        else:
            _validate_tensor(self.inputs, value)


def infer_signature(input_example: Any, output_example: Any = None) -> Signature | None:
    """Describe a model's inputs (and outputs) from an example of each.

    Args:
        input_example: A DataFrame, numpy array, dict of columns, list of records or list of
            lists; ``None`` means the model has no signature.
        output_example: What the model returned for ``input_example``, if known.

    Returns:
        The signature, or ``None`` when there is no input example.

    Raises:
        InvalidInputError: The example's shape or a column's type cannot be described.
    """
    if input_example is None:
        return None
    outputs = None if output_example is None else _infer_schema(output_example, output=True)
    return Signature(inputs=_infer_schema(input_example, output=False), outputs=outputs)


def to_frame_or_array(data: Any) -> pd.DataFrame | NDArray[Any]:
    """Normalize every input shape we accept to a DataFrame (named) or an ndarray (positional).

    Dicts and lists of records become DataFrames because they carry column names; lists of lists
    become arrays because they don't. A dict of scalars is one record.

    Raises:
        InvalidInputError: The data is empty, ragged or of an unsupported type.
    """
    if isinstance(data, pd.DataFrame):
        return data
    if isinstance(data, pd.Series):
        return data.to_frame()
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, Mapping):
        if not data:
            raise InvalidInputError("input is an empty dict")
        if all(_is_scalar(v) for v in data.values()):
            return pd.DataFrame([dict(data)])
        try:
            return pd.DataFrame(dict(data))
        except ValueError as exc:
            raise InvalidInputError(f"dict of columns is not rectangular: {exc}") from exc
    if isinstance(data, Sequence) and not isinstance(data, str | bytes):
        if len(data) == 0:
            raise InvalidInputError("input is an empty list")
        if all(isinstance(row, Mapping) for row in data):
            return pd.DataFrame.from_records([dict(row) for row in data])
        if any(isinstance(row, Mapping) for row in data):
            raise InvalidInputError("input list mixes records (dicts) with other values")
        try:
            return np.asarray(data)
        except ValueError as exc:
            raise InvalidInputError(f"list input is ragged: {exc}") from exc
    raise InvalidInputError(
        f"unsupported input type {type(data).__name__}; pass a DataFrame, numpy array, "
        "dict of columns, list of records or list of lists"
    )


def input_example_to_json(example: Any, max_rows: int = 10) -> str:
    """Serialize the first ``max_rows`` rows of an input example for storage beside the model.

    Column types travel with the data so :func:`input_example_from_json` can restore datetimes
    and bytes, which JSON has no type for.

    Raises:
        InvalidInputError: The example cannot be described (see :func:`infer_signature`).
    """
    value = to_frame_or_array(example)
    if isinstance(value, pd.DataFrame):
        frame = value.head(max_rows)
        schema = _column_schema(frame)
        rows = [[_jsonable(v) for v in row] for row in frame.itertuples(index=False, name=None)]
        return json.dumps({**schema.to_dict(), "data": rows}, allow_nan=False)
    array = value[:max_rows]
    tensor = _tensor_schema(array)
    return json.dumps({**tensor.to_dict(), "data": _jsonable(array.tolist())}, allow_nan=False)


def input_example_from_json(text: str) -> pd.DataFrame | NDArray[Any]:
    """Rebuild an input example written by :func:`input_example_to_json`.

    Raises:
        InvalidInputError: The text is not a stored input example.
    """
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidInputError(f"input example is not valid JSON: {exc}") from exc
    if not isinstance(raw, dict) or "data" not in raw:
        raise InvalidInputError("input example JSON must be an object with a 'data' key")
    schema = _schema_from_dict(raw)
    if isinstance(schema, TensorSchema):
        dtype = None if schema.dtype in ("str", "bytes", "object") else schema.dtype
        return np.asarray(raw["data"], dtype=dtype)
    names = [c.name for c in schema.columns]
    frame = pd.DataFrame.from_records(raw["data"], columns=names)
    for spec in schema.columns:
        if spec.type == "datetime":
            frame[spec.name] = pd.to_datetime(frame[spec.name], format="ISO8601")
        elif spec.type == "binary":
            frame[spec.name] = [
                None if v is None else base64.b64decode(v) for v in frame[spec.name]
            ]
    return frame


# --- inference ---------------------------------------------------------------------------------


def _infer_schema(example: Any, *, output: bool) -> Schema:
    if output and isinstance(example, pd.Series):
        # A Series of predictions is a 1-D result, not a one-column table.
        return _tensor_schema(example.to_numpy())
    value = to_frame_or_array(example)
    if isinstance(value, pd.DataFrame):
        return _column_schema(value)
    return _tensor_schema(value)


def _column_schema(frame: pd.DataFrame) -> ColumnSchema:
    specs = []
    for name in frame.columns:
        col_type = _column_type(frame[name])
        if col_type is None:
            raise InvalidInputError(f"column {name!r} has only missing values; cannot infer type")
        specs.append(ColumnSpec(name=str(name), type=col_type))
    return ColumnSchema(columns=tuple(specs))


def _tensor_schema(array: NDArray[Any]) -> TensorSchema:
    if array.ndim == 0:
        raise InvalidInputError("a tensor example needs a batch dimension; got a scalar")
    return TensorSchema(dtype=_dtype_name(array.dtype), shape=(-1, *array.shape[1:]))


def _column_type(series: pd.Series[Any]) -> ColumnType | None:
    """Map a pandas column to the vocabulary; ``None`` when it holds only missing values."""
    dtype = series.dtype
    if isinstance(dtype, pd.CategoricalDtype):
        return _column_type(pd.Series(dtype.categories))
    if pd.api.types.is_bool_dtype(dtype):
        return "boolean"
    if pd.api.types.is_datetime64_any_dtype(dtype):
        return "datetime"
    if pd.api.types.is_integer_dtype(dtype):
        np_dtype = _numpy_dtype(dtype)
        small = np_dtype.itemsize < 4 or (np_dtype.itemsize == 4 and np_dtype.kind == "i")
        return "integer" if small else "long"
    if pd.api.types.is_float_dtype(dtype):
        np_dtype = _numpy_dtype(dtype)
        return "float" if np_dtype.itemsize <= 4 else "double"
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return "string"
    if pd.api.types.is_object_dtype(dtype):
        return _object_column_type(series)
    raise InvalidInputError(f"column {series.name!r} has unsupported dtype {dtype}")


def _numpy_dtype(dtype: Any) -> np.dtype[Any]:
    # Nullable pandas dtypes (Int64, Float32) wrap a numpy dtype that carries the width.
    result: np.dtype[Any] = np.dtype(getattr(dtype, "numpy_dtype", dtype))
    return result


def _object_column_type(series: pd.Series[Any]) -> ColumnType | None:
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    mapping: dict[str, ColumnType] = {
        "string": "string",
        "bytes": "binary",
        "boolean": "boolean",
        "integer": "long",
        "floating": "double",
        "mixed-integer-float": "double",
        "datetime": "datetime",
        "datetime64": "datetime",
        "date": "datetime",
    }
    if inferred == "empty":
        return None
    if inferred not in mapping:
        raise InvalidInputError(
            f"column {series.name!r} holds {inferred} values; expected one of {list(COLUMN_TYPES)}"
        )
    return mapping[inferred]


def _dtype_name(dtype: np.dtype[Any]) -> str:
    # '<U5' names its length; a signature must accept strings of any length.
    return {"U": "str", "S": "bytes", "O": "object"}.get(dtype.kind, dtype.name)


# --- validation --------------------------------------------------------------------------------


def _validate_columns(schema: ColumnSchema, value: pd.DataFrame | NDArray[Any]) -> None:
    expected = [c.name for c in schema.columns]
    if not isinstance(value, pd.DataFrame):
        raise InvalidInputError(
            f"expected columns {expected}; got an unnamed array of shape {list(value.shape)}"
        )
    actual = [str(c) for c in value.columns]
    missing = [name for name in expected if name not in actual]
    if missing:
        raise InvalidInputError(f"missing input column(s) {missing}; expected {expected}")
    extra = [name for name in actual if name not in expected]
    if extra:
        raise InvalidInputError(f"unexpected input column(s) {extra}; expected {expected}")
    columns = {str(c): value[c] for c in value.columns}
    for spec in schema.columns:
        got = _column_type(columns[spec.name])
        if got is not None and not _column_type_fits(got, spec.type):
            raise InvalidInputError(f"column {spec.name!r} has type {got}, expected {spec.type}")


def _column_type_fits(got: ColumnType, expected: ColumnType) -> bool:
    if got == expected:
        return True
    if got in _INT_TYPES:
        return expected in _INT_TYPES or expected in _FLOAT_TYPES
    return got in _FLOAT_TYPES and expected in _FLOAT_TYPES


def _validate_tensor(schema: TensorSchema, value: pd.DataFrame | NDArray[Any]) -> None:
    expected_shape = list(schema.shape)
    if not isinstance(value, np.ndarray):
        raise InvalidInputError(
            f"expected a tensor of shape {expected_shape}; got columns {list(value.columns)}"
        )
    shape = list(value.shape)
    fits = len(shape) == len(expected_shape) and all(
        want in (-1, got) for got, want in zip(shape, expected_shape, strict=True)
    )
    if not fits:
        raise InvalidInputError(f"input has shape {shape}, expected {expected_shape}")
    if not _tensor_dtype_fits(value.dtype, schema.dtype):
        raise InvalidInputError(
            f"input has dtype {_dtype_name(value.dtype)}, expected {schema.dtype}"
        )


def _tensor_dtype_fits(got: np.dtype[Any], expected: str) -> bool:
    name = _dtype_name(got)
    if name == expected:
        return True
    if expected in ("str", "bytes", "object") or got.kind in "USOMm":
        return False
    # same_kind allows int -> float and float64 -> float32 (JSON has one number type) but
    # refuses float -> int, which would truncate.
    return bool(np.can_cast(got, np.dtype(expected), casting="same_kind"))


# --- JSON --------------------------------------------------------------------------------------


def _schema_from_dict(raw: Any) -> Schema:
    if not isinstance(raw, dict):
        raise InvalidInputError(f"schema must be a JSON object, got {type(raw).__name__}")
    kind = raw.get("type")
    if kind not in ("columns", "tensor"):
        raise InvalidInputError(f"schema type must be 'columns' or 'tensor', got {kind!r}")
    try:
        if kind == "tensor":
            return TensorSchema(dtype=str(raw["dtype"]), shape=tuple(int(d) for d in raw["shape"]))
        pairs = [(str(c["name"]), c["type"]) for c in raw["columns"]]
    except (KeyError, TypeError, ValueError) as exc:
        raise InvalidInputError(f"malformed {kind} schema: {exc!r}") from exc
    specs = []
    for name, col_type in pairs:
        if col_type not in COLUMN_TYPES:
            raise InvalidInputError(
                f"column {name!r} has unknown type {col_type!r}; valid types: {list(COLUMN_TYPES)}"
            )
        specs.append(ColumnSpec(name=name, type=col_type))
    return ColumnSchema(columns=tuple(specs))


def _jsonable(value: Any) -> Any:
    """Convert numpy/pandas scalars, datetimes, bytes and NaN to plain JSON values."""
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if value is None or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else str(value)
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _is_scalar(value: Any) -> bool:
    return not isinstance(value, list | tuple | np.ndarray | pd.Series | pd.Index)
