"""Records and their pure steps: explicit `now`, plain data, copies that step identically.

A state backend stores, copies and ships records, so a record must hold only plain data, and a copy
taken mid-way must step exactly like the original. The facades' own behaviour is tested in the
other modules here; this file tests the layer beneath them.
"""

from __future__ import annotations

import copy
import dataclasses
import enum
import pickle
import random
from array import array
from collections.abc import Callable
from typing import Any

import pytest

from seawall._clock import ManualClock
from seawall._types import Priority
from seawall.errors import ErrorClass
from seawall.resilience import (
    AdaptiveThrottle,
    AdmissionPolicy,
    AdmissionRecord,
    AIMDLimit,
    AIMDPolicy,
    AIMDRecord,
    BreakerPolicy,
    BreakerRecord,
    BreakerState,
    BreakerTransition,
    BucketWindow,
    BudgetRecord,
    CircuitBreaker,
    ConcurrencyLimiter,
    Gradient2Limit,
    Gradient2Policy,
    Gradient2Record,
    LatencyRecord,
    LatencyWindow,
    LimiterRecord,
    RetryBudget,
    RetryBudgetPolicy,
    RetryCapRecord,
    RetryConcurrencyPolicy,
    StatsPolicy,
    StatsRecord,
    TargetStats,
    ThrottlePolicy,
    ThrottleRecord,
    WindowRecord,
)
from seawall.resilience._latency import latency_add, latency_count, latency_quantile
from seawall.resilience._window import window_add, window_totals

from ._fakes import FixedRandom

T0 = 1000.0


def every_record() -> list[Any]:
    """One live, stepped-a-little record of each kind."""
    breaker_policy = BreakerPolicy(min_calls=2)
    breaker = breaker_policy.new_record(T0)
    breaker_policy.observe(breaker, T0, random.Random(1), failed=True, ttft_s=None)
    stats_policy = StatsPolicy(max_samples=8)
    stats = stats_policy.new_record(T0)
    stats_policy.observe(stats, T0, ok=True, duration_s=1.0, ttft_s=0.5)
    admission = AdmissionPolicy().new_record()
    admission.mean_hold_s = 0.3
    return [
        WindowRecord.empty(T0, buckets=3, fields=2),
        breaker,
        RetryBudgetPolicy().new_record(T0),
        RetryCapRecord(2),
        ThrottlePolicy().new_record(T0),
        AIMDPolicy().new_record(),
        Gradient2Policy().new_record(),
        LimiterRecord.for_policy(AIMDPolicy()),
        LimiterRecord.for_policy(Gradient2Policy()),
        LatencyRecord.empty(4),
        stats,
        admission,
    ]


def assert_plain(value: Any, where: str) -> None:
    if value is None or isinstance(value, bool | int | float | str | enum.Enum):
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            assert_plain(item, f"{where}[{i}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            assert_plain(key, f"{where} key")
            assert_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, array):
        assert value.typecode == "d", where
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        params = type(value).__dataclass_params__  # type: ignore[attr-defined]
        assert not params.frozen, f"{where}: a record is mutable"
        assert hasattr(type(value), "__slots__"), f"{where}: a record has slots"
        for f in dataclasses.fields(value):
            assert_plain(getattr(value, f.name), f"{where}.{f.name}")
    else:
        pytest.fail(f"{where} holds {type(value).__name__}, not plain data")


@pytest.mark.parametrize("record", every_record(), ids=lambda r: type(r).__name__)
def test_records_hold_only_plain_data(record: Any) -> None:
    assert_plain(record, type(record).__name__)


@pytest.mark.parametrize("record", every_record(), ids=lambda r: type(r).__name__)
def test_records_survive_pickling_and_copying(record: Any) -> None:
    assert pickle.loads(pickle.dumps(record)) == record
    twin = copy.deepcopy(record)
    assert twin == record
    assert twin is not record


