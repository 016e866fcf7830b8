"""Regression tests for what fuzzing the server found, and the input classes it exercises.

Each test names a class of hostile or odd input (huge integers, NaN, control characters, wrong
content types, names too long for a file system) and pins the answer: a 4xx with a message
saying what is wrong, or a faithful round trip, never a 5xx.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlops.config import MLOpsConfig
from mlops.server.app import create_app

HUGE = str(10**30)


def error_of(response: Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.text
    error: dict[str, str] = response.json()["error"]
    assert error["message"]
    return error


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("GET", f"/api/v1/models/m/versions/{HUGE}"),
        ("DELETE", f"/api/v1/models/m/versions/{HUGE}"),
        ("POST", f"/api/v1/models/m/versions/{HUGE}/restore"),
        ("GET", f"/api/v1/requests/{HUGE}"),
        ("GET", f"/api/v1/experiments/{HUGE}"),
        ("DELETE", f"/api/v1/experiments/{HUGE}"),
    ],
)
def test_integers_beyond_64_bits_in_a_path_are_a_400(
    api: TestClient, method: str, url: str
) -> None:
    # SQLite's driver raised a bare OverflowError (a 500) before the store translated it.
    error = error_of(api.request(method, url), 400)
    assert error["type"] == "InvalidInputError"
    assert "out of range" in error["message"]


@pytest.mark.parametrize(
    ("path", "problem"),
    [
        ("a" * 256, "longer than 255 bytes"),
        ("é" * 128, "longer than 255 bytes"),  # 256 bytes in UTF-8, though 128 characters
        ("/".join(["d" * 200] * 6), "the limit is 1024 bytes"),
    ],
)
def test_artifact_paths_no_file_system_can_hold_are_a_400(
    api: TestClient, path: str, problem: str
) -> None:
    # These were OS errors (ENAMETOOLONG) deep in the write, reported as a 503.
    responses = [
        api.put(f"/api/v1/artifacts/files/{path}", content=b"x"),
        api.get(f"/api/v1/artifacts/files/{path}"),
        api.get("/api/v1/artifacts/stat", params={"path": path}),
        api.delete("/api/v1/artifacts", params={"prefix": path}),
    ]
    for response in responses:
        assert problem in error_of(response, 400)["message"]


def test_artifact_names_in_a_four_byte_script_upload_up_to_the_limit(api: TestClient) -> None:
    # 63 emoji are 252 bytes: a legal name, whose temporary file name (cut at 100 *characters*,
    # 400 bytes) used to be too long for the file system.
    name = "\U0001f600" * 63
    assert api.put(f"/api/v1/artifacts/files/e/{name}", content=b"hi").status_code == 201
    assert api.get(f"/api/v1/artifacts/files/e/{name}").content == b"hi"


def test_search_with_number_literals_beyond_any_float_or_integer(
    api: TestClient, make_run: Callable[..., str]
) -> None:
    make_run("numbers")
    experiment = api.get("/api/v1/experiments/by-name", params={"name": "numbers"}).json()["id"]

    def search(text: str) -> Any:
        return api.post(
            "/api/v1/runs/search", json={"experiment_ids": [experiment], "filter": text}
        )

    # 10**400 as a float was an OverflowError (a 500); it is simply a number above every metric.
    assert search(f"metrics.loss < 1{'0' * 400}").json()["items"] == []
    assert search(f"metrics.loss > -1{'0' * 400}").status_code == 200
    error = error_of(search(f"attributes.start_time > 1{'0' * 40}"), 400)
    assert error["type"] == "InvalidFilterError"
    assert "out of range" in error["message"]


def test_nan_and_infinities_round_trip_as_metric_values(
    api: TestClient, make_run: Callable[..., str]
) -> None:
    run_id = make_run()
    # Python's json, which the server parses with, reads the NaN and Infinity literals.
    values = '[NaN, Infinity, -Infinity, "NaN", 1e400]'
    columns = '"run": [0, 0, 0, 0, 0], "key": [0, 0, 0, 0, 0], "step": [0, 1, 2, 3, 4]'
    timestamps = '"timestamp": [1, 1, 1, 1, 1]'
    batch = f'{{"runs": ["{run_id}"], "keys": ["x"], {columns}, {timestamps}, "value": {values}}}'
    response = api.post(
        "/api/v1/metrics/batch", content=batch, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 204, response.text
    history = api.get("/api/v1/metrics/history", params={"run_id": run_id, "key": "x"}).json()
    assert history["values"] == ["NaN", "Infinity", "-Infinity", "NaN", "Infinity"]
    assert api.get(f"/api/v1/runs/{run_id}").json()["metrics"] == {"x": "Infinity"}


@pytest.mark.parametrize(
    "headers",
    [{"Content-Type": "text/plain"}, {"Content-Type": "application/xml"}, {}],
    ids=["text", "xml", "none"],
)
def test_a_json_body_under_another_content_type_is_a_422_naming_the_body(
    api: TestClient, headers: dict[str, str]
) -> None:
    response = api.post("/api/v1/experiments", content=b'{"name": "x"}', headers=headers)
    error = error_of(response, 422)
    assert "body" in error["message"]


def test_unknown_query_parameters_are_ignored(api: TestClient) -> None:
    assert api.get("/api/v1/experiments", params={"bogus": "1", "limit": "5"}).status_code == 200


def test_deeply_nested_json_is_a_400(api: TestClient) -> None:
    body = b'{"name": "x", "tags": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = api.post(
        "/api/v1/experiments", content=body, headers={"Content-Type": "application/json"}
    )
    assert error_of(response, 400)["type"] == "InvalidInputError"


@pytest.mark.parametrize("suffix", ["children", "artifacts"])
def test_listings_under_an_unknown_run_are_a_404(api: TestClient, suffix: str) -> None:
    # They answered 200 with an empty list, as if the run existed.
    error = error_of(api.get(f"/api/v1/runs/{'0' * 32}/{suffix}"), 404)
    assert error["type"] == "RunNotFoundError"


@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    name=st.text(
        st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
        min_size=1,
        max_size=40,
    )
)
def test_names_with_control_characters_and_any_unicode_round_trip(
    api: TestClient, name: str
) -> None:
    """Experiment names, params and tags keep every character (NUL aside: PostgreSQL refuses it)."""
    created = api.post("/api/v1/experiments", json={"name": name, "tags": {name: name}})
    if created.status_code == 409:
        return  # an earlier example made it
    assert created.status_code == 201, created.text
    found = api.get("/api/v1/experiments/by-name", params={"name": name}).json()
    assert (found["name"], found["tags"]) == (name, {name: name})
    run = api.post("/api/v1/runs", json={"experiment_id": found["id"], "user": name}).json()
    assert api.post(f"/api/v1/runs/{run['id']}/params", json={"params": {name: name}}).is_success
    assert api.get(f"/api/v1/runs/{run['id']}").json()["params"] == {name: name}


def test_on_postgresql_what_it_cannot_store_is_a_400(
    tmp_path: Path, postgres_schema_uri: str
) -> None:
    """NUL bytes (SQLite keeps them, PostgreSQL text cannot) and integers beyond 64 bits."""
    config = MLOpsConfig(
        home=tmp_path, tracking_uri=postgres_schema_uri, artifact_uri=str(tmp_path / "art")
    )
    with TestClient(create_app(config), raise_server_exceptions=False) as api:
        error = error_of(api.post("/api/v1/experiments", json={"name": "a\x00b"}), 400)
        assert error["type"] == "InvalidInputError"
        assert "cannot be stored" in error["message"]
        assert "NUL" in error["message"]
        error = error_of(api.get(f"/api/v1/models/m/versions/{HUGE}"), 400)
        assert "out of range" in error["message"]


def test_search_sizes_the_database_cannot_take_are_refused_up_front(
    api: TestClient, make_run: Callable[..., str]
) -> None:
    run_id = make_run("sizes")
    batch = {"runs": [run_id], "keys": ["m0"], "run": [0], "key": [0], "value": [1.0]}
    api.post("/api/v1/metrics/batch", json=batch | {"step": [0], "timestamp": [1]})
    experiment = api.get("/api/v1/experiments/by-name", params={"name": "sizes"}).json()["id"]

    def search(**body: Any) -> Any:
        return api.post("/api/v1/runs/search", json={"experiment_ids": [experiment], **body})

    # Ten metric orderings work; 50 crashed the whole process (SQLite segfaults planning ~35
    # joins), so more than ten is refused before any SQL is built.
    assert search(order_by=[f"metrics.m{i} DESC" for i in range(10)]).status_code == 200
    assert "at most 10" in error_of(search(order_by=["metrics.m"] * 11), 422)["message"]
    # A 2,000-term OR was a 503 (SQLite: "Expression tree is too large").
    many = " OR ".join(f"metrics.m{i} > 0" for i in range(101))
    assert "at most 100 comparisons" in error_of(search(filter=many), 400)["message"]
    assert search(filter=many.rsplit(" OR ", 1)[0]).status_code == 200
    # 70,000 values in an IN list was a 503 on PostgreSQL (at most 65,535 parameters).
    values = ", ".join(f"'{i}'" for i in range(10_001))
    error = error_of(search(filter=f"params.lr IN ({values})"), 400)
    assert "at most 10000 values" in error["message"]
    ids = [str(i) for i in range(50_001)]
    assert "at most 50000" in error_of(search(experiment_ids=ids), 422)["message"]
    heartbeat = api.post("/api/v1/runs/heartbeat", json={"run_ids": ["0" * 32] * 50_001})
    assert "at most 50000" in error_of(heartbeat, 422)["message"]


def test_the_python_api_refuses_more_order_keys_than_the_database_survives() -> None:
    from mlops.errors import InvalidFilterError
    from mlops.experiments.filter import MAX_ORDER_KEYS, parse_order_by

    assert len(parse_order_by(["metrics.a"] * MAX_ORDER_KEYS)) == MAX_ORDER_KEYS
    with pytest.raises(InvalidFilterError, match="at most 10 keys"):
        parse_order_by(["metrics.a"] * (MAX_ORDER_KEYS + 1))


def test_a_statement_over_the_databases_limits_is_the_callers_mistake(tmp_path: Path) -> None:
    """The store's safety net: SQLite's "Expression tree is too large" is a 400, not a 503."""
    import sqlalchemy as sa

    from mlops.errors import InvalidInputError
    from mlops.store.sql.database import Database

    db = Database(f"sqlite:///{tmp_path / 'limits.db'}")
    query = sa.select(sa.literal(1)).where(sa.or_(*(sa.literal(i) == 0 for i in range(2000))))
    too_large = pytest.raises(InvalidInputError, match="too large for one database statement")
    with too_large, db.read() as conn:
        conn.execute(query)
    db.dispose()
