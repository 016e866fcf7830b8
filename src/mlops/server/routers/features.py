"""``/api/v1/features``: feature definitions (read-only) and online lookups.

Definitions live in the metadata database the server serves, so listing and describing them
needs nothing else. Online lookups are ``mlops.features.http``'s router, mounted here over the
server's ``FeatureStore``: the served database's definitions and the configured online store
(``features.online_store``, ``MLOPS_FEATURES__ONLINE_STORE`` or ``mlops server --online-store``;
default ``<home>/online.db``), opened on the first lookup. A program embedding the server can
also pass its own store: ``create_app(config, feature_store=FeatureStore(online_store=...))``.

Features have no per-resource grants: every route needs the viewer role globally. A lookup is a
read (not audited) even though its query travels as a POST body.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from fastapi import APIRouter, Query
from fastapi import Path as FastApiPath

from mlops.auth.entities import Role
from mlops.features.feature_store import FeatureStore
from mlops.features.http import features_router
from mlops.features.store import StoredDefinition
from mlops.server import schemas
from mlops.server.dependencies import ServerState, State
from mlops.server.permissions import allow
from mlops.server.routers import API_PREFIX

router = APIRouter(prefix=f"{API_PREFIX}/features", tags=["features"])
Kind = Literal["entity", "feature_view", "feature_service", "on_demand_view"]
DefinitionName = Annotated[str, FastApiPath(min_length=1, max_length=256)]


class Definition(schemas.Response):
    kind: str
    name: str
    version: int
    spec: dict[str, Any]
    schema_hash: str
    created_by: str
    created_at: int
    updated_at: int


class DefinitionList(schemas.Response):
    items: list[Definition]


class DefinitionVersions(Definition):
    versions: list[Definition]


def _redacted(stored: StoredDefinition) -> dict[str, Any]:
    """The stored definition, without the password a SQL source's URI may carry."""
    spec = dict(stored.spec)
    source = spec.get("source")
    if isinstance(source, dict) and isinstance(source.get("uri"), str):
        parts = urlsplit(source["uri"])
        if parts.password:
            host = parts.netloc.rsplit("@", 1)[1]
            netloc = f"{parts.username}:***@{host}"
            spec["source"] = {**source, "uri": urlunsplit(parts._replace(netloc=netloc))}
    return {**stored.__dict__, "spec": spec}


@router.get("/definitions", response_model=DefinitionList)
@allow("features.list", Role.VIEWER)
def list_definitions(state: State, kind: Kind | None = None) -> Any:
    """The newest version of every live definition (optionally of one kind), by kind and name."""
    return {"items": [_redacted(d) for d in state.definitions.list_definitions(kind)]}


@router.get("/definitions/{kind}/{name}", response_model=DefinitionVersions)
@allow("features.describe", Role.VIEWER)
def describe_definition(
    kind: Kind,
    name: DefinitionName,
    state: State,
    version: Annotated[int | None, Query(ge=1, le=2**31 - 1)] = None,
) -> Any:
    """One definition (the newest version unless ``version`` is given) and all its versions."""
    chosen = state.definitions.get_definition(kind, name, version)
    versions = state.definitions.list_versions(kind, name)
    return {**_redacted(chosen), "versions": [_redacted(v) for v in versions]}


def online_router(state: ServerState, store: FeatureStore | None = None) -> APIRouter:
    """The online-lookup routes over ``store``, or the server's own feature store."""
    source: FeatureStore | Callable[[], FeatureStore] = store or (lambda: state.feature_store)
    return features_router(source, guard=lambda action: allow(action, Role.VIEWER))
