"""Request bodies -> checked model inputs, and model outputs -> JSON.

Every accepted format (plain records/columns/arrays, MLflow's ``/invocations`` keys, Open
Inference Protocol v2 tensors) is reduced to one :class:`ModelInput`: rows in the signature's
column order, or one numpy array. Requests with the same ``key`` can be concatenated into one
``predict`` call by the batcher, so the per-request work here is kept to plain Python checks on
small lists; pandas is touched once per batch, in :func:`assemble`.

Each check names what is wrong (the column, the record, the key, the shape) and raises
:class:`InvalidPayloadError` (HTTP 422); JSON that does not parse is an ``InvalidInputError``
(HTTP 400).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mlops.errors import InvalidInputError
from mlops.models.serving.errors import InvalidPayloadError
from mlops.models.serving.values import (
    CONVERTERS,
    NUMPY_COLUMN,
    V2_TO_NUMPY,
    Mismatch,
    cast_array,
    json_type,
    short,
    v2_array,
)
from mlops.models.signature import ColumnSchema, Schema, TensorSchema

__all__ = [
    "INVOCATION_KEYS",
    "ModelInput",
    "assemble",
    "from_invocations",
    "from_predict",
    "from_v2",
    "parse_json",
    "to_jsonable",
]

INVOCATION_KEYS = ("dataframe_split", "dataframe_records", "instances", "inputs")
"""The input keys of MLflow's scoring server; a body has exactly one of them."""


@dataclass(slots=True)
class ModelInput:
    """One request's checked input.

    Attributes:
        key: Requests with equal keys can share a ``predict`` call: ``("columns", names)`` or
            ``("tensor", trailing shape, dtype)``.
        n: Number of rows (the batch dimension).
        rows: Column data, one list per row in ``key``'s column order (columns only).
        array: Tensor data (tensors only).
    """

    key: Hashable
    n: int
    rows: list[list[Any]] | None = None
    array: NDArray[Any] | None = None


def parse_json(body: bytes) -> Any:
    """Decode a request body.

    Raises:
        InvalidInputError: The body is not JSON (HTTP 400).
    """
    try:
        return json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"the request body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise InvalidInputError("the request body is nested too deeply to decode") from None


# --- the three request formats -----------------------------------------------------------------


def from_predict(body: Any, schema: Schema | None) -> ModelInput:
    """``/predict``: a list of records, a dict of columns, one record, or a list of rows."""
    if isinstance(body, list):
        return _from_list(body, schema, "body")
    if isinstance(body, dict):
        if not body:
            raise InvalidPayloadError("the body is an empty object; send records or columns")
        if all(isinstance(v, list) for v in body.values()):
            return _from_columns(body, schema, "body")
        return _from_records([body], schema, "body")
    raise InvalidPayloadError(
        f"the body is a JSON {json_type(body)}; send a list of records, a dict of columns or a "
        "list of rows"
    )


def from_invocations(body: Any, schema: Schema | None) -> ModelInput:
    """MLflow's ``/invocations``: exactly one of :data:`INVOCATION_KEYS`."""
    if not isinstance(body, dict):
        raise InvalidPayloadError(
            f"the body is a JSON {json_type(body)}; send an object with one of "
            f"{list(INVOCATION_KEYS)}"
        )
    given = [k for k in INVOCATION_KEYS if k in body]
    unknown = [k for k in body if k not in INVOCATION_KEYS and k != "params"]
    if unknown:
        raise InvalidPayloadError(
            f"unexpected field(s) {unknown}; send one of {list(INVOCATION_KEYS)}"
        )
    if len(given) != 1:
        raise InvalidPayloadError(
            f"send exactly one of {list(INVOCATION_KEYS)}; got {given or 'none'}"
        )
    if body.get("params"):
        raise InvalidPayloadError("field 'params': inference parameters are not supported")
    key = given[0]
    value = body[key]
    if key == "dataframe_split":
        return _from_split(value, schema)
    if key == "dataframe_records":
        if not isinstance(value, list):
            raise InvalidPayloadError(
                f"field 'dataframe_records' must be a list of records, got {json_type(value)}"
            )
        return _from_records(value, schema, key)
    if isinstance(value, list):
        return _from_list(value, schema, key)
    if isinstance(value, dict) and value and all(isinstance(v, list) for v in value.values()):
        return _from_columns(value, schema, key)
    raise InvalidPayloadError(
        f"field {key!r} must be a list of rows or records, or a dict of columns; "
        f"got {json_type(value)}"
    )


