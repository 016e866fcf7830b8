"""Model registry against a real store and artifact folder, on SQLite, PostgreSQL and a server."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import LocalOutlierFactor

import mlops
from mlops.config import MLOpsConfig
from mlops.errors import (
    ApprovalError,
    InvalidInputError,
    InvalidStageTransitionError,
    ModelIntegrityError,
    ModelNotFoundError,
    ModelRegistryError,
    ModelSerializationError,
    ModelVersionNotFoundError,
)
from mlops.experiments import ExperimentTracker
from mlops.models import ApprovalRequest, ModelRegistry, ModelVersion, Stage


@pytest.fixture
def data() -> pd.DataFrame:
    frame = load_breast_cancer(as_frame=True).frame.drop(columns="target")
    return frame.iloc[:200]


@pytest.fixture
def forest(data: pd.DataFrame) -> IsolationForest:
    return IsolationForest(n_estimators=20, random_state=0).fit(data)


def _version(result: ModelVersion | ApprovalRequest) -> ModelVersion:
    assert isinstance(result, ModelVersion)
    return result


def test_register_and_load_round_trip(
    model_registry: ModelRegistry, forest: IsolationForest, data: pd.DataFrame
) -> None:
    mv = model_registry.register_model(
        "detector", forest, description="first", tags={"team": "risk"}, input_example=data.head(3)
    )
    assert (mv.name, mv.version, mv.stage) == ("detector", 1, Stage.NONE)
    assert mv.flavor == "sklearn"
    assert mv.format == "skops"
    assert len(mv.sha256) == 64
    assert mv.size > 0
    assert mv.signature is not None
    assert mv.tags == {"team": "risk"}
    assert mv.description == "first"
    loaded = model_registry.load_model("detector", version=1)
    np.testing.assert_array_equal(loaded.predict(data), forest.predict(data))
    assert model_registry.register_model("detector", forest).version == 2
    assert model_registry.get_model("detector").version == 2  # newest by default
    assert model_registry.get_model("detector/1").version == 1
    assert model_registry.get_model("models:/detector/1").version == 1
    assert model_registry.get_model("models:/detector/latest").version == 2
    model_registry.promote_model("detector", 1, "staging")
    assert model_registry.get_model("detector/staging").version == 1
    assert model_registry.get_model("models:/detector/Staging").version == 1


def test_version_links_to_run_and_its_datasets(
    tracker: ExperimentTracker,
    model_registry: ModelRegistry,
    forest: IsolationForest,
    data: pd.DataFrame,
) -> None:
    with tracker.start_experiment("lineage") as run:
        run.log_dataset(data, name="train")
        # The seed passes the run's id as experiment_id; the active run is the default anyway.
        mv = model_registry.register_model(
            "detector", forest, experiment_id=run.id, stage="staging"
        )
    assert mv.run_id == run.id
    assert mv.stage is Stage.STAGING
    lineage = model_registry.get_lineage("detector", 1)
    assert lineage["run"].id == run.id
    assert [d["dataset"].name for d in lineage["datasets"]] == ["train"]
    with tracker.start_experiment("lineage") as run2:
        implicit = model_registry.register_model("detector", forest)
    assert implicit.run_id == run2.id


def test_stage_rules_and_archiving(model_registry: ModelRegistry, forest: IsolationForest) -> None:
    v1 = model_registry.register_model("m", forest, stage="staging")
    v2 = model_registry.register_model("m", forest)
    with pytest.raises(InvalidStageTransitionError, match="cannot move to production") as info:
        model_registry.promote_model("m", v2.version, "production")
    assert "from none it can move to" in str(info.value)
    assert (
        _version(model_registry.promote_model("m", v1.version, "production")).stage
        is Stage.PRODUCTION
    )
    model_registry.promote_model("m", 2, "staging")
    promoted = _version(model_registry.promote_model("m", 2, "production"))
    assert promoted.stage is Stage.PRODUCTION
    assert model_registry.get_model("m", version=1).stage is Stage.ARCHIVED
    assert model_registry.get_model("m", stage="production").version == 2
    with pytest.raises(InvalidStageTransitionError):
        model_registry.promote_model("m", 1, "production")  # archived -> production: not allowed


def test_keep_existing_production(model_registry: ModelRegistry, forest: IsolationForest) -> None:
    for _ in range(2):
        mv = model_registry.register_model("m", forest, stage="staging")
        model_registry.promote_model(mv, stage="production", archive_existing=False)
    assert [v.stage for v in model_registry.list_versions("m")] == [
        Stage.PRODUCTION,
        Stage.PRODUCTION,
    ]


def test_rollback_restores_previous_production(
    model_registry: ModelRegistry, forest: IsolationForest
) -> None:
    for _ in range(3):
        mv = model_registry.register_model("m", forest, stage="staging")
        model_registry.promote_model("m", mv.version, "production")
    restored = _version(model_registry.rollback("m"))
    assert restored.version == 2
    assert restored.stage is Stage.PRODUCTION
    assert model_registry.get_model("m", version=3).stage is Stage.ARCHIVED
    again = _version(model_registry.rollback("m"))
    assert again.version == 1
    kinds = [(e.kind, e.version, e.to_value) for e in model_registry.history("m")]
    assert ("rollback", 2, "production") in kinds
    assert ("rollback", 3, "archived") in kinds


def test_rollback_without_history_is_a_clear_error(
    model_registry: ModelRegistry, forest: IsolationForest
) -> None:
    model_registry.register_model("m", forest)
    with pytest.raises(InvalidStageTransitionError, match="no production version"):
        model_registry.rollback("m")


def test_aliases(model_registry: ModelRegistry, forest: IsolationForest) -> None:
    model_registry.register_model("m", forest)
    model_registry.register_model("m", forest)
    model_registry.set_alias("m", "champion", 1)
    assert model_registry.get_model("m", alias="champion").version == 1
    assert model_registry.get_model("models:/m@champion").version == 1
    model_registry.set_alias("m", "champion", 2)
    assert model_registry.get_model("m@champion").version == 2
    assert model_registry.get_model("m", version=2).aliases == ["champion"]
    events = [
        (e.kind, e.from_value, e.to_value) for e in model_registry.history("m") if e.kind == "alias"
    ]
    assert events == [("alias", None, "champion@1"), ("alias", "champion@1", "champion@2")]
    with pytest.raises(ModelVersionNotFoundError, match="no alias 'nope'"):
        model_registry.get_model("m", alias="nope")
    with pytest.raises(InvalidInputError, match="alias"):
        model_registry.set_alias("m", "production", 1)


def test_unknown_model_version_alias(
    model_registry: ModelRegistry, forest: IsolationForest
) -> None:
    with pytest.raises(ModelNotFoundError, match="no registered model named 'ghost'"):
        model_registry.get_model("ghost")
    model_registry.register_model("m", forest)
    with pytest.raises(ModelVersionNotFoundError, match="no version 7"):
        model_registry.get_model("m", version=7)
    with pytest.raises(ModelVersionNotFoundError, match="stage production"):
        model_registry.get_model("m", stage="production")
    with pytest.raises(InvalidInputError, match="unknown stage"):
        model_registry.get_model("m", stage="prod")
    with pytest.raises(InvalidInputError, match="model name"):
        model_registry.register_model("bad/name", forest)


def test_corrupted_artifact_is_refused(
    model_registry: ModelRegistry, forest: IsolationForest, config: MLOpsConfig
) -> None:
    mv = model_registry.register_model("m", forest)
    root = Path(config.resolved_artifact_uri)
    files = [
        p
        for p in root.rglob("*")
        if p.is_file() and p.name != "MLmodel.json" and p.stat().st_size > 0
    ]
    target = max(files, key=lambda p: p.stat().st_size)
    blob = bytearray(target.read_bytes())
    blob[len(blob) // 2] ^= 0xFF
    target.write_bytes(bytes(blob))
    with pytest.raises(ModelIntegrityError) as info:
        model_registry.load_model("m", version=mv.version)
    assert isinstance(info.value, ModelRegistryError)
    assert ("m" in str(info.value) and "sha256" in str(info.value).lower()) or "corrupt" in str(
        info.value
    )


def test_non_serializable_model(model_registry: ModelRegistry) -> None:
    class Locked:
        def __init__(self) -> None:
            self.lock = threading.Lock()

        def predict(self, x: object) -> object:
            return x

    with pytest.raises(ModelSerializationError):
        model_registry.register_model("locked", Locked())
    with pytest.raises(ModelSerializationError, match="predict"):
        model_registry.register_model("nothing", object())


def test_approval_workflow(config: MLOpsConfig, forest: IsolationForest) -> None:
    settings = {"approval_required": True, "protected_aliases": ["champion"]}
    alice = ModelRegistry(
        config=config.model_copy(
            update={"model_registry": config.model_registry.model_copy(update=settings)}
        )
    )
    bob = ModelRegistry(
        config=config.model_copy(
            update={"user": "bob", "model_registry": alice.config.model_registry}
        )
    )
    mv = alice.register_model("m", forest)
    request = alice.promote_model("m", mv.version, "staging")
    assert isinstance(request, ApprovalRequest)
    assert request.status == "pending"
    assert alice.get_model("m", version=1).stage is Stage.NONE  # nothing moved yet
    with pytest.raises(ApprovalError, match="cannot approve"):
        alice.approve(request.id)
    approved = bob.approve(request.id, comment="looks good")
    assert approved.stage is Stage.STAGING
    with pytest.raises(ApprovalError, match="already approved"):
        bob.approve(request.id)
    alias_request = alice.set_alias("m", "champion", 1)
    assert isinstance(alias_request, ApprovalRequest)
    rejected = bob.reject(alias_request.id, comment="not yet")
    assert rejected.status == "rejected"
    assert rejected.decided_by == "bob"
    with pytest.raises(ModelVersionNotFoundError):
        alice.get_model("m", alias="champion")
    history = [(e.kind, e.user) for e in alice.history("m")]
    assert history == [
        ("register", "alice"),
        ("request", "alice"),
        ("approve", "bob"),
        ("stage", "bob"),
        ("request", "alice"),
        ("reject", "bob"),
    ]
    assert alice.list_requests() == []


def test_module_functions_and_seed_style_promotion(
    model_registry: ModelRegistry, forest: IsolationForest
) -> None:
    mv = mlops.register_model("m", forest, stage="staging")
    promoted = mlops.promote_model(mv.id, stage="production")  # the seed passes model.id
    assert isinstance(promoted, ModelVersion)
    assert promoted.stage is Stage.PRODUCTION


def test_pyod_detector_round_trip(model_registry: ModelRegistry, data: pd.DataFrame) -> None:
    pyod_iforest = pytest.importorskip("pyod.models.iforest")
    detector = pyod_iforest.IForest(n_estimators=20, random_state=0).fit(data.to_numpy())
    model_registry.register_model("pyod", detector)
    loaded = model_registry.load_model("pyod")
    np.testing.assert_array_equal(
        loaded.predict(data.to_numpy()), detector.predict(data.to_numpy())
    )


def test_lof_novelty_round_trip(model_registry: ModelRegistry, data: pd.DataFrame) -> None:
    x = data.to_numpy()  # scikit-learn's LOF warns on its own DataFrame input
    lof = LocalOutlierFactor(novelty=True).fit(x)
    model_registry.register_model("lof", lof)
    np.testing.assert_array_equal(model_registry.load_model("lof").predict(x), lof.predict(x))


def test_delete_and_restore_version(model_registry: ModelRegistry, forest: IsolationForest) -> None:
    model_registry.register_model("m", forest)
    model_registry.delete_model_version("m", 1)
    with pytest.raises(ModelVersionNotFoundError, match="deleted"):
        model_registry.get_model("m", version=1)
    model_registry.restore_model_version("m", 1)
    assert model_registry.get_model("m", version=1).version == 1


def test_tracking_and_registry_on_an_s3_artifact_root(
    s3_bucket: object, moto_endpoint: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The same code with artifacts in S3 (moto's real S3 API): log, register, load, corrupt."""
    monkeypatch.setenv("MLOPS_S3_ENDPOINT_URL", moto_endpoint)
    bucket = s3_bucket.name  # type: ignore[attr-defined]
    config = MLOpsConfig(
        home=tmp_path / "home",
        tracking_uri=f"sqlite:///{tmp_path / 's3.db'}",
        artifact_uri=f"s3://{bucket}/mlops",
    )
    tracker = ExperimentTracker(config=config)
    registry = ModelRegistry(config=config)
    note = tmp_path / "note.txt"
    note.write_text("in s3")
    model = IsolationForest(n_estimators=5, random_state=0).fit([[0.0], [1.0], [2.0]])
    with tracker.start_experiment("s3") as run:
        record = run.log_artifact(note)
        mv = registry.register_model("s3model", model)
    assert record.uri.startswith(f"s3://{bucket}/mlops/")
    assert tracker.stores.artifacts.read_bytes(record.uri, sha256=record.sha256) == b"in s3"
    assert mv.artifact_uri.startswith(f"s3://{bucket}/mlops/models/s3model/")
    assert (
        registry.load_model("s3model").predict([[1.0]]).tolist() == model.predict([[1.0]]).tolist()
    )
    keys = [o.key for o in s3_bucket.objects.filter(Prefix="mlops/models/")]  # type: ignore[attr-defined]
    target = next(k for k in keys if not k.endswith("MLmodel.json"))
    s3_bucket.put_object(Key=target, Body=b"tampered")  # type: ignore[attr-defined]
    fresh = ModelRegistry(config=config.model_copy(update={"home": tmp_path / "other-home"}))
    with pytest.raises(ModelIntegrityError):
        fresh.load_model("s3model")


