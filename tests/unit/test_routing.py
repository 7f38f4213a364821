from seawall._types import Target
from seawall.engine import exhausted_error, next_target
from seawall.errors import (
    ErrorClass,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamTimeout,
    UpstreamUnavailable,
)

A, B, C = Target("a", "m1"), Target("b", "m2"), Target("c", "m3")


def test_walks_down_then_wraps() -> None:
    order = [next_target([A, B, C], n, lambda t: True, set()) for n in range(5)]
    assert order == [A, B, C, A, B]


def test_skips_ineligible_and_failed_for_good() -> None:
    assert next_target([A, B, C], 0, lambda t: t is not A, set()) == B
    assert next_target([A, B, C], 0, lambda t: True, {"a/m1", "b/m2"}) == C
    assert next_target([A, B], 0, lambda t: False, set()) is None


def test_exhausted_status_follows_failures() -> None:
    assert exhausted_error([UpstreamTimeout("t"), UpstreamTimeout("t")], [], "m").status == 504
    limited = exhausted_error(
        [UpstreamRateLimited("r", retry_after_s=3), UpstreamRateLimited("r", retry_after_s=2)], [], "m"
    )
    assert (limited.status, limited.retry_after, limited.should_retry) == (429, 2, True)
    overloaded = UpstreamUnavailable("o", error_class=ErrorClass.OVERLOADED)
    assert exhausted_error([overloaded, UpstreamUnavailable("5")], [], "m").status == 503
    mixed = exhausted_error(
        [UpstreamTimeout("t"), UpstreamError("x", error_class=ErrorClass.BAD_RESPONSE)], [], "m"
    )
    assert (mixed.status, mixed.should_retry) == (502, False)
    none = exhausted_error([], ["a/m1: rate limited"], "m")
    assert none.status == 503 and "rate limited" in none.message
