"""Fixed-horizon comparisons of a treatment with the control, and multiple-testing correction.

Each test returns a :class:`~mlops.experiments.abtest.entities.TestResult`: the difference
(treatment - control) with a two-sided confidence interval and p-value. Which test fits which
metric is decided in ``metrics.py``: 0/1 outcomes get the two-proportion z-test, roughly normal
means Welch's t-test, heavy-tailed values (latencies, revenue) Mann-Whitney's U test.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats as st

from mlops.errors import InvalidInputError
from mlops.experiments.abtest.entities import TestResult

__all__ = [
    "bootstrap_test",
    "holm",
    "mann_whitney",
    "two_proportion_ztest",
    "welch_ttest",
]

Z_MAX = 40.0
"""The largest |z| reported (two-sided p below 1e-300): beyond every sequential boundary, and
finite, so a decisive look is kept and stored as a number."""


def _values(name: str, data: ArrayLike) -> NDArray[np.float64]:
    values = np.asarray(data, dtype=float).ravel()
    if values.size < 2:
        raise InvalidInputError(f"{name} has {values.size} observation(s); a test needs 2 or more")
    if not np.isfinite(values).all():
        raise InvalidInputError(f"{name} holds NaN or infinite values; drop or fix them first")
    return values


def _check_alpha(alpha: float) -> None:
    if not 0 < alpha < 1:
        raise InvalidInputError(f"alpha must be between 0 and 1, got {alpha}")


def two_proportion_ztest(
    successes_a: int, n_a: int, successes_b: int, n_b: int, alpha: float = 0.05
) -> TestResult:
    """Two-sided z-test of p_b - p_a (pooled standard error under H0), Wald interval.

    The pooled variance is the score test's: it keeps the false-positive rate at ``alpha``
    when the rates are equal; the interval uses the unpooled (Wald) standard error.
    """
    _check_alpha(alpha)
    for label, s, n in (("control", successes_a, n_a), ("treatment", successes_b, n_b)):
        if n < 1 or not 0 <= s <= n:
            raise InvalidInputError(f"{label}: {s} successes of {n} trials is not a proportion")
    p_a, p_b = successes_a / n_a, successes_b / n_b
    diff = p_b - p_a
    pooled = (successes_a + successes_b) / (n_a + n_b)
    se0 = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    se = np.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    z = diff / se0 if se0 > 0 else 0.0
    p_value = float(2 * st.norm.sf(abs(z)))
    half = float(st.norm.ppf(1 - alpha / 2) * se)
    return TestResult("z-test", p_a, p_b, diff, diff - half, diff + half, float(z), p_value)


def welch_ttest(a: ArrayLike, b: ArrayLike, alpha: float = 0.05) -> TestResult:
    """Welch's t-test of mean(b) - mean(a) (unequal variances, Welch-Satterthwaite df)."""
    _check_alpha(alpha)
    x, y = _values("control", a), _values("treatment", b)
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    se = float(np.sqrt(va + vb))
    diff = float(y.mean() - x.mean())
    if se == 0:  # both arms constant: equal, or as different as can be
        p = 1.0 if diff == 0 else 0.0
        z = float(np.sign(diff)) * Z_MAX
        return TestResult("welch", float(x.mean()), float(y.mean()), diff, diff, diff, z, p)
    df = (va + vb) ** 2 / (va**2 / (x.size - 1) + vb**2 / (y.size - 1))
    t = diff / se
    p_value = float(2 * st.t.sf(abs(t), df))
    half = float(st.t.ppf(1 - alpha / 2, df)) * se
    return TestResult(
        "welch", float(x.mean()), float(y.mean()), diff, diff - half, diff + half, t, p_value
    )


def mann_whitney(a: ArrayLike, b: ArrayLike, alpha: float = 0.05) -> TestResult:
    """Mann-Whitney U test; the effect is P(B > A) + P(B = A)/2 - 0.5 (probability of
    superiority, centred), with a Hanley-McNeil normal interval.

    Control and treatment values are the medians. Ties get scipy's tie correction; the
    asymptotic p-value is used (exact enumeration is slow and no better at A/B sizes).
    """
    _check_alpha(alpha)
    x, y = _values("control", a), _values("treatment", b)
    res = st.mannwhitneyu(y, x, alternative="two-sided", method="asymptotic")
    n1, n2 = y.size, x.size
    auc = float(res.statistic) / (n1 * n2)
    # Hanley & McNeil (1982) standard error of the AUC.
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    var = (auc * (1 - auc) + (n1 - 1) * (q1 - auc**2) + (n2 - 1) * (q2 - auc**2)) / (n1 * n2)
    half = float(st.norm.ppf(1 - alpha / 2) * np.sqrt(max(var, 0.0)))
    effect = auc - 0.5
    z = _mann_whitney_z(float(res.statistic), y, x)
    return TestResult(
        "mann-whitney",
        float(np.median(x)),
        float(np.median(y)),
        effect,
        effect - half,
        effect + half,
        z,
        float(res.pvalue),
    )


def _mann_whitney_z(u: float, y: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    """The normal statistic behind scipy's asymptotic p-value (tie and continuity corrected),
    from U itself: ``isf(p / 2)`` would be infinite once a strong effect's p underflows to 0,
    and a sequential look cannot use an infinite z."""
    n1, n2 = y.size, x.size
    n = n1 + n2
    _, counts = np.unique(np.concatenate([y, x]), return_counts=True)
    ties = float((counts.astype(np.float64) ** 3 - counts).sum())
    sigma = np.sqrt(n1 * n2 / 12 * ((n + 1) - ties / (n * (n - 1))))
    centred = u - n1 * n2 / 2
    if sigma == 0 or centred == 0:
        return 0.0
    z = (centred - 0.5 * np.sign(centred)) / sigma
    return float(np.clip(z, -Z_MAX, Z_MAX))


def bootstrap_test(
    statistic_a: NDArray[np.float64],
    statistic_b: NDArray[np.float64],
    observed_a: float,
    observed_b: float,
    alpha: float = 0.05,
) -> TestResult:
    """Percentile interval and bootstrap p-value for a statistic with no closed form (F1).

    ``statistic_a``/``statistic_b`` are the statistic over bootstrap resamples of each arm;
    the p-value is twice the smaller tail of the resampled difference around zero.
    """
    _check_alpha(alpha)
    diffs = np.asarray(statistic_b) - np.asarray(statistic_a)
    diffs = diffs[np.isfinite(diffs)]
    if diffs.size < 100:
        raise InvalidInputError("the bootstrap needs at least 100 finite resamples")
    diff = observed_b - observed_a
    low, high = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    tail = min((diffs <= 0).mean(), (diffs >= 0).mean())
    p_value = float(min(1.0, 2 * tail))
    se = float(diffs.std(ddof=1))
    z = diff / se if se > 0 else 0.0
    return TestResult(
        "bootstrap", observed_a, observed_b, diff, float(low), float(high), z, p_value
    )


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (step-down; controls the family-wise error rate).

    Holm (1979): sort ascending, multiply the i-th smallest (0-based) by ``m - i``, carry the
    running maximum so adjusted values keep the order, and cap at 1.
    """
    p = np.asarray(p_values, dtype=float)
    m = p.size
    order = np.argsort(p, kind="stable")
    adjusted = np.minimum(1.0, np.maximum.accumulate(p[order] * (m - np.arange(m))))
    out = np.empty(m)
    out[order] = adjusted
    return [float(v) for v in out]
