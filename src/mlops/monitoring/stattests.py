"""The drift tests: each compares a reference summary with one current column.

Why summaries and not raw arrays: the reference is sorted once (``summaries.py``); every test
here reads it by binary search, so a window costs O(m log n), never a re-sort of the reference.

Two families, as in Evidently and NannyML:

- *p-value tests* (``ks``, ``chisquare``, ``z``, ``anderson``, ``cramer_von_mises``): drift when
  ``p_value <= threshold`` (default 0.05). They are calibrated: under no drift the false-alarm
  rate is the threshold (tested on 500 seeded pairs).
- *distances* (``wasserstein``, ``jensenshannon``, ``psi``, ``kl_div``, ``hellinger``,
  ``energy``): drift when ``distance >= threshold`` (default 0.1).

Numbers agree with scipy to 1e-9 (tests/monitoring/test_stattests.py). Where a test needs bins
(PSI, KL, JS, Hellinger on a numeric column with many values), the bins are 30 equal-width bins
over the combined range, as Evidently draws them, and an empty bin counts as 1e-4 of a share so
that logarithms stay finite.

Deliberate differences from Evidently: ``chisquare`` is the two-sample test of homogeneity
(``scipy.stats.chi2_contingency`` on the 2 x k table), not a goodness-of-fit test that takes the
reference proportions as exact; with a finite reference the latter raises false alarms above
alpha. ``energy`` is computed on values scaled by the reference standard deviation, so its
threshold means the same for every column.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats
from scipy.spatial import distance

from mlops.monitoring.summaries import FEW_UNIQUE, ColumnSummary, Floats, numeric_counts
from mlops.monitoring.units import InvalidMonitoringInputError

N_BINS = 30
EMPTY_SHARE = 1e-4
EXACT_KS_MAX_N = 10_000  # scipy's ks_2samp is exact up to this many values per side


@dataclass
class CurrentColumn:
    """One current column, prepared once for every test: sorted values or counts."""

    kind: Literal["numeric", "categorical"]
    values: Floats = field(default_factory=lambda: np.empty(0))  # sorted, finite (numeric)
    counts: dict[str, int] = field(default_factory=dict)  # categorical
    total: int | None = None  # rows behind ``values`` when they are a sketch of a larger window
    _numeric_counts: dict[str, int] | None = None

    @property
    def count(self) -> int:
        if self.total is not None:
            return self.total
        return int(self.values.size) if self.kind == "numeric" else sum(self.counts.values())

    def value_counts(self) -> dict[str, int]:
        """Counts by value (a numeric column's values keyed like the reference's)."""
        if self.kind == "categorical":
            return self.counts
        if self._numeric_counts is None:
            self._numeric_counts = numeric_counts(self.values)
        return self._numeric_counts


@dataclass(frozen=True)
class Outcome:
    """What a test computed: its statistic and, for p-value tests, the p-value."""

    statistic: float
    p_value: float | None = None


@dataclass(frozen=True)
class StatTest:
    """A named drift test: how to compute it and how to read its score."""

    name: str
    title: str
    kind: Literal["p_value", "distance"]
    default_threshold: float
    column_kinds: tuple[str, ...]
    compute: Callable[[ColumnSummary, CurrentColumn], Outcome]

    def score(self, outcome: Outcome) -> float:
        """The number compared with the threshold: the p-value or the distance."""
        if self.kind == "p_value":
            assert outcome.p_value is not None
            return outcome.p_value
        return outcome.statistic

    def drifted(self, score: float, threshold: float) -> bool:
        if self.kind == "p_value":
            return score <= threshold
        return score >= threshold


# --- helpers -----------------------------------------------------------------------------------


def _uses_counts(ref: ColumnSummary, cur: CurrentColumn) -> bool:
    """Whether a numeric column is compared by value counts (few distinct values)."""
    if ref.kind == "categorical":
        return True
    if not ref.counts:
        return False
    return len(set(ref.counts) | set(cur.value_counts())) <= FEW_UNIQUE


def _aligned_counts(ref: ColumnSummary, cur: CurrentColumn) -> tuple[Floats, Floats]:
    """Reference and current counts over the union of values (new categories included)."""
    cur_counts = cur.value_counts()
    keys = sorted(set(ref.counts) | set(cur_counts))
    r = np.array([ref.counts.get(k, 0) for k in keys], dtype=np.float64)
    c = np.array([cur_counts.get(k, 0) for k in keys], dtype=np.float64)
    return r, c


def _histograms(
    ref: ColumnSummary, cur: CurrentColumn, n_bins: int = N_BINS
) -> tuple[Floats, Floats]:
    """Counts in ``n_bins`` equal-width bins over the combined range (np.histogram's rules)."""
    lo = min(ref.sample[0], cur.values[0])
    hi = max(ref.sample[-1], cur.values[-1])
    edges = np.histogram_bin_edges(np.array([lo, hi]), bins=n_bins)
    # Bins are [e_i, e_i+1) except the last, which is closed: count by binary search.
    left = np.searchsorted(ref.sample, edges, side="left").astype(np.float64)
    left[-1] = ref.sample.size
    r = np.diff(left)
    if not ref.exact:
        r *= ref.count / ref.sample.size
    c = np.histogram(cur.values, bins=edges)[0].astype(np.float64)
    return r, c


def _shares(ref: ColumnSummary, cur: CurrentColumn) -> tuple[Floats, Floats]:
    """Reference and current shares per value or bin, empty cells floored at ``EMPTY_SHARE``."""
    r, c = _aligned_counts(ref, cur) if _uses_counts(ref, cur) else _histograms(ref, cur)
    p = r / r.sum()
    q = c / c.sum()
    p[p == 0] = EMPTY_SHARE
    q[q == 0] = EMPTY_SHARE
    return p, q


def _need_numeric(name: str, ref: ColumnSummary) -> None:
    if ref.kind != "numeric":
        raise InvalidMonitoringInputError(
            f"stattest {name!r} needs a numeric column and {ref.name!r} is categorical; use "
            "chisquare, z, jensenshannon, psi, kl_div or hellinger for categories"
        )


# --- p-value tests -----------------------------------------------------------------------------


def ks_statistic(ref_sorted: Floats, cur_sorted: Floats) -> float:
    """Two-sample Kolmogorov-Smirnov D, with the reference already sorted.

    Between two consecutive current values the current ECDF is flat and the reference ECDF
    only rises, so the largest gap is at a current value or just before it: evaluating the
    reference ECDF there (both sides) is exact and costs O(m log n).
    """
    n, m = ref_sorted.size, cur_sorted.size
    f_right = np.searchsorted(ref_sorted, cur_sorted, side="right") / n
    f_left = np.searchsorted(ref_sorted, cur_sorted, side="left") / n
    # ECDF of the current sample at each of its values (right) and just before (left).
    g_right = np.searchsorted(cur_sorted, cur_sorted, side="right") / m
    g_left = np.searchsorted(cur_sorted, cur_sorted, side="left") / m
    d = max(np.max(np.abs(f_right - g_right)), np.max(np.abs(f_left - g_left)))
    return float(d)


def _ks(ref: ColumnSummary, cur: CurrentColumn) -> Outcome:
    _need_numeric("ks", ref)
    n, m = ref.count, cur.count
    if ref.exact and cur.total is None and max(n, m) <= EXACT_KS_MAX_N:
        res = stats.ks_2samp(ref.sample, cur.values)
        return Outcome(float(res.statistic), float(res.pvalue))
    d = ks_statistic(ref.sample, cur.values)
    # scipy's asymptotic branch: Kolmogorov's distribution at the effective sample size.
    en = n * m / (n + m)
    p = float(stats.kstwo.sf(d, np.round(en)))
    return Outcome(d, min(max(p, 0.0), 1.0))


def _chisquare(ref: ColumnSummary, cur: CurrentColumn) -> Outcome:
    r, c = _aligned_counts(ref, cur) if _uses_counts(ref, cur) else _histograms(ref, cur)
    keep = (r + c) > 0
    table = np.vstack([r[keep], c[keep]])
    if table.shape[1] < 2:
        return Outcome(0.0, 1.0)  # one value on both sides: nothing can differ
    res = stats.chi2_contingency(table, correction=False)
    return Outcome(float(res.statistic), float(res.pvalue))


def _z(ref: ColumnSummary, cur: CurrentColumn) -> Outcome:
    """Two-proportion z-test (pooled) on the share of the reference's most common value."""
    r, c = _aligned_counts(ref, cur)
    if r.size > 2:
        raise InvalidMonitoringInputError(
            f"the z test compares two values and {ref.name!r} has {r.size}; use chisquare"
        )
    n1, n2 = r.sum(), c.sum()
    x1, x2 = r[0], c[0]
    pooled = (x1 + x2) / (n1 + n2)
    if pooled in (0.0, 1.0):
        return Outcome(0.0, 1.0)
    z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    return Outcome(float(z), float(2 * stats.norm.sf(abs(z))))


def _anderson(ref: ColumnSummary, cur: CurrentColumn) -> Outcome:
    _need_numeric("anderson", ref)
    with warnings.catch_warnings():
        # scipy warns when the p-value is capped to [0.001, 0.25]; the cap is documented.
        warnings.simplefilter("ignore", UserWarning)
        res = stats.anderson_ksamp([ref.sample, cur.values])
    return Outcome(float(res.statistic), float(res.pvalue))


def _cramer_von_mises(ref: ColumnSummary, cur: CurrentColumn) -> Outcome:
    _need_numeric("cramer_von_mises", ref)
    res = stats.cramervonmises_2samp(ref.sample, cur.values)
    return Outcome(float(res.statistic), float(res.pvalue))


# --- distances ---------------------------------------------------------------------------------


def wasserstein_sorted(
    ref_sorted: Floats,
    cur_sorted: Floats,
    prefix: Floats | None = None,
    upper: NDArray[np.int64] | None = None,
    ties_checked: bool = False,
) -> float:
    """First Wasserstein distance (the area between the two ECDFs), in O(m log n).

    Why not scipy's merge of both samples: that is O(n + m) per window, and the reference is the
    big side. Here the reference enters only through binary searches and its prefix sums
    (``reference_prefix``, computed once): with ``I(x)``, the integral of the reference ECDF up to
    ``x``, the area over a stretch where the current ECDF is flat at ``g`` splits at the point
    where the reference ECDF reaches ``g``, and each part is a difference of ``I`` values.
    """
    n, m = ref_sorted.size, cur_sorted.size
    if m > 2 * n:
        # The distance is symmetric and the work is linear in the second sample: swap.
        return wasserstein_sorted(cur_sorted, ref_sorted)
    if prefix is None:
        prefix = reference_prefix(ref_sorted)
    shift = ref_sorted[n // 2]
    c = cur_sorted - shift
    # I at every current value (one binary search each) ...
    count = np.searchsorted(ref_sorted, cur_sorted, side="right")
    at_cur = (count * c - prefix[count]) / n
    # ... and at every reference value the ECDF reaches a new level (no search: ties share
    # the count of their last copy; no full-size temporaries on the reference side).
    if upper is None and not ties_checked:
        upper = reference_upper(ref_sorted)
    j = np.arange(1, m, dtype=np.int64)
    k = -(-j * n // m)  # the reference ECDF reaches j/m from its k-th value on
    idx = np.maximum(k - 1, 0)
    a, b = c[:-1], c[1:]
    ia, ib = at_cur[:-1], at_cur[1:]
    r_idx = ref_sorted[idx] - shift
    x = np.where(k >= 1, r_idx, -np.inf)
    up = upper[idx] if upper is not None else idx + 1  # no ties: value i has i + 1 at or below
    at_x = (up * r_idx - prefix[up]) / n
    below, above = x <= a, x >= b
    cross = np.where(below, a, np.where(above, b, x))
    ic = np.where(below, ia, np.where(above, ib, at_x))
    g = j / m
    middle = np.sum(g * (cross - a) - (ic - ia) + (ib - ic) - g * (b - cross))
    left = at_cur[0]
    r_last = ref_sorted[-1] - shift
    total_ref = (n * r_last - prefix[n]) / n  # I at the largest reference value
    right = 0.0 if c[-1] >= r_last else (r_last - c[-1]) - (total_ref - at_cur[-1])
    return float(max(left + middle + right, 0.0))


def reference_upper(ref_sorted: Floats) -> NDArray[np.int64] | None:
    """For each sorted reference value, how many reference values are <= it (ties: the last);
    None when there are no ties (then it is simply the position + 1)."""
    if ref_sorted.size > 1 and np.any(ref_sorted[1:] == ref_sorted[:-1]):
        return np.searchsorted(ref_sorted, ref_sorted, side="right").astype(np.int64)
    return None


def reference_prefix(ref_sorted: Floats) -> Floats:
    """Prefix sums of the sorted reference, centred on its median for precision."""
    shift = ref_sorted[ref_sorted.size // 2] if ref_sorted.size else 0.0
    return np.concatenate([[0.0], np.cumsum(ref_sorted - shift)])


def _wasserstein(ref: ColumnSummary, cur: CurrentColumn) -> Outcome:
    """Wasserstein distance divided by the reference standard deviation (at least 0.001)."""
    _need_numeric("wasserstein", ref)
    norm = max(ref.std, 0.001)
    return Outcome(
        wasserstein_sorted(ref.sample, cur.values, ref.prefix, ref.upper, ties_checked=True) / norm
    )


def _jensenshannon(ref: ColumnSummary, cur: CurrentColumn) -> Outcome:
    p, q = _shares(ref, cur)
    return Outcome(float(distance.jensenshannon(p, q)))


def _psi(ref: ColumnSummary, cur: CurrentColumn) -> Outcome:
    p, q = _shares(ref, cur)
    return Outcome(float(np.sum((p - q) * np.log(p / q))))


def _kl_div(ref: ColumnSummary, cur: CurrentColumn) -> Outcome:
    p, q = _shares(ref, cur)
    return Outcome(float(stats.entropy(p, q)))


def _hellinger(ref: ColumnSummary, cur: CurrentColumn) -> Outcome:
    r, c = _aligned_counts(ref, cur) if _uses_counts(ref, cur) else _histograms(ref, cur)
    p, q = r / r.sum(), c / c.sum()  # no flooring: Hellinger is finite on empty cells
    return Outcome(float(np.sqrt(np.sum((np.sqrt(p) - np.sqrt(q)) ** 2)) / math.sqrt(2)))


def _energy(ref: ColumnSummary, cur: CurrentColumn) -> Outcome:
    _need_numeric("energy", ref)
    scale = max(ref.std, 0.001)
    return Outcome(float(stats.energy_distance(ref.sample / scale, cur.values / scale)))


NUMERIC = ("numeric",)
ANY = ("numeric", "categorical")

STATTESTS: dict[str, StatTest] = {
    t.name: t
    for t in (
        StatTest("ks", "Kolmogorov-Smirnov", "p_value", 0.05, NUMERIC, _ks),
        StatTest("chisquare", "chi-square (homogeneity)", "p_value", 0.05, ANY, _chisquare),
        StatTest("z", "two-proportion Z", "p_value", 0.05, ANY, _z),
        StatTest("anderson", "Anderson-Darling (k-sample)", "p_value", 0.05, NUMERIC, _anderson),
        StatTest(
            "cramer_von_mises", "Cramér-von Mises", "p_value", 0.05, NUMERIC, _cramer_von_mises
        ),
        StatTest(
            "wasserstein", "Wasserstein distance (normed)", "distance", 0.1, NUMERIC, _wasserstein
        ),
        StatTest("jensenshannon", "Jensen-Shannon distance", "distance", 0.1, ANY, _jensenshannon),
        StatTest("psi", "population stability index", "distance", 0.1, ANY, _psi),
        StatTest("kl_div", "Kullback-Leibler divergence", "distance", 0.1, ANY, _kl_div),
        StatTest("hellinger", "Hellinger distance", "distance", 0.1, ANY, _hellinger),
        StatTest("energy", "energy distance (scaled)", "distance", 0.1, NUMERIC, _energy),
    )
}
ALIASES = {
    "kolmogorov_smirnov": "ks",
    "chi2": "chisquare",
    "chi_square": "chisquare",
    "ztest": "z",
    "js": "jensenshannon",
    "jensen_shannon": "jensenshannon",
    "wasserstein_distance": "wasserstein",
    "kl": "kl_div",
    "cvm": "cramer_von_mises",
    "anderson_darling": "anderson",
    "ad": "anderson",
    "energy_distance": "energy",
}


def get_stattest(name: str) -> StatTest:
    """The test called ``name`` (or one of its aliases).

    Raises:
        InvalidMonitoringInputError: No test has that name; the message lists them.
    """
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    try:
        return STATTESTS[key]
    except KeyError:
        raise InvalidMonitoringInputError(
            f"unknown stattest {name!r}; choose one of {', '.join(sorted(STATTESTS))}"
        ) from None


def default_stattest(ref: ColumnSummary, cur: CurrentColumn) -> StatTest:
    """The test chosen by column type and size (Evidently's rule, so verdicts are comparable).

    Up to 1,000 reference values: KS for a numeric column with more than five values, else
    chi-square (more than two values) or the two-proportion Z test. Beyond 1,000 the p-values
    of any test flag negligible shifts, so distances are used: Wasserstein (normed) for numeric
    columns with more than five values, Jensen-Shannon otherwise.
    """
    counted = _uses_counts(ref, cur)
    n_values = len(set(ref.counts) | set(cur.value_counts())) if counted else FEW_UNIQUE + 1
    small = ref.count <= 1000
    if ref.kind == "numeric" and n_values > FEW_UNIQUE:
        return STATTESTS["ks" if small else "wasserstein"]
    if small:
        return STATTESTS["chisquare" if n_values > 2 else "z"]
    return STATTESTS["jensenshannon"]
