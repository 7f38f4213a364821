"""ResilienceState's engine-facing methods, one by one, and against the path they replace.

Deterministic: a ManualClock, seeded rngs, no event loop waits except admission's own futures. The
last tests replay one scripted run of requests through the old calls (gate, the engine's retry
allowance, settle, release_stream) and through the new ones (gate, clearance, commit,
attempt_ended), and require the same decisions and the same state at the end.
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass, field
from typing import Any, Literal

import pytest

from seawall._clock import ManualClock
from seawall._types import AttemptInfo, AttemptOutcome, Dialect, Priority, Target
from seawall.config import TargetPolicies
from seawall.engine import ResilienceState, TargetState
from seawall.engine._targets import Clearance
from seawall.errors import (
    DeadlineExceeded,
    ErrorClass,
    Overloaded,
    UpstreamError,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamStreamCut,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from seawall.resilience import AdmissionPolicy, BreakerState, Deadline, RetryConcurrencyPolicy, ThrottlePolicy
from tests.unit.engine.test_engine import policies_with

A, B = Target("a", "ma"), Target("b", "mb")
NO_THROTTLE = ThrottlePolicy(min_requests=10**9)


def make(
    *,
    admission: AdmissionPolicy | None = None,
    retry_concurrency: RetryConcurrencyPolicy | None = None,
    throttle: ThrottlePolicy = NO_THROTTLE,
    seed: int = 7,
    **sections: Any,
) -> tuple[ResilienceState, ManualClock]:
    clock = ManualClock()
    state = ResilienceState.create(clock, random.Random(seed), admission, retry_concurrency, throttle)
    policies = policies_with(**sections)
    for target in (A, B):
        state.register(target, policies)
    return state, clock


def ended(
    clock: ManualClock,
    target: Target,
    error: UpstreamError | None = None,
    *,
    took: float = 0.5,
    ttft_s: float | None = None,
    committed: bool = False,
) -> AttemptOutcome:
    now = clock.now()
    return AttemptOutcome(
        target, Dialect.OPENAI, now - took, now, AttemptInfo(), error, ttft_s=ttft_s, committed=committed
    )


def attempt(
    state: ResilienceState, clock: ManualClock, target: Target, error: UpstreamError | None = None
) -> None:
    """One whole first attempt at `target`: gate, clearance, half a second, its end."""
    st = state.target(target.key)
    assert state.gate(st) == "ok"
    assert state.clearance(st, tried=0, hedge=False, fallback=False, remaining_s=60.0, last_error=None).ok
    clock.advance(0.5)
    state.attempt_ended(ended(clock, target, error))


def held(state: ResilienceState, target: Target) -> tuple[int, int]:
    """(concurrency slots held, half-open permits out) at `target`."""
    st = state.target(target.key)
    return st.limiter.inflight, st.breaker.state_record.permits_out


def retry_after_a_failure(
    state: ResilienceState, error: UpstreamError, *, remaining_s: float = 60.0, tried: int = 1
) -> Clearance:
    st = state.target(A.key)
    assert state.gate(st) == "ok"
    return state.clearance(
        st, tried=tried, hedge=False, fallback=False, remaining_s=remaining_s, last_error=error
    )


# -- admission -----------------------------------------------------------------------------------------
def test_try_admit_and_release_count_active_requests_once() -> None:
    state, _ = make(admission=AdmissionPolicy(max_concurrency=1, interactive_share=1.0, batch_share=0.0))
    permit = state.try_admit(Priority.INTERACTIVE)
    assert permit is not None
    assert state.active_requests == 1
    assert state.try_admit(Priority.INTERACTIVE) is None
    assert state.active_requests == 1
    state.release(permit)
    state.release(permit)  # idempotent, as the controller's own release is
    assert (state.active_requests, state.admission.inflight) == (0, 0)


async def test_admit_queues_and_counts_the_request_when_admitted() -> None:
    state, _ = make(admission=AdmissionPolicy(max_concurrency=1, interactive_share=1.0, batch_share=0.0))
    first = state.try_admit(Priority.INTERACTIVE)
    assert first is not None
    waiter = asyncio.ensure_future(state.admit(Priority.INTERACTIVE, deadline=Deadline.never(state.clock)))
    await asyncio.sleep(0)
    assert (state.queued, state.active_requests) == (1, 1)
    state.release(first)
    permit = await waiter
    assert (state.queued, state.active_requests) == (0, 1)
    state.release(permit)
    assert state.active_requests == 0


async def test_admit_raises_as_the_controller_does() -> None:
    state, clock = make(admission=AdmissionPolicy(max_concurrency=1, max_queue=0))
    assert state.try_admit(Priority.INTERACTIVE) is not None
    with pytest.raises(Overloaded):
        await state.admit(Priority.INTERACTIVE, deadline=Deadline.never(clock))
    with pytest.raises(DeadlineExceeded):
        await state.admit(Priority.INTERACTIVE, deadline=Deadline(clock.now(), clock))
    assert state.active_requests == 1


async def test_queue_expiry_is_driven_by_the_owner() -> None:
    state, clock = make(admission=AdmissionPolicy(max_concurrency=1, queue_timeout_s=1.0))
    assert state.next_queue_expiry() is None
    assert state.try_admit(Priority.INTERACTIVE) is not None
    waiter = asyncio.ensure_future(state.admit(Priority.INTERACTIVE, deadline=Deadline.after(clock, 0.5)))
    await asyncio.sleep(0)
    assert state.next_queue_expiry() == clock.now() + 0.5  # the deadline comes before the timeout
    clock.advance(0.4)
    state.expire_queue()
    assert not waiter.done()
    clock.advance(0.1)
    state.expire_queue()
    with pytest.raises(DeadlineExceeded):
        await waiter
    assert (state.queued, state.active_requests, state.next_queue_expiry()) == (0, 1, None)


# -- gates ---------------------------------------------------------------------------------------------
def test_target_is_the_registered_handle() -> None:
    state, _ = make()
    st = state.target(A.key)
    assert isinstance(st, TargetState)
    assert st.target == A
    with pytest.raises(KeyError):
        state.target("nope/nothing")


def test_gate_wait_is_the_rest_of_a_rate_limit_block() -> None:
    state, clock = make()
    attempt(state, clock, A, UpstreamRateLimited("429", retry_after_s=30.0))
    clock.advance(10.0)
    st = state.target(A.key)
    assert state.gate(st) == "blocked"
    assert state.gate_wait(st, "blocked") == pytest.approx(20.0)
    assert held(state, A) == (0, 0)


def test_gate_wait_is_the_rest_of_a_breaker_open_wait() -> None:
    state, clock = make(breaker={"consecutive_failures": 2, "open_jitter": 0.0})
    attempt(state, clock, A, UpstreamUnavailable("503"))
    attempt(state, clock, A, UpstreamUnavailable("503"))
    clock.advance(2.0)
    st = state.target(A.key)
    assert state.gate(st) == "breaker"
    assert state.gate_wait(st, "breaker") == pytest.approx(3.0)


def test_gate_wait_is_unknown_when_saturated_or_throttled() -> None:
    conc = {"algorithm": "aimd", "settings": {"initial_limit": 1, "min_limit": 1, "max_limit": 1}}
    state, _ = make(concurrency=conc)
    st = state.target(A.key)
    assert state.gate(st) == "ok"
    assert state.gate(st) == "saturated"
    assert state.gate_wait(st, "saturated") == 0.0
    assert state.gate_wait(st, "throttled") == 0.0
    assert state.gate_wait(st, "ok") == 0.0


def test_a_throttled_gate_counts_a_local_rejection_and_holds_nothing() -> None:
    state, clock = make(
        throttle=ThrottlePolicy(min_requests=5, max_reject_probability=1.0),
        breaker={"consecutive_failures": 0, "min_calls": 1000},
    )
    for _ in range(5):  # the throttle judges nothing below 5 requests
        attempt(state, clock, A, UpstreamUnavailable("503"))
    st = state.target(A.key)
    gates = [state.gate(st) for _ in range(20)]
    assert gates.count("throttled") == st.local_rejections > 0
    assert st.limiter.inflight == gates.count("ok")


# -- clearance -----------------------------------------------------------------------------------------
def test_a_first_attempt_goes_at_once_and_deposits() -> None:
    state, _ = make()
    st = state.target(A.key)
    before = st.budget.balance()
    assert state.gate(st) == "ok"
    cleared = state.clearance(st, tried=0, hedge=False, fallback=False, remaining_s=60.0, last_error=None)
    assert cleared == Clearance(True, 0.0, None, None, False)
    assert st.budget.balance() == pytest.approx(before + 0.2)
    assert state.retry_cap.active == 0


def test_a_retry_waits_the_policys_backoff_drawn_from_the_states_rng() -> None:
    state, _ = make(seed=11)
    twin = random.Random(11)
    st = state.target(A.key)
    before = st.budget.balance()
    cleared = retry_after_a_failure(state, UpstreamUnavailable("503"))
    twin.random()  # the gate's throttle draw
    expected = st.policies.retry.delay_for(
        0, error_class=ErrorClass.SERVER_ERROR, retry_after_s=None, rng=twin
    )
    assert cleared.ok
    assert cleared.delay_s == expected
    assert cleared.delay_s > 0
    assert st.budget.balance() == pytest.approx(before - 1.0)
    assert state.retry_cap.active == 1
    state.release_retry()
    assert state.retry_cap.active == 0


def test_a_retry_honours_retry_after_and_prices_by_error_class() -> None:
    state, _ = make()
    st = state.target(A.key)
    before = st.budget.balance()
    cleared = retry_after_a_failure(state, UpstreamRateLimited("429", retry_after_s=4.0))
    assert cleared.ok
    assert 4.0 <= cleared.delay_s <= 4.4
    assert st.budget.balance() == pytest.approx(before - 0.5)  # a throttled retry costs half
    state.release_retry()
    cleared = retry_after_a_failure(state, UpstreamTimeout("slow"))
    assert cleared.ok
    assert st.budget.balance() == pytest.approx(before - 2.5)  # a timeout's retry costs two


def test_retry_after_beyond_the_policy_refuses_and_gives_back_the_gate() -> None:
    state, _ = make()
    cleared = retry_after_a_failure(state, UpstreamRateLimited("429", retry_after_s=120.0))
    assert cleared == Clearance(False, 0.0, "retry_after", "Retry-After beyond 60s", False)
    assert held(state, A) == (0, 0)
    assert state.retry_cap.active == 0


def test_a_retry_that_cannot_finish_before_the_deadline_is_out_of_time() -> None:
    state, _ = make(retry={"max_delay_s": 0.01, "base_delay_s": 0.01})
    cleared = retry_after_a_failure(state, UpstreamUnavailable("503"), remaining_s=0.05)
    assert (cleared.ok, cleared.code, cleared.out_of_time) == (False, "no_time", True)
    assert cleared.reason == "no time left before the deadline"
    assert held(state, A) == (0, 0)
    assert state.retry_cap.active == 0
    assert retry_after_a_failure(state, UpstreamUnavailable("503"), remaining_s=0.07).ok


def test_the_retry_concurrency_cap_refuses_beyond_its_minimum() -> None:
    state, _ = make(retry_concurrency=RetryConcurrencyPolicy(min_retry_concurrency=2))
    assert [retry_after_a_failure(state, UpstreamUnavailable("503")).code for _ in range(3)] == [
        None,
        None,
        "retry_cap",
    ]
    assert held(state, A) == (2, 0)  # the refused one gave its slot back
    state.release_retry()
    assert retry_after_a_failure(state, UpstreamUnavailable("503")).ok


def test_a_spent_budget_refuses_counts_and_frees_the_retry_slot() -> None:
    state, _ = make(budget={"percent_can_retry": 0.0, "min_retries_per_sec": 0.1, "ttl_s": 10.0})
    assert retry_after_a_failure(state, UpstreamUnavailable("503")).ok
    state.release_retry()
    cleared = retry_after_a_failure(state, UpstreamUnavailable("503"))
    assert cleared == Clearance(False, 0.0, "budget", "retry budget exhausted", False)
    st = state.target(A.key)
    assert (st.budget_refusals, state.retry_cap.active, st.limiter.inflight) == (1, 0, 1)
    assert state.snapshot()[0]["retry_budget"]["refusals"] == 1


def test_a_hedge_goes_at_once_counts_and_withdraws() -> None:
    state, _ = make()
    st = state.target(B.key)
    before = st.budget.balance()
    assert state.gate(st) == "ok"
    cleared = state.clearance(st, tried=0, hedge=True, fallback=True, remaining_s=60.0, last_error=None)
    assert cleared == Clearance(True)
    assert (st.hedges, state.retry_cap.active) == (1, 1)
    assert st.budget.balance() == pytest.approx(before - 1.0)


def test_a_retry_needs_the_last_error() -> None:
    state, _ = make()
    st = state.target(A.key)
    with pytest.raises(ValueError, match="last attempt"):
        state.clearance(st, tried=1, hedge=False, fallback=False, remaining_s=60.0, last_error=None)


def test_a_fallback_is_judged_on_what_the_target_has_shown() -> None:
    state, clock = make(retry={"min_attempt_s": 1.0})
    st = state.target(B.key)
    assert state.gate(st) == "ok"  # cold: no observations, so any time left will do
    assert state.clearance(st, tried=0, hedge=False, fallback=True, remaining_s=0.06, last_error=None).ok
    clock.advance(0.8)
    state.attempt_ended(ended(clock, B, took=0.8))  # B takes 0.8 s to answer
    balance = st.budget.balance()
    assert state.gate(st) == "ok"
    cleared = state.clearance(st, tried=0, hedge=False, fallback=True, remaining_s=0.7, last_error=None)
    assert (cleared.code, cleared.out_of_time) == ("no_time", True)
    assert held(state, B) == (0, 0)
    assert st.budget.balance() == balance  # a refused fallback deposits nothing
    assert state.gate(st) == "ok"  # the same time left is fine for a request's first attempt
    assert state.clearance(st, tried=0, hedge=False, fallback=False, remaining_s=0.7, last_error=None).ok


def test_hedge_delay_follows_the_targets_durations_once_enabled() -> None:
    state, clock = make()
    assert state.hedge_delay(state.target(A.key)) is None  # hedging is off by default
    state, clock = make(hedging={"enabled": True, "min_samples": 3, "quantile": 0.5})
    st = state.target(A.key)
    for took in (1.0, 2.0):
        assert state.gate(st) == "ok"
        state.clearance(st, tried=0, hedge=False, fallback=False, remaining_s=60.0, last_error=None)
        clock.advance(took)
        state.attempt_ended(ended(clock, A, took=took))
    assert state.hedge_delay(st) is None
    assert state.gate(st) == "ok"
    clock.advance(3.0)
    state.attempt_ended(ended(clock, A, took=3.0))
    assert state.hedge_delay(st) == 2.0


# -- after an attempt ----------------------------------------------------------------------------------
def test_a_committed_stream_holds_its_slot_and_permit_until_it_ends() -> None:
    state, clock = make(breaker={"consecutive_failures": 1, "open_jitter": 0.0, "half_open_permits": 1})
    attempt(state, clock, A, UpstreamUnavailable("503"))  # open
    clock.advance(5.0)
    st = state.target(A.key)
    assert state.gate(st) == "ok"  # the half-open trial
    state.clearance(st, tried=0, hedge=False, fallback=False, remaining_s=60.0, last_error=None)
    clock.advance(0.3)
    state.commit(st, ttft_s=0.3)
    assert st.attempts == 2
    assert held(state, A) == (1, 1)
    assert st.breaker.state is BreakerState.HALF_OPEN  # no verdict before the stream ends
    clock.advance(4.0)
    state.attempt_ended(ended(clock, A, took=4.3, ttft_s=0.3, committed=True))
    assert held(state, A) == (0, 0)
    assert st.breaker.state is BreakerState.CLOSED
    assert st.attempts == 2  # the end of a committed stream is not another attempt
    snap = st.stats.snapshot()
    assert (snap.ttft_p50, snap.duration_p50) == (0.3, pytest.approx(4.3))


def test_a_stream_cut_after_commit_is_a_failure_for_the_breaker_and_stats() -> None:
    state, clock = make(breaker={"consecutive_failures": 1})
    st = state.target(A.key)
    assert state.gate(st) == "ok"
    state.clearance(st, tried=0, hedge=False, fallback=False, remaining_s=60.0, last_error=None)
    state.commit(st, ttft_s=0.2)
    seq = state.transition_seq
    state.attempt_ended(ended(clock, A, UpstreamStreamCut("cut"), ttft_s=0.2, committed=True))
    assert st.breaker.state is BreakerState.OPEN
    assert [t.reason for t in state.transitions_since(seq)] == ["consecutive_failures"]
    assert state.snapshot()[0]["recent"]["errors"] == 1


def test_outcomes_feed_every_policy_by_error_class() -> None:
    conc = {"algorithm": "aimd", "settings": {"initial_limit": 10}}
    state, clock = make(concurrency=conc, breaker={"consecutive_failures": 0})
    attempt(state, clock, A, UpstreamTimeout("slow"))  # a drop
    attempt(state, clock, A, UpstreamRejected("bad request"))  # answered: the request was at fault
    attempt(state, clock, A, UpstreamRateLimited("429"))  # 1 s block when no Retry-After
    st = state.target(A.key)
    assert st.limiter.limit == int(int(10 * 0.9) * 0.9)
    assert st.breaker.snapshot().calls == 2  # the 429 gave its permit back
    assert st.blocked_until == pytest.approx(clock.now() + 1.0)
    snap = state.snapshot()[0]
    assert (snap["attempts"], snap["recent"]["requests"], snap["recent"]["errors"]) == (3, 3, 2)


# -- views ---------------------------------------------------------------------------------------------
def test_transitions_are_logged_counted_and_listed() -> None:
    state, clock = make(breaker={"consecutive_failures": 1, "open_jitter": 0.0})
    assert state.recent_transitions(5) == []
    attempt(state, clock, A, UpstreamUnavailable("503"))
    clock.advance(5.0)
    state.target(A.key).breaker.state  # noqa: B018 (reading the state applies the due transition)
    assert state.transition_seq == 2
    assert state.transition_counts == {("a/ma", "open"): 1, ("a/ma", "half_open"): 1}
    assert state.recent_transitions(1) == [
        {"target": "a/ma", "old": "open", "new": "half_open", "reason": "wait_elapsed", "at": clock.now()}
    ]
    assert [t["new"] for t in state.recent_transitions(10)] == ["open", "half_open"]
    assert state.recent_transitions(0) == []


def test_admission_view_shows_what_admin_targets_shows() -> None:
    state, _ = make(admission=AdmissionPolicy(max_concurrency=4))
    permit = state.try_admit(Priority.INTERACTIVE)
    assert permit is not None
    retry_after_a_failure(state, UpstreamUnavailable("503"))
    assert state.admission_view() == {
        "inflight": 1,
        "queued": 0,
        "congested": False,
        "max_concurrency": 4,
        "retries_in_flight": 1,
    }


def test_snapshot_and_gauges_of_a_fresh_target() -> None:
    state, _ = make()
    assert state.snapshot()[0] == {
        "target": "a/ma",
        "provider": "a",
        "model": "ma",
        "breaker": {
            "state": "closed",
            "failure_rate": 0.0,
            "slow_call_rate": 0.0,
            "calls": 0,
            "open_for_s": None,
        },
        "retry_budget": {"balance": 10.0, "refusals": 0},
        "throttle": {"reject_probability": 0.0, "local_rejections": 0},
        "concurrency": {"limit": 100, "inflight": 0},
        "rate_limited_for_s": 0.0,
        "attempts": 0,
        "hedges": 0,
        "recent": {
            "requests": 0,
            "errors": 0,
            "error_rate": 0.0,
            "ttft_p50_s": None,
            "ttft_p95_s": None,
            "ttft_p99_s": None,
            "duration_p50_s": None,
            "duration_p95_s": None,
            "duration_p99_s": None,
        },
    }
    assert dict(state.gauges())["a/ma"] == {
        "breaker_state": 0.0,
        "retry_budget_balance": 10.0,
        "throttle_reject_probability": 0.0,
        "concurrency_limit": 100.0,
        "inflight": 0.0,
        "rate_limited_seconds": 0.0,
    }


async def test_the_default_backend_is_in_memory_and_needs_no_start() -> None:
    state, _ = make()
    await state.start()
    assert state.backend.keys("breaker") == ["a/ma", "b/mb"]
    assert state.backend.keys("throttle") == ["a", "b"]
    assert state.target(A.key).breaker.state_record is state.backend.record("breaker", "a/ma", object)
    await state.aclose()


# -- the new calls decide exactly as the old ones did --------------------------------------------------
Kind = Literal["ok", "stream", "503", "503-wait", "503-wait-long", "429", "timeout", "cut", "bad"]
# the outcomes scripted attempts draw from
KINDS: list[Kind] = ["ok", "ok", "stream", "stream", "503", "503", "503-wait", "503-wait-long", "429"]
KINDS += ["timeout", "cut", "bad"]


def error_for(kind: Kind) -> UpstreamError | None:
    return {
        "503": UpstreamUnavailable("503"),
        "503-wait": UpstreamUnavailable("503", retry_after_s=0.2),  # honoured
        "503-wait-long": UpstreamUnavailable("503", retry_after_s=0.6),  # beyond max_retry_after_s
        "429": UpstreamRateLimited("429", retry_after_s=0.5),  # blocks the target
        "timeout": UpstreamTimeout("slow"),
        "bad": UpstreamRejected("bad"),
    }.get(kind)


@dataclass
class Run:
    """One request's book-keeping, as the engine keeps it."""

    deadline: float
    attempts: int = 0
    tries: dict[str, int] = field(default_factory=dict)
    last_error: dict[str, UpstreamError] = field(default_factory=dict)
    failed_for_good: set[str] = field(default_factory=set)


