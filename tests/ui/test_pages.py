"""The web UI in a real browser: every page loads, and what it shows is what the API says."""

from __future__ import annotations

import re
from typing import Any

import httpx

from mlops.models.entities import Stage
from mlops.models.registry import ModelRegistry


def runs_url(store: Any, experiment: str = "iris", **params: str) -> str:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return f"/experiments/{store.experiments[experiment]}/runs" + (f"?{query}" if query else "")


def shown_run_ids(page: Any) -> list[str]:
    return page.eval_on_selector_all(
        "table.runs tbody tr", "rows => rows.map(r => r.dataset.runId)"
    )


def search(store: Any, experiment: str = "iris", **body: Any) -> list[dict[str, Any]]:
    found = store.api(
        "POST", "/runs/search", json={"experiment_ids": [store.experiments[experiment]], **body}
    )
    return list(found["items"])


def test_experiments_page_lists_experiments_with_run_counts(page: Any, ui_store: Any) -> None:
    tab = page.open("/experiments")
    rows = tab.locator("table.grid tbody tr")
    assert rows.count() == 3
    iris = rows.filter(has_text="iris")
    assert iris.locator("td.num").nth(1).inner_text() == "12"
    assert rows.filter(has_text="digits-sweep").locator("td.num").nth(1).inner_text() == "4"
    page.screenshot("experiments")
    iris.get_by_role("checkbox").check()
    rows.filter(has_text="digits-sweep").get_by_role("checkbox").check()
    tab.get_by_role("button", name="Runs of selected").click()
    page.settle()
    assert tab.locator("h1").inner_text() == "2 experiments"
    assert tab.locator(".summary").inner_text() == "Runs 1\u201316 of 16"
    tab.go_back()
    page.settle()
    tab.get_by_role("link", name="iris", exact=True).click()
    page.settle()
    assert tab.locator("h1").inner_text() == "iris"


def test_filter_shows_the_runs_the_api_matches(page: Any, ui_store: Any) -> None:
    tab = page.open(runs_url(ui_store))
    assert len(shown_run_ids(tab)) == 12
    flt = 'metrics.f1 > 0.8 and params.solver = "lbfgs"'
    tab.get_by_label("filter").fill(flt)
    tab.get_by_label("filter").press("Enter")
    page.settle()
    expected = [r["id"] for r in search(ui_store, filter=flt, max_results=50)]
    assert 0 < len(expected) < 12
    assert shown_run_ids(tab) == expected
    assert tab.locator(".summary").inner_text() == f"Runs 1\u2013{len(expected)} of {len(expected)}"
    page.screenshot("runs-filtered")


def test_sort_by_a_metric_column(page: Any, ui_store: Any) -> None:
    tab = page.open(runs_url(ui_store))
    tab.locator("button.sort[data-sort='metrics.f1']").click()
    page.settle()
    shown = shown_run_ids(tab)
    assert shown == [r["id"] for r in search(ui_store, order_by=["metrics.f1 DESC"])]
    values = [float(v) for v in tab.locator("td[data-metric='f1']").all_inner_texts()]
    assert values == sorted(values, reverse=True)
    tab.locator("button.sort[data-sort='metrics.f1']").click()  # again: ascending
    page.settle()
    assert shown_run_ids(tab) == shown[::-1]
    page.screenshot("runs-sorted")


def test_pages_through_runs(page: Any, ui_store: Any) -> None:
    tab = page.open(runs_url(ui_store, size="5"))
    everything = [r["id"] for r in search(ui_store, max_results=50)]
    assert shown_run_ids(tab) == everything[:5]
    assert tab.locator(".summary").inner_text() == "Runs 1\u20135 of 12"
    tab.get_by_role("button", name="Next →").click()
    page.settle()
    assert shown_run_ids(tab) == everything[5:10]
    tab.get_by_role("button", name="Next →").click()
    page.settle()
    assert shown_run_ids(tab) == everything[10:]
    assert tab.get_by_role("button", name="Next →").is_disabled()
    tab.get_by_role("button", name="← Previous").click()
    page.settle()
    assert shown_run_ids(tab) == everything[5:10]


def test_a_bad_filter_shows_the_servers_message(page: Any, ui_store: Any) -> None:
    page.expect_failures("/api/v1/runs/search", "/api/v1/runs/count")
    tab = page.open(runs_url(ui_store))
    tab.get_by_label("filter").fill("metrics.f1 >> 2")
    tab.get_by_role("button", name="Filter").click()
    page.settle()
    body = httpx.post(
        f"{ui_store.url}/api/v1/runs/search",
        json={"experiment_ids": [ui_store.experiments["iris"]], "filter": "metrics.f1 >> 2"},
    ).json()["error"]
    shown = tab.locator(".error pre").inner_text()
    assert shown == body["message"]
    assert "^" in shown
    assert body["type"] in tab.locator(".error").inner_text()
    assert tab.locator("table.runs").count() == 0
    page.screenshot("runs-bad-filter")


