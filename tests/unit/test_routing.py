from seawall._types import Target
from seawall.engine import candidates, exhausted_error
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
    firsts = [next(candidates([A, B, C], n, set())) for n in range(5)]
    assert firsts == [A, B, C, A, B]
    assert list(candidates([A, B, C], 1, set())) == [B, C, A]


def test_skips_targets_failed_for_good() -> None:
    assert list(candidates([A, B, C], 0, {"a/m1", "b/m2"})) == [C]
    assert list(candidates([A, B], 0, {"a/m1", "b/m2"})) == []


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