def _approving(config: MLOpsConfig) -> tuple[ModelRegistry, ModelRegistry]:
    settings = config.model_registry.model_copy(
        update={"approval_required": True, "protected_aliases": ["champion"]}
    )
    alice = ModelRegistry(config=config.model_copy(update={"model_registry": settings}))
    bob = ModelRegistry(
        config=config.model_copy(update={"user": "bob", "model_registry": settings})
    )
    return alice, bob


def test_stage_at_registration_also_needs_approval(
    config: MLOpsConfig, forest: IsolationForest
) -> None:
    alice, bob = _approving(config)
    mv = alice.register_model("m", forest, stage="staging")
    assert mv.stage is Stage.NONE
    [request] = alice.list_requests()
    assert (request.action, request.target, request.version) == ("stage", "staging", 1)
    assert _version(bob.approve(request.id)).stage is Stage.STAGING


def test_a_stale_rollback_request_stays_pending(
    config: MLOpsConfig, forest: IsolationForest
) -> None:
    alice, bob = _approving(config)
    plain = ModelRegistry(config=config)
    for _ in range(3):
        mv = plain.register_model("m", forest, stage="staging")
        if mv.version < 3:
            plain.promote_model("m", mv.version, "production")
    rollback = alice.rollback("m")  # back to v1, pending
    assert isinstance(rollback, ApprovalRequest)
    plain.promote_model("m", 3, "production")  # history moves on meanwhile
    with pytest.raises(ApprovalError, match="changed since rollback request"):
        bob.approve(rollback.id)
    assert alice.stores.registry.get_request(rollback.id).status == "pending"


