"""Bayesian probability that the treatment beats the control.

Proportions: independent Beta(1 + successes, 1 + failures) posteriors (uniform priors); P(B > A)
by Monte Carlo from a seeded generator, so the same data always gives the same number.
Continuous metrics: the normal approximation of the posterior of the difference in means with a
flat prior, ``P(B > A) = Phi(diff / se)`` (Gelman et al., *BDA3*, sec. 3.5).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as st

from mlops.errors import InvalidInputError

__all__ = ["prob_beat_means", "prob_beat_proportions", "prob_best"]

DRAWS = 200_000


def prob_best(
    successes: list[int], trials: list[int], draws: int = DRAWS, seed: int = 0
) -> list[float]:
    """P(each arm has the highest rate) under Beta(1, 1) priors (Thompson sampling's weights)."""
    if len(successes) != len(trials) or not successes:
        raise InvalidInputError("give one success count and one trial count per arm")
    for s, n in zip(successes, trials, strict=True):
        if n < 0 or not 0 <= s <= n:
            raise InvalidInputError(f"{s} successes of {n} trials is not a proportion")
    rng = np.random.default_rng(seed)
    samples = np.stack(
        [rng.beta(1 + s, 1 + n - s, size=draws) for s, n in zip(successes, trials, strict=True)]
    )
    wins = np.bincount(samples.argmax(axis=0), minlength=len(successes))
    return [float(w / draws) for w in wins]


def prob_beat_proportions(
    successes_a: int, n_a: int, successes_b: int, n_b: int, seed: int = 0
) -> float:
    """P(p_b > p_a | data) under uniform priors."""
    return prob_best([successes_a, successes_b], [n_a, n_b], seed=seed)[1]


def prob_beat_means(diff: float, se: float) -> float:
    """P(mean_b > mean_a | data) with a flat prior and a normal posterior of the difference."""
    if se < 0:
        raise InvalidInputError(f"standard error must be non-negative, got {se}")
    if se == 0:
        return 0.5 if diff == 0 else float(diff > 0)
    return float(st.norm.cdf(diff / se))