# -- stepping with explicit times ----------------------------------------------------------------------
def test_window_steps_on_the_given_times_only() -> None:
    rec = WindowRecord.empty(T0, buckets=3, fields=2)
    window_add(rec, 1.0, T0 + 0.5, 0, 2)
    window_add(rec, 1.0, T0 + 1.5, 1)
    assert window_totals(rec, 1.0, T0 + 2.9) == [2, 1]
    assert window_totals(rec, 1.0, T0 + 3.0) == [0, 1]  # the first bucket left
    assert (rec.current, rec.origin) == (3, T0)


def test_breaker_record_opens_waits_and_probes_on_explicit_times() -> None:
    policy = BreakerPolicy(consecutive_failures=3, open_jitter=0.0, half_open_permits=1)
    rec = policy.new_record(T0)
    rng = random.Random(0)
    for i in range(3):
        policy.observe(rec, T0 + i, rng, failed=True, ttft_s=None)
    assert (rec.state, rec.open_until, rec.opens) == (BreakerState.OPEN, T0 + 2 + 5.0, 1)
    assert (rec.transitions, rec.last_from, rec.last_reason, rec.last_at) == (
        1,
        BreakerState.CLOSED,
        "consecutive_failures",
        T0 + 2,
    )
    assert not policy.allow(rec, T0 + 6.9, rng)
    assert policy.allow(rec, T0 + 7.0, rng)  # the wait is over: half-open, one trial permit
    assert (rec.state, rec.permits_out, rec.last_reason) == (BreakerState.HALF_OPEN, 1, "wait_elapsed")
    assert not policy.allow(rec, T0 + 7.0, rng)
    policy.observe(rec, T0 + 8.0, rng, failed=False, ttft_s=0.2)
    assert (rec.state, rec.opens, rec.transitions, rec.last_reason) == (
        BreakerState.CLOSED,
        0,
        3,
        "trials_passed",
    )


def test_budget_record_deposits_expire_on_explicit_times() -> None:
    policy = RetryBudgetPolicy(ttl_s=10.0, min_retries_per_sec=0.0, percent_can_retry=1.0)
    rec = policy.new_record(T0)
    policy.deposit(rec, T0)
    assert policy.balance(rec, T0 + 10.9) == 1.0
    assert policy.try_withdraw(rec, T0 + 10.9, 0.5)
    assert policy.balance(rec, T0 + 10.9) == 0.5
    assert policy.balance(rec, T0 + 11.0) == -0.5  # the deposit expired before its withdrawal
    assert not policy.try_withdraw(rec, T0 + 11.0)


def test_throttle_record_takes_the_draw_as_an_argument() -> None:
    policy = ThrottlePolicy(min_requests=1, max_reject_probability=1.0)
    rec = policy.new_record(T0)
    for _ in range(9):
        policy.observe(rec, T0, accepted=False)
    p = policy.probability(rec, T0)
    assert p == pytest.approx(9 / 10)
    assert not policy.should_reject(rec, T0, draw=p)
    assert policy.should_reject(rec, T0, draw=p - 1e-9)
    assert window_totals(rec.window, 2.0, T0) == [10, 0]  # the rejection counts as a request
    assert policy.probability(rec, T0 + 120.0) == 0.0


def test_limit_records_step_without_a_clock() -> None:
    aimd = AIMDPolicy(initial_limit=10)
    a = aimd.new_record()
    aimd.update(a, rtt_s=0.1, inflight=5, dropped=False)
    aimd.update(a, rtt_s=0.1, inflight=0, dropped=True)
    assert aimd.limit_of(a) == int(11 * 0.9)
    g2 = Gradient2Policy()
    g = g2.new_record()
    for _ in range(5):
        g2.update(g, rtt_s=1.0, inflight=20, dropped=False)
    assert (g2.limit_of(g), g.count, g.long_rtt) == (24, 5, 1.0)


def test_stats_record_ages_out_on_explicit_times() -> None:
    policy = StatsPolicy(window_s=60.0, max_samples=4)
    rec = policy.new_record(T0)
    policy.observe(rec, T0, ok=True, duration_s=2.0, ttft_s=0.5)
    policy.observe(rec, T0 + 30.0, ok=False, duration_s=None, ttft_s=None)
    snap = policy.snapshot(rec, T0 + 59.0)
    assert (snap.requests, snap.errors, snap.duration_p50, snap.ttft_p99) == (2, 1, 2.0, 0.5)
    snap = policy.snapshot(rec, T0 + 61.0)
    assert (snap.requests, snap.errors, snap.duration_p50) == (1, 1, None)


