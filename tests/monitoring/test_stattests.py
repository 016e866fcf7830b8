"""Every statistic agrees with scipy (or a formula checked by hand) and is calibrated."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial import distance

from mlops.monitoring.drift import prepare
from mlops.monitoring.stattests import (
    EMPTY_SHARE,
    STATTESTS,
    CurrentColumn,
    get_stattest,
    ks_statistic,
    wasserstein_sorted,
)
from mlops.monitoring.summaries import ColumnSummary, summarize_column
from mlops.monitoring.units import InvalidMonitoringInputError

TOL = 1e-9


def pair(
    ref: np.ndarray | pd.Series, cur: np.ndarray | pd.Series
) -> tuple[ColumnSummary, CurrentColumn]:
    summary = summarize_column(pd.Series(ref), "x")
    return summary, prepare(summary, pd.Series(cur))[0]


def run(name: str, ref: np.ndarray | pd.Series, cur: np.ndarray | pd.Series):  # type: ignore[no-untyped-def]
    summary, current = pair(ref, cur)
    return STATTESTS[name].compute(summary, current)


SIZES = [(30, 40), (200, 150), (3000, 2000), (12_000, 15_000)]


@pytest.mark.parametrize(("n", "m"), SIZES)
def test_ks_matches_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    for _ in range(5):
        a = rng.normal(0, 1, n).round(rng.integers(1, 4))  # ties too
        b = rng.normal(0.1, 1.2, m).round(rng.integers(1, 4))
        ours = run("ks", a, b)
        ref = stats.ks_2samp(a, b)
        assert ours.statistic == pytest.approx(ref.statistic, abs=TOL)
        assert ours.p_value == pytest.approx(ref.pvalue, abs=TOL)
        assert ks_statistic(np.sort(a), np.sort(b)) == pytest.approx(ref.statistic, abs=TOL)


@pytest.mark.parametrize(("n", "m"), SIZES)
def test_wasserstein_matches_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n * m)
    for _ in range(5):
        a = rng.gamma(2.0, 3.0, n).round(rng.integers(0, 3))
        b = rng.gamma(2.2, 3.0, m).round(rng.integers(0, 3))
        expected = stats.wasserstein_distance(a, b) / max(np.std(a), 0.001)
        assert run("wasserstein", a, b).statistic == pytest.approx(expected, rel=TOL, abs=TOL)
        raw = wasserstein_sorted(np.sort(a), np.sort(b))
        assert raw == pytest.approx(stats.wasserstein_distance(a, b), rel=TOL, abs=TOL)


def test_wasserstein_with_a_larger_current_side() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=100), rng.normal(0.4, 1, 5000)
    assert wasserstein_sorted(np.sort(a), np.sort(b)) == pytest.approx(
        stats.wasserstein_distance(a, b), rel=TOL
    )


@pytest.mark.parametrize(("n", "m"), SIZES[:3])
def test_anderson_cvm_energy_match_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(7 + n)
    a, b = rng.normal(0, 1, n), rng.normal(0.2, 1, m)
    ad = run("anderson", a, b)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = stats.anderson_ksamp([a, b])
    assert ad.statistic == pytest.approx(expected.statistic, abs=TOL)
    assert ad.p_value == pytest.approx(expected.pvalue, abs=TOL)
    cvm = run("cramer_von_mises", a, b)
    expected_cvm = stats.cramervonmises_2samp(a, b)
    assert cvm.statistic == pytest.approx(expected_cvm.statistic, abs=TOL)
    assert cvm.p_value == pytest.approx(expected_cvm.pvalue, abs=TOL)
    scale = np.std(a)
    assert run("energy", a, b).statistic == pytest.approx(
        stats.energy_distance(a / scale, b / scale), abs=TOL
    )


def test_chisquare_is_scipys_homogeneity_test_with_new_categories() -> None:
    rng = np.random.default_rng(11)
    a = rng.choice(list("abcd"), 500, p=[0.4, 0.3, 0.2, 0.1])
    b = np.concatenate([rng.choice(list("abcd"), 480), np.array(["new"] * 20)])
    ours = run("chisquare", a, b)
    keys = sorted(set(a) | set(b))
    table = np.array([[np.sum(a == k) for k in keys], [np.sum(b == k) for k in keys]])
    expected = stats.chi2_contingency(table, correction=False)
    assert ours.statistic == pytest.approx(expected.statistic, abs=TOL)
    assert ours.p_value == pytest.approx(expected.pvalue, abs=TOL)


def test_z_test_by_hand_and_equal_to_chisquare_on_two_values() -> None:
    a = np.array(["yes"] * 60 + ["no"] * 40)
    b = np.array(["yes"] * 45 + ["no"] * 55)
    ours = run("z", a, b)
    # By hand: pooled share of "no" (the first key) is 95/200.
    p1, p2, pooled = 40 / 100, 55 / 100, 95 / 200
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (2 / 100))
    assert ours.statistic == pytest.approx(z, abs=TOL)
    assert ours.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), abs=TOL)
    # z squared is the 2x2 chi-square statistic without continuity correction.
    assert ours.statistic**2 == pytest.approx(run("chisquare", a, b).statistic, rel=TOL)


def shares(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Evidently's binning, written out: 30 equal-width bins over the combined range."""
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=30)
    p = np.histogram(a, edges)[0] / a.size
    q = np.histogram(b, edges)[0] / b.size
    p[p == 0] = EMPTY_SHARE
    q[q == 0] = EMPTY_SHARE
    return p, q


