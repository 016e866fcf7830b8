"""The storage interface of the model registry."""

from __future__ import annotations

import abc
from collections.abc import Mapping
from typing import Any

from mlops.models.entities import (
    ApprovalRequest,
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
    Stage,
)


class RegistryStore(abc.ABC):
    """Registered models, their versions, stages, aliases, approval requests and history.

    Rules (stage transitions, approvals) live in ``ModelRegistry``; the store applies a change
    and its history entry in one transaction, so history never disagrees with state.
    """

    @abc.abstractmethod
    def create_model_version(
        self,
        name: str,
        *,
        artifact_uri: str,
        sha256: str,
        size: int,
        flavor: str,
        format: str,
        user: str,
        run_id: str | None = None,
        signature: Mapping[str, Any] | None = None,
        description: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> ModelVersion:
        """Register the next version of ``name`` (creating the model on first use)."""

    @abc.abstractmethod
    def get_registered_model(self, name: str) -> RegisteredModel:
        """The model; raises ``ModelNotFoundError``."""

    @abc.abstractmethod
    def list_registered_models(self, include_deleted: bool = False) -> list[RegisteredModel]:
        """Every registered model, by name."""

    @abc.abstractmethod
    def get_model_version(self, name: str, version: int) -> ModelVersion:
        """One version; raises ``ModelVersionNotFoundError``."""

    @abc.abstractmethod
    def get_latest_version(self, name: str, stage: Stage | None = None) -> ModelVersion:
        """The newest live version, optionally in ``stage``."""

    @abc.abstractmethod
    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        """The version an alias points at."""

    @abc.abstractmethod
    def list_model_versions(self, name: str, include_deleted: bool = False) -> list[ModelVersion]:
        """Every version of a model, newest first."""

    @abc.abstractmethod
    def set_stage(
        self,
        name: str,
        version: int,
        stage: Stage,
        *,
        user: str,
        archive_existing: bool,
        kind: str = "stage",
        comment: str | None = None,
        request_id: int | None = None,
    ) -> ModelVersion:
        """Move a version to ``stage`` (archiving the current production one if asked)."""

    @abc.abstractmethod
    def set_alias(
        self, name: str, alias: str, version: int, *, user: str, request_id: int | None = None
    ) -> None:
        """Point ``alias`` at ``version``."""

    @abc.abstractmethod
    def delete_alias(self, name: str, alias: str, *, user: str) -> None:
        """Remove an alias."""

    @abc.abstractmethod
    def list_events(self, name: str, version: int | None = None) -> list[RegistryEvent]:
        """History of a model (or one version), oldest first."""

    @abc.abstractmethod
    def create_request(
        self,
        name: str,
        version: int,
        action: str,
        target: str,
        *,
        user: str,
        archive_existing: bool = True,
        comment: str | None = None,
    ) -> ApprovalRequest:
        """Record a pending request."""

    @abc.abstractmethod
    def get_request(self, request_id: int) -> ApprovalRequest:
        """One request; raises ``NotFoundError``."""

    @abc.abstractmethod
    def list_requests(self, status: str | None = "pending") -> list[ApprovalRequest]:
        """Requests, oldest first."""

    @abc.abstractmethod
    def decide_request(
        self, request_id: int, approved: bool, *, user: str, comment: str | None = None
    ) -> ApprovalRequest:
        """Mark a pending request approved or rejected (the registry then applies it)."""

    @abc.abstractmethod
    def delete_model_version(self, name: str, version: int, restore: bool = False) -> None:
        """Soft-delete (or restore) a version."""

    @abc.abstractmethod
    def delete_registered_model(self, name: str, restore: bool = False) -> None:
        """Soft-delete (or restore) a model and hide its versions."""
