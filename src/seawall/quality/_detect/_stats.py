"""Exact small-sample statistics the detectors and the regression gate need, in plain Python.

No scipy: the regularized incomplete beta function (for the Jeffreys bound on a warm-up failure
rate), the hypergeometric tail (Fisher's exact test) and the binomial tail (McNemar's exact test),
plus median and MAD for robust scaling. Every function is pure and deterministic.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

_EPS = 1e-15
_TINY = 1e-300


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of I_x(a, b), evaluated by the modified Lentz method."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > _TINY else _TINY)
    h = d
    for m in range(1, 1000):
        m2 = 2 * m
        for aa in (
            m * (b - m) * x / ((qam + m2) * (a + m2)),
            -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2)),
        ):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > _TINY else _TINY)
            c = 1.0 + aa / c
            c = c if abs(c) > _TINY else _TINY
            step = d * c
            h *= step
        if abs(step - 1.0) < _EPS:
            return h
    return h  # pragma: no cover - converges in well under 100 rounds for the parameters used here


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b): the CDF at `x` of a Beta(a, b) distribution (a, b > 0)."""
    if not (a > 0.0 and b > 0.0):
        raise ValueError(f"a and b must be > 0, got {a!r}, {b!r}")
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def beta_quantile(q: float, a: float, b: float) -> float:
    """The `q`-quantile of Beta(a, b), by bisection on `regularized_beta` (to 1e-12)."""
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be in [0, 1], got {q!r}")
    lo, hi = 0.0, 1.0
    while hi - lo > 1e-12:
        mid = (lo + hi) / 2.0
        if regularized_beta(a, b, mid) < q:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0


@functools.lru_cache(maxsize=1024)
def jeffreys_upper(failures: int, n: int, q: float) -> float:
    """Upper `q` bound on a failure rate after `failures` in `n` trials: the `q`-quantile of the
    Jeffreys posterior Beta(failures + 1/2, n - failures + 1/2), and 1 when every trial failed
    (Brown, Cai & DasGupta 2001). With no failures in 50 trials, the 95% bound is 0.0375."""
    if not 0 <= failures <= n or n < 1:
        raise ValueError(f"need 0 <= failures <= n and n >= 1, got {failures}, {n}")
    if failures == n:
        return 1.0
    return beta_quantile(q, failures + 0.5, n - failures + 0.5)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def hypergeom_sf(x: int, population: int, successes: int, draws: int) -> float:
    """P(X >= x) for X ~ Hypergeometric(population, successes in it, draws).

    Summed term by term from the end nearer `x` outwards (each term from the last by the ratio of
    binomial coefficients), so terms only shrink and the sum neither underflows nor cancels much.
    """
    if not (0 <= successes <= population and 0 <= draws <= population):
        raise ValueError(f"bad hypergeometric parameters {population}, {successes}, {draws}")
    lo, hi = max(0, draws - (population - successes)), min(draws, successes)
    if x <= lo:
        return 1.0
    if x > hi:
        return 0.0
    failures = population - successes

    def term(i: int) -> float:
        return math.exp(
            _log_comb(successes, i) + _log_comb(failures, draws - i) - _log_comb(population, draws)
        )

    mode = (draws + 1) * (successes + 1) // (population + 2)
    if x > mode:  # the upper tail: terms fall from x to hi
        t = total = term(x)
        for i in range(x, hi):
            t *= (successes - i) * (draws - i) / ((i + 1) * (failures - draws + i + 1))
            total += t
            if t < total * 1e-17:
                break
        return min(1.0, total)
    # 1 - P(X <= x - 1): terms fall from x - 1 down to lo
    t = total = term(x - 1)
    for i in range(x - 1, lo, -1):
        t *= i * (failures - draws + i) / ((successes - i + 1) * (draws - i + 1))
        total += t
        if t < total * 1e-17:
            break
    return max(0.0, 1.0 - total)


def binomial_sf_half(k: int, n: int) -> float:
    """P(X >= k) for X ~ Binomial(n, 1/2), exactly (integer arithmetic)."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    tail: int = sum(math.comb(n, i) for i in range(k, n + 1))
    return tail / (1 << n)


def median(values: Sequence[float]) -> float:
    """The median (the mean of the two middle values when their number is even)."""
    if not values:
        raise ValueError("median of no values")
    ordered = sorted(values)
    mid = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[mid]
    return (ordered[mid - 1] + ordered[mid]) / 2.0


def mad(values: Sequence[float], center: float) -> float:
    """Median absolute deviation from `center` (unscaled; × 1.4826 estimates a Gaussian σ)."""
    return median([abs(v - center) for v in values])
