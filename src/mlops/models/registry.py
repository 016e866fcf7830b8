"""The model registry: immutable versions, stage rules, aliases, approvals and rollback."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlops.store.open import Stores

from mlops.config import MLOpsConfig, with_locations
from mlops.defaults import ProcessDefault
from mlops.errors import (
    ApprovalError,
    ArtifactCorruptedError,
    ExperimentNotFoundError,
    InvalidInputError,
    InvalidStageTransitionError,
    MLOpsError,
    ModelIntegrityError,
    ModelVersionNotFoundError,
    RunNotFoundError,
)
from mlops.experiments.entities import ArtifactRecord, now_ms
from mlops.models.entities import (
    ALLOWED_TRANSITIONS,
    ApprovalRequest,
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
    Stage,
)
from mlops.models.flavors import MANIFEST_NAME, LoadedModel, save_model
from mlops.models.flavors import load_model as load_flavor
from mlops.models.signature import infer_signature

_NAME = re.compile(r"^[A-Za-z0-9][\w\-. ]{0,255}$")
_ALIAS = re.compile(r"^[A-Za-z_][\w\-]{0,255}$")
_URI = re.compile(r"^models:/(?P<name>[^/@]+)(?:/(?P<ref>[^/@]+)|@(?P<alias>[^/@]+))?$")


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidInputError(
            f"model name {name!r} is invalid: start with a letter or digit, then up to 255 "
            "letters, digits, '_', '-', '.' or spaces ('/', '@' and ':' are reserved for URIs)"
        )
    return name


class ModelRegistry:
    """Named models with immutable, content-hashed versions.

    Args:
        uri: Metadata store URI; default from config.
        artifact_uri: Artifact root; default from config.
        config: A full ``MLOpsConfig`` (``model_registry.approval_required`` turns approvals on).
    """

    def __init__(
        self,
        uri: str | None = None,
        *,
        artifact_uri: str | None = None,
        config: MLOpsConfig | None = None,
        stores: Stores | None = None,
        user: str | None = None,
    ):
        """``stores`` and ``user`` let a server act through its open stores as the caller."""
        self.config = with_locations(config, uri, artifact_uri)
        self._stores: Stores | None = stores
        self._user = user

    @property
    def stores(self) -> Stores:
        if self._stores is None:
            # Imported here: the store layer imports this domain's entities.
            from mlops.store.open import open_stores

            self._stores = open_stores(self.config)
        return self._stores

    @property
    def user(self) -> str:
        return self._user or self.config.user

    # --- registering ---------------------------------------------------------------------------

    def register_model(
        self,
        name: str,
        model: Any,
        run_id: str | None = None,
        experiment_id: str | None = None,
        stage: str | Stage | None = None,
        description: str | None = None,
        tags: Mapping[str, Any] | None = None,
        input_example: Any = None,
        flavor: str | None = None,
    ) -> ModelVersion:
        """Save ``model`` and register it as the next version of ``name``.

        Lineage: ``run_id`` (default: the active run, if any) links the version to its run and,
        through it, to the run's datasets. The seed passes the active run's id as
        ``experiment_id``; an id naming a run is accepted there too.
        """
        _check_name(name)
        target = Stage.parse(stage) if stage is not None else None
        if target is not None and target not in ALLOWED_TRANSITIONS[Stage.NONE]:
            raise InvalidStageTransitionError(
                f"a new version cannot start in stage {target.value}: register it, then promote "
                "none -> staging -> production"
            )
        run_id = self._resolve_run(run_id, experiment_id)
        signature = infer_signature(input_example, _output_example(model, input_example))
        artifacts = self.stores.artifacts
        prefix = f"models/{name}/{uuid.uuid4().hex}"
        with tempfile.TemporaryDirectory(prefix="mlops-model-") as tmp:
            folder = Path(tmp) / "model"
            folder.mkdir()
            saved = save_model(model, folder, flavor=flavor)
            infos = artifacts.put_dir(folder, prefix)
        try:
            version = self.stores.registry.create_model_version(
                name,
                artifact_uri=artifacts.uri_for(prefix),
                sha256=saved.sha256,
                size=sum(i.size for i in infos),
                flavor=saved.flavor,
                format=saved.format,
                user=self.user,
                run_id=run_id,
                signature=signature.to_dict() if signature is not None else None,
                description=description,
                tags={k: str(v) for k, v in (tags or {}).items()},
            )
        except MLOpsError:
            # Refused (a deleted model, a lost race): no version points at these files.
            artifacts.delete_prefix(prefix)
            raise
        # Bookkeeping only: loading verifies through the version's manifest hash.
        self.stores.tracking.record_artifacts(
            [ArtifactRecord(i.uri, i.path, i.size, i.sha256, now_ms()) for i in infos]
        )
        if target is None:
            return version
        if self.config.model_registry.approval_required:
            # The version exists; its first stage waits for another user like any other change.
            self.stores.registry.create_request(
                name,
                version.version,
                "stage",
                target.value,
                user=self.user,
                comment="stage requested at registration",
            )
            return version
        return self._apply_stage(version, target, archive_existing=True)

    def _resolve_run(self, run_id: str | None, experiment_id: str | None) -> str | None:
        from mlops.experiments.tracking import active_run

        tracking = self.stores.tracking
        if run_id is not None:
            tracking.get_run(run_id)
            return run_id
        if experiment_id is not None:
            try:
                return tracking.get_run(str(experiment_id)).id
            except RunNotFoundError:
                try:
                    tracking.get_experiment(str(experiment_id))
                except ExperimentNotFoundError:
                    raise ExperimentNotFoundError(
                        f"experiment_id {experiment_id!r} names neither an experiment nor a run"
                    ) from None
        current = active_run()
        return current.id if current is not None else None

    # --- reading -------------------------------------------------------------------------------

    def get_model(
        self,
        name: str,
        version: int | str | None = None,
        stage: str | Stage | None = None,
        alias: str | None = None,
    ) -> ModelVersion:
        """A version by number, stage or alias; the newest one if none is given.

        ``name`` may also be a reference: ``"name/3"``, ``"models:/name/production"``,
        ``"models:/name@champion"``.
        """
        name, version, stage, alias = _parse_reference(name, version, stage, alias)
        given = sum(x is not None for x in (version, stage, alias))
        if given > 1:
            raise InvalidInputError("give at most one of version, stage and alias")
        store = self.stores.registry
        if version is not None:
            try:
                number = int(version)
            except (TypeError, ValueError):
                raise InvalidInputError(f"version {version!r} is not a version number") from None
            return store.get_model_version(name, number)
        if alias is not None:
            return store.get_version_by_alias(name, alias)
        return store.get_latest_version(name, Stage.parse(stage) if stage is not None else None)

    def load_model(
        self,
        name: str | ModelVersion,
        version: int | str | None = None,
        stage: str | Stage | None = None,
        alias: str | None = None,
    ) -> LoadedModel:
        """Load a version for prediction, refusing any artifact whose sha256 has changed."""
        mv = name if isinstance(name, ModelVersion) else self.get_model(name, version, stage, alias)
        cache = self.config.home / "cache" / "models" / mv.sha256
        if not cache.exists():
            self._download(mv, cache)
        try:
            return load_flavor(cache, mv.sha256)
        except ModelIntegrityError:
            # A cached copy can rot too: fetch it afresh once, verifying every file.
            shutil.rmtree(cache, ignore_errors=True)
            self._download(mv, cache)
            return load_flavor(cache, mv.sha256)

    def _download(self, mv: ModelVersion, target: Path) -> None:
        """Fetch a version's files, each checked against the manifest the version's hash pins."""
        artifacts = self.stores.artifacts
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        tmp.mkdir(parents=True)
        root = artifacts.relative(mv.artifact_uri)
        try:
            manifest = tmp / MANIFEST_NAME
            artifacts.download(f"{root}/{MANIFEST_NAME}", manifest, sha256=mv.sha256)
            for rel, sha256 in json.loads(manifest.read_bytes())["files"].items():
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                artifacts.download(f"{root}/{rel}", dest, sha256=sha256)
            tmp.rename(target)
        except ArtifactCorruptedError as exc:
            raise ModelIntegrityError(
                f"model {mv.name} version {mv.version} is corrupted in the artifact store and will "
                f"not be loaded: {exc}"
            ) from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def list_models(self, include_deleted: bool = False) -> list[RegisteredModel]:
        return self.stores.registry.list_registered_models(include_deleted)

    def get_registered_model(self, name: str) -> RegisteredModel:
        return self.stores.registry.get_registered_model(name)

    def list_versions(self, name: str, include_deleted: bool = False) -> list[ModelVersion]:
        return self.stores.registry.list_model_versions(name, include_deleted)

    def history(self, name: str, version: int | None = None) -> list[RegistryEvent]:
        """Every registration, stage change, alias move, request and decision, oldest first."""
        return self.stores.registry.list_events(name, version)

    def get_lineage(self, name: str, version: int | str) -> dict[str, Any]:
        """The run that produced a version and the datasets that run consumed."""
        mv = self.get_model(name, version=version)
        if mv.run_id is None:
            return {"model_version": mv.id, "run": None, "datasets": []}
        run = self.stores.tracking.get_run(mv.run_id)
        return {
            "model_version": mv.id,
            "run": run,
            "datasets": [{"context": i.context, "dataset": i.dataset} for i in run.inputs],
        }

    # --- stages, aliases, approvals ------------------------------------------------------------

    def promote_model(
        self,
        name: str | ModelVersion,
        version: int | str | None = None,
        stage: str | Stage = Stage.PRODUCTION,
        archive_existing: bool = True,
        comment: str | None = None,
    ) -> ModelVersion | ApprovalRequest:
        """Move a version to ``stage`` under the stage rules.

        Promoting to production archives the current production version unless
        ``archive_existing=False``. With ``approval_required`` this returns a pending
        ``ApprovalRequest`` that another user must approve.
        """
        mv = self._version(name, version)
        target = Stage.parse(stage)
        self._check_transition(mv, target)
        if self.config.model_registry.approval_required:
            return self.stores.registry.create_request(
                mv.name,
                mv.version,
                "stage",
                target.value,
                user=self.user,
                archive_existing=archive_existing,
                comment=comment,
            )
        return self._apply_stage(mv, target, archive_existing, comment=comment)

    def _version(self, name: str | ModelVersion, version: int | str | None) -> ModelVersion:
        if isinstance(name, ModelVersion):
            return self.get_model(name.name, version=name.version)
        if version is None and "/" not in name and "@" not in name:
            raise InvalidInputError(
                f"say which version of {name!r}: promote_model({name!r}, version=N, ...)"
            )
        return self.get_model(name, version=version)

    def _check_transition(self, mv: ModelVersion, target: Stage) -> None:
        if target not in ALLOWED_TRANSITIONS[mv.stage]:
            allowed = ", ".join(sorted(s.value for s in ALLOWED_TRANSITIONS[mv.stage]))
            raise InvalidStageTransitionError(
                f"model {mv.name!r} version {mv.version} is in stage {mv.stage.value} and cannot "
                f"move to {target.value}; from {mv.stage.value} it can move to: {allowed}"
            )

    def _apply_stage(
        self,
        mv: ModelVersion,
        target: Stage,
        archive_existing: bool,
        comment: str | None = None,
        request_id: int | None = None,
        kind: str = "stage",
    ) -> ModelVersion:
        return self.stores.registry.set_stage(
            mv.name,
            mv.version,
            target,
            user=self.user,
            archive_existing=archive_existing,
            kind=kind,
            comment=comment,
            request_id=request_id,
        )

    def set_alias(
        self, name: str, alias: str, version: int | str
    ) -> ModelVersion | ApprovalRequest:
        """Point ``alias`` at a version; moving a protected alias may need approval."""
        if (
            not _ALIAS.match(alias)
            or alias.lower() in {s.value for s in Stage}
            or alias == "latest"
        ):
            raise InvalidInputError(
                f"alias {alias!r} is invalid: use letters, digits, '_' or '-', starting with a "
                "letter, and not a stage name or 'latest'"
            )
        mv = self.get_model(name, version=version)
        settings = self.config.model_registry
        if settings.approval_required and alias in settings.protected_aliases:
            return self.stores.registry.create_request(
                mv.name, mv.version, "alias", alias, user=self.user
            )
        self.stores.registry.set_alias(mv.name, alias, mv.version, user=self.user)
        return self.get_model(mv.name, version=mv.version)

    def delete_alias(self, name: str, alias: str) -> ApprovalRequest | None:
        """Remove an alias; removing a protected one may need approval (the request returns)."""
        settings = self.config.model_registry
        if settings.approval_required and alias in settings.protected_aliases:
            mv = self.stores.registry.get_version_by_alias(name, alias)
            return self.stores.registry.create_request(
                name, mv.version, "unalias", alias, user=self.user
            )
        self.stores.registry.delete_alias(name, alias, user=self.user)
        return None

    def rollback(self, name: str, comment: str | None = None) -> ModelVersion | ApprovalRequest:
        """Put the previous production version back in production, archiving the current one."""
        current, previous = self._rollback_pair(name)
        if self.config.model_registry.approval_required:
            return self.stores.registry.create_request(
                name,
                previous.version,
                "rollback",
                Stage.PRODUCTION.value,
                user=self.user,
                comment=comment or f"roll back from version {current.version}",
            )
        return self._do_rollback(name, previous.version, comment)

    def _rollback_pair(self, name: str) -> tuple[ModelVersion, ModelVersion]:
        store = self.stores.registry
        try:
            current = store.get_latest_version(name, Stage.PRODUCTION)
        except ModelVersionNotFoundError:
            raise InvalidStageTransitionError(
                f"model {name!r} has no production version to roll back from"
            ) from None
        # Replay production history as a stack: a promotion pushes, a rollback pops back to its
        # target. So rolling back twice walks two versions back, like undo.
        stack: list[int] = []
        for event in store.list_events(name):
            if event.to_value != Stage.PRODUCTION.value or event.version is None:
                continue
            if event.kind == "rollback":
                while stack and stack[-1] != event.version:
                    stack.pop()
            elif event.kind == "stage":
                stack.append(event.version)
        for version in reversed(stack[:-1] if stack and stack[-1] == current.version else stack):
            if version == current.version:
                continue
            try:
                previous = store.get_model_version(name, version)
            except ModelVersionNotFoundError:
                continue  # deleted since; look further back
            if previous.stage is not Stage.PRODUCTION:
                return current, previous
        raise InvalidStageTransitionError(
            f"model {name!r} has had no other production version to roll back to"
        )

    def _do_rollback(
        self, name: str, version: int, comment: str | None, request_id: int | None = None
    ) -> ModelVersion:
        current, previous = self._rollback_pair(name)
        if previous.version != version:
            raise ApprovalError(
                f"the production history of {name!r} changed since the rollback was requested"
            )
        return self.stores.registry.set_stage(
            name,
            version,
            Stage.PRODUCTION,
            user=self.user,
            archive_existing=True,
            kind="rollback",
            comment=comment or f"rolled back from version {current.version}",
            request_id=request_id,
        )

    def approve(self, request_id: int, comment: str | None = None) -> ModelVersion:
        """Approve another user's request and apply it."""
        request = self._pending(request_id)
        if request.requested_by == self.user:
            raise ApprovalError(
                f"{self.user!r} requested change {request_id} and cannot approve it; another user "
                "must"
            )
        mv = self.get_model(request.name, version=request.version)
        # Validate before deciding, so a request that can no longer be applied stays pending.
        if request.action == "stage":
            self._check_transition(mv, Stage.parse(request.target))
        elif request.action == "rollback":
            _, previous = self._rollback_pair(mv.name)
            if previous.version != mv.version:
                raise ApprovalError(
                    f"the production history of {mv.name!r} changed since rollback request "
                    f"{request_id}; reject it and request a new rollback"
                )
        self.stores.registry.decide_request(request_id, True, user=self.user, comment=comment)
        if request.action == "stage":
            return self._apply_stage(
                mv, Stage.parse(request.target), request.archive_existing, comment, request_id
            )
        if request.action == "alias":
            self.stores.registry.set_alias(
                mv.name, request.target, mv.version, user=self.user, request_id=request_id
            )
            return self.get_model(mv.name, version=mv.version)
        if request.action == "unalias":
            self.stores.registry.delete_alias(mv.name, request.target, user=self.user)
            return self.get_model(mv.name, version=mv.version)
        return self._do_rollback(mv.name, mv.version, comment, request_id)

    def reject(self, request_id: int, comment: str | None = None) -> ApprovalRequest:
        """Reject a pending request; nothing changes but the history."""
        self._pending(request_id)
        return self.stores.registry.decide_request(
            request_id, False, user=self.user, comment=comment
        )

    def _pending(self, request_id: int) -> ApprovalRequest:
        request = self.stores.registry.get_request(request_id)
        if request.status != "pending":
            raise ApprovalError(
                f"request {request_id} was already {request.status} by {request.decided_by}"
            )
        return request

    def list_requests(self, status: str | None = "pending") -> list[ApprovalRequest]:
        return self.stores.registry.list_requests(status)

    # --- deletion ------------------------------------------------------------------------------

    def delete_model_version(self, name: str, version: int) -> None:
        """Soft-delete a version (``mlops gc`` removes it and its files for good)."""
        self.stores.registry.delete_model_version(name, version)

    def restore_model_version(self, name: str, version: int) -> None:
        self.stores.registry.delete_model_version(name, version, restore=True)

    def delete_model(self, name: str) -> None:
        self.stores.registry.delete_registered_model(name)

    def restore_model(self, name: str) -> None:
        self.stores.registry.delete_registered_model(name, restore=True)


