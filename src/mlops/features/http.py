"""Online lookups over HTTP: a FastAPI router over a ``FeatureStore``.

``mlops features serve`` runs it alone; the tracking server mounts it too, over a store it
opens on first use and with its permission rules (``guard``). Endpoints are plain ``def``: the
store is synchronous, and FastAPI runs such endpoints in its thread pool.

    POST /api/v1/features/online  {"feature_view": "stats", "entities": [1, 2]}
         -> {"columns": {...}, "event_timestamps": {...}, "fresh": {...}}
    GET  /api/v1/features/views   -> [{"name": ..., "version": ..., "features": [...]}, ...]
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator

from mlops.errors import MLOpsError
from mlops.features.entities import FeatureView
from mlops.features.feature_store import FeatureStore

MAX_ENTITIES = 10_000
"""Entities one lookup may name: a bound on one request's work (each key is also a bound
parameter of the online store's query, and SQLite builds cap how many a query may take)."""


class OnlineRequest(BaseModel):
    """An online lookup: one view (or feature references) and the entities' keys."""

    entities: list[Any] | dict[str, list[Any]] = Field(
        description='Key values, [[k1, k2], ...] or {"key": [...]} for compound keys.'
    )
    feature_view: str | None = None
    features: list[str] | None = None
    full_feature_names: bool = False

    @field_validator("entities")
    @classmethod
    def _bounded(cls, value: list[Any] | dict[str, list[Any]]) -> Any:
        columns = value.values() if isinstance(value, dict) else [value]
        if any(len(column) > MAX_ENTITIES for column in columns):
            raise ValueError(f"at most {MAX_ENTITIES:,} entities per lookup; split the request")
        return value


def _stamp(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


Endpoint = Callable[..., Any]
Guard = Callable[[str], Callable[[Endpoint], Endpoint]]
"""``guard(action)(endpoint)``: the endpoint with what may call it (the server's ``allow``)."""


def _unguarded(_action: str) -> Callable[[Endpoint], Endpoint]:
    return lambda endpoint: endpoint


def features_router(
    store: FeatureStore | Callable[[], FeatureStore], guard: Guard = _unguarded
) -> APIRouter:
    """The routes, bound to one store (or a function giving it, called per request).

    ``guard(action)`` decorates each endpoint: the tracking server passes its permission rule
    (``features.online``, ``features.views``).
    """
    router = APIRouter(prefix="/api/v1/features", tags=["features"])

    def current() -> FeatureStore:
        return store if isinstance(store, FeatureStore) else store()

    def online(body: OnlineRequest) -> dict[str, Any]:
        entities = body.entities
        if isinstance(entities, list):
            entities = [tuple(e) if isinstance(e, list) else e for e in entities]
        result = current().get_online_features(
            entities,
            feature_view=body.feature_view,
            features=body.features,
            full_feature_names=body.full_feature_names,
        )
        return {
            "columns": {k: [_json(v) for v in vs] for k, vs in result.columns.items()},
            "event_timestamps": {
                view: [_stamp(s) for s in stamps]
                for view, stamps in result.event_timestamps.items()
            },
            "fresh": result.fresh,
        }

    def views() -> list[dict[str, Any]]:
        found = current().list_definitions("feature_view")
        return [
            {
                "name": v.name,
                "version": v.version,
                "entities": list(v.entities),
                "features": [{"name": f.name, "dtype": f.dtype.value} for f in v.features],
                "ttl_seconds": v.ttl.total_seconds() if v.ttl else None,
            }
            for v in found
            if isinstance(v, FeatureView)
        ]

    router.add_api_route("/online", guard("features.online")(online), methods=["POST"])
    router.add_api_route("/views", guard("features.views")(views), methods=["GET"])
    return router


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def create_features_app(store: FeatureStore) -> FastAPI:
    """A standalone app serving only the feature routes (``mlops features serve``), with the
    platform's error body: ``{"error": {"type", "message"}}`` and the error's status code."""
    app = FastAPI(title="mlops features")
    app.include_router(features_router(store))

    @app.exception_handler(MLOpsError)
    def _error(_request: Request, exc: MLOpsError) -> JSONResponse:
        return JSONResponse(
            {"error": {"type": type(exc).__name__, "message": str(exc)}},
            status_code=exc.status_code,
        )

    return app
