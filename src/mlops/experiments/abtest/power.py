"""Sample size and power of the fixed-horizon tests, in closed form (scipy only).

Proportions use the normal approximation of the two-proportion z-test with the pooled variance
under H0 and the unpooled one under H1 (Fleiss, Levin & Paik, *Statistical Methods for Rates and
Proportions*, 3rd ed., eq. 4.14, without continuity correction). Means use Welch's t-test with
the noncentral t distribution, so small samples are not over-promised. ``ratio`` is
n_treatment / n_control, i.e. the traffic split's ratio.
"""

from __future__ import annotations

import math

from scipy import stats as st

from mlops.errors import InvalidInputError

__all__ = [
    "power_means",
    "power_proportions",
    "sample_size_means",
    "sample_size_proportions",
]

MAX_N = 10**9


def _check(alpha: float, power: float | None = None, ratio: float = 1.0) -> None:
    if not 0 < alpha < 1:
        raise InvalidInputError(f"alpha must be between 0 and 1, got {alpha}")
    if power is not None and not alpha < power < 1:
        raise InvalidInputError(f"power must be between alpha ({alpha}) and 1, got {power}")
    if not ratio > 0:
        raise InvalidInputError(f"ratio (n_treatment / n_control) must be positive, got {ratio}")


def _check_rates(p_a: float, p_b: float) -> None:
    if not (0 < p_a < 1 and 0 < p_b < 1):
        raise InvalidInputError(f"rates must be strictly between 0 and 1, got {p_a} and {p_b}")
    if p_a == p_b:
        raise InvalidInputError("the two rates are equal: there is no effect to detect")


def power_proportions(
    p_a: float, p_b: float, n_a: int, alpha: float = 0.05, ratio: float = 1.0
) -> float:
    """Power of the two-sided two-proportion z-test with ``n_a`` control units."""
    _check(alpha, ratio=ratio)
    _check_rates(p_a, p_b)
    if n_a < 1:
        raise InvalidInputError(f"n_a must be at least 1, got {n_a}")
    n_b = n_a * ratio
    pooled = (p_a * n_a + p_b * n_b) / (n_a + n_b)
    se0 = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    se1 = math.sqrt(p_a * (1 - p_a) / n_a + p_b * (1 - p_b) / n_b)
    z = st.norm.ppf(1 - alpha / 2)
    delta = abs(p_b - p_a)
    return float(st.norm.cdf((delta - z * se0) / se1) + st.norm.cdf((-delta - z * se0) / se1))


def sample_size_proportions(
    p_a: float, p_b: float, alpha: float = 0.05, power: float = 0.8, ratio: float = 1.0
) -> int:
    """Control units needed to detect rate ``p_b`` against ``p_a`` (treatment: ``ratio`` times
    as many)."""
    _check(alpha, power, ratio)
    _check_rates(p_a, p_b)
    z_a, z_b = st.norm.ppf(1 - alpha / 2), st.norm.ppf(power)
    pooled = (p_a + ratio * p_b) / (1 + ratio)
    numerator: float = z_a * math.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio)) + z_b * math.sqrt(
        p_a * (1 - p_a) + p_b * (1 - p_b) / ratio
    )
    return min(MAX_N, math.ceil((numerator / (p_b - p_a)) ** 2))


def power_means(
    effect: float,
    sd: float,
    n_a: int,
    alpha: float = 0.05,
    ratio: float = 1.0,
    sd_b: float | None = None,
) -> float:
    """Power of Welch's two-sided t-test to detect a difference in means of ``effect``."""
    _check(alpha, ratio=ratio)
    sd_b = sd if sd_b is None else sd_b
    if sd <= 0 or sd_b <= 0:
        raise InvalidInputError(f"standard deviations must be positive, got {sd} and {sd_b}")
    if n_a < 2 or n_a * ratio < 2:
        raise InvalidInputError("each arm needs at least 2 units for a t-test")
    n_b = n_a * ratio
    va, vb = sd**2 / n_a, sd_b**2 / n_b
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    ncp = abs(effect) / math.sqrt(va + vb)
    t = st.t.ppf(1 - alpha / 2, df)
    return float(st.nct.sf(t, df, ncp) + st.nct.cdf(-t, df, ncp))


def sample_size_means(
    effect: float,
    sd: float,
    alpha: float = 0.05,
    power: float = 0.8,
    ratio: float = 1.0,
    sd_b: float | None = None,
) -> int:
    """Control units needed to detect a difference in means of ``effect`` with Welch's test.

    Starts from the normal approximation, then steps up until the noncentral-t power reaches
    ``power`` (a few units at most).
    """
    _check(alpha, power, ratio)
    sd_b = sd if sd_b is None else sd_b
    if effect == 0:
        raise InvalidInputError("effect is 0: there is no difference to detect")
    if sd <= 0 or sd_b <= 0:
        raise InvalidInputError(f"standard deviations must be positive, got {sd} and {sd_b}")
    z_a, z_b = float(st.norm.ppf(1 - alpha / 2)), float(st.norm.ppf(power))
    n = max(2, math.ceil((z_a + z_b) ** 2 * (sd**2 + sd_b**2 / ratio) / effect**2))
    n = max(n, math.ceil(2 / ratio))
    while n < MAX_N and power_means(effect, sd, n, alpha, ratio, sd_b) < power:
        n += max(1, n // 1000)
    return n