def test_columns_can_be_chosen(page: Any, ui_store: Any) -> None:
    tab = page.open(runs_url(ui_store))
    tab.locator("details.chooser summary").click()
    tab.locator("input[data-kind='tags'][data-key='team']").check()
    tab.locator("input[data-kind='metrics'][data-key='loss']").uncheck()
    headers = tab.locator("table.runs thead tr:not(.groups) th").all_inner_texts()
    assert "team" in headers
    assert "loss" not in headers


def test_compare_three_runs_draws_one_curve_each(page: Any, ui_store: Any) -> None:
    tab = page.open(runs_url(ui_store))
    for row in range(3):
        tab.locator("table.runs tbody tr").nth(row).locator("input[type=checkbox]").check()
    tab.get_by_role("button", name="Compare").click()
    page.settle()
    assert tab.locator("h1").inner_text() == "Comparing 3 runs"
    curves = tab.locator(".card").filter(has_text="Metric by step").locator("path.series")
    assert curves.count() == 3
    points = [int(p) for p in curves.evaluate_all("ps => ps.map(p => p.dataset.points)")]
    assert points == [60, 60, 60]  # accuracy, logged at steps 0..59 by every run
    assert all(len(d) > 500 for d in curves.evaluate_all("ps => ps.map(p => p.getAttribute('d'))"))
    assert tab.locator("ul.legend li").count() == 3
    scatter = tab.locator("g.series.scatter circle")
    assert scatter.count() == 3
    assert tab.locator("table.diff tbody tr").count() > 0
    page.screenshot("compare")
    tab.get_by_label("Metric").first.select_option("loss")
    page.settle()
    assert curves.count() == 3


def test_run_page_shows_metrics_and_previews_artifacts(page: Any, ui_store: Any) -> None:
    tab = page.open(f"/runs/{ui_store.runs['logreg-03']}")
    assert tab.locator("h1").inner_text() == "logreg-03"
    assert tab.locator("path.series").count() == 1
    assert int(tab.locator("path.series").get_attribute("data-points")) == 60
    tab.locator("tr[data-metric='loss']").click()
    page.settle()
    assert tab.locator("path.series").get_attribute("data-name") == "loss"
    assert tab.locator(".card").filter(has_text="Datasets").locator("td").first.inner_text() == (
        "iris"
    )
    tab.locator("button[data-artifact='notes/summary.txt']").click()
    page.settle()
    assert "C=10.0 solver=lbfgs" in tab.locator("pre.artifact-text").inner_text()
    tab.locator("button[data-artifact='plots/confusion-3.png']").click()
    tab.wait_for_function("document.querySelector('img.artifact-image')?.naturalWidth > 0")
    assert tab.locator("img.artifact-image").evaluate("i => i.naturalWidth") == 72
    page.screenshot("run")
    with tab.expect_download() as download:
        tab.locator("tr", has_text="notes/summary.txt").get_by_role(
            "button", name="Download"
        ).click()
    assert download.value.suggested_filename == "summary.txt"


def test_nested_runs_link_parent_and_children(page: Any, ui_store: Any) -> None:
    tab = page.open(f"/runs/{ui_store.runs['sweep']}")
    children = tab.locator(".card").filter(has_text="Related runs").get_by_role("link")
    assert children.all_inner_texts() == ["depth-2", "depth-4", "depth-8"]
    children.first.click()
    page.settle()
    assert tab.locator("h1").inner_text() == "depth-2"
    assert tab.get_by_role("link", name="sweep", exact=True).count() == 1


def _move(page: Any, version: int, stage: str) -> None:
    row = page.page.locator(f"tr[data-version='{version}']")
    row.get_by_role("combobox").select_option(stage)
    row.get_by_role("button", name="Move").click()
    page.settle()
    flash = page.page.locator(".flash")
    assert re.search(f"Version {version} is now in {stage}", flash.inner_text()), flash.inner_text()