def from_v2(body: Any, schema: Schema | None) -> tuple[ModelInput, str | None]:
    """Open Inference Protocol v2 ``infer``: named tensors; returns the input and the ``id``.

    A column signature takes one input per column (shape ``[N]`` or ``[N, 1]``); a tensor
    signature takes one input whose shape is the tensor's.
    """
    if not isinstance(body, dict):
        raise InvalidPayloadError(f"the body is a JSON {json_type(body)}; send an object")
    unknown = [k for k in body if k not in ("id", "parameters", "inputs", "outputs")]
    if unknown:
        raise InvalidPayloadError(f"unexpected field(s) {unknown}")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise InvalidPayloadError(f"field 'id' must be a string, got {json_type(request_id)}")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidPayloadError("field 'inputs' must be a non-empty list of tensors")
    tensors = [_v2_tensor(t, i) for i, t in enumerate(inputs)]
    if isinstance(schema, TensorSchema) or (schema is None and len(tensors) == 1):
        if len(tensors) != 1:
            raise InvalidPayloadError(
                f"the model takes one tensor input; got {len(tensors)} in 'inputs'"
            )
        name, array = tensors[0]
        return _from_array(array, schema, f"inputs[0] ({name!r})"), request_id
    columns: dict[str, list[Any]] = {}
    for name, array in tensors:
        if array.ndim == 2 and array.shape[1] == 1:
            array = array[:, 0]
        if array.ndim != 1:
            raise InvalidPayloadError(
                f"input {name!r} has shape {list(array.shape)}; a column input has shape [N] "
                "or [N, 1]"
            )
        columns[name] = array.tolist()
    return _from_columns(columns, schema, "inputs"), request_id


# --- shapes of data ----------------------------------------------------------------------------


def _from_list(value: list[Any], schema: Schema | None, where: str) -> ModelInput:
    if not value:
        raise InvalidPayloadError(f"{where} is an empty list; send at least one row")
    if isinstance(value[0], dict):
        return _from_records(value, schema, where)
    if isinstance(schema, ColumnSchema):
        return _positional_columns(value, schema, where)
    return _from_array(_as_array(value, where), schema, where)


def _from_records(records: Sequence[Any], schema: Schema | None, where: str) -> ModelInput:
    if not records:
        raise InvalidPayloadError(f"{where} is an empty list; send at least one record")
    if isinstance(schema, TensorSchema):
        raise InvalidPayloadError(
            f"{where}: the model takes a tensor of shape {list(schema.shape)}, not records; "
            "send a list of rows"
        )
    first = records[0]
    if not isinstance(first, dict) or not first:
        raise InvalidPayloadError(f"{where}[0] must be a non-empty object (a record)")
    names = _names(schema) if schema is not None else tuple(str(k) for k in first)
    expected = set(names)
    rows = []
    for i, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidPayloadError(f"{where}[{i}] is a JSON {json_type(record)}, not a record")
        if len(record) != len(names) or record.keys() != expected:
            _explain_columns(record.keys(), names, f"{where}[{i}]")
        rows.append([record[name] for name in names])
    return _checked_rows(rows, names, schema, where)


def _from_columns(columns: Mapping[str, Any], schema: Schema | None, where: str) -> ModelInput:
    if isinstance(schema, TensorSchema):
        raise InvalidPayloadError(
            f"{where}: the model takes a tensor of shape {list(schema.shape)}, not named columns"
        )
    names = _names(schema) if schema is not None else tuple(str(k) for k in columns)
    if columns.keys() != set(names):
        _explain_columns(columns.keys(), names, where)
    lengths = {name: len(columns[name]) for name in names}
    if len(set(lengths.values())) != 1:
        raise InvalidPayloadError(f"{where}: columns have different lengths {lengths}")
    if not next(iter(lengths.values())):
        raise InvalidPayloadError(f"{where}: the columns are empty; send at least one row")
    rows = [list(row) for row in zip(*(columns[name] for name in names), strict=True)]
    return _checked_rows(rows, names, schema, where)


