"""``RestRegistryStore``: the model registry store interface, served by an mlops server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pydantic import TypeAdapter

from mlops.models.entities import (
    ApprovalRequest,
    ModelVersion,
    RegisteredModel,
    RegistryEvent,
    Stage,
)
from mlops.models.store import RegistryStore
from mlops.store.rest.client import RestClient

_VERSION = TypeAdapter(ModelVersion)
_VERSIONS = TypeAdapter(list[ModelVersion])
_MODEL = TypeAdapter(RegisteredModel)
_MODELS = TypeAdapter(list[RegisteredModel])
_EVENTS = TypeAdapter(list[RegistryEvent])
_REQUEST = TypeAdapter(ApprovalRequest)
_REQUESTS = TypeAdapter(list[ApprovalRequest])


def _model(name: str) -> str:
    return f"/api/v1/models/{quote(name, safe='')}"


class RestRegistryStore(RegistryStore):
    """``RegistryStore`` over HTTP. The registry's rules stay in ``ModelRegistry``, client-side."""

    def __init__(self, client: RestClient):
        self.client = client

    def _get(self, path: str, **params: Any) -> Any:
        query = {k: v for k, v in params.items() if v is not None}
        return self.client.request("GET", path, params=query or None).json()

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
        body = {
            "artifact_uri": artifact_uri,
            "sha256": sha256,
            "size": size,
            "flavor": flavor,
            "format": format,
            "user": user,
            "run_id": run_id,
            "signature": dict(signature) if signature is not None else None,
            "description": description,
            "tags": dict(tags) if tags else None,
        }
        response = self.client.request(
            "POST", f"{_model(name)}/versions", json_body=body, once=True
        )
        return _VERSION.validate_python(response.json())

    def get_registered_model(self, name: str) -> RegisteredModel:
        return _MODEL.validate_python(self._get(_model(name)))

    def list_registered_models(self, include_deleted: bool = False) -> list[RegisteredModel]:
        data = self._get("/api/v1/models", include_deleted=include_deleted)
        return _MODELS.validate_python(data["items"])

    def get_model_version(self, name: str, version: int) -> ModelVersion:
        return _VERSION.validate_python(self._get(f"{_model(name)}/versions/{int(version)}"))

    def get_latest_version(self, name: str, stage: Stage | None = None) -> ModelVersion:
        stage_value = Stage(stage).value if stage is not None else None
        return _VERSION.validate_python(self._get(f"{_model(name)}/latest", stage=stage_value))

    def get_version_by_alias(self, name: str, alias: str) -> ModelVersion:
        path = f"{_model(name)}/aliases/{quote(alias, safe='')}"
        return _VERSION.validate_python(self._get(path))

    def list_model_versions(self, name: str, include_deleted: bool = False) -> list[ModelVersion]:
        data = self._get(f"{_model(name)}/versions", include_deleted=include_deleted)
        return _VERSIONS.validate_python(data["items"])

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
        body = {
            "stage": Stage(stage).value,
            "user": user,
            "archive_existing": archive_existing,
            "kind": kind,
            "comment": comment,
            "request_id": request_id,
        }
        path = f"{_model(name)}/versions/{int(version)}/stage"
        response = self.client.request("POST", path, json_body=body, once=True)
        return _VERSION.validate_python(response.json())

    def set_alias(
        self, name: str, alias: str, version: int, *, user: str, request_id: int | None = None
    ) -> None:
        body = {"version": int(version), "user": user, "request_id": request_id}
        path = f"{_model(name)}/aliases/{quote(alias, safe='')}"
        self.client.request("PUT", path, json_body=body, once=True)

    def delete_alias(self, name: str, alias: str, *, user: str) -> None:
        path = f"{_model(name)}/aliases/{quote(alias, safe='')}"
        self.client.request("DELETE", path, params={"user": user}, once=True)

    def list_events(self, name: str, version: int | None = None) -> list[RegistryEvent]:
        data = self._get(f"{_model(name)}/events", version=version)
        return _EVENTS.validate_python(data["items"])

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
        body = {
            "name": name,
            "version": int(version),
            "action": action,
            "target": target,
            "user": user,
            "archive_existing": archive_existing,
            "comment": comment,
        }
        response = self.client.request("POST", "/api/v1/requests", json_body=body, once=True)
        return _REQUEST.validate_python(response.json())

    def get_request(self, request_id: int) -> ApprovalRequest:
        return _REQUEST.validate_python(self._get(f"/api/v1/requests/{int(request_id)}"))

    def list_requests(self, status: str | None = "pending") -> list[ApprovalRequest]:
        data = self._get("/api/v1/requests", status=status if status is not None else "any")
        return _REQUESTS.validate_python(data["items"])

    def decide_request(
        self, request_id: int, approved: bool, *, user: str, comment: str | None = None
    ) -> ApprovalRequest:
        body = {"approved": approved, "user": user, "comment": comment}
        path = f"/api/v1/requests/{int(request_id)}/decision"
        response = self.client.request("POST", path, json_body=body, once=True)
        return _REQUEST.validate_python(response.json())

    def delete_model_version(self, name: str, version: int, restore: bool = False) -> None:
        path = f"{_model(name)}/versions/{int(version)}"
        if restore:
            self.client.request("POST", f"{path}/restore")
        else:
            self.client.request("DELETE", path)

    def delete_registered_model(self, name: str, restore: bool = False) -> None:
        if restore:
            self.client.request("POST", f"{_model(name)}/restore")
        else:
            self.client.request("DELETE", _model(name))