def test_removing_a_protected_alias_needs_approval_and_restore_keeps_aliases(
    config: MLOpsConfig, forest: IsolationForest
) -> None:
    alice, bob = _approving(config)
    plain = ModelRegistry(config=config)
    plain.register_model("m", forest)
    plain.set_alias("m", "champion", 1)
    request = alice.delete_alias("m", "champion")
    assert isinstance(request, ApprovalRequest)
    assert plain.get_model("m", alias="champion").version == 1  # still there
    bob.approve(request.id)
    with pytest.raises(ModelVersionNotFoundError):
        plain.get_model("m", alias="champion")
    plain.set_alias("m", "stable", 1)
    plain.delete_model_version("m", 1)
    plain.restore_model_version("m", 1)
    assert plain.get_model("m", alias="stable").version == 1


def test_the_store_enforces_stage_rules_itself(
    model_registry: ModelRegistry, forest: IsolationForest
) -> None:
    """A stale check in the caller cannot push an illegal transition through."""
    model_registry.register_model("m", forest)
    with pytest.raises(InvalidStageTransitionError):
        model_registry.stores.registry.set_stage(
            "m", 1, Stage.PRODUCTION, user="x", archive_existing=True
        )


def test_deleting_a_version_rejects_its_pending_requests(
    config: MLOpsConfig, forest: IsolationForest
) -> None:
    alice, bob = _approving(config)
    mv = alice.register_model("m", forest)
    request = alice.promote_model("m", mv.version, "staging")
    assert isinstance(request, ApprovalRequest)
    alice.delete_model_version("m", 1)
    assert alice.stores.registry.get_request(request.id).status == "rejected"
    with pytest.raises(ApprovalError, match="already rejected"):
        bob.approve(request.id)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_version_numbers_are_never_reused_and_refusals_leave_no_files(
    model_registry: ModelRegistry, forest: IsolationForest, config: MLOpsConfig
) -> None:
    from mlops.store.lifecycle import collect_garbage

    model_registry.register_model("m", forest)
    model_registry.register_model("m", forest)
    model_registry.delete_model_version("m", 2)
    collect_garbage(model_registry.stores)
    assert model_registry.register_model("m", forest).version == 3
    model_registry.delete_model("m")
    root = Path(config.resolved_artifact_uri)
    before = sorted(p for p in root.rglob("*") if p.is_file())
    with pytest.raises(ModelNotFoundError, match="deleted"):
        model_registry.register_model("m", forest)
    assert sorted(p for p in root.rglob("*") if p.is_file()) == before