def test_promote_roll_back_and_approve_a_model(page: Any, ui_store: Any) -> None:
    registry = ModelRegistry(config=ui_store.config)
    tab = page.open("/models")
    assert tab.locator("table.grid tbody tr").count() == 1
    page.screenshot("models")
    tab.get_by_role("link", name=ui_store.model).click()
    page.settle()
    assert tab.locator("table.versions tbody tr").count() == 2
    lineage = tab.locator("tr[data-version='1']").get_by_role("link")
    assert lineage.inner_text() == "logreg-03"
    _move(page, 1, "staging")
    assert registry.get_model(ui_store.model, version=1).stage is Stage.STAGING
    _move(page, 1, "production")
    _move(page, 2, "staging")
    _move(page, 2, "production")
    assert registry.get_model(ui_store.model, version=1).stage is Stage.ARCHIVED
    assert registry.get_model(ui_store.model, version=2).stage is Stage.PRODUCTION
    tab.get_by_label("alias", exact=True).fill("champion")
    tab.get_by_label("alias version").select_option("2")
    tab.get_by_role("button", name="Set alias").click()
    page.settle()
    assert registry.get_model(ui_store.model, alias="champion").version == 2
    assert "@champion" in tab.locator("tr[data-version='2']").inner_text()
    page.screenshot("model")

    tab.once("dialog", lambda dialog: dialog.accept())
    tab.get_by_role("button", name="Roll back production").click()
    page.settle()
    assert registry.get_model(ui_store.model, version=1).stage is Stage.PRODUCTION

    # Bob asks (approval on in his configuration); the UI's user approves.
    settings = ui_store.config.model_registry.model_copy(update={"approval_required": True})
    bob = ModelRegistry(
        config=ui_store.config.model_copy(update={"user": "bob", "model_registry": settings})
    )
    request = bob.promote_model(ui_store.model, version=2, stage="staging")
    tab.reload()
    page.settle()
    row = tab.locator(f"tr[data-request='{request.id}']")
    assert "bob" in row.inner_text()
    page.screenshot("model-pending-request")
    row.get_by_role("button", name="Approve").click()
    page.settle()
    assert registry.get_model(ui_store.model, version=2).stage is Stage.STAGING
    assert tab.locator("tr[data-request]").count() == 0

    tab.get_by_role("button", name="remove alias champion").click()
    page.settle()
    assert "champion" not in registry.get_registered_model(ui_store.model).aliases


def test_unknown_pages_and_ids_show_an_error(page: Any, ui_store: Any) -> None:
    page.expect_failures("/api/v1/runs/0000000000000000nothere")
    tab = page.open("/runs/0000000000000000nothere")
    assert "RunNotFoundError" in tab.locator(".error").inner_text()
    tab = page.open("/no/such/page")
    assert "no page at" in tab.locator(".error").inner_text()


def test_buttons_follow_the_role_whoami_grants(page: Any, ui_store: Any) -> None:
    tab = page.open("/models")
    grants = tab.evaluate(
        """async () => {
            const roles = await import("/ui/static/js/roles.js");
            const me = (global_role, models = {}) => ({ global_role, models });
            return {
                viewer: roles.canMoveStage(me("viewer"), "m", "none", "staging"),
                editor: roles.canMoveStage(me("editor"), "m", "none", "staging"),
                editorToProduction: roles.canMoveStage(me("editor"), "m", "staging", "production"),
                adminOfModel: roles.canMoveStage(me("viewer", { m: "admin" }), "m", "staging",
                    "production"),
                adminOfOther: roles.canDecide(me("viewer", { other: "admin" }), "m"),
                anonymous: roles.canRollback(me(null), "m"),
            };
        }"""
    )
    assert grants == {
        "viewer": False,
        "editor": True,
        "editorToProduction": False,
        "adminOfModel": True,
        "adminOfOther": False,
        "anonymous": False,
    }


def test_sign_in_with_a_token_and_see_only_what_the_role_allows(page: Any, ui_store: Any) -> None:
    """The server's side of auth is stood in for at the network edge (this branch's server has
    no --auth): requests without the token get the 401 the auth server sends, and whoami names a
    viewer; everything else is the real server."""
    seen: list[str | None] = []

    def handle(route: Any) -> None:
        token = route.request.headers.get("authorization")
        seen.append(token)
        if token != "Bearer secret-token":
            error = {"type": "AuthenticationError", "message": "a valid API token is needed"}
            route.fulfill(status=401, json={"error": error})
        elif route.request.url.endswith("/api/v1/auth/whoami"):
            route.fulfill(
                json={
                    "username": "carol",
                    "auth_enabled": True,
                    "global_role": "viewer",
                    "experiments": {},
                    "models": {},
                }
            )
        else:
            route.continue_()

    page.expect_failures("/api/v1/auth/whoami")
    page.page.route("**/api/v1/**", handle)
    tab = page.open("/models")
    assert tab.locator(".signin h2").inner_text() == "Sign in"
    page.screenshot("sign-in")
    tab.get_by_placeholder("API token").fill("secret-token")
    tab.get_by_role("button", name="Sign in").click()
    page.settle()
    assert "carol (viewer)" in tab.locator("#who").inner_text()
    tab.get_by_role("link", name=ui_store.model).click()
    page.settle()
    assert tab.locator("table.versions tbody tr").count() == 2
    assert tab.get_by_role("button", name="Move").count() == 0  # a viewer moves nothing
    assert tab.get_by_role("button", name="Set alias").count() == 0
    assert seen[-1] == "Bearer secret-token"
    tab.get_by_role("button", name="Sign out").click()
    page.settle()
    assert tab.locator(".signin").count() == 1
