"""Run search compiled to SQL, run against real SQLite (and PostgreSQL when configured)."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine
from sqlalchemy.pool import NullPool

from mlops.errors import InvalidFilterError, InvalidInputError
from mlops.experiments.filter import parse_filter, parse_order_by
from mlops.store.sql.engine import create_engine, ensure_schema, sqlalchemy_url
from mlops.store.sql.search import count_runs_query, search_runs_query
from mlops.store.sql.tables import experiments, latest_metrics, metrics, params, runs, tags

MakeRun = Callable[..., str]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A fresh database at the current schema; on PostgreSQL, a schema of its own."""
    if request.param == "sqlite":
        engine = create_engine("sqlite:///" + str(tmp_path / "t.db"))
        ensure_schema(engine)
        yield engine
        engine.dispose()
        return
    url = os.environ.get("MLOPS_TEST_POSTGRES_URL")
    if not url:
        pytest.skip("MLOPS_TEST_POSTGRES_URL not set")
    url = sqlalchemy_url(url)
    schema = f"t_{uuid.uuid4().hex}"
    admin = sa.create_engine(url, poolclass=NullPool)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
    engine = sa.create_engine(
        url, poolclass=NullPool, connect_args={"options": f"-csearch_path={schema}"}
    )
    try:
        ensure_schema(engine)
        yield engine
    finally:
        engine.dispose()
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def make_experiment(engine: Engine) -> Callable[..., int]:
    def make(experiment_id: int, deleted: bool = False) -> int:
        with engine.begin() as conn:
            conn.execute(
                sa.insert(experiments).values(
                    id=experiment_id,
                    name=f"exp-{experiment_id}",
                    artifact_location="file:///tmp",
                    created_at=0,
                    updated_at=0,
                    deleted_at=1 if deleted else None,
                )
            )
        return experiment_id

    return make