def _parse_reference(
    name: str, version: int | str | None, stage: str | Stage | None, alias: str | None
) -> tuple[str, int | str | None, str | Stage | None, str | None]:
    ref: str | None = None
    match = _URI.match(name)
    if match:
        name, ref = match["name"], match["ref"]
        alias = match["alias"] or alias
    elif "/" in name:
        name, _, ref = name.partition("/")
    elif "@" in name:
        name, _, alias = name.partition("@")
    if ref is not None and ref.lower() != "latest":
        # "name/3" is a version; "name/production" a stage.
        if ref.isdigit():
            version = ref
        else:
            stage = ref
    return name, version, stage, alias


def _output_example(model: Any, input_example: Any) -> Any:
    if input_example is None or not callable(getattr(model, "predict", None)):
        return None
    try:
        return model.predict(input_example)
    except Exception:  # the example is only a hint for the signature; a bad one must not block
        return None


# --- module functions over a default registry --------------------------------------------------

_default: ProcessDefault[ModelRegistry] = ProcessDefault(ModelRegistry)


def default_registry() -> ModelRegistry:
    """The registry the module functions use, configured from the environment on first use."""
    return _default.get()


def set_default_registry(registry: ModelRegistry | None) -> None:
    """Replace (or, with None, forget) the registry the module functions use."""
    _default.set(registry)


def register_model(name: str, model: Any, **kwargs: Any) -> ModelVersion:
    return default_registry().register_model(name, model, **kwargs)


def promote_model(
    name: str | ModelVersion,
    version: int | str | None = None,
    stage: str | Stage = Stage.PRODUCTION,
    **kwargs: Any,
) -> ModelVersion | ApprovalRequest:
    return default_registry().promote_model(name, version, stage, **kwargs)