def test_latency_record_quantiles_on_explicit_times() -> None:
    rec = LatencyRecord.empty(3)
    for i, seconds in enumerate((4.0, 1.0, 3.0, 2.0)):  # the first falls out of the ring
        latency_add(rec, T0 + i, seconds)
    assert latency_quantile(rec, 10.0, T0 + 3, 1.0) == 3.0
    assert latency_count(rec, 10.0, T0 + 11.5) == 2  # the sample at T0 + 1 aged out
    assert latency_quantile(rec, 10.0, T0 + 11.5, 0.5) == 2.0


def test_admission_and_retry_cap_records() -> None:
    policy = AdmissionPolicy(max_concurrency=2, interactive_share=0.5, batch_share=0.5)
    rec = policy.new_record()
    policy.granted(rec, Priority.BATCH)
    policy.granted(rec, Priority.BATCH)
    assert not policy.can_admit(rec, Priority.BATCH)
    assert policy.can_admit(rec, Priority.INTERACTIVE)  # under its guarantee
    policy.released(rec, Priority.BATCH, 4.0)
    policy.released(rec, Priority.BATCH, 2.0)
    assert rec.mean_hold_s == pytest.approx(4.0 + 0.1 * (2.0 - 4.0))
    assert policy.retry_after(rec, queued=1) == pytest.approx(2 * rec.mean_hold_s / 2)
    rec.nonempty_since = T0
    assert not policy.congested(rec, T0 + 1.0)
    assert policy.congested(rec, T0 + 1.01)
    cap = RetryConcurrencyPolicy(budget_percent=0.5, min_retry_concurrency=1)
    slots = RetryCapRecord()
    assert [cap.try_acquire(slots, active_requests=4) for _ in range(3)] == [True, True, False]
    cap.release(slots)
    assert slots.active == 1


# -- a copy taken mid-way steps like the original -----------------------------------------------------
Step = Callable[[Any, random.Random], object]


def breaker_script() -> tuple[Any, list[Step]]:
    p = BreakerPolicy(min_calls=4, consecutive_failures=0, half_open_permits=2)
    steps: list[Step] = [
        lambda r, g, i=i: p.observe(r, T0 + i * 0.4, g, failed=i % 2 == 0, ttft_s=i * 10.0) for i in range(6)
    ]
    for t in (3.0, 8.0, 9.0, 9.5, 12.0, 30.0, 31.0, 31.5):
        steps.append(lambda r, g, t=t: p.allow(r, T0 + t, g))
        steps.append(lambda r, g, t=t: p.observe(r, T0 + t + 0.1, g, failed=t < 20, ttft_s=None))
        steps.append(lambda r, g, t=t: p.snapshot(r, T0 + t + 0.2, g))
    return p.new_record(T0), steps


def budget_script() -> tuple[Any, list[Step]]:
    p = RetryBudgetPolicy(ttl_s=2.0, slots=4)
    steps: list[Step] = []
    for i in range(40):
        t = T0 + i * 0.13
        steps.append(lambda r, g, t=t: p.deposit(r, t))
        steps.append(lambda r, g, t=t: p.try_withdraw(r, t, g.choice((0.5, 1.0, 2.0))))
        steps.append(lambda r, g, t=t: p.balance(r, t))
    return p.new_record(T0), steps


def throttle_script() -> tuple[Any, list[Step]]:
    p = ThrottlePolicy(min_requests=5, window_s=10.0, buckets=5)
    steps: list[Step] = []
    for i in range(60):
        t = T0 + i * 0.37
        steps.append(lambda r, g, t=t: p.should_reject(r, t, g.random()))
        steps.append(lambda r, g, t=t: p.observe(r, t, accepted=g.random() < 0.3))
        steps.append(lambda r, g, t=t: p.probability(r, t))
    return p.new_record(T0), steps