@pytest.fixture
def make_run(engine: Engine) -> MakeRun:
    """Insert a run with its params, tags and latest metrics (NaN stored as 0 + is_nan)."""

    def make(
        run_id: str,
        *,
        param: Mapping[str, str] | None = None,
        metric: Mapping[str, float] | None = None,
        tag: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> str:
        row = {
            "id": run_id,
            "experiment_id": 1,
            "name": run_id,
            "status": "FINISHED",
            "user": "alice",
            "start_time": 1000,
            "end_time": None,
            "artifact_uri": "file:///tmp",
            "host": "h",
            "pid": 1,
            "heartbeat_at": 0,
        } | overrides
        with engine.begin() as conn:
            conn.execute(sa.insert(runs).values(row))
            for key, value in (param or {}).items():
                conn.execute(sa.insert(params).values(run_id=run_id, key=key, value=value))
            for key, value in (tag or {}).items():
                conn.execute(sa.insert(tags).values(run_id=run_id, key=key, value=value))
            for key, number in (metric or {}).items():
                nan = math.isnan(number)
                conn.execute(
                    sa.insert(latest_metrics).values(
                        run_id=run_id,
                        key=key,
                        step=1,
                        timestamp=1,
                        value=0.0 if nan else number,
                        is_nan=nan,
                    )
                )
        return run_id

    return make


def search(
    engine: Engine,
    text: str | None = None,
    order: Sequence[str] = (),
    experiment_ids: Sequence[int] = (1,),
    max_results: int = 1000,
    **kwargs: Any,
) -> list[str]:
    query = search_runs_query(
        experiment_ids, parse_filter(text), parse_order_by(order), max_results, **kwargs
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def count(engine: Engine, text: str | None = None, **kwargs: Any) -> int:
    query = count_runs_query(kwargs.pop("experiment_ids", (1,)), parse_filter(text), **kwargs)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


@pytest.fixture
def corpus(engine: Engine, make_experiment: Callable[..., int], make_run: MakeRun) -> Engine:
    """Runs a-d live in experiment 1; e deleted; f in experiment 2; g in deleted experiment 3."""
    make_experiment(1)
    make_experiment(2)
    make_experiment(3, deleted=True)
    make_run(
        "a",
        name="rf-baseline",
        start_time=1000,
        end_time=2000,
        param={"model": "rf", "n_estimators": "100", "lr.init": "0.1"},
        metric={"f1": 0.8, "loss": 0.5, "val loss": 0.6},
        tag={"team": "vision", "note": "Hello World"},
    )
    make_run(
        "b",
        name="rf-tuned",
        user="bob",
        start_time=2000,
        end_time=3000,
        param={"model": "rf", "n_estimators": "300"},
        metric={"f1": 0.9, "loss": 0.3},
        tag={"team": "nlp"},
    )
    make_run(
        "c",
        name="xgb[1]*",
        status="FAILED",
        start_time=3000,
        end_time=3500,
        param={"model": "xgb"},
        metric={"f1": math.nan, "loss": 0.7},
        tag={"team": "Vision"},
    )
    make_run(
        "d",
        name="lgbm_50%",
        status="RUNNING",
        user="carol",
        start_time=4000,
        parent_run_id="a",
        param={"model": "lgbm"},
        metric={"loss": 0.2},
    )
    make_run("e", start_time=5000, deleted_at=1, param={"model": "rf"}, metric={"f1": 0.99})
    make_run("f", experiment_id=2, start_time=6000, metric={"f1": 0.5})
    make_run("g", experiment_id=3, start_time=7000, metric={"f1": 0.95})
    # An older point of a's f1 in the history table; search must read only the newest one.
    with engine.begin() as conn:
        series = conn.execute(
            sa.select(latest_metrics.c.id).where(
                latest_metrics.c.run_id == "a", latest_metrics.c.key == "f1"
            )
        ).scalar_one()
        conn.execute(
            sa.insert(metrics).values(
                series_id=series, step=0, timestamp=0, value=0.1, is_nan=False
            )
        )
    return engine


# --- filters -----------------------------------------------------------------------------------

CASES = [
    # metrics, every operator; c's f1 is NaN (stored as 0) and d has none
    ("metrics.f1 > 0.85", "b"),
    ("metrics.f1 >= 0.8", "ab"),
    ("metrics.f1 < 0.85", "a"),
    ("metrics.f1 <= 0.9", "ab"),
    ("metrics.f1 = 0.9", "b"),
    ("metrics.f1 == 0.9", "b"),
    ("metrics.f1 != 0.8", "b"),
    ("metrics.f1 <> 0.8", "b"),
    ("metrics.f1 = 0", ""),
    ("metrics.f1 < 0.5", ""),
    ("metrics.f1 IN (0.8, 0.9, 0)", "ab"),
    ("metrics.f1 NOT IN (0.8)", "b"),
    ("metrics.f1 IS NULL", "d"),
    ("metrics.f1 IS NOT NULL", "abc"),
    ("metrics.`val loss` < 1", "a"),
    ("metrics.loss > 0.25 AND metrics.loss < 0.6", "ab"),
    # params and tags compare as text; != means "has the key, with another value"
    ("params.model = 'rf'", "ab"),
    ("params.model != 'rf'", "cd"),
    ("params.n_estimators != '100'", "b"),
    ("params.\"lr.init\" = '0.1'", "a"),
    ("params.model IN ('xgb', 'lgbm')", "cd"),
    ("params.model NOT IN ('rf')", "cd"),
    ("params.n_estimators IS NULL", "cd"),
    ("params.n_estimators IS NOT NULL", "ab"),
    ("params.model LIKE 'r%'", "ab"),
    ("params.model LIKE 'R%'", ""),
    ("params.model ILIKE 'R%'", "ab"),
    ("params.model NOT LIKE 'r%'", "cd"),
    ("params.model NOT ILIKE 'X%'", "abd"),
    ("params.model LIKE '_gb%'", "cd"),
    ("tags.team = 'vision'", "a"),
    ("tags.team ILIKE 'VISION'", "ac"),
    ("tags.team LIKE 'v%'", "a"),
    ("tags.note LIKE '%World'", "a"),
    ("tags.note LIKE '%world'", ""),
    ("tags.team IS NULL", "d"),
    # attributes
    ("run_name = 'xgb[1]*'", "c"),
    ("attributes.run_name LIKE 'xgb[1]*'", "c"),
    ("name LIKE 'xgb[%'", "c"),
    ("name LIKE 'rf-%'", "ab"),
    ("name LIKE 'RF-%'", ""),
    ("name ILIKE 'RF-%'", "ab"),
    ("name LIKE '%50\\%'", "d"),
    ("name LIKE 'lgbm\\_%'", "d"),
    ("name LIKE 'lgbm_50_'", "d"),
    ("status = 'finished'", "ab"),
    ("status IN ('FAILED', 'running')", "cd"),
    ("status != 'FINISHED'", "cd"),
    ("user = 'alice'", "ac"),
    ("start_time >= 2000 AND start_time < 4000", "bc"),
    ("end_time IS NULL", "d"),
    ("end_time > 2500", "bc"),
    ("NOT end_time = 2000", "bcd"),
    ("parent_run_id = 'a'", "d"),
    ("parent_run_id IS NULL", "abc"),
    ("NOT parent_run_id = 'a'", "abc"),
    ("run_id = 'b'", "b"),
    ("id IN ('a', 'c', 'zzz')", "ac"),
    ("experiment_id = 1", "abcd"),
    # logic
    ("params.model = 'rf' AND metrics.f1 > 0.85", "b"),
    ("metrics.f1 > 0.85 OR params.model = 'xgb'", "bc"),
    ("NOT params.model = 'rf'", "cd"),
    ("NOT metrics.f1 > 0.85", "acd"),
    ("NOT tags.team = 'vision'", "bcd"),
    ("(params.model = 'rf' OR params.model = 'xgb') AND tags.team ILIKE 'vision'", "ac"),
    ("params.model = 'rf' OR params.model = 'xgb' AND tags.team = 'nlp'", "ab"),
    ("params.model = 'rf' and not (metrics.f1 > 0.85 or user = 'bob')", "a"),
    ("NOT (NOT metrics.loss < 0.4)", "bd"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_filter(corpus: Engine, text: str, expected: str) -> None:
    assert sorted(search(corpus, text)) == list(expected)
    assert count(corpus, text) == len(expected)


def test_no_filter_orders_by_start_time_descending(corpus: Engine) -> None:
    assert search(corpus) == ["d", "c", "b", "a"]
    assert search(corpus, experiment_ids=[1, 2]) == ["f", "d", "c", "b", "a"]
    assert search(corpus, "experiment_id = 2", experiment_ids=[1, 2]) == ["f"]
    assert search(corpus, experiment_ids=[]) == []


def test_deleted_runs_and_experiments(corpus: Engine) -> None:
    assert search(corpus, experiment_ids=[1, 3]) == ["d", "c", "b", "a"]
    assert count(corpus, experiment_ids=[1, 3]) == 4
    everything = search(corpus, experiment_ids=[1, 3], include_deleted=True)
    assert everything == ["g", "e", "d", "c", "b", "a"]
    assert count(corpus, experiment_ids=[1, 3], include_deleted=True) == 6
    assert search(corpus, "metrics.f1 > 0.9", experiment_ids=[1, 3], include_deleted=True) == [
        "g",
        "e",
    ]


def test_statuses(corpus: Engine) -> None:
    assert search(corpus, statuses=["running", "FAILED"]) == ["d", "c"]
    assert search(corpus, "metrics.loss > 0.4", statuses=["FINISHED"]) == ["a"]
    assert count(corpus, statuses=["FINISHED"]) == 2
    assert search(corpus, statuses=[]) == []
    with pytest.raises(InvalidFilterError, match="unknown run status DONE"):
        search(corpus, statuses=["done"])


# --- ordering ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("order", "expected"),
    [
        # values, then NaN (c), then runs without the metric (d), in both directions
        (["metrics.f1 DESC"], "bacd"),
        (["metrics.f1"], "abcd"),
        (["metrics.f1 ASC"], "abcd"),
        (["metrics.loss DESC"], "cabd"),
        # text sorts bytewise on both backends; ties fall back to start_time DESC
        (["params.model"], "dbac"),
        (["params.model DESC"], "cbad"),
        (["params.n_estimators DESC"], "badc"),
        (["tags.team"], "cbad"),
        (["tags.team DESC"], "abcd"),
        (["end_time"], "abcd"),
        (["end_time DESC"], "cbad"),
        (["start_time asc"], "abcd"),
        (["attributes.start_time DESC"], "dcba"),
        (["name"], "dabc"),
        (["status", "metrics.loss"], "cbad"),
        (["params.model", "metrics.f1 DESC"], "dbac"),
        (["params.model DESC", "metrics.f1"], "cabd"),
    ],
)
def test_order_by(corpus: Engine, order: list[str], expected: str) -> None:
    assert "".join(search(corpus, order=order)) == expected


def test_order_by_metric_with_filter(corpus: Engine) -> None:
    assert search(corpus, "metrics.loss < 0.6", order=["metrics.loss"]) == ["d", "b", "a"]
    assert search(corpus, "params.model != 'lgbm'", order=["metrics.f1 DESC"]) == ["b", "a", "c"]


def test_pagination_is_stable_across_ties(
    engine: Engine, make_experiment: Any, make_run: MakeRun
) -> None:
    make_experiment(1)
    ids = [f"r{i:02d}" for i in range(23)]
    for i, run_id in enumerate(ids):
        # Three start times and two metric values: plenty of ties; every third run lacks it.
        metric = {} if i % 3 == 0 else {"acc": float(i % 2)}
        make_run(run_id, start_time=1000 + i % 3, metric=metric)
    for order in ([], ["metrics.acc DESC"], ["metrics.acc"], ["start_time"]):
        full = search(engine, order=order)
        pages = [
            search(engine, order=order, max_results=5, offset=offset) for offset in range(0, 25, 5)
        ]
        assert [len(page) for page in pages] == [5, 5, 5, 5, 3]
        assert [run_id for page in pages for run_id in page] == full
        assert sorted(full) == ids
    ordered = search(engine, order=["metrics.acc DESC"])
    lacking = {run_id for i, run_id in enumerate(ids) if i % 3 == 0}
    assert set(ordered[-len(lacking) :]) == lacking
    assert set(search(engine, order=["metrics.acc"])[-len(lacking) :]) == lacking


def test_limit_and_offset(corpus: Engine) -> None:
    assert search(corpus, max_results=2) == ["d", "c"]
    assert search(corpus, max_results=2, offset=2) == ["b", "a"]
    assert search(corpus, max_results=2, offset=4) == []
    assert count(corpus) == 4


@pytest.mark.parametrize(
    ("max_results", "offset", "message"),
    [(0, 0, "max_results must be at least 1"), (10, -1, "offset must not be negative")],
)
def test_page_arguments_are_validated(max_results: int, offset: int, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        search_runs_query([1], None, [], max_results, offset)
