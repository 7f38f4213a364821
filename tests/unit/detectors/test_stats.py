"""The exact statistics under the detectors and the gate, against known values.

Reference values marked "scipy" were computed with scipy 1.17 (`scipy.stats.beta.cdf`,
`beta.ppf`, `fisher_exact(..., alternative="greater")`); the rest are worked out by hand.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.quality._detect._stats import (
    beta_quantile,
    binomial_sf_half,
    hypergeom_sf,
    jeffreys_upper,
    mad,
    median,
    regularized_beta,
)


@pytest.mark.parametrize(
    ("a", "b", "x", "expected"),
    [
        (0.5, 50.5, 0.01, 0.6851152385491805),  # scipy
        (3.5, 27.5, 0.2, 0.9232049564976629),  # scipy
        (2.0, 3.0, 0.4, 0.5248),  # by hand: 1 - (1-x)^4 - 4x(1-x)^3
        (10.0, 10.0, 0.5, 0.5),  # symmetry
        (0.5, 0.5, 0.9, 0.7951672353008665),  # scipy; = (2/π)·asin(√0.9)
        (200.5, 300.5, 0.41, 0.6745134195750649),  # scipy
    ],
)
def test_regularized_beta(a: float, b: float, x: float, expected: float) -> None:
    assert regularized_beta(a, b, x) == pytest.approx(expected, rel=1e-10)


def test_regularized_beta_edges_and_arcsine_form() -> None:
    assert regularized_beta(2.0, 3.0, 0.0) == 0.0
    assert regularized_beta(2.0, 3.0, 1.0) == 1.0
    assert regularized_beta(0.5, 0.5, 0.3) == pytest.approx(2 / math.pi * math.asin(math.sqrt(0.3)))
    with pytest.raises(ValueError):
        regularized_beta(0.0, 1.0, 0.5)


@pytest.mark.parametrize(
    ("q", "a", "b", "expected"),
    [
        (0.95, 0.5, 50.5, 0.03750113514003708),  # scipy
        (0.95, 0.5, 500.5, 0.0038321763566263782),  # scipy
        (0.95, 5.5, 45.5, 0.18641083776132353),  # scipy
        (0.5, 2.0, 3.0, 0.3857275681323895),  # scipy
        (0.99, 1.5, 99.5, 0.05528073807446647),  # scipy
    ],
)
def test_beta_quantile(q: float, a: float, b: float, expected: float) -> None:
    assert beta_quantile(q, a, b) == pytest.approx(expected, rel=1e-9)


def test_jeffreys_upper_bound() -> None:
    assert jeffreys_upper(0, 50, 0.95) == pytest.approx(0.03750113514, rel=1e-9)
    assert jeffreys_upper(5, 50, 0.95) == pytest.approx(0.18641083776, rel=1e-9)
    assert jeffreys_upper(7, 7, 0.95) == 1.0
    assert jeffreys_upper(3, 30, 0.5) < jeffreys_upper(3, 30, 0.95)
    with pytest.raises(ValueError):
        jeffreys_upper(3, 2, 0.95)


@pytest.mark.parametrize(
    ("x", "population", "successes", "draws", "expected"),
    [
        (3, 8, 4, 4, 17 / 70),  # Fisher's tea: 16 + 1 of the C(8, 4) = 70 ways
        (5, 10, 5, 5, 1 / 252),  # all five: 1 / C(10, 5)
        (3, 200, 3, 100, 100 * 99 * 98 / (200 * 199 * 198)),
        (0, 200, 3, 100, 1.0),
        (4, 200, 3, 100, 0.0),
    ],
)
def test_hypergeometric_tail_known_values(
    x: int, population: int, successes: int, draws: int, expected: float
) -> None:
    assert hypergeom_sf(x, population, successes, draws) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def exact_sf(x: int, population: int, successes: int, draws: int) -> float:
    hi = min(draws, successes)
    num = sum(
        math.comb(successes, i) * math.comb(population - successes, draws - i)
        for i in range(max(x, 0), hi + 1)
    )
    return num / math.comb(population, draws)


@given(
    population=st.integers(1, 400),
    data=st.data(),
)
def test_hypergeometric_tail_matches_integer_arithmetic(population: int, data: st.DataObject) -> None:
    successes = data.draw(st.integers(0, population))
    draws = data.draw(st.integers(0, population))
    x = data.draw(st.integers(-1, draws + 1))
    expected = exact_sf(x, population, successes, draws)
    assert hypergeom_sf(x, population, successes, draws) == pytest.approx(expected, rel=1e-9, abs=1e-14)


def test_hypergeometric_tail_far_from_the_mode_does_not_underflow() -> None:
    # The first term of the lower tail is ~1e-300; the tail sum is ~1 and must not come out 0.
    assert hypergeom_sf(1, 20_000, 10_000, 10_000) == 1.0
    assert 0.0 < hypergeom_sf(5_600, 20_000, 10_000, 10_000) < 1e-60


def test_binomial_half_tail() -> None:
    assert binomial_sf_half(8, 10) == pytest.approx(56 / 1024)  # C(10,8)+C(10,9)+C(10,10) = 45+10+1
    assert binomial_sf_half(5, 6) == pytest.approx(7 / 64)
    assert binomial_sf_half(0, 0) == 1.0
    assert binomial_sf_half(1, 0) == 0.0


def test_median_and_mad() -> None:
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 3.0, 2.0]) == 2.5
    assert mad([1.0, 2.0, 3.0, 4.0, 100.0], 3.0) == 1.0
    with pytest.raises(ValueError):
        median([])
