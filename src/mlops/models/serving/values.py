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
    "v2_array",
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


def _int_converter(bits: int) -> Callable[[Any], Any]:
    """A converter for a ``bits``-wide signed integer column.

    The range is checked here because the column is cast to ``int32``/``int64`` for the model,
    and numpy's cast wraps: ``2**40 + 5`` would reach an ``integer`` column's model as ``5``.
    """
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    outside = f" (outside the {bits}-bit range {low}..{high})"

    def convert(v: Any) -> Any:
        if type(v) is float and v.is_integer():
            v = int(v)
        elif type(v) is not int:
            raise Mismatch
        if not low <= v <= high:
            raise Mismatch(outside)
        return v

    return convert


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
    "long": _int_converter(64),
    "integer": _int_converter(32),
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
    if np.can_cast(array.dtype, target, casting="safe"):
        return array.astype(target, copy=False)
    # A narrowing cast wraps integers (2**40 + 5 -> 5 in int32) and turns large floats into
    # infinity; the value the model would see is not the one sent.
    if target.kind in "iu":
        _check_int_range(array, target, f"{where} has values")
        return array.astype(target)
    return _narrowed_float(array, target, f"{where} has values")


def _check_int_range(values: NDArray[Any], target: np.dtype[Any], what: str) -> None:
    """Refuse values outside ``target``'s range (``values`` integer or integral float)."""
    if not values.size:
        return
    info = np.iinfo(target)
    if values.dtype.kind == "f":
        # float(info.max) + 1 is exact (a power of two) where float(info.max) may round up.
        outside = bool(np.any((values < float(info.min)) | (values >= float(info.max) + 1)))
    else:
        low, high = values.min(), values.max()
        outside = int(low) < int(info.min) or int(high) > int(info.max)
    if outside:
        raise InvalidPayloadError(
            f"{what} outside the range of {target.name} ({info.min}..{info.max})"
        )


def _narrowed_float(values: NDArray[Any], target: np.dtype[Any], what: str) -> NDArray[Any]:
    """``values`` as ``target`` floats, refused where a finite value would become infinite."""
    with np.errstate(over="ignore"):
        result = values.astype(target)
    if values.dtype.kind == "f":
        overflowed = np.isfinite(values) & ~np.isfinite(result)
    else:
        overflowed = ~np.isfinite(result)
    if np.any(overflowed):
        info = np.finfo(target)
        raise InvalidPayloadError(
            f"{what} outside the range of {target.name} (+-{float(info.max):g})"
        )
    return result


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
_V2_JSON_TYPES: dict[str, tuple[frozenset[type], str]] = {
    "BOOL": (frozenset({bool}), "JSON booleans"),
    "BYTES": (frozenset({str}), "strings"),
}
_NUMBERS = (frozenset({int, float}), "numbers")
_MAX_NESTING = 32
"""Deeper ``data`` cannot be a tensor numpy builds (at most 64 dimensions) in any useful way."""


def v2_array(data: list[Any], datatype: str, where: str) -> NDArray[Any]:
    """A v2 tensor's ``data`` (flat, or nested row-major) as an array of ``datatype``.

    numpy converts whatever it can: ``1.5`` to ``1`` for INT64, ``"false"`` and ``5`` to
    ``True`` for BOOL, ``"1.5"`` to ``1.5`` for FP32; a model would silently see other values
    than those sent. So the JSON types are checked first (numbers for INT*, UINT* and FP*, whole
    numbers only for INT* and UINT*, real booleans for BOOL, strings for BYTES), then ranges.

    Raises:
        InvalidPayloadError: A value of another JSON type, a fraction or an out-of-range number
            for an integer datatype, a number too large for a float datatype, ragged data.
    """
    allowed, takes = _V2_JSON_TYPES.get(datatype, _NUMBERS)
    found = _leaf_types(data, where)
    wrong = found - allowed
    if wrong:
        names = sorted({_JSON_TYPE_NAMES.get(t, t.__name__) for t in wrong})
        raise InvalidPayloadError(
            f"{where}.data has {' and '.join(names)} values; {datatype} takes {takes}"
        )
    dtype = np.dtype(V2_TO_NUMPY[datatype])
    try:
        if dtype.kind in "iu" and float in found:
            return _integral(np.asarray(data, dtype=np.float64), dtype, datatype, where)
        if dtype.kind == "f" and dtype.itemsize < 8:
            wide = np.asarray(data, dtype=np.float64)
            return _narrowed_float(wide, dtype, f"{where}.data has values")
        return np.asarray(data, dtype=dtype)
    except OverflowError:
        # Only Python ints too large for ``dtype`` (or for float64) get here.
        raise InvalidPayloadError(
            f"{where}.data has values outside the range of {datatype}"
        ) from None
    except ValueError as exc:
        raise InvalidPayloadError(f"{where}.data is not a {datatype} tensor: {exc}") from exc


def _integral(
    values: NDArray[Any], dtype: np.dtype[Any], datatype: str, where: str
) -> NDArray[Any]:
    if not np.all(np.isfinite(values) & (values == np.floor(values))):
        raise InvalidPayloadError(f"{where}.data has fractional values for {datatype}")
    _check_int_range(values, dtype, f"{where}.data has {datatype} values")
    return values.astype(dtype)


def _leaf_types(data: list[Any], where: str, depth: int = 1) -> set[type]:
    """The types of the non-list values in ``data``, however deeply it nests."""
    if depth > _MAX_NESTING:
        raise InvalidPayloadError(f"{where}.data nests lists more than {_MAX_NESTING} deep")
    found = set(map(type, data))
    if list in found:
        found.discard(list)
        for item in data:
            if type(item) is list:
                found |= _leaf_types(item, where, depth + 1)
    return found


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


_JSON_TYPE_NAMES: dict[type, str] = {
    type(None): "null",
    bool: "boolean",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
}


def json_type(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def short(value: Any) -> str:
    text = json.dumps(value) if not isinstance(value, dt.datetime | bytes) else repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