def _from_split(value: Any, schema: Schema | None) -> ModelInput:
    where = "dataframe_split"
    if not isinstance(value, dict):
        raise InvalidPayloadError(f"field {where!r} must be an object with 'columns' and 'data'")
    unknown = [k for k in value if k not in ("columns", "data", "index")]
    if unknown:
        raise InvalidPayloadError(f"{where}: unexpected field(s) {unknown}")
    data = value.get("data")
    if not isinstance(data, list) or not data:
        raise InvalidPayloadError(f"{where}.data must be a non-empty list of rows")
    columns = value.get("columns")
    if columns is None:
        return _from_list(data, schema, f"{where}.data")
    if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
        raise InvalidPayloadError(f"{where}.columns must be a list of column names")
    if isinstance(schema, TensorSchema):
        raise InvalidPayloadError(
            f"{where}: the model takes a tensor of shape {list(schema.shape)}, not named columns"
        )
    names = _names(schema) if schema is not None else tuple(columns)
    if len(columns) != len(names) or set(columns) != set(names):
        _explain_columns(columns, names, f"{where}.columns")
    order = [columns.index(name) for name in names]
    rows = []
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InvalidPayloadError(
                f"{where}.data[{i}] must be a list of {len(columns)} values (one per column)"
            )
        rows.append([row[j] for j in order])
    return _checked_rows(rows, names, schema, f"{where}.data")


def _positional_columns(value: list[Any], schema: ColumnSchema, where: str) -> ModelInput:
    """Rows without names, for a column signature: accepted when each has one value a column."""
    names = _names(schema)
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != len(names):
            raise InvalidPayloadError(
                f"{where}[{i}] must be a record or a list of {len(names)} values in the "
                f"order {list(names)}"
            )
    return _checked_rows([list(row) for row in value], names, schema, where)


def _from_array(array: NDArray[Any], schema: Schema | None, where: str) -> ModelInput:
    # A 1-D signature (texts, one value a row) takes a flat list: each element is a row.
    one_dimensional = isinstance(schema, TensorSchema) and len(schema.shape) == 1
    if array.ndim < 2 and not (one_dimensional and array.ndim == 1):
        raise InvalidPayloadError(
            f"{where} has shape {list(array.shape)}; send a list of rows (shape [N, ...])"
        )
    if isinstance(schema, TensorSchema):
        expected = list(schema.shape)
        shape = list(array.shape)
        if len(shape) != len(expected) or any(
            want not in (-1, got) for got, want in zip(shape, expected, strict=True)
        ):
            raise InvalidPayloadError(f"{where} has shape {shape}, expected {expected}")
        array = cast_array(array, schema.dtype, where)
    elif array.dtype.kind not in "biufU":
        raise InvalidPayloadError(f"{where} mixes values of different types")
    return ModelInput(("tensor", array.shape[1:], array.dtype.str), len(array), array=array)


def _checked_rows(
    rows: list[list[Any]], names: tuple[str, ...], schema: Schema | None, where: str
) -> ModelInput:
    types = (
        [c.type for c in schema.columns]
        if isinstance(schema, ColumnSchema)
        else [None] * len(names)
    )
    for j, (name, col_type) in enumerate(zip(names, types, strict=True)):
        convert = CONVERTERS[col_type]
        for i, row in enumerate(rows):
            try:
                row[j] = convert(row[j])
            except Mismatch as exc:
                raise InvalidPayloadError(
                    f"column {name!r} (row {i} of {where}): expected {col_type or 'a scalar'}, "
                    f"got {json_type(row[j])} {short(row[j])}{exc.why}"
                ) from None
    return ModelInput(("columns", names), len(rows), rows=rows)


def _as_array(value: list[Any], where: str) -> NDArray[Any]:
    try:
        return np.asarray(value)
    except ValueError as exc:
        raise InvalidPayloadError(f"{where} is ragged: rows differ in length") from exc


_MAX_DIMENSIONS = 32
_MAX_DIMENSION = 2**31 - 1


