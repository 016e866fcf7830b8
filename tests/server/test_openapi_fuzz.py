"""Schemathesis over the server's own OpenAPI document, against a live server: never a 5xx.

Every operation gets schema-driven requests, valid and deliberately invalid (wrong types,
missing fields, out-of-range numbers, odd unicode, unknown ids), sent over real HTTP to
``create_app`` under uvicorn on loopback. Each operation starts from a fresh store seeded with
experiments, runs, metrics, artifacts, a model with versions, an alias and an approval request;
half of the generated requests have their ids swapped for seeded ones, so the code behind a
*found* object is fuzzed too, not only the 404 path.

Checks: no 5xx, every status and content type documented, JSON bodies match their documented
schema. Generation is deterministic (Hypothesis' derandomize, no example database), so a
failure reproduces by rerunning the test. ``MLOPS_FUZZ_EXAMPLES`` (default 8) sets the random
examples per operation on top of schemathesis' boundary-value ("coverage") cases; a long run is
``MLOPS_FUZZ_EXAMPLES=500 pytest tests/server/test_openapi_fuzz.py``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mlops.artifacts import ArtifactStore
from mlops.config import MLOpsConfig
from mlops.experiments.entities import ArtifactRecord
from mlops.features import Entity, Feature, FeatureStore, FeatureView, FileSource
from mlops.monitoring import AlertManager, WindowResult, detect_drift
from mlops.server.app import create_app
from mlops.store.open import Stores, open_stores
from mlops.store.sql.features import SqlDefinitionStore
from mlops.store.sql.monitoring import SqlMonitoringStore

EXAMPLES = int(os.environ.get("MLOPS_FUZZ_EXAMPLES", "8"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def _document() -> dict[str, Any]:
    """The OpenAPI document; building it opens no store, so nothing is created here."""
    nowhere = Path("/nonexistent/mlops-fuzz")
    config = MLOpsConfig(
        home=nowhere, tracking_uri=f"sqlite:///{nowhere}/unused.db", artifact_uri=str(nowhere)
    )
    return create_app(config).openapi()


schema = schemathesis.openapi.from_dict(
    _document(),
    config=SchemathesisConfig.from_dict(
        {
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)

KNOWN: dict[str, list[Any]] = {}
"""Ids of what the current test's store holds (filled by the ``live_server`` fixture)."""


@schema.hook
def flatmap_case(_context: Any, case: Any) -> st.SearchStrategy[Any]:
    """Half the cases as generated; the others name seeded objects (index 0, 1 or 2)."""
    return st.integers(0, 5).map(lambda i: case if i > 2 else _with_known(case, i))


def _with_known(case: Any, i: int) -> Any:
    def pick(kind: str) -> Any:
        values = KNOWN[kind]
        return values[i % len(values)]

    path_kinds = (
        "experiment_id",
        "run_id",
        "name",
        "version",
        "alias",
        "request_id",
        "path",
        "alert_id",
    )
    if case.path_parameters:
        case.path_parameters = {
            k: pick(k) if k in path_kinds else v for k, v in case.path_parameters.items()
        }
    if isinstance(case.query, dict):
        query_kinds = {"run_id": "run_id", "key": "key", "uri": "uri", "path": "path"}
        case.query = {
            k: pick(query_kinds[k]) if k in query_kinds else v for k, v in case.query.items()
        }
        if "name" in case.query and case.operation.path.endswith("/by-name"):
            case.query["name"] = pick("experiment_name")
    if isinstance(case.body, dict):
        body = dict(case.body)
        for field, kind in (("experiment_id", "experiment_id"), ("run_id", "run_id")):
            if field in body:
                body[field] = pick(kind)
        for field in ("run_ids", "runs"):
            if isinstance(body.get(field), list) and body[field]:
                body[field] = [pick("run_id") for _ in body[field]]
        if "experiment_ids" in body:
            body["experiment_ids"] = [pick("experiment_id")]
        if case.operation.path == "/api/v1/requests":
            body |= {"name": pick("name"), "version": pick("version")}
        if case.operation.path == "/api/v1/features/online" and "feature_view" in body:
            body["feature_view"] = pick("feature_view")
        case.body = body
    return case


