"""Schemathesis on the ``/api/v1/abtests`` routes with a seeded test: never a 5xx.

``tests/server/test_openapi_fuzz.py`` fuzzes every route on a store without A/B tests, so there
the A/B routes mostly answer 404; here half the cases name a seeded, running test that has
outcomes, so creating, logging, analyzing and stopping a *found* test is fuzzed too.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mlops.config import MLOpsConfig
from mlops.experiments.abtest import ABTestFramework
from mlops.server.app import create_app

EXAMPLES = int(os.environ.get("MLOPS_FUZZ_EXAMPLES", "8"))
SEEDED = "seeded"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _config(home: Path) -> MLOpsConfig:
    return MLOpsConfig(
        home=home, tracking_uri=f"sqlite:///{home / 'server.db'}", artifact_uri=str(home / "art")
    )


schema = schemathesis.openapi.from_dict(
    create_app(_config(Path("/nonexistent/mlops-fuzz"))).openapi(),
    config=SchemathesisConfig.from_dict(
        {
            "generation": {"max-examples": EXAMPLES, "deterministic": True, "database": "none"},
            "phases": {"stateful": {"enabled": False}},
        }
    ),
).include(path_regex="^/api/v1/abtests")


@schema.hook
def flatmap_case(_context: Any, case: Any) -> st.SearchStrategy[Any]:
    """Half the cases name the seeded test."""
    return st.booleans().map(lambda seeded: _seeded(case) if seeded else case)


def _seeded(case: Any) -> Any:
    if case.path_parameters and "name" in case.path_parameters:
        case.path_parameters = {**case.path_parameters, "name": SEEDED}
    return case


@pytest.fixture(scope="module")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("abtest-seeded")
    test = ABTestFramework(SEEDED, {"a": 0.5, "b": 0.5}, ["conversion", "spend:rank"],
                           config=_config(home))  # fmt: skip
    rng = np.random.default_rng(0)
    test.log_outcomes(
        {"unit_id": f"u{i}", "values": {"conversion": float(rng.random() < 0.1),
                                        "spend": float(rng.exponential(10))}}
        for i in range(300)
    )  # fmt: skip
    from mlops.store import open as store_open

    store_open.close_all()
    return home


@pytest.fixture
def live_server(tmp_path: Path, seeded_home: Path, serve: Callable[[MLOpsConfig], str]) -> str:
    home = tmp_path / "store"
    shutil.copytree(seeded_home, home)
    return serve(_config(home))


@schema.parametrize()
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_abtest_routes_never_fail_on_the_server(case: Any, live_server: str) -> None:
    case.call_and_validate(base_url=live_server, checks=CHECKS, timeout=60)