def limiter_script(policy: AIMDPolicy | Gradient2Policy) -> tuple[Any, list[Step]]:
    def step(r: LimiterRecord, g: random.Random) -> object:
        algorithm = r.algorithm
        r.inflight = g.randrange(0, 40)
        if isinstance(policy, AIMDPolicy):
            assert isinstance(algorithm, AIMDRecord)
            policy.update(algorithm, rtt_s=g.random(), inflight=r.inflight, dropped=g.random() < 0.2)
            return policy.limit_of(algorithm)
        assert isinstance(algorithm, Gradient2Record)
        policy.update(algorithm, rtt_s=g.random(), inflight=r.inflight, dropped=g.random() < 0.2)
        return policy.limit_of(algorithm)

    return LimiterRecord.for_policy(policy), [step] * 50


def stats_script() -> tuple[Any, list[Step]]:
    p = StatsPolicy(window_s=5.0, max_samples=8)
    steps: list[Step] = []
    for i in range(40):
        t = T0 + i * 0.3
        steps.append(
            lambda r, g, t=t: p.observe(r, t, ok=g.random() < 0.8, duration_s=g.random(), ttft_s=g.random())
        )
        steps.append(lambda r, g, t=t: p.snapshot(r, t))
    return p.new_record(T0), steps


SCRIPTS = {
    "breaker": breaker_script,
    "budget": budget_script,
    "throttle": throttle_script,
    "aimd": lambda: limiter_script(AIMDPolicy(initial_limit=10)),
    "gradient2": lambda: limiter_script(Gradient2Policy()),
    "stats": stats_script,
}


@pytest.mark.parametrize("name", sorted(SCRIPTS))
@pytest.mark.parametrize("at", [0.25, 0.5, 0.75])
def test_a_copy_taken_mid_way_steps_identically(name: str, at: float) -> None:
    record, steps = SCRIPTS[name]()
    rng = random.Random(42)
    split = int(len(steps) * at)
    for step in steps[:split]:
        step(record, rng)
    twin, twin_rng = copy.deepcopy(record), copy.deepcopy(rng)
    ours = [step(record, rng) for step in steps[split:]]
    theirs = [step(twin, twin_rng) for step in steps[split:]]
    assert ours == theirs
    assert twin == record
    assert any(o is not None for o in ours)  # the script does return decisions to compare


def test_the_breaker_script_goes_through_every_state() -> None:
    record, steps = breaker_script()
    rng = random.Random(42)
    seen = set()
    for step in steps:
        step(record, rng)
        seen.add(record.state)
    assert seen == {BreakerState.CLOSED, BreakerState.OPEN, BreakerState.HALF_OPEN}


# -- facades on shared records -------------------------------------------------------------------------
def test_two_facades_on_one_record_see_each_others_steps() -> None:
    clock = ManualClock()
    policy = BreakerPolicy(consecutive_failures=2, open_jitter=0.0)
    events: list[BreakerTransition] = []
    rec = policy.new_record(clock.now())
    a = CircuitBreaker("t", clock, policy, rng=FixedRandom(0.5), record=rec, on_transition=events.append)
    b = CircuitBreaker("t", clock, policy, rng=FixedRandom(0.5), record=rec)
    a.record_failure()
    b.record_failure()  # b's step opens the breaker: only b's observer (none) hears of it
    assert a.state is BreakerState.OPEN
    assert not a.allow()
    assert a.state_record is b.state_record is rec
    assert events == []
    clock.advance(5.0)
    assert a.state is BreakerState.HALF_OPEN  # a's own tick moves it, and a's observer hears that
    assert [(e.old, e.new, e.reason) for e in events] == [
        (BreakerState.OPEN, BreakerState.HALF_OPEN, "wait_elapsed")
    ]


