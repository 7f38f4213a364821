from __future__ import annotations

import pytest

from seawall._clock import ManualClock
from seawall.resilience import BreakerPolicy, BreakerState, BreakerTransition, CircuitBreaker

from ._fakes import FixedRandom

# FixedRandom(0.5) makes the ±20% jitter factor exactly 1.0, so waits are 5, 10, 20, ... s.
MID = 0.5
# Most tests here are about the window; the consecutive-failures trip has its own tests below.
WINDOW_ONLY = BreakerPolicy(consecutive_failures=0)


def make(
    clock: ManualClock, *, jitter_at: float = MID, policy: BreakerPolicy | None = None
) -> tuple[CircuitBreaker, list[BreakerTransition]]:
    events: list[BreakerTransition] = []
    breaker = CircuitBreaker(
        "alpha/gpt", clock, policy or WINDOW_ONLY, rng=FixedRandom(jitter_at), on_transition=events.append
    )
    return breaker, events


def record(breaker: CircuitBreaker, *, successes: int = 0, failures: int = 0, slow: int = 0) -> None:
    for _ in range(successes):
        breaker.record_success(ttft_s=0.5)
    for _ in range(slow):
        breaker.record_success(ttft_s=45.0)
    for _ in range(failures):
        breaker.record_failure()


def trip(breaker: CircuitBreaker) -> None:
    record(breaker, failures=20)
    assert breaker.state is BreakerState.OPEN


def test_defaults() -> None:
    p = BreakerPolicy()
    assert (p.failure_rate_threshold, p.slow_call_rate_threshold, p.slow_call_s) == (0.5, 0.8, 30.0)
    assert (p.window_s, p.min_calls, p.half_open_permits) == (30, 20, 3)
    assert (p.open_base_s, p.open_multiplier, p.open_max_s, p.open_jitter) == (5.0, 2.0, 300.0, 0.2)
    assert p.consecutive_failures == 5


def test_opens_after_consecutive_failures_whatever_the_window_holds() -> None:
    breaker, events = make(ManualClock(), policy=BreakerPolicy())
    record(breaker, successes=500, failures=4)  # 0.8% failures over the window
    assert breaker.state is BreakerState.CLOSED
    record(breaker, failures=1)
    assert breaker.state is BreakerState.OPEN
    assert events[0].reason == "consecutive_failures"
    assert events[0].failure_rate == 5 / 505


def test_a_success_restarts_the_count_of_consecutive_failures() -> None:
    breaker, _ = make(ManualClock(), policy=BreakerPolicy(min_calls=1000))
    for _ in range(50):
        record(breaker, failures=4, successes=1)
    assert breaker.state is BreakerState.CLOSED


def test_consecutive_failures_count_again_after_a_close() -> None:
    clock = ManualClock()
    breaker, events = make(clock, policy=BreakerPolicy(half_open_permits=1))
    record(breaker, failures=4)
    assert breaker.state is BreakerState.CLOSED
    record(breaker, failures=1)
    clock.advance(5.0)
    assert breaker.allow()
    record(breaker, successes=1)  # trial passed: closed, and the old streak is forgotten
    assert breaker.state is BreakerState.CLOSED
    record(breaker, failures=4)
    assert breaker.state is BreakerState.CLOSED
    assert [e.reason for e in events] == ["consecutive_failures", "wait_elapsed", "trials_passed"]


def test_does_not_open_below_min_calls() -> None:
    breaker, events = make(ManualClock())
    record(breaker, failures=19)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    assert events == []


def test_opens_on_failure_rate() -> None:
    clock = ManualClock()
    breaker, events = make(clock)
    record(breaker, successes=10, failures=10)
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    assert events == [
        BreakerTransition(
            "alpha/gpt",
            BreakerState.CLOSED,
            BreakerState.OPEN,
            "failure_rate",
            clock.now(),
            failure_rate=0.5,
            slow_call_rate=0.0,
            open_until=clock.now() + 5.0,
        )
    ]
    assert breaker.open_until == clock.now() + 5.0