def test_binned_distances_match_their_formulas() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0, 1, 4000), rng.normal(0.3, 1.1, 3000)
    p, q = shares(a, b)
    assert run("jensenshannon", a, b).statistic == pytest.approx(
        distance.jensenshannon(p, q), abs=TOL
    )
    assert run("kl_div", a, b).statistic == pytest.approx(stats.entropy(p, q), abs=TOL)
    # PSI by hand: sum of (p - q) * ln(p / q) over the bins.
    assert run("psi", a, b).statistic == pytest.approx(
        sum((pi - qi) * math.log(pi / qi) for pi, qi in zip(p, q, strict=True)), abs=TOL
    )
    edges = np.histogram_bin_edges(np.concatenate([a, b]), bins=30)
    hp = np.histogram(a, edges)[0] / a.size
    hq = np.histogram(b, edges)[0] / b.size
    hellinger = math.sqrt(np.sum((np.sqrt(hp) - np.sqrt(hq)) ** 2)) / math.sqrt(2)
    assert run("hellinger", a, b).statistic == pytest.approx(hellinger, abs=TOL)


def test_psi_on_categories_by_hand() -> None:
    a = np.array(["a"] * 50 + ["b"] * 30 + ["c"] * 20)
    b = np.array(["a"] * 30 + ["b"] * 30 + ["c"] * 40)
    expected = (0.5 - 0.3) * math.log(0.5 / 0.3) + 0 + (0.2 - 0.4) * math.log(0.2 / 0.4)
    assert run("psi", a, b).statistic == pytest.approx(expected, abs=TOL)


def test_unknown_and_misapplied_tests_are_clear_errors() -> None:
    with pytest.raises(InvalidMonitoringInputError, match="unknown stattest 'kss'"):
        get_stattest("kss")
    with pytest.raises(InvalidMonitoringInputError, match="needs a numeric column"):
        run("ks", np.array(["a", "b"]), np.array(["a"]))
    assert get_stattest("KS").name == "ks"
    assert get_stattest("js").name == "jensenshannon"


# --- calibration and power -------------------------------------------------------------------


def _false_alarm_rate(name: str, sampler, pairs: int = 500, seed: int = 7) -> float:  # type: ignore[no-untyped-def]
    # With 500 pairs the rate's standard error is about 0.01, so [0.03, 0.07] is +-2 SE: any
    # fixed seed fails a correct test 5% of the time. The seed is fixed once for every test, and
    # the cheap tests are also checked on 4,000 pairs (+-3 SE) below.
    rng = np.random.default_rng(seed)
    test = STATTESTS[name]
    alarms = 0
    for _ in range(pairs):
        out = test.compute(*pair(sampler(rng), sampler(rng)))
        alarms += test.drifted(test.score(out), 0.05)
    return alarms / pairs


@pytest.mark.parametrize(
    ("name", "sampler"),
    [
        ("ks", lambda rng: rng.normal(0, 1, 200)),
        ("anderson", lambda rng: rng.normal(0, 1, 200)),
        ("cramer_von_mises", lambda rng: rng.normal(0, 1, 200)),
        ("chisquare", lambda rng: rng.choice(list("abcde"), 300, p=[0.3, 0.25, 0.2, 0.15, 0.1])),
        ("z", lambda rng: rng.choice(["x", "y"], 300, p=[0.3, 0.7])),
    ],
)
def test_p_value_tests_are_calibrated_under_no_drift(name: str, sampler) -> None:  # type: ignore[no-untyped-def]
    rate = _false_alarm_rate(name, sampler)
    assert 0.03 <= rate <= 0.07, f"{name}: false-alarm rate {rate:.3f} at alpha 0.05"


@pytest.mark.parametrize(
    ("name", "sampler"),
    [
        ("chisquare", lambda rng: rng.choice(list("abc"), 300, p=[0.5, 0.3, 0.2])),
        ("z", lambda rng: rng.choice(["x", "y"], 300, p=[0.3, 0.7])),
    ],
)
def test_count_tests_are_calibrated_on_4000_pairs(name: str, sampler) -> None:  # type: ignore[no-untyped-def]
    rate = _false_alarm_rate(name, sampler, pairs=4000, seed=11)
    assert 0.04 <= rate <= 0.06, f"{name}: false-alarm rate {rate:.4f} at alpha 0.05"


def test_ks_detects_a_shift_of_a_third_of_a_standard_deviation() -> None:
    rng = np.random.default_rng(99)
    test = STATTESTS["ks"]
    detected = 0
    for _ in range(200):
        out = test.compute(*pair(rng.normal(0, 1, 1000), rng.normal(0.3, 1, 1000)))
        detected += test.drifted(test.score(out), 0.05)
    assert detected / 200 >= 0.95
