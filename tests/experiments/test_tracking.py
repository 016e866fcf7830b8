"""Tracking API against a real store, on SQLite, PostgreSQL and an mlops server."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlops
from mlops.errors import (
    ConfigError,
    ExperimentNotFoundError,
    InvalidFilterError,
    InvalidInputError,
    InvalidParamError,
    InvalidRunStateError,
    RunNotFoundError,
)
from mlops.experiments import ExperimentTracker, RunStatus


def test_run_records_params_metrics_tags_and_status(tracker: ExperimentTracker) -> None:
    with tracker.start_experiment("exp", run_name="first") as run:
        run.log_params({"algorithm": "lof", "n_neighbors": 20})
        run.log_param("contamination", 0.1)
        run.log_metrics({"f1": 0.5, "auc": 0.7}, step=0)
        run.log_metrics({"f1": 0.8, "auc": 0.9}, step=1)
        run.log_metric("loss", 1.5)
        run.set_tags({"team": "fraud"})
    stored = tracker.get_run(run.id)
    assert stored.status is RunStatus.FINISHED
    assert stored.name == "first"
    assert stored.params == {"algorithm": "lof", "n_neighbors": "20", "contamination": "0.1"}
    assert stored.metrics == {"f1": 0.8, "auc": 0.9, "loss": 1.5}
    assert stored.tags == {"team": "fraud"}
    assert stored.end_time is not None
    assert stored.end_time >= stored.start_time
    assert stored.experiment_id == run.experiment_id


def test_failed_block_marks_run_failed_and_reraises(tracker: ExperimentTracker) -> None:
    run = tracker.start_experiment("exp")
    run.log_metric("x", 1.0)
    with pytest.raises(ZeroDivisionError), run:
        _ = 1 / 0
    stored = tracker.get_run(run.id)
    assert stored.status is RunStatus.FAILED
    assert stored.error is not None
    assert "ZeroDivisionError" in stored.error
    assert stored.metrics == {"x": 1.0}  # what was logged before the failure is kept


def test_metric_history_in_step_order_and_latest_by_step(tracker: ExperimentTracker) -> None:
    with tracker.start_experiment("exp") as run:
        for step in (3, 1, 2, 0):  # out of order
            run.log_metric("loss", float(step) * 10, step=step)
    history = tracker.get_metric_history(run.id, "loss")
    assert list(history.steps) == [0, 1, 2, 3]
    assert list(history.values) == [0.0, 10.0, 20.0, 30.0]
    assert history[1].value == 10.0
    assert history[1].step == 1
    assert tracker.get_run(run.id).metrics["loss"] == 30.0  # newest by step, not by arrival
    assert history.to_pandas().shape == (4, 3)


def test_default_step_counts_calls(tracker: ExperimentTracker) -> None:
    with tracker.start_experiment("exp") as run:
        for v in (1.0, 2.0, 3.0):
            run.log_metrics({"acc": v})
    assert list(tracker.get_metric_history(run.id, "acc").steps) == [0, 1, 2]


def test_nan_and_inf_metrics_round_trip(tracker: ExperimentTracker) -> None:
    with tracker.start_experiment("exp") as run:
        run.log_metrics({"a": math.nan, "b": math.inf, "c": -math.inf}, step=0)
    stored = tracker.get_run(run.id)
    assert math.isnan(stored.metrics["a"])
    assert stored.metrics["b"] == math.inf
    assert stored.metrics["c"] == -math.inf
    assert math.isnan(tracker.get_metric_history(run.id, "a").values[0])


def test_numpy_scalars_are_accepted(tracker: ExperimentTracker) -> None:
    with tracker.start_experiment("exp") as run:
        run.log_metrics({"a": np.float32(0.5), "b": np.int64(3)})
    assert tracker.get_run(run.id).metrics == {"a": 0.5, "b": 3.0}


def test_nested_runs(tracker: ExperimentTracker) -> None:
    with tracker.start_experiment("exp", run_name="parent") as parent:
        with tracker.start_experiment("exp", run_name="child", nested=True) as child:
            child.log_metric("x", 1.0)
        with parent.start_run("child-2") as child2:
            child2.log_metric("x", 2.0)
        with pytest.raises(InvalidRunStateError, match="nested=True"):
            tracker.start_experiment("exp")
    assert tracker.get_run(child.id).parent_run_id == parent.id
    children = tracker.stores.tracking.list_child_runs(parent.id)
    assert [c.name for c in children] == ["child", "child-2"]


def test_params_are_immutable(tracker: ExperimentTracker) -> None:
    with tracker.start_experiment("exp") as run:
        run.log_param("lr", 0.1)
        run.log_param("lr", 0.1)  # same value: fine
        with pytest.raises(InvalidParamError, match="immutable"):
            run.log_param("lr", 0.2)


@pytest.mark.parametrize(
    ("metrics", "message"),
    [
        ({"ok": "high"}, "text value"),
        ({"ok": object()}, "must be numbers"),
        ({"bad key!": 1.0}, "metric name 'bad key!' is invalid"),
        ({"": 1.0}, "invalid"),
    ],
)
def test_bad_metrics_are_rejected_with_a_clear_error(
    tracker: ExperimentTracker, metrics: dict[str, object], message: str
) -> None:
    with tracker.start_experiment("exp") as run, pytest.raises(InvalidParamError, match=message):
        run.log_metrics(metrics)  # type: ignore[arg-type]


def test_logging_to_an_ended_run_fails(tracker: ExperimentTracker) -> None:
    with tracker.start_experiment("exp") as run:
        pass
    with pytest.raises(InvalidRunStateError, match="has ended"):
        run.log_metric("x", 1.0)


def test_dataset_lineage(tracker: ExperimentTracker, tmp_path: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", "z"]})
    csv = tmp_path / "data.csv"
    frame.to_csv(csv, index=False)
    with tracker.start_experiment("exp") as run:
        first = run.log_dataset(frame, name="train")
        again = run.log_dataset(frame.copy(), name="train", context="training")
        run.log_dataset(csv, context="evaluation")
        run.log_dataset(np.arange(12.0).reshape(4, 3), name="matrix", context="validation")
    assert first.digest == again.digest
    assert first.id == again.id
    stored = tracker.get_run(run.id)
    by_context = {i.context: i.dataset for i in stored.inputs}
    assert set(by_context) == {"training", "evaluation", "validation"}
    assert by_context["training"].num_rows == 3
    assert by_context["training"].schema[0] == {"name": "a", "type": "int64"}
    assert [c["name"] for c in by_context["training"].schema] == ["a", "b"]
    assert by_context["evaluation"].num_rows == 3
    assert by_context["evaluation"].name == "data"
    assert by_context["validation"].num_rows == 4
    changed = frame.assign(a=[1, 2, 4])
    with tracker.start_experiment("exp") as run2:
        other = run2.log_dataset(changed, name="train")
    assert other.digest != first.digest


def test_artifacts_are_stored_and_hashed(tracker: ExperimentTracker, tmp_path: Path) -> None:
    report = tmp_path / "report.txt"
    report.write_text("hello")
    folder = tmp_path / "plots"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.txt").write_text("a")
    (folder / "sub" / "b.txt").write_text("b")
    with tracker.start_experiment("exp") as run:
        record = run.log_artifact(report)
        run.log_artifacts(folder, artifact_path="plots")
        run.log_text("notes", "notes.md")
    assert record.size == 5
    assert record.sha256 == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
    paths = [a.path for a in tracker.stores.tracking.list_artifacts(run.id)]
    assert paths == ["notes.md", "plots/a.txt", "plots/sub/b.txt", "report.txt"]
    assert tracker.stores.artifacts.read_bytes(record.uri, sha256=record.sha256) == b"hello"


def test_search_runs_filters_and_orders_in_the_database(tracker: ExperimentTracker) -> None:
    for algorithm, f1 in [("lof", 0.9), ("lof", 0.7), ("iforest", 0.95), ("ocsvm", 0.85)]:
        with tracker.start_experiment("search") as run:
            run.log_params({"algorithm": algorithm})
            run.log_metrics({"f1": f1})
    page = mlops.search_runs(
        "search",
        filter="metrics.f1 > 0.8 and params.algorithm = 'lof'",
        order_by=["metrics.f1 DESC"],
    )
    assert [r.metrics["f1"] for r in page] == [0.9]
    page = mlops.search_runs("search", order_by=["metrics.f1 DESC"], max_results=2)
    assert [r.metrics["f1"] for r in page] == [0.95, 0.9]
    assert page.next_page_token is not None
    rest = mlops.search_runs(
        "search", order_by=["metrics.f1 DESC"], max_results=2, page_token=page.next_page_token
    )
    assert [r.metrics["f1"] for r in rest] == [0.85, 0.7]


@pytest.mark.parametrize(
    "bad",
    [
        "metrics.f1 >",
        "metrics.f1 > 'high'",
        "params.x = 1",
        "foo.bar = 1",
        "metrics.f1 > 0.8 and",
        "(metrics.f1 > 1",
    ],
)
def test_bad_filters_give_clear_errors(tracker: ExperimentTracker, bad: str) -> None:
    with tracker.start_experiment("exp"):
        pass
    with pytest.raises(InvalidFilterError) as info:
        tracker.search_runs("exp", filter=bad)
    assert bad in str(info.value) or "params" in str(info.value)


def test_compare_and_best_model(tracker: ExperimentTracker) -> None:
    ids = []
    for alg, f1 in [("lof", 0.7), ("iforest", 0.9)]:
        with tracker.start_experiment("cmp") as run:
            run.log_params({"algorithm": alg, "seed": 1})
            run.log_metrics({"f1": f1})
        ids.append(run.id)
    comparison = mlops.compare_experiments(ids)
    table = comparison.to_pandas()
    assert list(table["metrics.f1"]) == [0.7, 0.9]
    assert comparison.differing_params() == ["algorithm"]
    assert comparison.best("f1").params["algorithm"] == "iforest"
    assert mlops.get_best_model("cmp", "f1").params["algorithm"] == "iforest"
    assert mlops.get_best_model("cmp", "f1", mode="min").params["algorithm"] == "lof"


def test_module_functions_use_the_active_run(tracker: ExperimentTracker) -> None:
    with mlops.start_experiment("module") as run:
        mlops.log_metrics({"f1": 0.5})
        mlops.log_params({"a": 1})
    assert mlops.get_run(run.id).metrics == {"f1": 0.5}
    assert len(mlops.get_metric_history(run.id, "f1")) == 1
    with pytest.raises(InvalidRunStateError, match="no active run"):
        mlops.log_metrics({"f1": 0.5})


def test_unknown_ids_give_not_found(tracker: ExperimentTracker) -> None:
    with pytest.raises(RunNotFoundError, match="no run with id 'nope'"):
        tracker.get_run("nope")
    with pytest.raises(ExperimentNotFoundError, match="no experiment named 'missing'"):
        tracker.search_runs("missing")
    with pytest.raises(RunNotFoundError):
        tracker.get_metric_history("nope", "loss")


def test_delete_and_restore_runs_and_experiments(tracker: ExperimentTracker) -> None:
    with tracker.start_experiment("lifecycle") as run:
        run.log_metric("x", 1.0)
    tracker.delete_run(run.id)
    assert len(tracker.search_runs("lifecycle")) == 0
    assert len(tracker.search_runs("lifecycle", include_deleted=True)) == 1
    tracker.restore_run(run.id)
    assert len(tracker.search_runs("lifecycle")) == 1
    tracker.delete_experiment("lifecycle")
    assert [e.name for e in tracker.list_experiments()] == []
    with pytest.raises(InvalidRunStateError, match="deleted"):
        tracker.start_experiment("lifecycle")
    tracker.restore_experiment("lifecycle")
    assert len(tracker.search_runs("lifecycle")) == 1


def test_mlflow_backend_says_it_is_not_there_yet() -> None:
    with pytest.raises(ConfigError, match="MLflow interoperability"):
        ExperimentTracker(backend="mlflow")


def test_flush_makes_metrics_visible_before_the_run_ends(tracker: ExperimentTracker) -> None:
    with tracker.start_experiment("exp") as run:
        run.log_metrics({"a": 1.0}, step=0)
        run.flush()
        assert tracker.get_run(run.id).metrics == {"a": 1.0}


def test_names_longer_than_the_columns_are_refused_on_every_backend(
    tracker: ExperimentTracker,
) -> None:
    # The store says "... is 300 characters long; the limit is 256"; a server may refuse the
    # request body first ("at most 256 characters"). Either way: a 4xx-kind InvalidInputError.
    with pytest.raises(InvalidInputError, match="256"):
        tracker.start_experiment("e" * 300)
    with pytest.raises(InvalidInputError, match="256"):
        tracker.start_experiment("fine", run_name="r" * 300)
    with tracker.start_experiment("fine") as run, pytest.raises(InvalidInputError, match="64"):
        run.log_dataset(pd.DataFrame({"a": [1]}), context="c" * 80)


def test_compare_best_rejects_an_unknown_mode(tracker: ExperimentTracker) -> None:
    with tracker.start_experiment("m") as run:
        run.log_metric("f1", 1.0)
    with pytest.raises(InvalidParamError, match="mode must be"):
        mlops.compare_experiments([run.id]).best("f1", mode="MAX")  # type: ignore[arg-type]


def test_latest_values_are_right_with_many_series_in_one_batch(tracker: ExperimentTracker) -> None:
    with tracker.start_experiment("wide") as run:
        for step in (2, 0, 1):
            run.log_metrics({f"k{i}": float(step * 100 + i) for i in range(300)}, step=step)
    assert tracker.get_run(run.id).metrics == {f"k{i}": float(200 + i) for i in range(300)}


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_listing_and_comparing_take_a_fixed_number_of_queries(tracker: ExperimentTracker) -> None:
    import sqlalchemy as sa

    ids = []
    for i in range(30):
        tracker.create_experiment(f"e{i}", tags={"team": "x"})
        with tracker.start_experiment(f"e{i}") as run:
            run.log_params({"i": i})
        ids.append(run.id)
    statements: list[str] = []
    engine = tracker.stores.db.engine
    sa.event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    tracker.list_experiments()
    mlops.compare_experiments(ids)
    selects = [s for s in statements if s.lstrip().upper().startswith("SELECT")]
    assert len(selects) <= 12, selects
