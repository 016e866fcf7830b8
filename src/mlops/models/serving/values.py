"""Single JSON values and arrays checked against signature types, and the v2 datatype names.

:mod:`mlops.models.serving.payloads` walks a request's structure; this module knows what one
value of a column type, or one array of a tensor dtype, may be, and converts it on the way
(``None`` to NaN in a float column, ISO text to datetimes, base64 to bytes, ints to a float
tensor). A mismatch raises :class:`Mismatch` (a value) or :class:`InvalidPayloadError` (an array).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mlops.models.serving.errors import InvalidPayloadError

__all__ = [
    "CONVERTERS",
    "NUMPY_COLUMN",
    "V2_TO_NUMPY",
    "Mismatch",
    "cast_array",
    "json_type",
    "short",
    "v2_datatype",
]


class Mismatch(Exception):
    """A value is not of its column's type (turned into a message naming the column)."""

    def __init__(self, why: str = "") -> None:
        super().__init__(why)
        self.why = why


def _float(v: Any) -> Any:
    t = type(v)
    if t is float or t is int:
        return v
    if v is None:
        return math.nan
    raise Mismatch


def _int(v: Any) -> Any:
    if type(v) is int:
        return v
    if type(v) is float and v.is_integer():
        return int(v)
    raise Mismatch


def _bool(v: Any) -> Any:
    if type(v) is bool:
        return v
    raise Mismatch


def _str(v: Any) -> Any:
    if type(v) is str:
        return v
    raise Mismatch


def _datetime(v: Any) -> Any:
    if type(v) is not str:
        raise Mismatch(" (send an ISO 8601 string)")
    try:
        return dt.datetime.fromisoformat(v)
    except ValueError:
        raise Mismatch(" (not an ISO 8601 date-time)") from None


def _binary(v: Any) -> Any:
    if type(v) is not str:
        raise Mismatch(" (send base64 text)")
    try:
        return base64.b64decode(v, validate=True)
    except (binascii.Error, ValueError):
        raise Mismatch(" (not valid base64)") from None


def _any_scalar(v: Any) -> Any:
    if isinstance(v, list | dict):
        raise Mismatch
    return math.nan if v is None else v


CONVERTERS: dict[str | None, Callable[[Any], Any]] = {
    "double": _float,
    "float": _float,
    "long": _int,
    "integer": _int,
    "boolean": _bool,
    "string": _str,
    "datetime": _datetime,
    "binary": _binary,
    None: _any_scalar,  # no signature: any scalar
}
NUMPY_COLUMN = {"double": "float64", "float": "float32", "long": "int64", "integer": "int32"}


def cast_array(array: NDArray[Any], dtype: str, where: str) -> NDArray[Any]:
    kind = array.dtype.kind
    if dtype in ("str", "bytes", "object"):
        if kind not in "US":
            raise InvalidPayloadError(f"{where} has dtype {array.dtype.name}, expected {dtype}")
        return array
    target = np.dtype(dtype)
    ok = (
        (target.kind == "f" and kind in "iuf")
        or (target.kind in "iu" and kind in "iu")
        or (target.kind == "b" and kind == "b")
    )
    if not ok:
        got = {"U": "string", "O": "mixed"}.get(kind, array.dtype.name)
        raise InvalidPayloadError(f"{where} has {got} values, expected dtype {dtype}")
    return array.astype(target, copy=False)


V2_TO_NUMPY: dict[str, Any] = {
    "BOOL": bool,
    "UINT8": np.uint8,
    "UINT16": np.uint16,
    "UINT32": np.uint32,
    "UINT64": np.uint64,
    "INT8": np.int8,
    "INT16": np.int16,
    "INT32": np.int32,
    "INT64": np.int64,
    "FP16": np.float16,
    "FP32": np.float32,
    "FP64": np.float64,
    "BYTES": str,
}
COLUMN_TO_V2 = {
    "double": "FP64",
    "float": "FP32",
    "long": "INT64",
    "integer": "INT32",
    "boolean": "BOOL",
    "string": "BYTES",
    "datetime": "BYTES",
    "binary": "BYTES",
}


def v2_datatype(type_or_dtype: str | np.dtype[Any]) -> str:
    """The v2 datatype of a signature column type or a numpy dtype."""
    if isinstance(type_or_dtype, str) and type_or_dtype in COLUMN_TO_V2:
        return COLUMN_TO_V2[type_or_dtype]
    try:
        kind = np.dtype(type_or_dtype)
    except TypeError:
        return "BYTES"
    for name, dtype in V2_TO_NUMPY.items():
        if dtype is not str and np.dtype(dtype) == kind:
            return name
    return "BYTES"


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "boolean",
        int: "number",
        float: "number",
        str: "string",
        list: "array",
        dict: "object",
    }.get(type(value), type(value).__name__)


def short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, dt.datetime | bytes) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