def test_stays_closed_just_under_the_failure_threshold() -> None:
    breaker, _ = make(ManualClock())
    record(breaker, successes=11, failures=9)
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot().failure_rate == pytest.approx(0.45)


def test_opens_on_slow_call_rate_by_time_to_first_token() -> None:
    breaker, events = make(ManualClock())
    record(breaker, successes=4, slow=16)
    assert breaker.state is BreakerState.OPEN
    assert events[0].reason == "slow_call_rate"
    assert events[0].slow_call_rate == pytest.approx(0.8)


def test_under_the_slow_threshold_or_unmeasured_is_not_slow() -> None:
    breaker, _ = make(ManualClock())
    record(breaker, successes=5, slow=15)  # 75%
    for _ in range(20):
        breaker.record_success()  # no time to first token: not judged
        breaker.record_success(ttft_s=30.0)  # at the threshold, not above
    assert breaker.state is BreakerState.CLOSED


def test_slow_failures_count_as_both() -> None:
    breaker, events = make(
        ManualClock(), policy=BreakerPolicy(failure_rate_threshold=1.0, consecutive_failures=0)
    )
    for _ in range(20):
        breaker.record_failure(ttft_s=60.0)
    assert events[0].reason == "failure_rate"
    assert (events[0].failure_rate, events[0].slow_call_rate) == (1.0, 1.0)


def test_buckets_expire_after_the_window() -> None:
    clock = ManualClock()
    breaker, _ = make(clock)
    record(breaker, failures=15)
    clock.advance(31.0)
    record(breaker, successes=10, failures=5)  # without expiry: 30 calls, 67% failing
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot().calls == 15


def test_calls_inside_the_window_add_up() -> None:
    clock = ManualClock()
    breaker, _ = make(clock)
    record(breaker, failures=10)
    clock.advance(20.0)
    record(breaker, successes=10)
    assert breaker.state is BreakerState.OPEN


def test_half_open_after_the_wait() -> None:
    clock = ManualClock()
    breaker, events = make(clock)
    trip(breaker)
    clock.advance(4.99)
    assert not breaker.allow()
    clock.advance(0.01)
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.open_until is None
    assert events[-1].reason == "wait_elapsed"


def test_half_open_permits_exactly_n_calls() -> None:
    clock = ManualClock()
    breaker, _ = make(clock)
    trip(breaker)
    clock.advance(5.0)
    assert [breaker.allow() for _ in range(4)] == [True, True, True, False]
    breaker.release_permit()  # a cancelled trial gives its permit back
    assert breaker.allow()
    assert not breaker.allow()


def test_half_open_closes_when_trials_pass() -> None:
    clock = ManualClock()
    breaker, events = make(clock)
    trip(breaker)
    clock.advance(5.0)
    for _ in range(3):
        assert breaker.allow()
    record(breaker, successes=2, failures=1)  # 33% < 50%
    assert breaker.state is BreakerState.CLOSED
    assert events[-1].reason == "trials_passed"
    assert breaker.allow()


def test_half_open_reopens_as_soon_as_trials_cannot_pass() -> None:
    clock = ManualClock()
    breaker, events = make(clock)
    trip(breaker)
    clock.advance(5.0)
    for _ in range(3):
        assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.HALF_OPEN
    breaker.record_failure()  # 2 of 3 fail whatever the third does
    assert breaker.state is BreakerState.OPEN
    assert events[-1].reason == "trials_failed"
    assert events[-1].open_until == clock.now() + 10.0  # the second opening waits twice as long


def test_results_without_a_permit_are_ignored() -> None:
    clock = ManualClock()
    breaker, events = make(clock)
    trip(breaker)
    until = breaker.open_until
    record(breaker, failures=5, successes=5)  # calls that started before it opened
    assert (breaker.state, breaker.open_until) == (BreakerState.OPEN, until)
    clock.advance(5.0)
    assert breaker.state is BreakerState.HALF_OPEN
    record(breaker, successes=5)  # no permit out: still stale
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    record(breaker, successes=3)  # one trial result, then two with no permit behind them
    assert breaker.state is BreakerState.HALF_OPEN
    assert len(events) == 2


