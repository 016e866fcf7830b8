"""Every endpoint and payload format round-trips against a real server; every error has its
status and names what is wrong; every prediction response carries a prediction id."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest

from mlops.models.serving import ModelServing

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]


@pytest.fixture
def iris_server(start_server: Callable[..., ModelServing], iris_model: Any) -> ModelServing:
    return start_server("models:/iris@prod")


@pytest.fixture
def client(iris_server: ModelServing) -> httpx.Client:
    with httpx.Client(base_url=iris_server.url, timeout=10) as c:
        yield c  # type: ignore[misc]


def _expected(model: Any, frame: pd.DataFrame) -> list[int]:
    return [int(v) for v in model.predict(frame)]


def _bodies(frame: pd.DataFrame) -> list[tuple[str, Any]]:
    records = frame.to_dict(orient="records")
    split = frame.to_dict(orient="split")
    del split["index"]
    rows = frame.to_numpy().tolist()
    columns = frame.to_dict(orient="list")
    return [
        ("/predict", records),
        ("/predict", columns),
        ("/predict", rows),
        ("/invocations", {"dataframe_split": split}),
        ("/invocations", {"dataframe_split": {**split, "index": list(range(len(frame)))}}),
        ("/invocations", {"dataframe_records": records}),
        ("/invocations", {"instances": records}),
        ("/invocations", {"instances": rows}),
        ("/invocations", {"inputs": columns}),
        ("/invocations", {"inputs": rows}),
    ]


def test_every_plain_and_mlflow_format_round_trips(
    client: httpx.Client, iris: tuple[pd.DataFrame, Any], iris_model: Any
) -> None:
    frame = iris[0].iloc[[0, 60, 120]]  # one of each class
    expected = _expected(iris_model, frame)
    assert len(set(expected)) == 3
    for path, body in _bodies(frame):
        response = client.post(path, json=body)
        assert response.status_code == 200, (path, body, response.text)
        payload = response.json()
        assert payload["predictions"] == expected, (path, body)
        assert payload["prediction_id"] == response.headers["x-prediction-id"]
        assert len(payload["prediction_id"]) == 32
        assert uuid.UUID(payload["prediction_id"]).version == 7  # time-ordered, see mlops.ids
        assert payload["model_version"] == 1
        assert response.headers["x-model-version"] == "1"


def test_one_record_and_shuffled_keys_are_accepted(
    client: httpx.Client, iris: tuple[pd.DataFrame, Any], iris_model: Any
) -> None:
    row = iris[0].iloc[100]
    record = {name: float(row[name]) for name in reversed(COLUMNS)}
    response = client.post("/predict", json=record)
    assert response.status_code == 200, response.text
    assert response.json()["predictions"] == _expected(iris_model, iris[0].iloc[[100]])


def test_prediction_ids_are_unique(client: httpx.Client, iris: tuple[pd.DataFrame, Any]) -> None:
    body = iris[0].head(1).to_dict(orient="records")
    ids = {client.post("/predict", json=body).headers["x-prediction-id"] for _ in range(20)}
    assert len(ids) == 20


def test_v2_health_metadata_and_infer(
    client: httpx.Client, iris: tuple[pd.DataFrame, Any], iris_model: Any
) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    assert client.get("/v2/health/ready").json() == {"ready": True}
    assert client.get("/v2/models/iris/ready").status_code == 200
    assert client.get("/ping").status_code == 200
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/v2").json()["name"] == "mlops"
    assert client.get("/v2/models/iris/versions/1/ready").json() == {"name": "iris", "ready": True}
    assert client.get("/v2/models/other/ready").status_code == 404
    assert client.get("/v2/models/iris/versions/2").status_code == 404
    meta = client.get("/v2/models/iris").json()
    assert meta["name"] == "iris"
    assert meta["versions"] == ["1"]
    assert meta["inputs"] == [{"name": c, "datatype": "FP64", "shape": [-1]} for c in COLUMNS]
    assert meta["outputs"] == [{"name": "predict", "datatype": "INT64", "shape": [-1]}]
    assert client.get("/v2/models/iris/versions/1").status_code == 200

    frame = iris[0].iloc[[0, 60, 120]]
    body = {
        "id": "req-7",
        "inputs": [
            {"name": c, "shape": [3, 1], "datatype": "FP64", "data": frame[c].tolist()}
            for c in COLUMNS
        ],
    }
    for path in ("/v2/models/iris/infer", "/v2/models/iris/versions/1/infer"):
        response = client.post(path, json=body)
        assert response.status_code == 200, response.text
        payload = response.json()
        assert payload["id"] == "req-7"
        assert payload["model_name"] == "iris"
        assert payload["model_version"] == "1"
        assert payload["parameters"]["prediction_id"] == response.headers["x-prediction-id"]
        assert payload["outputs"] == [
            {
                "name": "predict",
                "shape": [3],
                "datatype": "INT64",
                "data": _expected(iris_model, frame),
            }
        ]


def test_v2_tensor_model(
    start_server: Callable[..., ModelServing], forest: Any, wine_array: np.ndarray[Any, Any]
) -> None:
    server = start_server("models:/forest/1")
    rows = wine_array[:4]
    with httpx.Client(base_url=server.url) as client:
        meta = client.get("/v2/models/forest").json()
        assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, 13]}]
        flat = {"name": "x", "shape": [4, 13], "datatype": "FP64", "data": rows.ravel().tolist()}
        response = client.post("/v2/models/forest/infer", json={"inputs": [flat]})
        assert response.status_code == 200, response.text
        assert response.json()["outputs"][0]["data"] == forest.predict(rows).tolist()
        assert response.json()["outputs"][0]["shape"] == [4]
        plain = client.post("/predict", json=rows.tolist())
        assert plain.json()["predictions"] == forest.predict(rows).tolist()
        ints = client.post("/predict", json=rows.astype(int).tolist())  # JSON has one number
        assert ints.status_code == 200, ints.text


BAD_COLUMN_BODIES = [
    # (path, body, status, words the message must contain)
    ("/predict", [{"sepal length (cm)": 1.0}], 422, ["missing", "sepal width (cm)"]),
    (
        "/predict",
        [dict.fromkeys([*COLUMNS, "color"], 1.0)],
        422,
        ["unexpected", "color"],
    ),
    ("/predict", [dict.fromkeys(COLUMNS, "tall")], 422, ["sepal length (cm)", "double", "string"]),
    ("/predict", [{**dict.fromkeys(COLUMNS, 1.0), "petal width (cm)": [1]}], 422, ["petal width"]),
    ("/predict", [[1.0, 2.0]], 422, ["4 values"]),
    ("/predict", [], 422, ["empty"]),
    ("/predict", {}, 422, ["empty"]),
    ("/predict", "hello", 422, ["string"]),
    ("/predict", [dict.fromkeys(COLUMNS, 1.0), 3], 422, ["body[1]"]),
    ("/invocations", {"inputs": [[1, 2, 3, 4]], "instances": []}, 422, ["exactly one"]),
    ("/invocations", {"data": [[1, 2, 3, 4]]}, 422, ["unexpected field", "data"]),
    ("/invocations", {}, 422, ["exactly one"]),
    ("/invocations", [1, 2], 422, ["object"]),
    ("/invocations", {"dataframe_split": {"columns": COLUMNS}}, 422, ["dataframe_split.data"]),
    (
        "/invocations",
        {"dataframe_split": {"columns": COLUMNS, "data": [[1, 2, 3]]}},
        422,
        ["dataframe_split.data[0]", "4 values"],
    ),
    (
        "/invocations",
        {"dataframe_split": {"columns": ["a", "b", "c", "d"], "data": [[1, 2, 3, 4]]}},
        422,
        ["missing", "sepal length (cm)"],
    ),
    ("/invocations", {"dataframe_records": {"a": 1}}, 422, ["dataframe_records"]),
    ("/invocations", {"inputs": 5}, 422, ["inputs"]),
    ("/invocations", {"inputs": [[1, 2, 3, 4]], "params": {"k": 1}}, 422, ["params"]),
    ("/v2/models/iris/infer", {"inputs": []}, 422, ["inputs"]),
    (
        "/v2/models/iris/infer",
        {"inputs": [{"name": "x", "shape": [1], "datatype": "FP64"}]},
        422,
        ["inputs[0]", "data"],
    ),
    (
        "/v2/models/iris/infer",
        {"inputs": [{"name": c, "shape": [2], "datatype": "FP64", "data": [1.0]} for c in COLUMNS]},
        422,
        ["inputs[0]", "shape [2]"],
    ),
    (
        "/v2/models/iris/infer",
        {"inputs": [{"name": "x", "shape": [1], "datatype": "FP99", "data": [1.0]}]},
        422,
        ["datatype", "FP99"],
    ),
    (
        "/v2/models/iris/infer",
        {"inputs": [{"name": c, "shape": [1], "datatype": "FP64", "data": [1.0]} for c in "abcd"]},
        422,
        ["missing", "sepal length (cm)"],
    ),
    ("/v2/models/iris/infer", {"inputs": [], "extra": 1}, 422, ["extra"]),
    ("/v2/models/other/infer", {"inputs": []}, 404, ["other"]),
    ("/v2/models/iris/versions/9/infer", {"inputs": []}, 404, ["version 1"]),
]


@pytest.mark.parametrize(("path", "body", "status", "words"), BAD_COLUMN_BODIES)
def test_bad_input_is_a_clear_json_error(
    client: httpx.Client, path: str, body: Any, status: int, words: list[str]
) -> None:
    response = client.post(path, json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["type"] in ("InvalidPayloadError", "NotFoundError")
    for word in words:
        assert word in error["message"], (word, error["message"])
    assert len(response.headers["x-prediction-id"]) == 32
    assert response.json()["prediction_id"] == response.headers["x-prediction-id"]


def test_tensor_shape_and_type_errors_name_the_problem(
    start_server: Callable[..., ModelServing], forest: Any
) -> None:
    server = start_server("models:/forest/1")
    with httpx.Client(base_url=server.url) as client:
        cases = [
            ([[1.0] * 12], ["shape [1, 12]", "[-1, 13]"]),
            ([["a"] * 13], ["string", "float64"]),
            ([[1.0] * 13, [1.0] * 12], ["ragged"]),
            ([1.0] * 13, ["shape [13]"]),
            ([dict.fromkeys("ab", 1.0)], ["tensor", "not records"]),
        ]
        for body, words in cases:
            response = client.post("/predict", json=body)
            assert response.status_code == 422, (body, response.text)
            message = response.json()["error"]["message"]
            for word in words:
                assert word in message, (word, message)


def test_malformed_json_is_400_and_oversized_body_is_413(
    start_server: Callable[..., ModelServing], iris_model: Any
) -> None:
    server = start_server("models:/iris@prod", max_body_size=1000)
    with httpx.Client(base_url=server.url) as client:
        for path in ("/predict", "/invocations", "/v2/models/iris/infer"):
            bad = client.post(
                path, content=b'{"inputs": [', headers={"content-type": "application/json"}
            )
            assert bad.status_code == 400, bad.text
            assert "not valid JSON" in bad.json()["error"]["message"]
            big = client.post(path, json={"inputs": [[1.0, 2.0, 3.0, 4.0]] * 100})
            assert big.status_code == 413, big.text
            assert big.json()["error"]["type"] == "PayloadTooLargeError"

            def chunks() -> Any:  # no Content-Length: the limit is enforced while reading
                for _ in range(100):
                    yield b" " * 100

            streamed = client.post(path, content=chunks())
            assert streamed.status_code == 413, streamed.text
        assert client.post("/predict", content=b"\xff\xfe").status_code == 400
        assert client.get("/nope").status_code == 404
        assert client.get("/predict").status_code == 405


def test_model_rejecting_one_row_is_422_not_500(
    client: httpx.Client,
) -> None:
    # null is NaN for a double column; LogisticRegression refuses NaN: the client's fault.
    response = client.post("/predict", json=[dict.fromkeys(COLUMNS)])
    assert response.status_code == 422, response.text
    assert response.json()["error"]["type"] == "ModelRejectedInputError"
    assert "NaN" in response.json()["error"]["message"]


def test_metrics_count_requests_batches_and_errors(
    client: httpx.Client, iris_server: ModelServing, metric: Callable[[str, str], float]
) -> None:
    good = [dict.fromkeys(COLUMNS, 1.0)]
    for _ in range(3):
        assert client.post("/predict", json=good).status_code == 200
    client.post("/predict", json=[{"x": 1}])
    url = iris_server.url
    assert (
        metric(url, 'mlops_http_requests_total{method="POST",route="/predict",status="200"}') == 3
    )
    assert (
        metric(url, 'mlops_http_requests_total{method="POST",route="/predict",status="422"}') == 1
    )
    assert (
        metric(url, 'mlops_serving_errors_total{endpoint="predict",type="InvalidPayloadError"}')
        == 1
    )
    assert metric(url, "mlops_serving_batch_requests_count") == 3
    assert metric(url, "mlops_serving_batch_rows_sum") == 3
    assert metric(url, 'mlops_serving_model_version{model="iris"}') == 1
    text = client.get("/metrics").text
    assert "mlops_http_request_duration_seconds_bucket" in text
    assert "mlops_serving_predict_duration_seconds_bucket" in text


def test_deeply_nested_json_is_400(client: httpx.Client) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    response = client.post("/predict", content=body)
    assert response.status_code == 400, response.text


def test_serving_options_are_checked() -> None:
    from mlops.errors import InvalidInputError
    from mlops.models.serving import ServingOptions

    with pytest.raises(InvalidInputError, match="max_batch_size=0"):
        ServingOptions(max_batch_size=0)
    with pytest.raises(InvalidInputError, match="poll_interval=-1"):
        ServingOptions(poll_interval=-1)
    options = ServingOptions(max_batch_size=8, max_wait_ms=1.5)
    assert ServingOptions.from_json(options.to_json()) == options
    with pytest.raises(InvalidInputError, match="malformed"):
        ServingOptions.from_json('{"nope": 1}')
