"""A server with ``model_registry.approval_required`` enforces it: a governed change needs an
approved request, even from a client that skips ``ModelRegistry``'s own checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
import pytest
from sklearn.ensemble import IsolationForest

from mlops.config import MLOpsConfig, RegistrySettings
from mlops.errors import ApprovalError
from mlops.models import ModelRegistry
from mlops.models.entities import ApprovalRequest, Stage

GOVERNED = RegistrySettings(approval_required=True, protected_aliases=["champion"])


@pytest.fixture
def governed_server(tmp_path: Path, serve: Callable[[MLOpsConfig], str]) -> str:
    return serve(
        MLOpsConfig(
            home=tmp_path / "server-home",
            tracking_uri=f"sqlite:///{tmp_path / 'server.db'}",
            artifact_uri=str(tmp_path / "artifacts"),
            model_registry=GOVERNED,
        )
    )


def client(url: str, tmp_path: Path, user: str, governed: bool) -> ModelRegistry:
    config = MLOpsConfig(home=tmp_path / user, tracking_uri=url, user=user)
    if governed:
        config = config.model_copy(update={"model_registry": GOVERNED})
    return ModelRegistry(config=config)


def test_direct_changes_are_refused_and_approved_ones_applied(
    governed_server: str, tmp_path: Path
) -> None:
    model = IsolationForest(n_estimators=5, random_state=0).fit(np.zeros((20, 2)))
    careless = client(governed_server, tmp_path, "carl", governed=False)
    careless.register_model("m", model)
    # A client without approval configured goes straight to the store route: refused.
    with pytest.raises(ApprovalError, match="requires approval"):
        careless.promote_model("m", 1, "staging")
    with pytest.raises(ApprovalError, match="requires approval"):
        careless.set_alias("m", "champion", 1)
    careless.set_alias("m", "candidate", 1)  # not protected: no approval needed
    assert careless.get_model("m", version=1).stage is Stage.NONE
    # The approval path works over HTTP: alice requests, bob approves, the server applies it.
    alice = client(governed_server, tmp_path, "alice", governed=True)
    bob = client(governed_server, tmp_path, "bob", governed=True)
    request = alice.promote_model("m", 1, "staging")
    assert isinstance(request, ApprovalRequest)
    assert bob.approve(request.id).stage is Stage.STAGING
    # An approved request only covers its own change.
    body = {"stage": "production", "user": "carl", "archive_existing": True}
    other = httpx.post(
        f"{governed_server}/api/v1/models/m/versions/1/stage",
        json={**body, "request_id": request.id},
    )
    assert other.status_code == 409, other.text
    assert "does not approve" in other.json()["error"]["message"]
    assert careless.get_model("m", version=1).stage is Stage.STAGING
