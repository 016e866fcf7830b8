"""Which variant a unit (user, session, row) gets: sticky, by a hash of its id.

The rule is ``mlops.assignment``'s, the one ``ModelEnsemble.assign`` and the deployment router
use, so a user routed to ``model_b`` by the ensemble is counted as ``model_b`` by the A/B test
when both use the same split and key. A ``salt`` (e.g. the test's name) decorrelates tests that
run on the same users; pass the salted key to the ensemble too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np
from numpy.typing import NDArray

from mlops.assignment import hash_point, pick
from mlops.errors import InvalidInputError

__all__ = ["assign", "assign_many", "check_split", "hash_point"]

SPLIT_TOLERANCE = 1e-6


def check_split(split: Mapping[str, float]) -> dict[str, float]:
    """The split as floats; refuses an empty one, negative shares, or shares not summing to 1."""
    if not split:
        raise InvalidInputError(
            "traffic_split needs at least two variants, e.g. {'a': 0.5, 'b': 0.5}"
        )
    out: dict[str, float] = {}
    for name, share in split.items():
        if not isinstance(name, str) or not name.strip():
            raise InvalidInputError(f"variant name {name!r} must be a non-empty string")
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise InvalidInputError(f"variant {name!r} has share {share!r}; use a number in [0, 1]")
        out[name] = float(share)
    if len(out) < 2:
        raise InvalidInputError(f"traffic_split needs at least two variants, got {list(out)}")
    total = sum(out.values())
    if abs(total - 1) > SPLIT_TOLERANCE:
        raise InvalidInputError(
            f"traffic_split shares sum to {total:g}, not 1: {out}; scale them so they add up to 1"
        )
    return out


def assign(key: str, split: Mapping[str, float], salt: str | None = None) -> str:
    """The variant of ``key`` (the same as ``ModelEnsemble.assign(key)`` with these weights)."""
    names = [n for n, w in split.items() if w > 0]
    shares = [split[n] for n in names]
    return pick(hash_point(f"{salt}:{key}" if salt else key), names, shares)


def assign_many(
    keys: Iterable[str], split: Mapping[str, float], salt: str | None = None
) -> NDArray[np.str_]:
    """``assign`` for many keys at once (an offline replay's rows)."""
    names = [n for n, w in split.items() if w > 0]
    shares = [split[n] for n in names]
    return np.array([pick(hash_point(f"{salt}:{k}" if salt else k), names, shares) for k in keys])
