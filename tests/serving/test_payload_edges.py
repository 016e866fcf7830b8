"""Edge cases of request bodies against a real server: values numpy would silently convert,
wrap or reject with an exception of its own are refused as 422 naming the input; a 1-D tensor
signature is servable; an unexpected failure is still a JSON 500 carrying the prediction id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.feature_extraction.text import CountVectorizer
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.pipeline import make_pipeline

from mlops.models import ModelRegistry
from mlops.models.serving import ModelServing

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
TEXTS = ["good great fine", "bad awful poor", "great good", "poor bad"]


def _tensor(data: Any, shape: list[int], datatype: str, name: str = "x") -> dict[str, Any]:
    return {"inputs": [{"name": name, "shape": shape, "datatype": datatype, "data": data}]}


def _assert_422(response: httpx.Response, words: list[str]) -> None:
    assert response.status_code == 422, response.text
    message = response.json()["error"]["message"]
    for word in words:
        assert word in message, (word, message)
    assert response.json()["prediction_id"] == response.headers["x-prediction-id"]


@pytest.fixture
def forest_client(start_server: Callable[..., ModelServing], forest: Any) -> httpx.Client:
    """The IsolationForest of conftest: a tensor signature [-1, 13] float64."""
    with httpx.Client(base_url=start_server("models:/forest/1").url, timeout=10) as client:
        yield client  # type: ignore[misc]


@pytest.fixture
def int_columns_client(
    start_server: Callable[..., ModelServing], registry: ModelRegistry
) -> httpx.Client:
    """A regression on an int32 column ``a`` (signature type integer) and an int64 one ``b``."""
    frame = pd.DataFrame(
        {"a": np.arange(20, dtype=np.int32), "b": np.arange(20, dtype=np.int64) * 3}
    )
    model = LinearRegression().fit(frame, frame["a"] * 2.0 + frame["b"])
    version = registry.register_model("ints", model, input_example=frame.head())
    assert version.signature is not None
    assert [c["type"] for c in version.signature["inputs"]["columns"]] == ["integer", "long"]
    with httpx.Client(base_url=start_server("models:/ints/1").url, timeout=10) as client:
        yield client  # type: ignore[misc]


# --- finding 5: absurd v2 shapes --------------------------------------------------------------


@pytest.mark.parametrize(
    "shape",
    [
        [0, 100000000000000000000],
        [0, 2**40, 2**40],
        [0, 13, *([1] * 70)],
        [-1, 13],
    ],
)
def test_v2_shape_numpy_cannot_build_is_422(forest_client: httpx.Client, shape: list[int]) -> None:
    response = forest_client.post("/v2/models/forest/infer", json=_tensor([], shape, "FP64"))
    _assert_422(response, ["inputs[0]", "'x'", "shape"])


# --- finding 6: v2 element types are checked before numpy converts them ----------------------


@pytest.mark.parametrize(
    ("data", "datatype", "words"),
    [
        ([1.5, 2.7], "INT64", ["'x'", "INT64", "fractional"]),
        (["false", 0, 5], "BOOL", ["'x'", "BOOL", "number", "string"]),
        ([0, 1], "BOOL", ["'x'", "BOOL", "number"]),
        (["1.5"], "FP32", ["'x'", "FP32", "string"]),
        ([True, 1.0], "FP64", ["'x'", "FP64", "boolean"]),
        ([None, 1.0], "FP64", ["'x'", "FP64", "null"]),
        ([1, 2], "BYTES", ["'x'", "BYTES", "number"]),
        ([300], "INT8", ["'x'", "INT8", "range"]),
        ([-1.0], "UINT8", ["'x'", "UINT8", "range"]),
        ([1e300], "FP32", ["'x'", "FP32", "range"]),
    ],
)
def test_v2_data_of_the_wrong_json_type_is_422(
    client_for_v2: httpx.Client, data: list[Any], datatype: str, words: list[str]
) -> None:
    response = client_for_v2.post(
        "/v2/models/line/infer", json=_tensor(data, [len(data)], datatype)
    )
    _assert_422(response, words)


@pytest.fixture
def client_for_v2(
    start_server: Callable[..., ModelServing], registry: ModelRegistry
) -> httpx.Client:
    """A 1-D float tensor signature, so any one v2 input reaches the element checks."""
    x = np.linspace(0.0, 1.0, 10)
    model = make_pipeline(_Column(), LinearRegression()).fit(x, x * 2)
    registry.register_model("line", model, input_example=x[:3])
    with httpx.Client(base_url=start_server("models:/line/1").url, timeout=10) as client:
        yield client  # type: ignore[misc]


def test_v2_integral_floats_are_accepted_as_int64(
    start_server: Callable[..., ModelServing], forest: Any, wine_array: np.ndarray[Any, Any]
) -> None:
    rows = wine_array[:2]
    with httpx.Client(base_url=start_server("models:/forest/1").url, timeout=10) as client:
        ints = rows.round().astype(int)
        body = _tensor([float(v) for v in ints.ravel()], [2, 13], "INT64")
        response = client.post("/v2/models/forest/infer", json=body)
        assert response.status_code == 200, response.text
        assert response.json()["outputs"][0]["data"] == forest.predict(ints).tolist()


# --- finding 7: integer columns are range-checked ---------------------------------------------


@pytest.mark.parametrize(
    ("record", "words"),
    [
        ({"a": 2**40 + 5, "b": 1}, ["'a'", "integer", "32-bit"]),
        ({"a": -(2**31) - 1, "b": 1}, ["'a'", "integer"]),
        ({"a": 1, "b": 2**63}, ["'b'", "long", "64-bit"]),
        ({"a": 1, "b": 1e300}, ["'b'", "long"]),
    ],
)
def test_integer_outside_the_column_type_is_422(
    int_columns_client: httpx.Client, record: dict[str, Any], words: list[str]
) -> None:
    _assert_422(int_columns_client.post("/predict", json=[record]), words)


def test_integer_at_the_edges_of_the_column_type_is_served(
    int_columns_client: httpx.Client,
) -> None:
    body = [{"a": 2**31 - 1, "b": 2**62}, {"a": -(2**31), "b": -(2**63)}]
    response = int_columns_client.post("/predict", json=body)
    assert response.status_code == 200, response.text
    assert len(response.json()["predictions"]) == 2


def test_v2_int64_into_an_int32_tensor_is_range_checked(
    start_server: Callable[..., ModelServing], registry: ModelRegistry
) -> None:
    x = np.arange(10, dtype=np.int32).reshape(-1, 1)
    model = LinearRegression().fit(x, x[:, 0] * 2.0)
    registry.register_model("i32", model, input_example=x[:3])
    with httpx.Client(base_url=start_server("models:/i32/1").url, timeout=10) as client:
        big = client.post("/v2/models/i32/infer", json=_tensor([2**40 + 5], [1, 1], "INT64"))
        _assert_422(big, ["inputs[0]", "int32", "range"])
        plain = client.post("/predict", json=[[2**40 + 5]])
        _assert_422(plain, ["body", "int32", "range"])
        fine = client.post("/predict", json=[[7]])
        assert fine.status_code == 200, fine.text
        assert fine.json()["predictions"] == pytest.approx([14.0])


# --- finding 8: a 1-D tensor signature ---------------------------------------------------------


@pytest.fixture
def text_client(start_server: Callable[..., ModelServing], registry: ModelRegistry) -> httpx.Client:
    """A bag-of-words classifier: its signature is TensorSchema('str', (-1,))."""
    model = make_pipeline(CountVectorizer(), LogisticRegression()).fit(TEXTS, [1, 0, 1, 0])
    version = registry.register_model("texts", model, input_example=np.array(TEXTS[:2]))
    assert version.signature is not None
    assert version.signature["inputs"] == {"type": "tensor", "dtype": "str", "shape": [-1]}
    with httpx.Client(base_url=start_server("models:/texts/1").url, timeout=10) as client:
        yield client  # type: ignore[misc]


def test_one_dimensional_text_signature_is_served(text_client: httpx.Client) -> None:
    for path, body in [
        ("/predict", ["good great", "awful bad"]),
        ("/invocations", {"instances": ["good great", "awful bad"]}),
        ("/invocations", {"inputs": ["good great", "awful bad"]}),
    ]:
        response = text_client.post(path, json=body)
        assert response.status_code == 200, (path, response.text)
        assert response.json()["predictions"] == [1, 0]
    v2 = _tensor(["good great", "awful bad"], [2], "BYTES", name="input-0")
    response = text_client.post("/v2/models/texts/infer", json=v2)
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["data"] == [1, 0]


def test_one_dimensional_signature_still_refuses_other_shapes(text_client: httpx.Client) -> None:
    _assert_422(text_client.post("/predict", json=[["good"], ["bad"]]), ["shape [2, 1]", "[-1]"])
    _assert_422(text_client.post("/predict", json=[1, 2]), ["expected str"])


def test_one_dimensional_float_signature_is_served(client_for_v2: httpx.Client) -> None:
    response = client_for_v2.post("/predict", json=[0.25, 0.5])
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == pytest.approx([0.5, 1.0])
    v2 = client_for_v2.post("/v2/models/line/infer", json=_tensor([0.25], [1], "FP64"))
    assert v2.status_code == 200, v2.text
    assert v2.json()["outputs"][0]["data"] == pytest.approx([0.5])


class _Column:
    """Turns a 1-D array into one column, so a pipeline can take 1-D float input."""

    def fit(self, x: Any, y: Any = None) -> _Column:
        return self

    def transform(self, x: Any) -> Any:
        return np.asarray(x, dtype=float).reshape(-1, 1)


# --- an unexpected failure still answers with the prediction id -------------------------------


class _ComplexModel:
    """A python-flavor model whose output (complex numbers) JSON cannot encode."""

    def predict(self, x: Any) -> np.ndarray[Any, Any]:
        return np.asarray(x, dtype=float)[:, 0] * 1j


def test_unexpected_error_is_a_500_with_the_prediction_id(
    start_server: Callable[..., ModelServing],
    registry: ModelRegistry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry.register_model("complex", _ComplexModel(), input_example=np.ones((2, 1)))
    server = start_server("models:/complex/1")
    with httpx.Client(base_url=server.url, timeout=10) as client:
        for path, body in [
            ("/predict", [[1.0]]),
            ("/v2/models/complex/infer", _tensor([1.0], [1, 1], "FP64")),
        ]:
            response = client.post(path, json=body)
            assert response.status_code == 500, response.text
            prediction_id = response.headers["x-prediction-id"]
            assert response.json() == {
                "error": {"type": "MLOpsError", "message": "internal server error: TypeError"},
                "prediction_id": prediction_id,
            }
            assert any(prediction_id in r.getMessage() for r in caplog.records), caplog.text
