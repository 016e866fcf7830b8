"""The A/B tests pages in a real browser, over a test whose outcomes the Python API logged."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from mlops.experiments import ABTestFramework

DAY_MS = 86_400_000
DAYS = 6


@pytest.fixture(scope="module")
def checkout(ui_store: Any) -> Any:
    """A live test whose treatment converts better, analyzed as of its sixth day."""
    test = ABTestFramework(
        "checkout",
        {"control": 0.5, "treatment": 0.5},
        ["conversion", "revenue:mean", "latency_ms"],
        config=ui_store.config,
    )
    rng = np.random.default_rng(11)
    start = test.record.created_at
    rows = []
    for day in range(DAYS):
        for i in range(400):
            unit = f"u{day}-{i}"
            rate = 0.16 if test.assign(unit) == "treatment" else 0.10
            values = {
                "conversion": float(rng.random() < rate),
                "revenue": float(rng.gamma(2.0, 10.0)),
                "latency_ms": float(rng.lognormal(3, 0.5)),
            }
            rows.append({"unit_id": unit, "at": start + day * DAY_MS + 1000 * i, "values": values})
    test.log_outcomes(rows)
    results = test.analyze(at=start + DAYS * DAY_MS)
    assert results.verdict.status == "winner"
    return results


def test_abtest_pages_show_verdict_intervals_and_looks(page: Any, checkout: Any) -> None:
    tab = page.open("/abtests")
    row = tab.locator("table.abtests tbody tr[data-test='checkout']")
    assert "winner: treatment" in row.inner_text()
    assert tab.locator("nav a.active").inner_text() == "A/B tests"
    page.screenshot("abtests")
    row.get_by_role("link", name="checkout").click()
    page.settle()
    assert tab.locator("h1").inner_text() == "checkout"
    units = tab.locator("table.variants tbody tr[data-variant='treatment'] td.num").first
    assert units.inner_text() == f"{checkout.treatment.units:,}"
    comparisons = tab.locator("table.comparisons tbody tr")
    assert comparisons.count() == 3  # one per metric against the control
    primary = tab.locator("table.comparisons tbody tr[data-metric='conversion']")
    assert "significant" in primary.inner_text()
    assert tab.locator("table.comparisons svg.interval").count() == 3
    srm = tab.locator("section.card", has_text="Sample ratio")
    assert "consistent with the split" in srm.inner_text()
    series = tab.locator("svg.chart path.series")
    assert series.count() == 2  # |z| and its boundary
    assert series.first.get_attribute("data-points") == str(DAYS)
    page.screenshot("abtest")


def test_analyze_and_stop_buttons_act_through_the_api(
    page: Any, checkout: Any, ui_store: Any
) -> None:
    tab = page.open("/abtests/checkout")
    tab.get_by_role("button", name="Analyze now").click()
    page.settle()
    assert "Analyzed." in tab.locator(".flash").inner_text()
    tab.get_by_role("button", name="Stop").click()
    page.settle()
    assert "Stopped." in tab.locator(".flash").inner_text()
    assert ui_store.api("GET", "/abtests/checkout")["status"] == "stopped"
    assert tab.get_by_role("button", name="Stop").count() == 0