def test_facades_run_on_records_they_are_given() -> None:
    clock = ManualClock()
    budget_record = RetryBudgetPolicy().new_record(clock.now())
    RetryBudget(clock, record=budget_record).deposit()
    assert RetryBudget(clock, record=budget_record).balance() == pytest.approx(10.2)
    throttle_record = ThrottlePolicy().new_record(clock.now())
    AdaptiveThrottle(clock, record=throttle_record).record(accepted=True)
    assert throttle_record.window.totals == [1, 1]
    limiter_record = LimiterRecord.for_policy(AIMDPolicy(initial_limit=5))
    limiter = ConcurrencyLimiter.for_policy(AIMDPolicy(initial_limit=5), record=limiter_record)
    assert limiter.try_acquire()
    limiter.release("drop")
    assert limiter_record == LimiterRecord(AIMDRecord(4), 0)
    stats_record = StatsPolicy().new_record(clock.now())
    TargetStats(clock, record=stats_record).record(ok=True, duration_s=1.0)
    assert LatencyWindow(clock, record=stats_record.duration).quantile(0.5) == 1.0
    window = BucketWindow(clock, bucket_s=1.0, buckets=2, fields=1)
    window.add(0, 3)
    assert window.state_record.totals == [3]


def test_a_limiter_refuses_a_record_that_is_not_its_algorithms() -> None:
    with pytest.raises(ValueError, match="algorithm's own record"):
        ConcurrencyLimiter(AIMDLimit(), record=LimiterRecord.for_policy(AIMDPolicy()))
    with pytest.raises(ValueError, match="Gradient2Record"):
        ConcurrencyLimiter.for_policy(Gradient2Policy(), record=LimiterRecord.for_policy(AIMDPolicy()))
    gradient = Gradient2Limit()
    limiter = ConcurrencyLimiter(gradient)
    assert limiter.state_record.algorithm is gradient.state_record


def test_on_change_follows_steps_that_change_the_record_and_not_reads() -> None:
    clock = ManualClock()
    calls: list[str] = []

    def hook(name: str) -> Callable[[], None]:
        return lambda: calls.append(name)

    breaker = CircuitBreaker(
        "t", clock, BreakerPolicy(min_calls=1), rng=FixedRandom(0.5), on_change=hook("b")
    )
    budget = RetryBudget(clock, RetryBudgetPolicy(min_retries_per_sec=0.0), on_change=hook("u"))
    throttle = AdaptiveThrottle(clock, rng=FixedRandom(0.99), on_change=hook("t"))
    limiter = ConcurrencyLimiter(AIMDLimit(AIMDPolicy(initial_limit=1)), on_change=hook("l"))
    stats = TargetStats(clock, on_change=hook("s"))

    assert breaker.allow() and breaker.state is BreakerState.CLOSED
    assert not budget.try_withdraw()
    assert not throttle.should_reject()
    assert throttle.probability() == 0.0
    stats.snapshot()
    assert calls == []  # reads, refusals and a closed breaker's allow() change nothing

    breaker.record_failure()  # opens (min_calls 1)
    budget.deposit()
    throttle.record(accepted=False)
    assert limiter.try_acquire()
    assert not limiter.try_acquire()
    limiter.release("success", 0.1)
    stats.record(ok=True, duration_s=1.0)
    stats.duration.add(2.0)
    assert calls == ["b", "u", "t", "l", "l", "s", "s"]

    calls.clear()
    assert not breaker.allow()  # open: nothing moves
    clock.advance(5.0)
    assert breaker.allow()  # half-open: a transition and a permit
    breaker.release_permit()
    breaker.release_permit()  # nothing out any more: no change
    assert calls == ["b", "b"]


def test_error_classes_still_price_retries() -> None:
    # the policy's cost table is unchanged by the split
    record = BudgetRecord(WindowRecord.empty(T0, buckets=11, fields=1))
    policy = RetryBudgetPolicy()
    assert policy.try_withdraw(record, T0, policy.cost_for(ErrorClass.TIMEOUT))
    assert policy.balance(record, T0) == pytest.approx(8.0)


def test_record_types_are_the_ones_policies_make() -> None:
    assert isinstance(BreakerPolicy().new_record(T0), BreakerRecord)
    assert isinstance(ThrottlePolicy().new_record(T0), ThrottleRecord)
    assert isinstance(StatsPolicy().new_record(T0), StatsRecord)
    assert isinstance(AdmissionPolicy().new_record(), AdmissionRecord)