def _v2_tensor(raw: Any, i: int) -> tuple[str, NDArray[Any]]:
    where = f"inputs[{i}]"
    if not isinstance(raw, dict):
        raise InvalidPayloadError(f"{where} must be an object with name, shape, datatype, data")
    missing = [k for k in ("name", "shape", "datatype", "data") if k not in raw]
    if missing:
        raise InvalidPayloadError(f"{where} is missing field(s) {missing}")
    name, shape, datatype, data = raw["name"], raw["shape"], raw["datatype"], raw["data"]
    if not isinstance(name, str):
        raise InvalidPayloadError(f"{where}.name must be a string")
    where = f"{where} ({name!r})"
    _check_v2_shape(shape, where)
    if not isinstance(datatype, str) or datatype not in V2_TO_NUMPY:
        raise InvalidPayloadError(
            f"{where}.datatype {datatype!r} is not one of {sorted(V2_TO_NUMPY)}"
        )
    if not isinstance(data, list):
        raise InvalidPayloadError(f"{where}.data must be a list")
    array = v2_array(data, datatype, where)
    if array.size != math.prod(shape):
        raise InvalidPayloadError(
            f"{where}.data has {array.size} values but shape {shape} needs {math.prod(shape)}"
        )
    try:
        return name, array.reshape(shape)
    except (ValueError, OverflowError) as exc:
        # With a zero dimension the sizes agree, but numpy still refuses a shape whose other
        # dimensions multiply past what it can address.
        raise InvalidPayloadError(f"{where}.shape {shape} cannot be built: {exc}") from None


def _check_v2_shape(shape: Any, where: str) -> None:
    """A request's tensor has concrete dimensions (no ``-1``), few enough for numpy."""
    if (
        not isinstance(shape, list)
        or not 0 < len(shape) <= _MAX_DIMENSIONS
        or not all(type(d) is int and 0 <= d <= _MAX_DIMENSION for d in shape)
    ):
        raise InvalidPayloadError(
            f"{where}.shape must be a list of 1 to {_MAX_DIMENSIONS} integers from 0 to "
            f"{_MAX_DIMENSION}; got {short(shape)}"
        )


def _names(schema: Schema) -> tuple[str, ...]:
    if isinstance(schema, ColumnSchema):
        return tuple(c.name for c in schema.columns)
    raise InvalidPayloadError(f"the model takes a tensor of shape {list(schema.shape)}")


def _explain_columns(got: Any, expected: tuple[str, ...], where: str) -> None:
    got_names = [str(k) for k in got]
    missing = [n for n in expected if n not in got_names]
    if missing:
        raise InvalidPayloadError(
            f"{where}: missing input column(s) {missing}; expected {list(expected)}"
        )
    extra = [n for n in got_names if n not in expected]
    raise InvalidPayloadError(
        f"{where}: unexpected input column(s) {extra}; expected {list(expected)}"
    )


# --- batches and outputs -----------------------------------------------------------------------


def assemble(parts: Sequence[ModelInput], schema: Schema | None, sklearn: bool) -> Any:
    """Concatenate inputs that share a key into what the model's ``predict`` takes.

    Numeric columns go to a scikit-learn model as one float array (the flavor names the columns
    when the estimator was fitted on a DataFrame); anything else becomes one DataFrame.
    """
    first = parts[0]
    if first.array is not None:
        arrays = [p.array for p in parts if p.array is not None]
        return arrays[0] if len(arrays) == 1 else np.concatenate(arrays)
    names = first.key[1]  # type: ignore[index]
    rows = first.rows if len(parts) == 1 else [r for p in parts for r in p.rows or ()]
    types = [c.type for c in schema.columns] if isinstance(schema, ColumnSchema) else None
    if sklearn and types is not None and all(t in ("double", "float") for t in types):
        return np.asarray(rows, dtype=np.float64)
    frame = pd.DataFrame(rows, columns=list(names))
    for name, col_type in zip(names, types or (), strict=False):
        if col_type in NUMPY_COLUMN:
            frame[name] = frame[name].astype(NUMPY_COLUMN[col_type])
        elif col_type == "datetime":
            frame[name] = pd.to_datetime(frame[name], utc=False, format="mixed")
    return frame


def to_jsonable(values: NDArray[Any]) -> list[Any]:
    """Model output as JSON values: NaN and infinities become null, bytes become text."""
    out: list[Any] = values.tolist()
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        return _clean(out)  # type: ignore[no-any-return]
    if values.dtype.kind in "OSM":
        return _clean(out)  # type: ignore[no-any-return]
    return out


def _clean(value: Any) -> Any:
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, np.generic):
        return _clean(value.item())
    if isinstance(value, dt.datetime | dt.date | pd.Timestamp):
        return value.isoformat()
    return value
