"""Thompson-sampling allocation: send more traffic to the variant that is probably best.

Each variant's weight is the posterior probability that its success rate is the highest
(Beta(1, 1) priors; Thompson 1933, Chapelle & Li 2011), floored at ``min_share`` so no arm
starves and the estimate of a losing arm keeps improving. A bandit-allocated test gives up the
fixed split, so its sample-ratio check and fixed-horizon p-values do not apply; its verdict is
the probability of being best.
"""

from __future__ import annotations

from collections.abc import Mapping

from mlops.errors import InvalidInputError
from mlops.experiments.abtest.bayes import prob_best

__all__ = ["thompson_weights"]


def thompson_weights(
    successes: Mapping[str, int],
    trials: Mapping[str, int],
    min_share: float = 0.05,
    seed: int = 0,
) -> dict[str, float]:
    """Traffic weights (summing to 1) from each variant's successes and trials."""
    names = list(trials)
    if not names:
        raise InvalidInputError("a bandit needs at least one variant")
    if not 0 <= min_share * len(names) <= 1:
        raise InvalidInputError(
            f"min_share {min_share} times {len(names)} variants must be between 0 and 1"
        )
    best = prob_best([successes.get(n, 0) for n in names], [trials[n] for n in names], seed=seed)
    free = 1 - min_share * len(names)
    return {n: min_share + free * p for n, p in zip(names, best, strict=True)}
