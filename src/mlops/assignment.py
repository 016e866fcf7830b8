"""One rule for "this key goes to that member", shared by every part that splits traffic.

``ModelEnsemble.assign``, the deployment router and the A/B test framework all place a key by
the first 8 bytes of its sha256 as a fraction of 2**64, then walk the members' weights in
order. Because it is one rule, a user the router sends to the canary is the user the ensemble
routes to ``model_b`` and the user the A/B test counts as ``model_b``, across processes and
restarts (no state, no seed).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TypeVar

__all__ = ["hash_point", "pick"]

T = TypeVar("T")


def hash_point(key: str) -> float:
    """A key's position in [0, 1): the first 8 bytes of its sha256 over 2**64."""
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64


def pick(point: float, members: Sequence[T], weights: Sequence[float]) -> T:
    """The member at ``point`` (in [0, 1)) when the weights are laid end to end in order.

    Members with zero weight are never picked; the caller passes at least one with a positive
    weight.
    """
    point *= sum(weights)
    chosen = None
    for member, weight in zip(members, weights, strict=True):
        if weight <= 0:
            continue
        chosen = member
        point -= weight
        if point < 0:
            return member
    if chosen is None:
        raise ValueError("pick needs a member with a positive weight")
    return chosen
