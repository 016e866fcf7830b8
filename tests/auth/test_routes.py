"""Every /api/v1 route declares a permission rule; a route without one cannot be served."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI

from mlops.config import MLOpsConfig
from mlops.server.app import create_app
from mlops.server.permissions import WRITES, api_routes, rule_of, unruled_routes


def test_every_api_route_has_a_rule(tmp_path: Path) -> None:
    app = create_app(MLOpsConfig(home=tmp_path, tracking_uri="sqlite:///:memory:"))
    api = api_routes(app.routes)
    assert len(api) > 40
    actions: dict[tuple[str, str], str] = {}
    for route in api:
        rule = rule_of(route)
        assert rule is not None, f"{route.methods} {route.path} has no @allow rule"
        assert rule.action.count(".") == 1, rule.action
        for method in route.methods & WRITES:
            # One stable audit name per write.
            assert actions.setdefault((method, route.path), rule.action) == rule.action
    assert unruled_routes(app.routes) == []


def test_an_unruled_route_is_found() -> None:
    app = FastAPI()
    router = APIRouter(prefix="/api/v1")

    @router.get("/open")
    def open_route() -> None:
        """Forgot its rule."""

    app.include_router(router)
    assert unruled_routes(app.routes) == ["GET /api/v1/open"]
