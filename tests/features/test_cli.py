"""``mlops features ...`` end to end on a feature repo folder."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlops.cli import app

runner = CliRunner()

REPO = """
from datetime import timedelta

import pandas as pd

from mlops.features import (
    Entity, Expectation, Feature, FeatureView, FileSource, OnDemandFeatureView,
)

driver = Entity("driver", {{"driver_id": "int64"}})
stats = FeatureView(
    "stats", ["driver"], [Feature("trips", "{trips_type}"), Feature("rating")],
    FileSource("data/stats.parquet"), ttl=timedelta(days=3650),
    expectations=[Expectation("rating", min_value=0, max_value=5)],
)


def doubled(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({{"rating2": frame["rating"] * 2}})


rates = OnDemandFeatureView("rates", ["stats:rating"], [Feature("rating2")], doubled)
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    folder = tmp_path / "repo"
    (folder / "data").mkdir(parents=True)
    pd.DataFrame(
        {
            "driver_id": [1, 2],
            "event_timestamp": [datetime(2024, 1, 1), datetime(2024, 1, 2)],
            "trips": [3, 4],
            "rating": [4.5, 3.5],
        }
    ).to_parquet(folder / "data" / "stats.parquet")
    (folder / "definitions.py").write_text(REPO.format(trips_type="int64"))
    (folder / "feature_store.toml").write_text(
        f'online_store = "sqlite:///{tmp_path / "online.db"}"\n'
    )
    return folder


def run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


def test_plan_apply_list_materialize_get_online(repo: Path, tmp_path: Path) -> None:
    uri = ("--tracking-uri", f"sqlite:///{tmp_path / 'meta.db'}")
    assert "feature_view stats v1: create" in run("features", "plan", "--repo", str(repo), *uri)
    out = run("features", "apply", "--repo", str(repo), *uri)
    assert "entity driver v1: create" in out
    assert "Applied." in out
    assert "stats v1: unchanged" in run("features", "plan", "--repo", str(repo), *uri)
    listed = json.loads(run("features", "list", "--json", *uri))
    assert sorted(d["name"] for d in listed) == ["driver", "rates", "stats"]
    described = json.loads(run("features", "describe", "stats", *uri))
    assert described["versions"] == [1]
    assert described["spec"]["source"]["path"] == str(repo / "data" / "stats.parquet")
    out = run("features", "materialize", "--repo", str(repo), "--end", "2024-02-01", *uri)
    assert "stats v1: 2 entities written" in out
    got = json.loads(
        run("features", "get-online", "stats", "1", "2", "3", "--repo", str(repo), *uri)
    )
    assert got["trips"] == [3, 4, None]
    assert got["stats__fresh"] == [True, True, False]
    rates = json.loads(run("features", "get-online", "rates", "1", "--repo", str(repo), *uri))
    assert rates["rating2"] == [9.0]
    validated = run("features", "validate", "stats", "--skew", "--repo", str(repo), *uri)
    assert "All expectations hold" in validated
    assert "skew on 2 entities" in validated
    assert "verdict" in validated


def test_breaking_change_needs_force(repo: Path, tmp_path: Path) -> None:
    uri = ("--tracking-uri", f"sqlite:///{tmp_path / 'meta.db'}")
    run("features", "apply", "--repo", str(repo), *uri)
    (repo / "definitions.py").write_text(REPO.format(trips_type="float64"))
    result = runner.invoke(app, ["features", "apply", "--repo", str(repo), *uri])
    assert result.exit_code == 1
    assert "! feature_view stats v1: breaking" in result.output
    out = run("features", "apply", "--repo", str(repo), "--force", *uri)
    assert "feature_view stats v2: new_version" in out
    assert json.loads(run("features", "describe", "stats", *uri))["versions"] == [1, 2]


def test_validate_fails_on_broken_expectations(repo: Path, tmp_path: Path) -> None:
    uri = ("--tracking-uri", f"sqlite:///{tmp_path / 'meta.db'}")
    pd.DataFrame(
        {"driver_id": [1], "event_timestamp": [datetime(2024, 1, 1)], "trips": [1], "rating": [9.0]}
    ).to_parquet(repo / "data" / "stats.parquet")
    run("features", "apply", "--repo", str(repo), *uri)
    out = run("features", "validate", "stats", *uri, code=1)
    assert "'rating' has values above 5" in out


def test_materialize_shows_progress(repo: Path, tmp_path: Path) -> None:
    uri = ("--tracking-uri", f"sqlite:///{tmp_path / 'meta.db'}")
    run("features", "apply", "--repo", str(repo), *uri)
    out = run("features", "materialize", "--repo", str(repo), "--incremental", *uri)
    assert "materializing stats" in out
    assert "2/2" in out
