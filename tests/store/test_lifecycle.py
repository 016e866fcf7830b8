"""Soft delete, garbage collection in bounded memory, and whole-store copies between backends."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest
import sqlalchemy as sa
from sklearn.linear_model import LogisticRegression

from mlops.config import MLOpsConfig
from mlops.experiments import ExperimentTracker
from mlops.models import ModelRegistry
from mlops.store.lifecycle import collect_garbage, copy_store
from mlops.store.open import open_stores
from mlops.store.sql import tables as t


def _count(stores, table: sa.Table) -> int:  # type: ignore[no-untyped-def]
    with stores.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


@pytest.mark.parametrize("backend", ["sqlite", "postgres"], indirect=True)  # gc runs on the db
def test_gc_removes_only_deleted_things_and_their_files(
    config: MLOpsConfig, tmp_path: Path
) -> None:
    tracker = ExperimentTracker(config=config)
    registry = ModelRegistry(config=config)
    note = tmp_path / "note.txt"
    note.write_text("x")
    with tracker.start_experiment("keep") as kept:
        kept.log_metric("m", 1.0)
        kept.log_artifact(note)
    with tracker.start_experiment("keep") as doomed:
        doomed.log_metrics({"m": 2.0})
        doomed.log_artifact(note)
        with doomed.start_run("child") as child:
            child.log_metric("m", 3.0)
    with tracker.start_experiment("gone") as in_deleted_exp:
        in_deleted_exp.log_metric("m", 4.0)
    model = LogisticRegression().fit([[0.0], [1.0]], [0, 1])
    registry.register_model("m", model)
    v2 = registry.register_model("m", model)
    tracker.delete_run(doomed.id)
    tracker.delete_experiment("gone")
    registry.delete_model_version("m", v2.version)
    root = Path(config.resolved_artifact_uri)
    doomed_files = list((root / doomed.experiment_id / doomed.id).rglob("*"))
    assert doomed_files

    report = collect_garbage(open_stores(config))
    assert (report.runs, report.experiments, report.model_versions) == (3, 1, 1)
    assert not (root / doomed.experiment_id / doomed.id).exists()
    assert (root / kept.experiment_id / kept.id / "artifacts" / "note.txt").exists()
    assert [r.id for r in tracker.search_runs("keep", include_deleted=True)] == [kept.id]
    assert [v.version for v in registry.list_versions("m", include_deleted=True)] == [1]
    registry.load_model("m", version=1)  # survivors are intact
    stores = open_stores(config)
    assert _count(stores, t.metrics) == 1
    assert collect_garbage(stores).runs == 0  # idempotent


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_gc_deletes_a_million_points_in_bounded_memory(config: MLOpsConfig) -> None:
    tracker = ExperimentTracker(config=config)
    with tracker.start_experiment("big") as run:
        pass
    stores = open_stores(config)
    rows = ((run.id, "loss", float(i), i, i) for i in range(1_000_000))
    batch: list[tuple[str, str, float, int, int]] = []
    for row in rows:
        batch.append(row)
        if len(batch) == 200_000:
            stores.tracking.log_metric_rows(batch)
            batch.clear()
    assert _count(stores, t.metrics) == 1_000_000
    tracker.delete_run(run.id)
    tracemalloc.start()
    report = collect_garbage(stores)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert report.runs == 1
    assert _count(stores, t.metrics) == 0
    assert peak < 20 * 1024 * 1024, f"gc peaked at {peak / 1e6:.1f} MB of Python memory"


def _snapshot(stores) -> dict[str, list[tuple[object, ...]]]:  # type: ignore[no-untyped-def]
    out = {}
    with stores.db.read() as conn:
        for table in t.metadata.sorted_tables:
            pk = list(table.primary_key.columns) or list(table.columns)
            rows = conn.execute(sa.select(table).order_by(*pk)).all()
            out[table.name] = [tuple(r) for r in rows]
    return out


def _populate(config: MLOpsConfig, tmp_path: Path) -> None:
    tracker = ExperimentTracker(config=config)
    registry = ModelRegistry(config=config)
    data = tmp_path / "d.csv"
    data.write_text("a,b\n1,2\n3,4\n")
    for i in range(3):
        with tracker.start_experiment(f"e{i % 2}", run_name=f"r{i}") as run:
            run.log_params({"i": i})
            run.log_metrics({"x": float(i), "nan": float("nan")}, step=0)
            run.log_metrics({"x": float(i) + 1}, step=1)
            run.set_tags({"t": "v"})
            run.log_dataset(data)
            run.log_artifact(data)
            with run.start_run("child") as child:
                child.log_metric("c", 1.0)
            mv = registry.register_model(
                "model", LogisticRegression().fit([[0.0], [1.0]], [0, 1]), stage="staging"
            )
    registry.promote_model("model", mv.version, "production")
    registry.set_alias("model", "champion", 1)
    tracker.delete_run(run.id)


def test_copy_sqlite_to_postgres_and_back(tmp_path: Path, postgres_schema_uri: str) -> None:
    src_cfg = MLOpsConfig(
        home=tmp_path / "h1",
        tracking_uri=f"sqlite:///{tmp_path / 'a.db'}",
        artifact_uri=str(tmp_path / "art-a"),
        user="alice",
    )
    _populate(src_cfg, tmp_path)
    pg_cfg = MLOpsConfig(
        home=tmp_path / "h2",
        tracking_uri=postgres_schema_uri,
        artifact_uri=str(tmp_path / "art-b"),
        user="alice",
    )
    back_cfg = MLOpsConfig(
        home=tmp_path / "h3",
        tracking_uri=f"sqlite:///{tmp_path / 'c.db'}",
        artifact_uri=str(tmp_path / "art-c"),
        user="alice",
    )
    src, pg, back = (open_stores(c, fresh=True) for c in (src_cfg, pg_cfg, back_cfg))
    counts = copy_store(src, pg)
    assert counts["metrics"] == 12
    assert counts["model_versions"] == 3
    assert counts["artifact files"] > 3
    copy_store(pg, back)

    def normalised(stores, root: str) -> dict[str, list[tuple[object, ...]]]:  # type: ignore[no-untyped-def]
        snap = _snapshot(stores)
        return {
            k: [
                tuple(str(v).replace(root, "ROOT") if isinstance(v, str) else v for v in row)
                for row in rows
            ]
            for k, rows in snap.items()
        }

    a = normalised(src, src.artifacts.uri_for("").rstrip("/"))
    assert normalised(pg, pg.artifacts.uri_for("").rstrip("/")) == a
    assert normalised(back, back.artifacts.uri_for("").rstrip("/")) == a
    # The copy is a working store: models load, runs search, new ids do not collide.
    registry = ModelRegistry(config=back_cfg)
    assert registry.load_model("model", alias="champion").predict([[1.0]]).tolist() == [1]
    tracker = ExperimentTracker(config=pg_cfg)
    assert len(tracker.search_runs(["e0", "e1"])) == 5  # 3 runs + 3 children - 1 deleted
    assert tracker.create_experiment("new").id == "3"
    for stores in (src, pg, back):
        stores.close()


def test_copy_refuses_a_non_empty_destination(tmp_path: Path) -> None:
    a = MLOpsConfig(home=tmp_path / "a", tracking_uri=f"sqlite:///{tmp_path / 'a.db'}")
    ExperimentTracker(config=a).create_experiment("x")
    from mlops.errors import InvalidStateError

    with pytest.raises(InvalidStateError, match="empty store"):
        copy_store(open_stores(a), open_stores(a))