def seed(stores: Stores) -> dict[str, list[Any]]:
    """Fill a fresh store through its Python API; returns the ids of what it made."""
    tracking, registry = stores.tracking, stores.registry
    known: dict[str, list[Any]] = {k: [] for k in ("experiment_id", "experiment_name", "run_id")}
    for e in range(2):
        experiment = tracking.create_experiment(f"exp-{e}", tags={"team": "fuzz"})
        known["experiment_id"].append(experiment.id)
        known["experiment_name"].append(experiment.name)
        parent = None
        for _ in range(2):
            run = tracking.create_run(experiment.id, None, "fuzz", parent_run_id=parent)
            parent = parent or run.id
            known["run_id"].append(run.id)
            tracking.log_params(run.id, {"lr": "0.1"})
            tracking.set_tags(run.id, {"stage": "dev"})
            tracking.log_metric_rows([(run.id, "loss", 1.0, 0, 1), (run.id, "loss", 0.5, 1, 2)])
    first_run = known["run_id"][0]
    assert isinstance(stores.artifacts, ArtifactStore)
    info = stores.artifacts.put_bytes(b"weights", "models/clf/model.bin")
    fields = {"uri": info.uri, "sha256": info.sha256, "size": info.size}
    tracking.record_artifacts(
        [ArtifactRecord(path=info.path, created_at=1, run_id=first_run, **fields)]
    )
    for _ in range(2):
        registry.create_model_version(
            "clf",
            artifact_uri=info.uri,
            sha256=info.sha256,
            size=info.size,
            flavor="python",
            format="pickle",
            user="fuzz",
            run_id=first_run,
        )
    registry.set_alias("clf", "champion", 1, user="fuzz")
    request = registry.create_request("clf", 2, "stage", "production", user="fuzz")
    return (
        known
        | seed_domains(stores)
        | {
            "name": ["clf"],
            "version": [1, 2],
            "alias": ["champion"],
            "request_id": [request.id],
            "path": [info.path],
            "uri": [info.uri],
            "key": ["loss"],
        }
    )


def seed_domains(stores: Stores) -> dict[str, list[Any]]:
    """Monitoring results and alerts on clf v1, and a materialized feature view."""
    monitoring = SqlMonitoringStore(stores.db, stores.registry)
    rng = np.random.default_rng(1)
    reference = pd.DataFrame({"x": rng.normal(size=300), "c": rng.choice(["a", "b"], 300)})
    for i, shift in enumerate((0.0, 3.0)):
        current = pd.DataFrame({"x": rng.normal(shift, size=100), "c": rng.choice(["a", "b"], 100)})
        result = detect_drift(reference, current)
        monitoring.create_result(
            WindowResult(
                "clf-drift", "drift", "clf", 1, None, 3600.0 * i, 3600.0 * (i + 1), 100,
                result.dataset_drift, result.drift_share, result.to_dict(), 0, 0,
            )
        )  # fmt: skip
    alerts = AlertManager(config=stores.config, channels=["log"], store=monitoring)
    alerts.create_rule("share", "drift_share", condition=">", threshold=0.1)
    firing = alerts.evaluate({"drift_share": 0.5}, {"model": "clf", "version": 1})
    manual = alerts.fire("by-hand", "checked by hand", labels={"model": "clf"})
    path = stores.config.home / "stats.parquet"
    pd.DataFrame(
        {"driver_id": [1, 2], "event_timestamp": [datetime(2024, 1, 1)] * 2, "trips": [3, 4]}
    ).to_parquet(path)
    features = FeatureStore(
        config=stores.config, definitions=SqlDefinitionStore(stores.db), show_progress=False
    )
    features.apply(
        Entity("driver", {"driver_id": "int64"}),
        FeatureView("stats", ["driver"], [Feature("trips", "int64")], FileSource(str(path))),
    )
    features.materialize(None, datetime(2024, 2, 1))
    features.close()
    return {"alert_id": [a.id for a in firing] + [manual.id], "feature_view": ["stats"]}


def store_config(home: Path) -> MLOpsConfig:
    return MLOpsConfig(
        home=home, tracking_uri=f"sqlite:///{home / 'server.db'}", artifact_uri=str(home / "art")
    )


@pytest.fixture(scope="module")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, list[Any]]]:
    """A seeded store, made once; each test serves its own copy of it."""
    home = tmp_path_factory.mktemp("seeded")
    stores = open_stores(store_config(home), fresh=True)
    try:
        known = seed(stores)
    finally:
        stores.close()
    return home, known


@pytest.fixture
def live_server(
    tmp_path: Path,
    seeded_store: tuple[Path, dict[str, list[Any]]],
    serve: Callable[[MLOpsConfig], str],
) -> str:
    """A real server on a fresh copy of the seeded store (no operation sees another's writes)."""
    template, known = seeded_store
    home = tmp_path / "store"
    shutil.copytree(template, home)
    KNOWN.clear()
    KNOWN.update(known)
    return serve(store_config(home))


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_no_server_errors_and_responses_match_the_document(case: Any, live_server: str) -> None:
    case.call_and_validate(base_url=live_server, checks=CHECKS, timeout=60)
