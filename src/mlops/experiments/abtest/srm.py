"""The sample-ratio-mismatch check: do the units per variant match the planned split?

A chi-square goodness-of-fit test of the observed counts against ``total * split``. A mismatch
means assignment or logging is broken (a variant crashes before logging, bots hit one arm), so
any difference measured is suspect: the framework refuses a verdict while it holds. The
threshold is p < 0.001, as in Fabijan et al., "Diagnosing Sample Ratio Mismatch in Online
Controlled Experiments" (KDD 2019): strict enough that a healthy test almost never trips it.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from scipy import stats as st

from mlops.errors import InvalidInputError
from mlops.experiments.abtest.entities import SRMCheck

__all__ = ["SRM_THRESHOLD", "srm_check"]

SRM_THRESHOLD = 0.001


def srm_check(
    counts: Mapping[str, int], split: Mapping[str, float], threshold: float = SRM_THRESHOLD
) -> SRMCheck:
    """Chi-square test of ``counts`` per variant against the planned ``split``."""
    unknown = sorted(set(counts) - set(split))
    if unknown:
        raise InvalidInputError(f"counts name variants {unknown} that are not in the split")
    names = [n for n in split if split[n] > 0]
    observed = np.array([counts.get(n, 0) for n in names], dtype=float)
    total = observed.sum()
    share = np.array([split[n] for n in names], dtype=float)
    expected = total * share / share.sum()
    seen = {n: int(c) for n, c in zip(names, observed, strict=True)}
    planned = {n: float(e) for n, e in zip(names, expected, strict=True)}
    if total == 0 or len(names) < 2:
        return SRMCheck(seen, planned, 0.0, 1.0, False)
    stat, p_value = st.chisquare(observed, expected)
    return SRMCheck(seen, planned, float(stat), float(p_value), bool(p_value < threshold))
