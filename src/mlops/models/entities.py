"""What the model registry records: models, immutable versions, stages, aliases and history."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from mlops.errors import InvalidInputError
from mlops.handles import Awaitable


class Stage(enum.StrEnum):
    """Where a version is in its life. Rules: none -> staging -> production -> archived."""

    NONE = "none"
    STAGING = "staging"
    PRODUCTION = "production"
    ARCHIVED = "archived"

    @classmethod
    def parse(cls, value: str | Stage | None) -> Stage:
        if value is None:
            return cls.NONE
        if isinstance(value, Stage):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError:
            raise InvalidInputError(
                f"unknown stage {value!r}; stages are none, staging, production, archived"
            ) from None


# Which stage may follow which. Anything else is refused with InvalidStageTransitionError.
ALLOWED_TRANSITIONS: dict[Stage, frozenset[Stage]] = {
    Stage.NONE: frozenset({Stage.STAGING, Stage.ARCHIVED}),
    Stage.STAGING: frozenset({Stage.PRODUCTION, Stage.ARCHIVED, Stage.NONE}),
    Stage.PRODUCTION: frozenset({Stage.ARCHIVED, Stage.STAGING}),
    Stage.ARCHIVED: frozenset({Stage.STAGING, Stage.NONE}),
}


@dataclass(frozen=True)
class ModelVersion(Awaitable):
    """One immutable registered version: the artifact, its hash, signature and lineage."""

    name: str
    version: int
    stage: Stage
    artifact_uri: str
    sha256: str
    size: int
    flavor: str
    format: str
    created_by: str
    created_at: int
    updated_at: int
    run_id: str | None = None
    signature: dict[str, Any] | None = None
    description: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    aliases: list[str] = field(default_factory=list)
    deleted_at: int | None = None

    @property
    def id(self) -> str:
        """``name/version``: accepted wherever a model version is named."""
        return f"{self.name}/{self.version}"

    @property
    def uri(self) -> str:
        return f"models:/{self.name}/{self.version}"


@dataclass(frozen=True)
class RegisteredModel:
    """A named model: the home of its versions and aliases."""

    name: str
    description: str | None
    tags: dict[str, str]
    created_at: int
    updated_at: int
    latest_version: int | None = None
    stages: dict[str, int] = field(default_factory=dict)  # stage -> newest version in it
    aliases: dict[str, int] = field(default_factory=dict)
    deleted_at: int | None = None


@dataclass(frozen=True)
class RegistryEvent:
    """One entry of the registry's history: who changed what, when, from what to what."""

    id: int
    name: str
    version: int | None
    kind: str  # register | stage | alias | alias_removed | request | approve | reject | rollback
    from_value: str | None
    to_value: str | None
    user: str
    created_at: int
    comment: str | None = None
    request_id: int | None = None


@dataclass(frozen=True)
class ApprovalRequest(Awaitable):
    """A stage change or protected-alias move waiting for another user's decision."""

    id: int
    name: str
    version: int
    action: str  # stage | alias | rollback
    target: str
    archive_existing: bool
    status: str  # pending | approved | rejected
    requested_by: str
    requested_at: int
    decided_by: str | None = None
    decided_at: int | None = None
    comment: str | None = None
