from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from seawall._clock import ManualClock
from seawall.errors import ErrorClass
from seawall.resilience import RetryBudget, RetryBudgetPolicy, RetryConcurrencyCap, RetryConcurrencyPolicy


def budget(
    clock: ManualClock, *, ttl: float = 1.0, min_per_sec: float = 0.0, percent: float = 1.0
) -> RetryBudget:
    policy = RetryBudgetPolicy(ttl_s=ttl, min_retries_per_sec=min_per_sec, percent_can_retry=percent)
    return RetryBudget(clock, policy)


def test_defaults() -> None:
    p = RetryBudgetPolicy()
    assert (p.ttl_s, p.percent_can_retry, p.min_retries_per_sec, p.slots) == (10.0, 0.2, 1.0, 10)


def test_empty_budget_refuses() -> None:
    b = budget(ManualClock(), percent=0.0, min_per_sec=0.0)
    for _ in range(100):
        b.deposit()
    assert not b.try_withdraw()
    assert b.balance() == 0.0


def test_infinite_budget_always_allows() -> None:
    b = RetryBudget.infinite(ManualClock())
    assert all(b.try_withdraw(2.0) for _ in range(10_000))
    assert b.balance() == math.inf


def test_reserve_allows_min_retries_per_sec_times_ttl() -> None:
    # tower tps_reserve: ttl 1 s, 5/s, nothing deposited: exactly 5 retries.
    b = budget(ManualClock(), min_per_sec=5.0)
    assert [b.try_withdraw() for _ in range(6)] == [True] * 5 + [False]


def test_reserve_refills_once_its_withdrawals_expire() -> None:
    clock = ManualClock()
    b = budget(clock, ttl=10.0, min_per_sec=1.0)
    assert sum(b.try_withdraw() for _ in range(20)) == 10
    clock.advance(9.0)
    assert not b.try_withdraw()
    clock.advance(2.0)  # > ttl + ttl/slots since the withdrawals
    assert sum(b.try_withdraw() for _ in range(20)) == 10


def test_with_no_reserve_only_deposits_fund_retries() -> None:
    b = budget(ManualClock(), percent=0.5)
    assert not b.try_withdraw()
    b.deposit()
    assert not b.try_withdraw()  # half a retry is not a retry
    b.deposit()
    assert b.try_withdraw()
    assert not b.try_withdraw()


def test_deposits_leak_after_ttl() -> None:
    # tower tps_leaky
    clock = ManualClock()
    b = budget(clock)
    b.deposit()
    clock.advance(3.0)
    assert not b.try_withdraw()


def test_deposits_live_at_least_ttl_and_at_most_ttl_plus_one_slot() -> None:
    clock = ManualClock()
    b = budget(clock, ttl=10.0, percent=1.0)
    clock.advance(0.99)  # late in a 1 s slot: the worst case for "at least ttl"
    b.deposit()
    clock.advance(9.99)
    assert b.balance() == 1.0
    clock.advance(1.02)  # 11.01 s later: past ttl + ttl/10
    assert b.balance() == 0.0


def test_slots_expire_one_by_one() -> None:
    # tower tps_slots, plus a check that the first deposit really expired.
    clock = ManualClock()
    b = budget(clock, percent=0.5)
    b.deposit()
    b.deposit()
    clock.advance(0.901)
    assert b.try_withdraw()
    clock.advance(2.001)  # blank slate
    b.deposit()
    clock.advance(0.301)
    b.deposit()
    clock.advance(0.801)
    b.deposit()
    assert b.try_withdraw()  # the 2nd and 3rd deposits
    assert not b.try_withdraw()  # would pass if the 1st were still counted


def test_costs_follow_the_cause() -> None:
    p = RetryBudgetPolicy()
    assert p.cost_for(ErrorClass.TIMEOUT) == 2.0
    assert p.cost_for(ErrorClass.RATE_LIMITED) == 0.5
    assert p.cost_for(ErrorClass.SERVER_ERROR) == 1.0
    assert p.cost_for(ErrorClass.OVERLOADED) == 1.0
    clock = ManualClock()
    timeouts, throttles = RetryBudget(clock, p), RetryBudget(clock, p)
    assert sum(timeouts.try_withdraw(p.cost_for(ErrorClass.TIMEOUT)) for _ in range(50)) == 5
    assert sum(throttles.try_withdraw(p.cost_for(ErrorClass.RATE_LIMITED)) for _ in range(50)) == 20


def test_default_budget_exhausts_then_refuses_immediately() -> None:
    # botocore test_can_exhaust_default_retry_quota, in Finagle terms: 100 requests deposit
    # 0.2 each (20 retries) on top of the 10-retry reserve; the 31st retry is refused.
    b = RetryBudget(ManualClock())
    for _ in range(100):
        b.deposit()
    assert b.balance() == pytest.approx(30.0)
    assert [b.try_withdraw() for _ in range(31)] == [True] * 30 + [False]
    assert b.balance() == pytest.approx(0.0)