class Driver:
    """Runs scripted requests against a state through the old calls or the new ones."""

    def __init__(self, path: Literal["old", "new"], seed: int) -> None:
        sections: dict[str, Any] = {
            "breaker": {"min_calls": 6, "consecutive_failures": 4, "window_s": 10},
            "budget": {"percent_can_retry": 0.2, "min_retries_per_sec": 0.3, "ttl_s": 5.0},
            "retry": {"min_attempt_s": 0.4, "max_delay_s": 1.0, "max_retry_after_s": 0.4},
            "concurrency": {"algorithm": "aimd", "settings": {"initial_limit": 4}},
            "hedging": {"enabled": True, "min_samples": 5},
        }
        self.path = path
        self.state, self.clock = make(
            throttle=ThrottlePolicy(min_requests=8, window_s=20.0, buckets=10),
            # retries in flight ≤ half the requests in flight: none while this request is alone
            retry_concurrency=RetryConcurrencyPolicy(budget_percent=0.5, min_retry_concurrency=0),
            seed=seed,
            **sections,
        )
        self.policies: TargetPolicies = self.state.target(A.key).policies
        self.decisions: list[tuple[Any, ...]] = []
        self.open_streams: list[tuple[TargetState, float, float, UpstreamError | None]] = []

    # the old engine's decision after gate(), transcribed from Engine._pick and Engine._retry_allowance
    def old_clearance(
        self, run: Run, st: TargetState, tried: int, remaining: float, hedge: bool
    ) -> Clearance:
        if tried or hedge:
            retry, delay, cost = st.policies.retry, 0.0, 1.0
            refusal: Clearance | None = None
            if not hedge:
                last = run.last_error[st.target.key]
                maybe = retry.delay_for(
                    tried - 1,
                    error_class=last.error_class,
                    retry_after_s=last.retry_after_s,
                    rng=self.state.rng,
                )
                if maybe is None:
                    refusal = Clearance(
                        False, 0.0, "retry_after", f"Retry-After beyond {retry.max_retry_after_s:g}s"
                    )
                else:
                    delay = maybe
                    cost = st.budget.policy.cost_for(last.error_class)
            if refusal is None and not retry.fits(remaining, delay, st.min_attempt_s()):
                refusal = Clearance(False, 0.0, "no_time", "no time left before the deadline", True)
            if refusal is None and not self.state.retry_cap.try_acquire(self.state.active_requests):
                refusal = Clearance(False, 0.0, "retry_cap", "too many concurrent retries")
            if refusal is None and not st.budget.try_withdraw(cost):
                self.state.retry_cap.release()
                st._counters.budget_refusals += 1
                refusal = Clearance(False, 0.0, "budget", "retry budget exhausted")
            if refusal is not None:
                self.state.abandon(st)
                return refusal
            if hedge:
                st._counters.hedges += 1
            return Clearance(True, delay)
        if (
            run.attempts
            and (start_s := st.observed_start_s()) is not None
            and not st.policies.retry.fits(remaining, 0.0, start_s)
        ):
            self.state.abandon(st)
            return Clearance(False, 0.0, "no_time", "no time left before the deadline", True)
        st.budget.deposit()
        return Clearance(True)

    def clearance(self, run: Run, st: TargetState, remaining: float, hedge: bool) -> Clearance:
        tried = run.tries.get(st.target.key, 0)
        if self.path == "old":
            return self.old_clearance(run, st, tried, remaining, hedge)
        return self.state.clearance(
            st,
            tried=tried,
            hedge=hedge,
            fallback=bool(run.attempts) and not tried,
            remaining_s=remaining,
            last_error=run.last_error.get(st.target.key),
        )

    def release_retry(self) -> None:
        if self.path == "old":
            self.state.retry_cap.release()
        else:
            self.state.release_retry()

    def end(self, st: TargetState, t0: float, error: UpstreamError | None, retry: bool) -> None:
        if retry:
            self.release_retry()
        if self.path == "old":
            self.state._settle(st, error, duration_s=self.clock.now() - t0)
        else:
            self.state.attempt_ended(
                AttemptOutcome(st.target, Dialect.OPENAI, t0, self.clock.now(), AttemptInfo(), error)
            )

    def commit(self, st: TargetState, ttft: float) -> None:
        if self.path == "old":
            self.state._settle(st, None, duration_s=ttft, ttft_s=ttft, hold_slot=True)
        else:
            self.state.commit(st, ttft_s=ttft)

    def close_streams(self) -> None:
        for st, t0, ttft, failure in self.open_streams:
            if self.path == "old":
                self.state._release_stream(st, duration_s=self.clock.now() - t0, ttft_s=ttft, error=failure)
            else:
                outcome = AttemptOutcome(
                    st.target,
                    Dialect.OPENAI,
                    t0,
                    self.clock.now(),
                    AttemptInfo(),
                    failure,
                    ttft_s=ttft,
                    committed=True,
                )
                self.state.attempt_ended(outcome)
        self.open_streams.clear()

    def request(self, script: random.Random, *, timeout_s: float, hedge: bool, others: int) -> None:
        """One request, while `others` requests are in flight elsewhere (they hold permits)."""
        permits = [self.state.try_admit(Priority.INTERACTIVE) for _ in range(others + 1)]
        run = Run(deadline=self.clock.now() + timeout_s)
        targets = (A, B)
        while run.attempts < 3:
            remaining = run.deadline - self.clock.now()
            if remaining < 0.05:
                self.decisions.append(("out of time",))
                break
            picked = None
            for i in range(len(targets)):
                target = targets[(run.attempts + i) % len(targets)]
                if target.key in run.failed_for_good:
                    continue
                st = self.state.target(target.key)
                gate = self.state.gate(st)
                if gate != "ok":
                    self.decisions.append((target.key, gate, round(self.state.gate_wait(st, gate), 9)))
                    continue
                cleared = self.clearance(run, st, remaining, hedge=False)
                self.decisions.append((target.key, cleared))
                if cleared.ok:
                    picked = (st, cleared, bool(run.tries.get(target.key)))
                    break
            if picked is None:
                break
            st, cleared, retry = picked
            run.tries[st.target.key] = run.tries.get(st.target.key, 0) + 1
            run.attempts += 1
            self.clock.advance(cleared.delay_s)
            if hedge and (delay := self.state.hedge_delay(st)) is not None and self.hedge(run, st, delay):
                self.state.abandon(st)  # the hedge won: the first attempt is cancelled
                if retry:
                    self.release_retry()
                break
            kind: Kind = script.choice(KINDS)
            t0 = self.clock.now()
            took = script.uniform(0.05, 3.0)  # sometimes longer than a rate-limit block elsewhere
            self.clock.advance(took)
            if kind in ("stream", "cut"):
                self.commit(st, took)
                if retry:
                    self.release_retry()
                failure = UpstreamStreamCut("cut") if kind == "cut" else None
                self.open_streams.append((st, t0, took, failure))
                break
            error = error_for(kind)
            self.end(st, t0, error, retry)
            if error is None:
                break
            run.last_error[st.target.key] = error
            if not error.error_class.retryable:
                run.failed_for_good.add(st.target.key)
            if not error.error_class.may_fall_back:
                break
        for permit in permits:
            assert permit is not None
            self.state.release(permit)
        self.decisions.append(("admission", self.state.active_requests, self.state.retry_cap.active))

    def hedge(self, run: Run, first: TargetState, delay: float) -> bool:
        """A hedge at the other target; True when it went (and won)."""
        other = self.state.target((B if first.target == A else A).key)
        if self.state.gate(other) != "ok":
            return False
        remaining = run.deadline - self.clock.now()
        cleared = self.clearance(run, other, remaining, hedge=True)
        self.decisions.append(("hedge", other.target.key, cleared, round(delay, 9)))
        if cleared.ok:
            run.tries[other.target.key] = run.tries.get(other.target.key, 0) + 1
            run.attempts += 1
            t0 = self.clock.now()
            self.clock.advance(0.01)
            self.end(other, t0, None, retry=True)
        return cleared.ok

    def play(self, requests: int) -> None:
        script = random.Random(2024)
        for i in range(requests):
            timeout_s = script.choice((0.3, 1.0, 5.0, 30.0))
            self.request(script, timeout_s=timeout_s, hedge=i % 7 == 0, others=script.choice((0, 1, 3)))
            self.clock.advance(script.expovariate(4.0))
            if i % 3 == 0:
                self.close_streams()
        self.close_streams()


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_new_calls_decide_exactly_as_the_old_path_did(seed: int) -> None:
    old, new = Driver("old", seed), Driver("new", seed)
    old.play(400)
    new.play(400)
    assert new.decisions == old.decisions
    assert new.state.snapshot() == old.state.snapshot()
    assert new.state.transitions_since(0) == old.state.transitions_since(0)
    assert dict(new.state.gauges()) == dict(old.state.gauges())


def test_the_scripted_run_exercises_every_decision() -> None:
    driver = Driver("new", 1)
    driver.play(400)
    codes = {d[1].code for d in driver.decisions if len(d) == 2 and isinstance(d[1], Clearance)}
    gates = {d[1] for d in driver.decisions if len(d) == 3 and isinstance(d[1], str)}
    assert codes >= {None, "retry_after", "no_time", "retry_cap", "budget"}
    assert gates >= {"blocked", "breaker", "throttled", "saturated"}
    assert any(d[0] == "hedge" for d in driver.decisions)
    assert any(c.delay_s > 0 for d in driver.decisions for c in d if isinstance(c, Clearance))
    assert {t.new for t in driver.state.transitions_since(0)} >= {
        BreakerState.OPEN,
        BreakerState.HALF_OPEN,
        BreakerState.CLOSED,
    }
