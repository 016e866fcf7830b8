"""Alpha spending: published boundaries, and A/A simulations checked at every look."""

from __future__ import annotations

import numpy as np
import pytest

from mlops.errors import InvalidInputError
from mlops.experiments.abtest.sequential import boundaries, group_sequential
from mlops.experiments.abtest.stats import two_proportion_ztest

SIMS = 2000
LOOKS = 14  # daily looks over a 14-day test


def test_obrien_fleming_boundaries_match_published_values() -> None:
    # Lan-DeMets O'Brien-Fleming, 5 equally spaced looks, two-sided alpha 0.05 (ldbounds).
    expected = [4.8769, 3.3569, 2.6803, 2.2898, 2.0310]
    assert boundaries([0.2, 0.4, 0.6, 0.8, 1.0]) == pytest.approx(expected, abs=2e-4)


def test_pocock_boundaries_match_published_values() -> None:
    expected = [2.4380, 2.4268, 2.4101, 2.3966, 2.3859]
    got = boundaries([0.2, 0.4, 0.6, 0.8, 1.0], kind="pocock")
    assert got == pytest.approx(expected, abs=2e-4)


def test_a_single_look_is_the_fixed_test() -> None:
    assert boundaries([1.0]) == pytest.approx([1.959964], abs=1e-5)


def _cumulative_z(rng: np.random.Generator, effect: float) -> np.ndarray:
    """z of a two-proportion test at each daily look: 300 units per arm per day."""
    daily = 300
    a = rng.binomial(daily, 0.10, size=(SIMS, LOOKS)).cumsum(axis=1)
    b = rng.binomial(daily, 0.10 + effect, size=(SIMS, LOOKS)).cumsum(axis=1)
    n = daily * np.arange(1, LOOKS + 1)
    return np.array(
        [[two_proportion_ztest(a[s, k], n[k], b[s, k], n[k]).statistic for k in range(LOOKS)]
         for s in range(SIMS)]
    )  # fmt: skip


@pytest.mark.parametrize("kind", ["obrien_fleming", "pocock"])
def test_aa_sequential_checked_at_every_look_keeps_alpha(kind: str) -> None:
    z = _cumulative_z(np.random.default_rng(30), effect=0.0)
    fractions = [(k + 1) / LOOKS for k in range(LOOKS)]
    stopped = [group_sequential(row, fractions, kind=kind).significant for row in z]
    assert 0.03 <= np.mean(stopped) <= 0.07
    # The same data read naively (1.96 at every look) would be wrong far more often.
    assert np.mean((np.abs(z) >= 1.96).any(axis=1)) > 0.15


def test_sequential_detects_a_real_effect_early() -> None:
    z = _cumulative_z(np.random.default_rng(31), effect=0.03)
    fractions = [(k + 1) / LOOKS for k in range(LOOKS)]
    results = [group_sequential(row, fractions) for row in z]
    assert np.mean([r.significant for r in results]) > 0.95
    assert np.median([r.crossed_at for r in results if r.crossed_at is not None]) < LOOKS - 1


def test_uneven_information_and_bad_schedules() -> None:
    # Traffic doubling mid-test: spending by calendar, correlation by information.
    b = boundaries([0.25, 0.5, 0.75, 1.0], [100, 200, 400, 800])
    assert b[0] > b[1] > b[2] > b[3] > 1.96
    with pytest.raises(InvalidInputError, match="increase"):
        boundaries([0.5, 0.4])
    with pytest.raises(InvalidInputError, match="spending"):
        boundaries([1.0], kind="haybittle")


def test_the_analysis_feeds_daily_cumulative_z_values_to_the_sequential_test() -> None:
    import pandas as pd

    from mlops.experiments.abtest.analysis import DAY_MS, Plan, analyze_frame
    from mlops.experiments.abtest.metrics import MetricSpec

    rng = np.random.default_rng(40)
    rows = []
    for day in range(5):
        for i in range(400):
            variant = "a" if i % 2 else "b"
            value = float(rng.random() < (0.10 if variant == "a" else 0.12))
            rows.append((variant, f"{day}-{i}", "conversion", value, day * DAY_MS + i))
    frame = pd.DataFrame(rows, columns=["variant", "unit_id", "metric", "value", "at"])
    plan = Plan("id", "t", {"a": 0.5, "b": 0.5}, "a", [MetricSpec.parse("conversion")],
                duration_days=10)  # fmt: skip
    looks = analyze_frame(frame, plan, live=True, now_ms=5 * DAY_MS + 5).sequential[0]
    expected = []
    for day in range(1, 6):
        seen = frame[frame["at"] < day * DAY_MS]
        a, b = (seen[seen["variant"] == v]["value"] for v in ("a", "b"))
        expected.append(two_proportion_ztest(int(a.sum()), a.size, int(b.sum()), b.size).statistic)
    assert looks.z_values == pytest.approx(expected)
    assert looks.fractions == pytest.approx([0.1, 0.2, 0.3, 0.4, 0.5])
    information = [200 * d * 200 * d / (400 * d) for d in range(1, 6)]
    assert looks.bounds == pytest.approx(boundaries(looks.fractions, information))
    assert not looks.complete


@pytest.mark.parametrize(
    ("metric", "treatment"),
    [("latency_ms", lambda rng, n: rng.normal(130, 5, n)),  # p underflows to 0
     ("revenue:mean", lambda rng, n: np.full(n, 7.0))],  # both arms constant, different
)  # fmt: skip
def test_an_overwhelming_effect_crosses_the_boundary_at_the_first_look(
    metric: str, treatment: object
) -> None:
    """A p-value that underflows (or a zero-variance difference) is the strongest evidence,
    not a look to skip: the test stops at once with a winner."""
    import pandas as pd

    from mlops.experiments.abtest.analysis import DAY_MS, Plan, analyze_frame
    from mlops.experiments.abtest.metrics import MetricSpec
    from mlops.experiments.abtest.stats import Z_MAX

    rng = np.random.default_rng(3)
    spec = MetricSpec.parse(metric)
    n = 3000
    control = rng.normal(100, 5, n) if metric == "latency_ms" else np.full(n, 5.0)
    rows = [("a", f"a{i}", spec.name, float(v), i) for i, v in enumerate(control)]
    rows += [("b", f"b{i}", spec.name, float(v), i)
             for i, v in enumerate(treatment(rng, n))]  # type: ignore[operator]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["variant", "unit_id", "metric", "value", "at"])
    plan = Plan("id", "t", {"a": 0.5, "b": 0.5}, "a", [spec], duration_days=2)
    results = analyze_frame(frame, plan, live=True, now_ms=2 * DAY_MS)
    looks = results.sequential[0]
    assert looks.z_values
    assert all(abs(z) == Z_MAX for z in looks.z_values)
    assert looks.crossed_at == 0
    assert results.verdict.status == "winner"
    # Latency: lower is better, so the slower treatment loses; revenue: the higher one wins.
    assert results.verdict.winner == ("a" if metric == "latency_ms" else "b")