def test_sustained_outage_keeps_load_within_budget() -> None:
    clock = ManualClock()
    b = RetryBudget(clock)  # 20% + 1/s
    requests = attempts = 0
    for _ in range(1000):  # 10 requests/s for 100 s, every attempt failing
        clock.advance(0.1)
        b.deposit()
        requests += 1
        attempts += 1
        for _ in range(2):
            if not b.try_withdraw():
                break
            attempts += 1
    assert attempts <= 1.2 * requests + 1.0 * 10 * (100 // 10 + 1)
    assert attempts >= 1.2 * requests  # and the budget is actually usable


@pytest.mark.parametrize("cost", [0.0, -1.0, math.inf, math.nan])
def test_withdraw_cost_must_be_positive_and_finite(cost: float) -> None:
    with pytest.raises(ValueError, match="cost"):
        RetryBudget(ManualClock()).try_withdraw(cost)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("ttl_s", 0.5),
        ("ttl_s", 61.0),
        ("percent_can_retry", -0.1),
        ("percent_can_retry", 1000.5),
        ("min_retries_per_sec", -1.0),
        ("min_retries_per_sec", math.inf),
        ("timeout_cost", 0.0),
        ("throttle_cost", math.nan),
        ("slots", 0),
    ],
)
def test_bounds_are_checked(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RetryBudgetPolicy(**{field: value})  # type: ignore[arg-type]


def test_bounds_accept_the_edges() -> None:
    RetryBudgetPolicy(ttl_s=1.0, percent_can_retry=1000.0, min_retries_per_sec=0.0)
    RetryBudgetPolicy(ttl_s=60.0, percent_can_retry=0.0)


@settings(max_examples=300, deadline=None)
@given(
    percent=st.sampled_from([0.0, 0.1, 0.2, 0.5, 1.0]),
    min_per_sec=st.sampled_from([0.0, 0.5, 1.0, 10.0]),
    ttl=st.sampled_from([1.0, 10.0, 60.0]),
    requests=st.lists(
        st.tuples(
            st.floats(min_value=0.0, max_value=30.0, allow_nan=False),  # time since the last request
            st.lists(st.sampled_from(list(ErrorClass)), max_size=4),  # the failures it meets in a row
        ),
        max_size=300,
    ),
)
def test_retries_never_exceed_the_budget(
    percent: float, min_per_sec: float, ttl: float, requests: list[tuple[float, list[ErrorClass]]]
) -> None:
    """Jepsen-style: for any failure pattern and timing, retries (weighted by cost) stay within
    percent × requests + the reserve for each ttl elapsed, so upstream attempts stay within
    (1 + percent) × requests + floor (counting the cheapest retry)."""
    clock = ManualClock()
    start = clock.now()
    policy = RetryBudgetPolicy(ttl_s=ttl, percent_can_retry=percent, min_retries_per_sec=min_per_sec)
    b = RetryBudget(clock, policy)
    attempts, spent = 0, 0.0
    for gap, failures in requests:
        clock.advance(gap)
        b.deposit()
        attempts += 1
        for error in failures[:2]:  # max_attempts 3: at most 2 retries
            cost = policy.cost_for(error)
            if not b.try_withdraw(cost):
                break
            spent += cost
            attempts += 1
    elapsed = clock.now() - start
    floor = min_per_sec * ttl * (math.floor(elapsed / ttl) + 1)
    assert spent <= percent * len(requests) + floor + 1e-6
    cheapest = min(policy.throttle_cost, 1.0, policy.timeout_cost)
    assert attempts <= len(requests) + (percent * len(requests) + floor) / cheapest + 1e-6


def test_concurrency_cap_tracks_min_at_low_load_and_percent_at_high_load() -> None:
    cap = RetryConcurrencyCap()
    assert cap.limit(0) == 3  # Envoy: max() equals min_retry_concurrency at low load
    assert cap.limit(10) == 3
    assert cap.limit(100) == 20  # ...and tracks 20% of active requests
    assert cap.limit(101) == 20


def test_concurrency_cap_acquire_and_release() -> None:
    cap = RetryConcurrencyCap(RetryConcurrencyPolicy(budget_percent=0.5, min_retry_concurrency=1))
    assert [cap.try_acquire(active_requests=4) for _ in range(3)] == [True, True, False]
    assert cap.active == 2
    cap.release()
    assert cap.try_acquire(active_requests=4)
    assert not cap.try_acquire(active_requests=2)  # the load fell: limit is now 1
    cap.release()
    cap.release()
    with pytest.raises(RuntimeError, match="without a matching"):
        cap.release()


@pytest.mark.parametrize(("field", "value"), [("budget_percent", 1.5), ("min_retry_concurrency", -1)])
def test_concurrency_cap_validation(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RetryConcurrencyPolicy(**{field: value})  # type: ignore[arg-type]
