"""The tests, corrections, power and Bayesian numbers against scipy and published values, and
A/A and known-effect simulations: the error rates are what the calculator promised."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special
from scipy import stats as st

from mlops.errors import InvalidInputError
from mlops.experiments.abtest import power as pw
from mlops.experiments.abtest.bandit import thompson_weights
from mlops.experiments.abtest.bayes import prob_beat_means, prob_beat_proportions
from mlops.experiments.abtest.stats import holm, mann_whitney, two_proportion_ztest, welch_ttest

SIMS = 2000
"""Simulated tests per rate: the standard error of a 0.05 rate is 0.0049, so [0.03, 0.07] is
four standard errors either side."""


def test_z_test_matches_the_chi_square_test_of_the_2x2_table() -> None:
    result = two_proportion_ztest(120, 1000, 150, 1000)
    chi2, p, _, _ = st.chi2_contingency([[120, 880], [150, 850]], correction=False)
    assert result.statistic**2 == pytest.approx(chi2)
    assert result.p_value == pytest.approx(p)
    assert result.difference == pytest.approx(0.03)
    half = 1.959964 * np.sqrt(0.12 * 0.88 / 1000 + 0.15 * 0.85 / 1000)
    assert (result.ci_low, result.ci_high) == pytest.approx((0.03 - half, 0.03 + half), rel=1e-5)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 80), rng.normal(0.4, 2, 50)
    ours = welch_ttest(a, b)
    theirs = st.ttest_ind(b, a, equal_var=False)
    ci = theirs.confidence_interval(0.95)
    assert ours.statistic == pytest.approx(theirs.statistic)
    assert ours.p_value == pytest.approx(theirs.pvalue)
    assert (ours.ci_low, ours.ci_high) == pytest.approx((ci.low, ci.high))


def test_mann_whitney_matches_scipy_and_orients_the_effect() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.lognormal(0, 1, 300), rng.lognormal(0.3, 1, 300)
    ours = mann_whitney(a, b)
    assert ours.p_value == pytest.approx(st.mannwhitneyu(b, a, method="asymptotic").pvalue)
    assert ours.difference > 0
    assert ours.ci_low < ours.difference < ours.ci_high
    assert mann_whitney(b, a).difference == pytest.approx(-ours.difference)


def test_holm_matches_the_textbook_example() -> None:
    assert holm([0.01, 0.04, 0.03, 0.005]) == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_bad_inputs_are_clear() -> None:
    with pytest.raises(InvalidInputError, match="2 or more"):
        welch_ttest([1.0], [1.0, 2.0])
    with pytest.raises(InvalidInputError, match="not a proportion"):
        two_proportion_ztest(11, 10, 1, 10)
    with pytest.raises(InvalidInputError, match="equal"):
        pw.sample_size_proportions(0.1, 0.1)


# --- A/A: the false-positive rate is alpha ---------------------------------------------------


def _rate(flags: list[bool]) -> float:
    return float(np.mean(flags))


def test_aa_z_test_false_positive_rate() -> None:
    rng = np.random.default_rng(10)
    s = rng.binomial(1000, 0.1, size=(SIMS, 2))
    rate = _rate([two_proportion_ztest(a, 1000, b, 1000).p_value < 0.05 for a, b in s])
    assert 0.03 <= rate <= 0.07


def test_aa_welch_false_positive_rate() -> None:
    rng = np.random.default_rng(11)
    data = rng.normal(5, 2, size=(SIMS, 2, 100))
    rate = _rate([welch_ttest(a, b).p_value < 0.05 for a, b in data])
    assert 0.03 <= rate <= 0.07


def test_aa_mann_whitney_false_positive_rate() -> None:
    rng = np.random.default_rng(12)
    data = rng.lognormal(0, 1.5, size=(SIMS, 2, 100))  # heavy tails: the case it is chosen for
    rate = _rate([mann_whitney(a, b).p_value < 0.05 for a, b in data])
    assert 0.03 <= rate <= 0.07


# --- known effects: the power the calculator promised -----------------------------------------


def test_proportion_power_is_what_the_calculator_promised() -> None:
    n = pw.sample_size_proportions(0.10, 0.13, power=0.8)
    assert pw.power_proportions(0.10, 0.13, n) >= 0.8 > pw.power_proportions(0.10, 0.13, n - 5)
    rng = np.random.default_rng(20)
    a, b = rng.binomial(n, 0.10, SIMS), rng.binomial(n, 0.13, SIMS)
    rate = _rate(
        [two_proportion_ztest(x, n, y, n).p_value < 0.05 for x, y in zip(a, b, strict=False)]
    )
    assert rate == pytest.approx(0.8, abs=0.03)


def test_unequal_split_power_holds() -> None:
    n = pw.sample_size_proportions(0.20, 0.25, power=0.9, ratio=0.25)  # 80/20 split
    rng = np.random.default_rng(21)
    a, b = rng.binomial(n, 0.20, SIMS), rng.binomial(n // 4, 0.25, SIMS)
    rate = _rate(
        [two_proportion_ztest(x, n, y, n // 4).p_value < 0.05 for x, y in zip(a, b, strict=False)]
    )
    assert rate == pytest.approx(0.9, abs=0.025)


def test_means_sample_size_matches_the_textbook_and_simulation() -> None:
    assert pw.sample_size_means(0.5, 1.0) == 64  # Cohen's d = 0.5: 64 per group
    n = pw.sample_size_means(0.25, 1.0, power=0.8)
    rng = np.random.default_rng(22)
    data = rng.normal(0, 1, size=(SIMS, 2, n))
    data[:, 1] += 0.25
    rate = _rate([welch_ttest(a, b).p_value < 0.05 for a, b in data])
    assert rate == pytest.approx(0.8, abs=0.03)


# --- Bayes and the bandit ---------------------------------------------------------------------


def _exact_prob_beat(sa: int, na: int, sb: int, nb: int) -> float:
    """Evan Miller's closed form of P(p_b > p_a) for Beta(1 + s, 1 + n - s) posteriors."""
    a_a, b_a, a_b, b_b = 1 + sa, 1 + na - sa, 1 + sb, 1 + nb - sb
    i = np.arange(a_b)
    terms = (
        special.betaln(a_a + i, b_a + b_b)
        - np.log(b_b + i)
        - special.betaln(1 + i, b_b)
        - special.betaln(a_a, b_a)
    )
    return float(np.exp(terms).sum())


@pytest.mark.parametrize(("sa", "na", "sb", "nb"), [(10, 100, 15, 100), (40, 200, 35, 180)])
def test_probability_to_beat_matches_the_closed_form(sa: int, na: int, sb: int, nb: int) -> None:
    exact = _exact_prob_beat(sa, na, sb, nb)
    assert prob_beat_proportions(sa, na, sb, nb) == pytest.approx(exact, abs=0.005)


def test_probability_to_beat_for_means() -> None:
    assert prob_beat_means(0.0, 1.0) == 0.5
    assert prob_beat_means(1.96, 1.0) == pytest.approx(0.975, abs=1e-3)


def test_thompson_weights_favour_the_better_arm_but_never_starve() -> None:
    w = thompson_weights({"a": 100, "b": 160}, {"a": 1000, "b": 1000}, min_share=0.05)
    assert sum(w.values()) == pytest.approx(1.0)
    assert w["b"] > 0.9
    assert w["a"] >= 0.05
    even = thompson_weights({"a": 0, "b": 0}, {"a": 0, "b": 0})
    assert even["a"] == pytest.approx(0.5, abs=0.01)
