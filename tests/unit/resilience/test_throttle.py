from __future__ import annotations

import pytest

from seawall._clock import ManualClock
from seawall.resilience import AdaptiveThrottle, ThrottlePolicy

from ._fakes import FixedRandom


def feed(throttle: AdaptiveThrottle, *, requests: int, accepts: int) -> None:
    for i in range(requests):
        throttle.record(accepted=i < accepts)


@pytest.mark.parametrize(
    ("requests", "accepts", "expected"),
    [
        (100, 100, 0.0),
        (100, 50, 0.0),  # K = 2: half accepted is still no rejection
        (100, 25, 50 / 101),
        (100, 40, 20 / 101),
        (30, 0, 0.8),  # 30/31 capped at Envoy's 80%
        (19, 0, 0.0),  # below min_requests: never reject
        (20, 0, 0.8),
        (20, 5, 10 / 21),
    ],
)
def test_probability_formula(requests: int, accepts: int, expected: float) -> None:
    throttle = AdaptiveThrottle(ManualClock())
    feed(throttle, requests=requests, accepts=accepts)
    assert throttle.probability() == pytest.approx(expected)


def test_smaller_k_is_more_aggressive() -> None:
    throttle = AdaptiveThrottle(ManualClock(), ThrottlePolicy(k=1.1, max_reject_probability=1.0))
    feed(throttle, requests=100, accepts=80)
    assert throttle.probability() == pytest.approx((100 - 1.1 * 80) / 101)


def test_uncapped_probability_approaches_one() -> None:
    throttle = AdaptiveThrottle(ManualClock(), ThrottlePolicy(max_reject_probability=1.0))
    feed(throttle, requests=999, accepts=0)
    assert throttle.probability() == pytest.approx(999 / 1000)


def test_should_reject_draws_against_the_probability_and_counts_rejections() -> None:
    clock = ManualClock()
    below = AdaptiveThrottle(clock, rng=FixedRandom(0.49))
    above = AdaptiveThrottle(clock, rng=FixedRandom(0.5))
    for throttle in (below, above):
        feed(throttle, requests=100, accepts=25)  # p = 50/101 ≈ 0.495
    assert not above.should_reject()
    assert above.probability() == pytest.approx(50 / 101)  # a pass is not counted until recorded
    assert below.should_reject()
    assert below.probability() == pytest.approx(51 / 102)  # the local rejection counts as a request


def test_healthy_provider_is_never_throttled() -> None:
    throttle = AdaptiveThrottle(ManualClock(), rng=FixedRandom(0.0))
    feed(throttle, requests=1000, accepts=1000)
    assert not throttle.should_reject()


def test_outcomes_expire_after_the_window() -> None:
    clock = ManualClock()
    throttle = AdaptiveThrottle(clock)
    feed(throttle, requests=100, accepts=0)
    clock.advance(100.0)
    assert throttle.probability() == 0.8  # still inside the 2-minute window
    clock.advance(22.0)
    assert throttle.probability() == 0.0


def test_old_buckets_leave_the_window_gradually() -> None:
    clock = ManualClock()
    throttle = AdaptiveThrottle(clock, ThrottlePolicy(max_reject_probability=1.0))
    feed(throttle, requests=50, accepts=0)
    clock.advance(60.0)
    feed(throttle, requests=30, accepts=30)
    assert throttle.probability() == pytest.approx((80 - 60) / 81)
    clock.advance(61.0)  # the failures have left the window, the successes remain
    feed(throttle, requests=10, accepts=0)
    assert throttle.probability() == 0.0  # 40 requests, 30 accepts
    feed(throttle, requests=30, accepts=0)
    assert throttle.probability() == pytest.approx((70 - 60) / 71)


@pytest.mark.parametrize(
    ("field", "value"),
    [("k", 0.9), ("window_s", 0.0), ("buckets", 0), ("max_reject_probability", 1.1), ("min_requests", -1)],
)
def test_validation_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        ThrottlePolicy(**{field: value})  # type: ignore[arg-type]
