"""Signature inference from examples, validation of inputs, and stored input examples."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_iris

from mlops.errors import InvalidInputError
from mlops.models.signature import (
    ColumnSchema,
    ColumnSpec,
    Signature,
    TensorSchema,
    infer_signature,
    input_example_from_json,
    input_example_to_json,
    to_frame_or_array,
)


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "amount": [1.5, 2.5],
            "ratio": np.array([0.1, 0.2], dtype=np.float32),
            "count": [1, 2],
            "small": np.array([1, 2], dtype=np.int16),
            "flag": [True, False],
            "name": ["a", "b"],
            "when": pd.to_datetime(["2024-01-01", "2024-01-02"]),
            "blob": [b"\x00\x01", b"\xff"],
            "nullable": pd.array([1, None], dtype="Int64"),
            "level": pd.Categorical(["low", "high"]),
        }
    )


def column_types(signature: Signature | None) -> dict[str, str]:
    assert signature is not None
    assert isinstance(signature.inputs, ColumnSchema)
    return {c.name: c.type for c in signature.inputs.columns}


# --- inference ---------------------------------------------------------------------------------


def test_dataframe_columns_map_to_the_vocabulary(frame: pd.DataFrame) -> None:
    assert column_types(infer_signature(frame)) == {
        "amount": "double",
        "ratio": "float",
        "count": "long",
        "small": "integer",
        "flag": "boolean",
        "name": "string",
        "when": "datetime",
        "blob": "binary",
        "nullable": "long",
        "level": "string",
    }


def test_numpy_array_is_a_tensor_with_a_batch_dimension() -> None:
    signature = infer_signature(np.zeros((5, 4)), np.zeros(5, dtype=np.int64))
    assert signature == Signature(
        inputs=TensorSchema(dtype="float64", shape=(-1, 4)),
        outputs=TensorSchema(dtype="int64", shape=(-1,)),
    )
    images = infer_signature(np.zeros((2, 8, 8, 3), dtype=np.uint8))
    assert images is not None
    assert images.inputs == TensorSchema(dtype="uint8", shape=(-1, 8, 8, 3))


def test_records_and_dict_of_columns_are_columns() -> None:
    records = [{"a": 1.0, "b": "x"}, {"a": 2.0, "b": "y"}]
    assert column_types(infer_signature(records)) == {"a": "double", "b": "string"}
    assert column_types(infer_signature({"a": [1, 2], "b": [True, False]})) == {
        "a": "long",
        "b": "boolean",
    }
    assert column_types(infer_signature({"a": 1.0, "b": "x"})) == {"a": "double", "b": "string"}


def test_list_of_lists_is_a_tensor() -> None:
    signature = infer_signature([[1.0, 2.0], [3.0, 4.0]])
    assert signature is not None
    assert signature.inputs == TensorSchema(dtype="float64", shape=(-1, 2))
    strings = infer_signature([["a"], ["bc"]])
    assert strings is not None
    assert strings.inputs == TensorSchema(dtype="str", shape=(-1, 1))


def test_no_input_example_means_no_signature() -> None:
    assert infer_signature(None) is None
    assert infer_signature(None, np.zeros(3)) is None


def test_series_output_is_a_tensor() -> None:
    signature = infer_signature(pd.DataFrame({"a": [1.0]}), pd.Series([0.5]))
    assert signature is not None
    assert signature.outputs == TensorSchema(dtype="float64", shape=(-1,))


@pytest.mark.parametrize(
    ("example", "message"),
    [
        (pd.DataFrame({"a": [None, None]}), "only missing values"),
        (pd.DataFrame({"a": [1, "x"]}, dtype=object), "mixed-integer"),
        (np.float64(1.0), "unsupported input type"),
        (np.array(1.0), "batch dimension"),
        ([], "empty list"),
        ({}, "empty dict"),
        ([[1, 2], [3]], "ragged"),
        ([{"a": 1}, [1]], "mixes records"),
        ("text", "unsupported input type"),
    ],
)
def test_undescribable_examples_are_refused(example: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        infer_signature(example)


def test_json_round_trip(frame: pd.DataFrame) -> None:
    for signature in (infer_signature(frame, np.zeros(2)), infer_signature(np.zeros((3, 2)))):
        assert signature is not None
        assert Signature.from_json(signature.to_json()) == signature
        assert Signature.from_dict(json.loads(signature.to_json())) == signature


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not json", "not valid JSON"),
        ("[]", "'inputs' key"),
        ('{"inputs": {"type": "graph"}}', "'columns' or 'tensor'"),
        ('{"inputs": {"type": "tensor", "dtype": "float64"}}', "malformed tensor"),
        ('{"inputs": {"type": "columns", "columns": [{"name": "a", "type": "int"}]}}', "'int'"),
    ],
)
def test_malformed_signature_json_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Signature.from_json(text)


# --- validation --------------------------------------------------------------------------------


@pytest.fixture
def iris_signature() -> Signature:
    x = load_iris(as_frame=True).data
    signature = infer_signature(x)
    assert signature is not None
    return signature


def test_matching_inputs_validate(iris_signature: Signature) -> None:
    x = load_iris(as_frame=True).data
    iris_signature.validate(x)
    iris_signature.validate(x[list(reversed(x.columns))].to_dict("records"))
    iris_signature.validate(x.to_dict("list"))
    # JSON sends 5 for 5.0: integers fit floating-point columns.
    iris_signature.validate(dict.fromkeys(x.columns, 5))


def test_missing_column_is_named(iris_signature: Signature) -> None:
    x = load_iris(as_frame=True).data.drop(columns=["petal width (cm)"])
    with pytest.raises(
        InvalidInputError, match=r"missing input column\(s\) \['petal width \(cm\)'\]"
    ):
        iris_signature.validate(x)


def test_extra_column_is_named(iris_signature: Signature) -> None:
    x = load_iris(as_frame=True).data.assign(color="red")
    with pytest.raises(InvalidInputError, match=r"unexpected input column\(s\) \['color'\]"):
        iris_signature.validate(x)


def test_wrong_column_type_is_named(iris_signature: Signature) -> None:
    x = load_iris(as_frame=True).data.astype({"sepal length (cm)": str})
    with pytest.raises(
        InvalidInputError, match=r"'sepal length \(cm\)' has type string, expected double"
    ):
        iris_signature.validate(x)


def test_floats_do_not_fit_integer_columns() -> None:
    signature = Signature(inputs=ColumnSchema(columns=(ColumnSpec("n", "long"),)))
    signature.validate({"n": [1, 2]})
    with pytest.raises(InvalidInputError, match="'n' has type double, expected long"):
        signature.validate({"n": [1.5, 2.0]})


def test_missing_values_are_not_a_type_error(iris_signature: Signature) -> None:
    row: dict[str, float | None] = dict.fromkeys(load_iris(as_frame=True).data.columns, 1.0)
    row["sepal length (cm)"] = None
    iris_signature.validate([row])


def test_columns_signature_refuses_unnamed_array(iris_signature: Signature) -> None:
    with pytest.raises(InvalidInputError, match="unnamed array of shape"):
        iris_signature.validate(np.zeros((2, 4)))


def test_tensor_shape_and_dtype() -> None:
    signature = Signature(inputs=TensorSchema(dtype="float32", shape=(-1, 4)))
    signature.validate(np.zeros((10, 4), dtype=np.float32))
    signature.validate([[1, 2, 3, 4]])  # ints and float64 cast safely to float32
    signature.validate([[1.0, 2.0, 3.0, 4.0]])
    with pytest.raises(InvalidInputError, match=r"shape \[10, 3\], expected \[-1, 4\]"):
        signature.validate(np.zeros((10, 3), dtype=np.float32))
    with pytest.raises(InvalidInputError, match=r"shape \[4\], expected \[-1, 4\]"):
        signature.validate(np.zeros(4, dtype=np.float32))
    with pytest.raises(InvalidInputError, match="dtype str, expected float32"):
        signature.validate([["a", "b", "c", "d"]])
    with pytest.raises(InvalidInputError, match="expected a tensor"):
        signature.validate(pd.DataFrame(np.zeros((2, 4))))


def test_integer_tensor_refuses_floats() -> None:
    signature = Signature(inputs=TensorSchema(dtype="int64", shape=(-1,)))
    signature.validate([1, 2, 3])
    with pytest.raises(InvalidInputError, match="dtype float64, expected int64"):
        signature.validate([1.5])


# --- input examples ----------------------------------------------------------------------------


def test_input_example_json_round_trip(frame: pd.DataFrame) -> None:
    frame = frame.drop(columns=["level"])
    frame.loc[1, "amount"] = np.nan
    text = input_example_to_json(frame)
    stored = json.loads(text)
    assert stored["data"][1][0] is None  # NaN is stored as null, not the invalid JSON NaN
    restored = input_example_from_json(text)
    assert isinstance(restored, pd.DataFrame)
    assert list(restored.columns) == list(frame.columns)
    assert list(restored["blob"]) == list(frame["blob"])
    assert list(restored["when"]) == list(frame["when"])
    assert list(restored["name"]) == ["a", "b"]


def test_input_example_keeps_the_first_rows() -> None:
    text = input_example_to_json(np.arange(100.0).reshape(50, 2), max_rows=3)
    restored = input_example_from_json(text)
    assert isinstance(restored, np.ndarray)
    np.testing.assert_array_equal(restored, [[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    assert len(json.loads(input_example_to_json([{"a": i} for i in range(20)]))["data"]) == 10


def test_malformed_input_example_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="'data' key"):
        input_example_from_json('{"type": "tensor"}')


def test_to_frame_or_array_shapes() -> None:
    assert isinstance(to_frame_or_array([{"a": 1}]), pd.DataFrame)
    assert isinstance(to_frame_or_array({"a": [1, 2]}), pd.DataFrame)
    assert isinstance(to_frame_or_array(pd.Series([1, 2], name="a")), pd.DataFrame)
    assert isinstance(to_frame_or_array([[1, 2]]), np.ndarray)
    assert to_frame_or_array({"a": 1, "b": 2}).shape == (1, 2)
