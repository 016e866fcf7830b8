"""A group-sequential test that stays valid when results are looked at every day.

Method: Lan-DeMets alpha spending (Lan & DeMets 1983, *Biometrika* 70:659) with the
O'Brien-Fleming-type spending function, each side spending ``2 - 2 * Phi(z_{1-alpha/4} /
sqrt(t))`` of its alpha/2 (the form ``ldbounds`` and ``gsDesign`` use; two-sided cumulative
``4 - 4 * Phi(z_{1-alpha/4} / sqrt(t))``), or the Pocock-type ``alpha * ln(1 + (e - 1) t)``.
At look k the boundary ``c_k`` is chosen so that the probability, under H0, of first crossing
at look k is exactly ``alpha(t_k) - alpha(t_{k-1})``; those probabilities come from the joint
distribution of the z-statistics (independent increments of the score process,
``corr(Z_j, Z_k) = sqrt(I_j / I_k)``), computed by recursive numerical integration on a grid
(Armitage, McPherson & Rowe 1969; Jennison & Turnbull, *Group Sequential Methods*, ch. 19).

Why alpha spending and not mSPRT: an A/B test here has a planned end (``duration_days``), so
spending spends exactly alpha by the end (the false-positive rate is alpha, not below it) and the
O'Brien-Fleming shape keeps nearly all of a fixed test's power; the mixture SPRT is valid over an
unbounded horizon and pays for that with a conservative error rate and wider early boundaries.
The spending is by *calendar* fraction ``t_k`` (day k of ``duration_days``) while the correlation
uses the information actually observed (units), so uneven traffic keeps the error rate.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from numpy.typing import NDArray
from scipy import optimize
from scipy import stats as st

from mlops.errors import InvalidInputError

__all__ = ["SequentialResult", "boundaries", "group_sequential", "spending"]

C_MAX = 8.0
"""A boundary no z-statistic reaches (P(|Z| > 8) ~ 1e-15): used when a look spends nothing."""
SPENDING = ("obrien_fleming", "pocock")


def spending(kind: str, alpha: float) -> Callable[[float], float]:
    """The cumulative two-sided alpha spent by information (or calendar) fraction ``t``."""
    if kind == "obrien_fleming":
        z = st.norm.ppf(1 - alpha / 4)
        return lambda t: 0.0 if t <= 0 else float(4 * st.norm.sf(z / math.sqrt(min(t, 1.0))))
    if kind == "pocock":
        return lambda t: float(alpha * math.log(1 + (math.e - 1) * min(max(t, 0.0), 1.0)))
    raise InvalidInputError(f"spending {kind!r} is not one of {', '.join(SPENDING)}")


def _simpson(n: int) -> NDArray[np.float64]:
    w = np.ones(n)
    w[1:-1:2], w[2:-1:2] = 4.0, 2.0
    return w / 3


def _grid(c: float, step: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    n = max(101, 2 * math.ceil(c / step) + 1)
    n += (n + 1) % 2  # odd, for Simpson's rule
    z = np.linspace(-c, c, n)
    return z, _simpson(n) * (z[1] - z[0])


@lru_cache(maxsize=256)
def _bounds(
    fractions: tuple[float, ...], information: tuple[float, ...], alpha: float, kind: str
) -> tuple[float, ...]:
    spend = spending(kind, alpha)
    cumulative = [spend(t) for t in fractions]
    out: list[float] = []
    z = weights = density = None
    for k, (info, spent) in enumerate(zip(information, cumulative, strict=True)):
        target = spent - (cumulative[k - 1] if k else 0.0)
        if k == 0:
            c = float(st.norm.isf(target / 2)) if target > 0 else C_MAX
            c = min(c, C_MAX)
            z, weights = _grid(c, 0.05)
            density = st.norm.pdf(z)
            out.append(c)
            continue
        assert z is not None
        assert weights is not None
        assert density is not None
        prev = information[k - 1]
        sd = math.sqrt((info - prev) / info)  # of Z_k given Z_{k-1}
        shift = z * math.sqrt(prev / info)  # mean of Z_k given Z_{k-1} = z
        mass = weights * density

        def exits(c: float, shift: NDArray[np.float64] = shift, mass: NDArray[np.float64] = mass,
                  sd: float = sd) -> float:  # fmt: skip
            return float(mass @ (st.norm.cdf((-c - shift) / sd) + st.norm.sf((c - shift) / sd)))

        if target <= 0 or exits(C_MAX) >= target:
            c = C_MAX
        else:
            c = float(optimize.brentq(lambda c, t=target: exits(c) - t, 1e-6, C_MAX, xtol=1e-10))
        new_z, new_w = _grid(c, min(0.05, sd / 5))
        kernel = st.norm.pdf((new_z[:, None] - shift[None, :]) / sd) / sd
        density = kernel @ mass
        z, weights = new_z, new_w
        out.append(c)
    return tuple(out)


def boundaries(
    fractions: Sequence[float],
    information: Sequence[float] | None = None,
    alpha: float = 0.05,
    kind: str = "obrien_fleming",
) -> list[float]:
    """Two-sided z boundaries at looks taken at spending ``fractions`` (in (0, 1]) with
    ``information`` (default: proportional to the fractions)."""
    if not 0 < alpha < 1:
        raise InvalidInputError(f"alpha must be between 0 and 1, got {alpha}")
    fr = tuple(float(f) for f in fractions)
    info = tuple(float(i) for i in (information if information is not None else fractions))
    if not fr or len(fr) != len(info):
        raise InvalidInputError("give one fraction and one information value per look")
    if any(not 0 < f <= 1 for f in fr) or any(b <= a for a, b in itertools.pairwise(fr)):
        raise InvalidInputError(f"fractions must increase within (0, 1], got {list(fr)}")
    if any(i <= 0 for i in info) or any(b <= a for a, b in itertools.pairwise(info)):
        raise InvalidInputError("information must be positive and increase from look to look")
    spending(kind, alpha)  # validates kind
    return list(_bounds(fr, info, alpha, kind))


@dataclass(frozen=True)
class SequentialResult:
    """The looks so far: each look's z-statistic against its boundary.

    ``crossed_at`` is the index of the first look whose |z| reached its boundary (the test
    stopped there with a significant result), or None.
    """

    method: str
    fractions: list[float]
    information: list[float]
    z_values: list[float]
    bounds: list[float]
    crossed_at: int | None

    @property
    def significant(self) -> bool:
        return self.crossed_at is not None

    @property
    def complete(self) -> bool:
        """The planned end was reached: no further look can spend alpha."""
        return bool(self.fractions) and self.fractions[-1] >= 1.0


def group_sequential(
    z_values: Sequence[float],
    fractions: Sequence[float],
    information: Sequence[float] | None = None,
    alpha: float = 0.05,
    kind: str = "obrien_fleming",
) -> SequentialResult:
    """Compare each look's z-statistic with its alpha-spending boundary; stop at the first
    crossing. Looks whose information did not grow are dropped (they add nothing)."""
    info = list(information if information is not None else fractions)
    keep: list[int] = []
    for i in range(len(z_values)):
        if info[i] > 0 and (not keep or (info[i] > info[keep[-1]] and
                                         fractions[i] > fractions[keep[-1]])):  # fmt: skip
            keep.append(i)
    zs = [float(z_values[i]) for i in keep]
    fr = [min(1.0, float(fractions[i])) for i in keep]
    inf = [float(info[i]) for i in keep]
    bounds = boundaries(fr, inf, alpha, kind) if keep else []
    crossed = next(
        (k for k, (z, c) in enumerate(zip(zs, bounds, strict=True)) if abs(z) >= c), None
    )
    return SequentialResult(kind, fr, inf, zs, bounds, crossed)
