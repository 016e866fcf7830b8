"""Grammar-driven fuzzing of run search: any filter and order-by is a 200 or a 400, never a 500.

Schemathesis sees ``filter`` as an arbitrary string, which almost never parses, so the code
behind the parser goes untested by it. Here filters are built from the language's own grammar
(``mlops.experiments.filter``) with hostile leaves: numbers beyond any float or integer, NaN
and infinity spelled as words and strings, control characters and any unicode in names and
values, wrong types for each field. Deterministic; ``MLOPS_FUZZ_EXAMPLES`` raises the count.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

EXAMPLES = int(os.environ.get("MLOPS_FUZZ_EXAMPLES", "150"))

names = st.one_of(
    st.sampled_from(["loss", "acc", "lr", "missing", "a/b"]),
    st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12).map(
        lambda s: "`" + s.replace("`", "") + "`"
    ),
)
numbers = st.one_of(
    st.integers().map(str),
    st.integers(min_value=300, max_value=500).map(lambda n: "1" + "0" * n),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.sampled_from(["1e400", "-1e400", "0.0", "-0", "1e-400"]),
)
strings = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12).map(
    lambda s: "'" + s.replace("'", "''") + "'"
)
values = st.one_of(numbers, strings, st.sampled_from(["TRUE", "FALSE", "NaN", "Infinity", "x"]))
fields = st.one_of(
    st.builds(lambda p, n: f"{p}.{n}", st.sampled_from(["metrics", "params", "tags"]), names),
    st.sampled_from(
        ["status", "start_time", "end_time", "name", "user", "run_id", "experiment_id"]
    ).flatmap(lambda a: st.sampled_from([a, f"attributes.{a}"])),
)
ops = st.sampled_from(["=", "==", "!=", "<>", "<", "<=", ">", ">=", "LIKE", "NOT ILIKE"])


def comparisons() -> st.SearchStrategy[str]:
    return st.one_of(
        st.builds(lambda f, o, v: f"{f} {o} {v}", fields, ops, values),
        st.builds(lambda f, vs: f"{f} IN ({', '.join(vs)})", fields, st.lists(values, max_size=4)),
        st.builds(lambda f, n: f"{f} IS {n}NULL", fields, st.sampled_from(["", "NOT "])),
    )


filters = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.builds(lambda a, b: f"{a} AND {b}", inner, inner),
        st.builds(lambda a, b: f"{a} OR {b}", inner, inner),
        inner.map(lambda a: f"NOT ({a})"),
    ),
    max_leaves=6,
)
orders = st.lists(
    st.builds(lambda f, d: f"{f}{d}", fields, st.sampled_from(["", " ASC", " DESC", " up"])),
    max_size=3,
)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=st.one_of(filters, st.none()), order_by=orders)
def test_any_grammatical_search_is_answered_or_refused_with_a_reason(
    api: TestClient, make_run: Callable[..., str], text: str | None, order_by: list[str]
) -> None:
    if not api.get("/api/v1/experiments").json()["items"]:
        for _ in range(2):  # once per test: hypothesis reuses the function-scoped store
            run_id = make_run("search")
            api.post(f"/api/v1/runs/{run_id}/params", json={"params": {"lr": "0.1"}})
            batch = {"runs": [run_id], "keys": ["loss"], "run": [0], "key": [0]}
            batch |= {"value": [0.5], "step": [0], "timestamp": [1]}
            api.post("/api/v1/metrics/batch", json=batch)
    experiment = api.get("/api/v1/experiments").json()["items"][0]["id"]
    body = {"experiment_ids": [experiment], "filter": text, "order_by": order_by}
    response = api.post("/api/v1/runs/search", json=body)
    assert response.status_code in (200, 400), (text, order_by, response.text)
    if response.status_code == 400:
        error = response.json()["error"]
        assert error["type"] in ("InvalidFilterError", "InvalidInputError"), error
        assert error["message"]
