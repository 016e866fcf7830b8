"""The ``onnx`` flavor: ONNX graphs, served by onnxruntime on the CPU.

onnx and onnxruntime are the optional ``onnx`` extra, so both are imported only when an ONNX
model is saved or loaded, and their absence is a :class:`~mlops.errors.ConfigError` that says
what to install.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from mlops.errors import ConfigError, InvalidInputError, InvalidStateError, ModelSerializationError
from mlops.models.flavors.base import Flavor, FlavorArtifact
from mlops.models.signature import to_frame_or_array

__all__ = ["ONNX_FILE", "OnnxFlavor"]

ONNX_FILE = "model.onnx"
_PROVIDERS = ["CPUExecutionProvider"]
# onnxruntime reports input types as strings; these are the ones a predict call can build.
_ORT_DTYPES: dict[str, type[np.generic]] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int8)": np.int8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(uint8)": np.uint8,
    "tensor(uint16)": np.uint16,
    "tensor(uint32)": np.uint32,
    "tensor(uint64)": np.uint64,
    "tensor(bool)": np.bool_,
    "tensor(string)": np.object_,
}


class OnnxFlavor(Flavor):
    """ONNX models: an ``onnx.ModelProto``, its serialized bytes, or a path to a ``.onnx`` file."""

    name = "onnx"
    libraries = ("onnx", "onnxruntime")

    @classmethod
    def accepts(cls, model: object) -> bool:
        """Accept a ``ModelProto``, raw bytes, or a path ending in ``.onnx``."""
        if isinstance(model, bytes):
            return True
        if isinstance(model, str | os.PathLike):
            return os.fspath(model).endswith(".onnx")
        # A ModelProto can only exist if onnx is imported; checking sys.modules keeps detection
        # from importing (or demanding) the optional extra for every other model.
        onnx = sys.modules.get("onnx")
        return onnx is not None and isinstance(model, onnx.ModelProto)

    def save(self, model: Any) -> FlavorArtifact:
        """Validate the graph with ``onnx.checker`` and store its bytes.

        Raises:
            ConfigError: onnx is not installed.
            ModelSerializationError: The file is unreadable or not a valid ONNX model.
        """
        onnx = _import("onnx")
        if isinstance(model, bytes):
            data = model
        elif isinstance(model, str | os.PathLike):
            try:
                data = Path(model).read_bytes()
            except OSError as exc:
                raise ModelSerializationError(f"cannot read ONNX file {model}: {exc}") from exc
        else:
            data = model.SerializeToString()
        try:
            onnx.checker.check_model(data)
        # ValueError: bytes that do not parse; ValidationError: a graph that is not valid ONNX.
        except (ValueError, onnx.checker.ValidationError) as exc:
            raise ModelSerializationError(f"not a valid ONNX model: {exc}") from exc
        proto = onnx.load_model_from_string(data)
        return FlavorArtifact(format="onnx", files={ONNX_FILE: data}, extra=_describe(onnx, proto))

    def load(self, format: str, files: Mapping[str, bytes], extra: Mapping[str, Any]) -> Any:
        """Open an ``onnxruntime.InferenceSession`` on the CPU from verified bytes.

        Raises:
            ConfigError: onnxruntime is not installed.
            ModelSerializationError: The format is not ``onnx`` or this onnxruntime cannot run
                the graph (e.g. an opset newer than it supports).
        """
        if format != "onnx":
            raise ModelSerializationError(f"onnx flavor cannot load format {format!r}")
        ort = _import("onnxruntime")
        try:
            return ort.InferenceSession(files[ONNX_FILE], providers=_PROVIDERS)
        # onnxruntime's pybind errors (Fail, InvalidGraph, NotImplemented, ...) share no base
        # class below Exception.
        except Exception as exc:
            raise ModelSerializationError(
                f"onnxruntime {ort.__version__} cannot load this model: {exc}"
            ) from exc

    def methods(self, native: Any) -> frozenset[str]:
        """An ONNX graph has one entry point, exposed as ``predict``."""
        return frozenset({"predict"})

    def call(self, native: Any, method: str, data: Any) -> NDArray[Any]:
        """Feed ``data`` to the graph's input and return its first output.

        A graph with one input per column (what skl2onnx makes from a DataFrame) is fed column by
        column when ``data`` has those columns.

        Raises:
            InvalidStateError: ``method`` is not ``predict``.
            InvalidInputError: ``data`` does not fit the graph's inputs.
        """
        if method != "predict":
            raise InvalidStateError(f"ONNX models have no {method} method; use predict")
        inputs = native.get_inputs()
        value = to_frame_or_array(data)
        if len(inputs) == 1:
            array = value.to_numpy() if isinstance(value, pd.DataFrame) else value
            feed = {inputs[0].name: _cast(array, inputs[0])}
        elif isinstance(value, pd.DataFrame) and all(i.name in value.columns for i in inputs):
            feed = {i.name: _cast(value[i.name].to_numpy().reshape(-1, 1), i) for i in inputs}
        else:
            names = [i.name for i in inputs]
            raise InvalidInputError(
                f"ONNX model has inputs {names}; pass a DataFrame with those columns, "
                "or call .native.run() directly"
            )
        return np.asarray(native.run(None, feed)[0])


def _cast(array: NDArray[Any], node: Any) -> NDArray[Any]:
    dtype = _ORT_DTYPES.get(node.type)
    if dtype is None:
        raise InvalidInputError(f"ONNX input {node.name!r} has type {node.type}; cannot feed it")
    try:
        return np.asarray(array, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"cannot convert input to {node.type}: {exc}") from exc


def _describe(onnx: ModuleType, proto: Any) -> dict[str, Any]:
    """The graph's inputs, outputs and opsets, for the manifest and registry UI."""

    def tensor(value: Any) -> dict[str, Any]:
        tensor_type = value.type.tensor_type
        dtype = None
        if tensor_type.elem_type:
            dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type)).name
        shape = [d.dim_value if d.HasField("dim_value") else None for d in tensor_type.shape.dim]
        return {"name": value.name, "dtype": dtype, "shape": shape}

    return {
        "inputs": [tensor(v) for v in proto.graph.input],
        "outputs": [tensor(v) for v in proto.graph.output],
        "opsets": {op.domain or "ai.onnx": op.version for op in proto.opset_import},
        "producer": f"{proto.producer_name} {proto.producer_version}".strip(),
    }


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigError(
            f"ONNX models need {name}, which is not installed: pip install 'mlops[onnx]'"
        ) from exc