def test_wait_grows_with_each_opening_and_resets_after_a_clean_close() -> None:
    clock = ManualClock()
    breaker, _ = make(clock)
    trip(breaker)
    waits = []
    for _ in range(8):
        assert breaker.open_until is not None
        waits.append(breaker.open_until - clock.now())
        clock.advance(waits[-1])
        for _ in range(3):
            assert breaker.allow()
        record(breaker, failures=2)  # the trials fail: reopen
    assert waits == [5.0, 10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0]
    # A clean close resets the growth.
    assert breaker.open_until is not None
    clock.advance(breaker.open_until - clock.now())
    for _ in range(3):
        breaker.allow()
    record(breaker, successes=3)
    assert breaker.state is BreakerState.CLOSED
    trip(breaker)
    assert breaker.open_until == clock.now() + 5.0


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.8), (1.0, 1.2)])
def test_wait_is_jittered_by_twenty_percent(draw: float, factor: float) -> None:
    clock = ManualClock()
    breaker, _ = make(clock, jitter_at=draw)
    trip(breaker)
    assert breaker.open_until == pytest.approx(clock.now() + 5.0 * factor)


def test_a_lost_trial_does_not_pin_it_half_open() -> None:
    clock = ManualClock()
    breaker, events = make(clock)
    trip(breaker)
    clock.advance(5.0)
    for _ in range(3):
        breaker.allow()
    clock.advance(599.0)
    assert breaker.state is BreakerState.HALF_OPEN
    clock.advance(1.0)
    assert breaker.state is BreakerState.OPEN
    assert events[-1].reason == "trial_timeout"


def test_force_open_and_reset() -> None:
    clock = ManualClock()
    breaker, events = make(clock)
    breaker.force_open()
    clock.advance(10_000.0)
    assert breaker.state is BreakerState.FORCED_OPEN
    assert not breaker.allow()
    record(breaker, successes=50)
    assert breaker.state is BreakerState.FORCED_OPEN
    breaker.reset()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()
    assert [(e.old, e.new, e.reason) for e in events] == [
        (BreakerState.CLOSED, BreakerState.FORCED_OPEN, "forced"),
        (BreakerState.FORCED_OPEN, BreakerState.CLOSED, "reset"),
    ]


def test_reset_forgets_the_window_and_the_growth() -> None:
    clock = ManualClock()
    breaker, _ = make(clock)
    trip(breaker)
    clock.advance(5.0)
    for _ in range(2):
        breaker.allow()
    record(breaker, failures=2)  # reopens: the next opening would wait 20 s
    assert breaker.state is BreakerState.OPEN
    breaker.reset()
    record(breaker, failures=19)
    assert breaker.state is BreakerState.CLOSED  # the 20 earlier failures are forgotten
    breaker.record_failure()
    assert breaker.open_until == clock.now() + 5.0


def test_state_values_are_strings() -> None:
    assert [s.value for s in BreakerState] == ["closed", "open", "half_open", "forced_open"]
    assert BreakerState.HALF_OPEN == "half_open"


def test_snapshot() -> None:
    clock = ManualClock()
    breaker, _ = make(clock)
    record(breaker, successes=6, failures=2, slow=2)
    snap = breaker.snapshot()
    assert (snap.state, snap.calls, snap.open_until, snap.consecutive_opens) == (
        BreakerState.CLOSED,
        10,
        None,
        0,
    )
    assert (snap.failure_rate, snap.slow_call_rate) == (pytest.approx(0.2), pytest.approx(0.2))


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("failure_rate_threshold", 0.0),
        ("slow_call_rate_threshold", 1.5),
        ("slow_call_s", 0.0),
        ("window_s", 0),
        ("min_calls", 0),
        ("consecutive_failures", -1),
        ("open_base_s", -1.0),
        ("open_multiplier", 0.5),
        ("open_max_s", 1.0),
        ("open_jitter", 1.0),
        ("half_open_permits", 0),
        ("half_open_max_wait_s", 0.0),
    ],
)
def test_validation_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        BreakerPolicy(**{field: value})  # type: ignore[arg-type]
