"""Property-based fuzz of the prediction endpoints on a real server: whatever JSON arrives, the
answer is 200 or a 4xx error body, never a 5xx."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops.models.serving import ModelServing

COLUMNS = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=6), children, max_size=4)
    ),
    max_leaves=12,
)
records = st.lists(
    st.dictionaries(st.sampled_from([*COLUMNS, "x"]), scalars, min_size=3, max_size=5),
    max_size=3,
)
rows = st.lists(
    st.lists(scalars, min_size=3, max_size=5) | st.lists(scalars, min_size=13, max_size=13),
    max_size=3,
)
tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from([*COLUMNS, "input-0"]),
        "shape": st.lists(st.integers(min_value=-1, max_value=3), max_size=3),
        "datatype": st.sampled_from(["FP64", "FP32", "INT64", "INT8", "BOOL", "BYTES", "X"]),
        "data": st.lists(st.one_of(scalars, st.lists(scalars, max_size=3)), max_size=6),
    }
)
bodies = st.one_of(
    json_values,
    records,
    rows,
    st.fixed_dictionaries({}, optional={k: st.one_of(records, rows, json_values) for k in
                                         ("dataframe_records", "instances", "inputs")}),
    st.fixed_dictionaries(
        {"dataframe_split": st.fixed_dictionaries(
            {"columns": st.lists(st.sampled_from([*COLUMNS, "x"]), max_size=5), "data": rows}
        )}
    ),
    st.fixed_dictionaries({"inputs": st.lists(tensor, max_size=5)}, optional={"id": scalars}),
)  # fmt: skip


@pytest.fixture(params=["iris", "forest"])
def served(
    request: pytest.FixtureRequest, start_server: Callable[..., ModelServing]
) -> tuple[str, str]:
    """A column-signature model (iris) or a tensor-signature one (forest): (URL, name)."""
    request.getfixturevalue("iris_model" if request.param == "iris" else "forest")
    uri = "models:/iris@prod" if request.param == "iris" else "models:/forest/1"
    return start_server(uri, max_wait_ms=0).url, request.param


@pytest.mark.slow
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=bodies,
    path=st.sampled_from(["/predict", "/invocations", "/v2/models/{}/infer"]),
)
def test_no_body_gets_a_server_error(served: tuple[str, str], body: Any, path: str) -> None:
    url, name = served
    response = httpx.post(url + path.format(name), json=body, timeout=10)
    assert response.status_code < 500, (body, response.text)
    if response.status_code != 200:
        assert set(response.json()["error"]) == {"type", "message"}
        assert response.json()["prediction_id"] == response.headers["x-prediction-id"]
    assert response.headers["x-prediction-id"]
