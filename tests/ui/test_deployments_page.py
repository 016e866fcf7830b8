"""The Deployments pages in a real browser, over rollouts recorded by the deployment code's own
recorder (the same rows a canary writes as it runs)."""

from __future__ import annotations

from typing import Any

import pytest

from mlops.models.deployment.records import Recorder
from mlops.models.deployment.store import deployment_store
from mlops.models.registry import ModelRegistry

STEPS = [5.0, 25.0]


@pytest.fixture(scope="module")
def rollouts(ui_store: Any) -> dict[str, str]:
    """A canary of iris-classifier v2 rolled back at its second step, and a blue-green that
    finished; returns their ids."""
    store = deployment_store(ui_store.config)
    version = ModelRegistry(config=ui_store.config).get_model(ui_store.model, version=2)

    def start(name: str, strategy: str) -> Recorder:
        return Recorder.start(
            store,
            name=name,
            target="local",
            strategy=strategy,
            version=version,
            previous_version=1,
            settings={"steps": STEPS},
            user="alice",
            url="http://127.0.0.1:9",
            control_token="secret-token",
        )

    canary = start("iris-canary", "canary")
    canary.event("started", traffic=0.0)
    for share in STEPS:
        canary.event("step", traffic=share)
        passed = share < STEPS[-1]
        canary.event("gate", passed=passed, detail={"error_rate": 0.0 if passed else 0.31})
    canary.event("rolled_back", traffic=0.0, detail={"requests_to_new_version": 61},
                 message="error rate 0.31 > 0.05")  # fmt: skip
    canary.finish("rolled_back", "error rate 0.31 > 0.05")
    green = start("iris-green", "blue-green")
    green.event("started", traffic=0.0)
    green.event("step", traffic=100.0)
    green.finish("succeeded", "serving all traffic")
    return {"canary": canary.deployment_id, "green": green.deployment_id}


def test_deployments_pages_show_status_traffic_and_gates(
    page: Any, rollouts: dict[str, str], ui_store: Any
) -> None:
    tab = page.open("/deployments")
    rows = tab.locator("table.deployments tbody tr")
    assert rows.count() == 2
    canary = tab.locator(f"table.deployments tbody tr[data-deployment='{rollouts['canary']}']")
    assert "rolled back" in canary.inner_text()
    assert "v1 → v2" in canary.inner_text()
    assert tab.locator("nav a.active").inner_text() == "Deployments"
    page.screenshot("deployments")
    canary.get_by_role("link", name="iris-canary").click()
    page.settle()
    assert tab.locator("h1").inner_text() == "iris-canary"
    events = tab.locator("table.events tbody tr")
    kinds = events.evaluate_all("rows => rows.map(r => r.dataset.kind)")
    assert kinds == ["started", "step", "gate", "step", "gate", "rolled_back"]
    failed = tab.locator("table.events tbody tr.differs")
    assert failed.count() == 1
    assert "error_rate=0.31" in failed.inner_text()
    # Four traffic changes (start, two steps, the rollback) drawn as steps of two points each,
    # then the end.
    assert tab.locator("svg.chart path.series").get_attribute("data-points") == "9"
    page.screenshot("deployment")
    # The control token a deployment keeps for its own router is never shown.
    shown = ui_store.api("GET", f"/deployments/{rollouts['canary'][:8]}")
    assert "control_token" not in shown["config"]
    assert shown["config"]["steps"] == STEPS
