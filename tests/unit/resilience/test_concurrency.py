from __future__ import annotations

import pytest

from seawall.resilience import AIMDLimit, AIMDPolicy, ConcurrencyLimiter, Gradient2Limit, Gradient2Policy


def test_aimd_increases_on_success_when_in_use() -> None:
    # concurrency-limits AIMDLimitTest.increaseOnSuccess: 20 → 21.
    limit = AIMDLimit(AIMDPolicy(initial_limit=20))
    limit.update(rtt_s=0.001, inflight=10, dropped=False)
    assert limit.limit == 21


def test_aimd_decreases_on_drop() -> None:
    # concurrency-limits AIMDLimitTest.decreaseOnDrops: 30 → 27.
    limit = AIMDLimit(AIMDPolicy(initial_limit=30))
    limit.update(rtt_s=0.0, inflight=0, dropped=True)
    assert limit.limit == 27


def test_aimd_holds_when_the_limit_is_not_in_use() -> None:
    limit = AIMDLimit(AIMDPolicy(initial_limit=20))
    limit.update(rtt_s=0.1, inflight=9, dropped=False)  # 9 × 2 < 20
    assert limit.limit == 20


def test_aimd_defaults_start_high_enough_for_a_burst() -> None:
    policy = AIMDPolicy()
    assert (policy.initial_limit, policy.max_limit) == (100, 1000)


def test_aimd_respects_min_and_max() -> None:
    limit = AIMDLimit(AIMDPolicy(initial_limit=3, min_limit=2, max_limit=4))
    limit.update(rtt_s=0.0, inflight=0, dropped=True)  # int(2.7) = 2
    limit.update(rtt_s=0.0, inflight=0, dropped=True)
    assert limit.limit == 2
    for _ in range(5):
        limit.update(rtt_s=0.0, inflight=4, dropped=False)
    assert limit.limit == 4


def test_aimd_small_limits_still_shrink() -> None:
    limit = AIMDLimit(AIMDPolicy(initial_limit=5))
    seen = []
    for _ in range(5):
        limit.update(rtt_s=0.0, inflight=0, dropped=True)
        seen.append(limit.limit)
    assert seen == [4, 3, 2, 1, 1]


def test_gradient2_grows_by_smoothed_queue_size_while_latency_is_steady() -> None:
    limit = Gradient2Limit()
    for _ in range(5):
        limit.update(rtt_s=1.0, inflight=20, dropped=False)
    # gradient 1: L ← 0.8·L + 0.2·(L + 4) = L + 0.8 per update.
    assert limit.limit == 24
    assert limit.long_rtt == pytest.approx(1.0)


def test_gradient2_shrinks_when_latency_rises() -> None:
    limit = Gradient2Limit()
    for _ in range(10):
        limit.update(rtt_s=1.0, inflight=30, dropped=False)
    assert limit.limit == 28
    limit.update(rtt_s=3.0, inflight=30, dropped=False)
    long_rtt = 1.0 + (3.0 - 1.0) * 2 / 601
    gradient = max(0.5, 1.5 * long_rtt / 3.0)
    assert limit.long_rtt == pytest.approx(long_rtt)
    assert limit.limit == int(0.8 * 28.0 + 0.2 * (28.0 * gradient + 4))  # 26
    for _ in range(30):
        limit.update(rtt_s=3.0, inflight=30, dropped=False)
    assert limit.limit < 15


def test_gradient2_tolerates_latency_within_tolerance() -> None:
    limit = Gradient2Limit()
    for _ in range(10):
        limit.update(rtt_s=1.0, inflight=30, dropped=False)
    assert limit.limit == 28
    for _ in range(2):
        limit.update(rtt_s=1.4, inflight=30, dropped=False)  # 1.5 × ~1.0 / 1.4 > 1: gradient 1
    assert limit.limit == 29  # still growing by 0.8 per update


def test_gradient2_does_not_grow_when_app_limited_and_ignores_drops() -> None:
    limit = Gradient2Limit()
    for _ in range(10):
        limit.update(rtt_s=1.0, inflight=9, dropped=False)  # 9 < 20 / 2
        limit.update(rtt_s=0.001, inflight=20, dropped=True)  # a fast 429 says nothing about latency
    assert limit.limit == 20
    assert limit.long_rtt == pytest.approx(1.0)


def test_gradient2_resets_a_stale_long_rtt_quickly() -> None:
    limit = Gradient2Limit()
    for _ in range(10):
        limit.update(rtt_s=4.0, inflight=0, dropped=False)
    limit.update(rtt_s=1.0, inflight=0, dropped=False)  # long/short > 2: baseline × 0.9
    assert limit.long_rtt == pytest.approx((4.0 + (1.0 - 4.0) * 2 / 601) * 0.9)


def test_gradient2_respects_min_and_max() -> None:
    limit = Gradient2Limit(Gradient2Policy(initial_limit=20, min_limit=10, max_limit=22))
    for _ in range(20):
        limit.update(rtt_s=1.0, inflight=22, dropped=False)
    assert limit.limit == 22
    for _ in range(100):
        limit.update(rtt_s=50.0, inflight=22, dropped=False)
    assert limit.limit == 10


def test_limiter_caps_inflight_at_the_limit() -> None:
    limiter = ConcurrencyLimiter(AIMDLimit(AIMDPolicy(initial_limit=2)))
    assert [limiter.try_acquire() for _ in range(3)] == [True, True, False]
    assert limiter.inflight == 2
    limiter.release("success", 0.5)  # inflight 2 × 2 ≥ 2: grow
    assert (limiter.limit, limiter.inflight) == (3, 1)
    assert limiter.try_acquire()
    assert limiter.try_acquire()
    assert not limiter.try_acquire()


def test_limiter_drop_shrinks_and_ignore_changes_nothing() -> None:
    limiter = ConcurrencyLimiter(AIMDLimit(AIMDPolicy(initial_limit=20)))
    for _ in range(3):
        assert limiter.try_acquire()
    limiter.release("ignore")
    assert (limiter.limit, limiter.inflight) == (20, 2)
    limiter.release("drop")
    assert (limiter.limit, limiter.inflight) == (18, 1)
    limiter.release("success", 1.0)  # 1 × 2 < 18: the limit was not in use
    assert (limiter.limit, limiter.inflight) == (18, 0)
    with pytest.raises(RuntimeError, match="without a matching"):
        limiter.release("success")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("min_limit", 0),
        ("max_limit", 0),
        ("initial_limit", 5000),
        ("backoff_ratio", 0.4),
        ("backoff_ratio", 1.0),
    ],
)
def test_aimd_validation(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        AIMDPolicy(**{field: value})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("smoothing", 0.0),
        ("queue_size", -1),
        ("long_window", 0),
        ("rtt_tolerance", 0.9),
        ("initial_limit", 0),
    ],
)
def test_gradient2_validation(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        Gradient2Policy(**{field: value})  # type: ignore[arg-type]
