import random
from collections import Counter

from seawall._types import Target
from seawall.engine import TargetHealth, candidates, exhausted_error, rotation
from seawall.engine._routing import Skip
from seawall.errors import (
    ContextLengthExceeded,
    ErrorClass,
    NoTargetAvailable,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)

A, B, C = Target("a", "m1"), Target("b", "m2"), Target("c", "m3")


def test_walks_down_then_wraps() -> None:
    firsts = [next(rotation([A, B, C], n, set())) for n in range(5)]
    assert firsts == [A, B, C, A, B]
    assert list(rotation([A, B, C], 1, set())) == [B, C, A]


def test_skips_targets_failed_for_good() -> None:
    assert list(rotation([A, B, C], 0, {"a/m1", "b/m2"})) == [C]
    assert list(rotation([A, B], 0, {"a/m1", "b/m2"})) == []


def test_without_health_or_tiers_the_order_is_the_list() -> None:
    plan = candidates([A, B, C], {}, random.Random(1))
    assert (plan.order, plan.demoted, plan.excluded) == ((A, B, C), (), ())


def test_health_demotes_degraded_and_excludes_failing_targets_with_their_reasons() -> None:
    health = {
        "a/m1": TargetHealth("degraded", "canary pass rate 0.61 < 0.90 (CUSUM)"),
        "b/m2": TargetHealth("failing", "model identity changed"),
    }
    plan = candidates([A, B, C], health)
    assert plan.order == (C, A)
    assert plan.demoted == ((A, "canary pass rate 0.61 < 0.90 (CUSUM)"),)
    assert plan.excluded == ((B, "model identity changed"),)
    assert candidates([A, B, C], {"c/m3": TargetHealth()}).order == (A, B, C)


def test_targets_of_one_tier_are_drawn_by_weight_and_tiers_keep_their_order() -> None:
    east, west = Target("east", "g", weight=3.0, tier=0), Target("west", "g", weight=1.0, tier=0)
    backup = Target("backup", "c")  # no tier: the tier of its position (2), after tier 0
    rng = random.Random(7)
    leads: Counter[str] = Counter()
    for _ in range(4000):
        order = candidates([east, west, backup], {}, rng).order
        assert order[-1] == backup and set(order[:2]) == {east, west}
        leads[order[0].provider] += 1
    assert 0.72 < leads["east"] / 4000 < 0.78  # weight 3 of 4: leads 75% of the time


def test_untiered_targets_keep_their_listed_order_whatever_their_weight() -> None:
    heavy = Target("b", "m2", weight=100.0)
    assert candidates([A, heavy], {}, random.Random(3)).order == (A, heavy)


def test_exhausted_status_follows_failures() -> None:
    assert exhausted_error([UpstreamTimeout("t"), UpstreamTimeout("t")], [], "m").status == 504
    limited = exhausted_error(
        [UpstreamRateLimited("r", retry_after_s=3), UpstreamRateLimited("r", retry_after_s=2)], [], "m"
    )
    assert (limited.status, limited.retry_after, limited.should_retry) == (429, 2, True)
    assert isinstance(limited, NoTargetAvailable)
    overloaded = UpstreamUnavailable("o", error_class=ErrorClass.OVERLOADED)
    assert exhausted_error([overloaded, UpstreamUnavailable("5")], [], "m").status == 503
    mixed = exhausted_error(
        [UpstreamTimeout("t"), UpstreamError("x", error_class=ErrorClass.BAD_RESPONSE)], [], "m"
    )
    assert (mixed.status, mixed.should_retry) == (502, False)
    too_long = ContextLengthExceeded("too long")
    assert exhausted_error([too_long], [], "m") is too_long
    limited_skip = exhausted_error([], [Skip("a/m1", "rate limited", 4.0, rate_limited=True)], "m")
    assert (limited_skip.status, limited_skip.retry_after) == (429, 4.0)
    assert "rate limited" in limited_skip.message
    other = exhausted_error([], [Skip("a/m1", "circuit open", 2.0)], "m")
    assert (other.status, other.retry_after) == (503, 2.0)


def test_a_skip_with_no_known_end_asks_for_a_second_not_for_now() -> None:
    saturated = exhausted_error([], [Skip("a/m1", "at its concurrency limit", 0.0)], "m")
    assert (saturated.status, saturated.retry_after) == (503, 1.0)
    mixed = [
        Skip("a/m1", "rejected locally by the adaptive throttle", 0.0),
        Skip("b/m2", "circuit open", 0.4),
    ]
    assert exhausted_error([], mixed, "m").retry_after == 0.4
    soon = exhausted_error([], [Skip("a/m1", "rate limited", 0.003, rate_limited=True)], "m")
    assert (soon.status, soon.retry_after) == (429, 0.003)  # a known wait is told as it is
