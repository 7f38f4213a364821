"""Circuit breaker per target, with resilience4j's TIME_BASED semantics.

Closed: count calls in one-second buckets over `window_s`; open when, after `min_calls`, the failure
rate or the slow-call rate (time to first token over `slow_call_s`) reaches its threshold, or at once
after `consecutive_failures` failures in a row (Envoy / Finagle). Open:
refuse until a jittered wait that grows with each consecutive opening. Half-open: hand out
`half_open_permits` trial calls, then close or reopen on their results. Pure: driven by an injected
clock and `random.Random`; it must not sleep, run timers, or classify errors.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from seawall._clock import Clock
from seawall.resilience._window import BucketWindow

_CALLS, _FAILURES, _SLOW = 0, 1, 2

TransitionReason = Literal[
    "failure_rate",  # closed → open: the window's failure rate reached the threshold
    "consecutive_failures",  # closed → open: that many failures in a row
    "slow_call_rate",  # closed → open: the window's slow-call rate reached the threshold
    "wait_elapsed",  # open → half_open
    "trials_failed",  # half_open → open: the trials can no longer pass
    "trials_passed",  # half_open → closed
    "trial_timeout",  # half_open → open: a trial's result never came back
    "forced",  # → forced_open (operator)
    "reset",  # → closed (operator)
]


class BreakerState(StrEnum):
    """Where a breaker is. `FORCED_OPEN` is an operator's choice and only `reset()` leaves it."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"
    FORCED_OPEN = "forced_open"


@dataclass(frozen=True, slots=True)
class BreakerTransition:
    """One state change, as handed to `on_transition` observers (and traces, and the dashboard)."""

    target: str
    old: BreakerState
    new: BreakerState
    reason: TransitionReason
    at: float  # clock time
    failure_rate: float | None = None  # over the window (or the trials) that decided it
    slow_call_rate: float | None = None
    open_until: float | None = None  # when an OPEN breaker will next let a trial through


@dataclass(frozen=True, slots=True)
class BreakerSnapshot:
    """A breaker's state and current window, for /admin/targets."""

    state: BreakerState
    calls: int
    failure_rate: float
    slow_call_rate: float
    open_until: float | None
    consecutive_opens: int


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """Tuning for `CircuitBreaker`."""

    # resilience4j and Hystrix: 50%.
    failure_rate_threshold: float = 0.5
    # resilience4j 100% (only an all-slow window trips, which one fast call prevents); the research
    # note recommends 80–100%, and we take 80%.
    slow_call_rate_threshold: float = 0.8
    # resilience4j 60 s of *total* duration; we judge time to first token, which does not grow with
    # answer length. Hosted chat models answer in well under 5 s; raise it for reasoning models.
    slow_call_s: float = 30.0
    # Finagle failure accrual judges success rate over 30 s (resilience4j 100, Hystrix 10).
    window_s: int = 30
    # Hystrix requestVolumeThreshold 20; resilience4j's 100 is rarely reached by one LLM deployment.
    min_calls: int = 20
    # Envoy outlier detection consecutive_5xx 5, Finagle failure accrual 5 consecutive failures: open
    # at once after this many failures in a row, whatever the window holds. The window's rate alone is
    # slow after healthy traffic: its successes must be outnumbered first, so a total outage behind
    # 30 s of steady traffic trips only after 15-20 s. 0 turns this off.
    consecutive_failures: int = 5
    # Hystrix sleep window 5 s; Finagle failure accrual backs off equalJittered(5 s, 300 s).
    open_base_s: float = 5.0
    # Doubles per consecutive opening (Envoy ejection time grows linearly, Finagle exponentially).
    open_multiplier: float = 2.0
    # Envoy max_ejection_time and Finagle: 300 s.
    open_max_s: float = 300.0
    # gRPC connection backoff: ±20%, so breakers that opened together do not probe together.
    open_jitter: float = 0.2
    # resilience4j 10; each trial is a paid LLM call, and 3 is enough to tell 50% failure from 0%.
    half_open_permits: int = 3
    # A trial whose result never arrives must not pin the breaker half-open forever (resilience4j
    # maxWaitDurationInHalfOpenState): reopen when no result came this long after the last permit
    # was handed out. 600 s is the OpenAI SDK's default request timeout.
    half_open_max_wait_s: float = 600.0

    def __post_init__(self) -> None:
        for name in ("failure_rate_threshold", "slow_call_rate_threshold"):
            if not 0.0 < getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in (0, 1], got {getattr(self, name)!r}")
        for name in ("slow_call_s", "open_base_s", "half_open_max_wait_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.window_s < 1:
            raise ValueError(f"window_s must be >= 1, got {self.window_s}")
        if self.min_calls < 1:
            raise ValueError(f"min_calls must be >= 1, got {self.min_calls}")
        if self.consecutive_failures < 0:
            raise ValueError(f"consecutive_failures must be >= 0, got {self.consecutive_failures}")
        if not 1.0 <= self.open_multiplier <= 10.0:
            raise ValueError(f"open_multiplier must be in [1, 10], got {self.open_multiplier!r}")
        if not self.open_max_s >= self.open_base_s:
            raise ValueError(f"open_max_s must be >= open_base_s, got {self.open_max_s!r}")
        if not 0.0 <= self.open_jitter < 1.0:
            raise ValueError(f"open_jitter must be in [0, 1), got {self.open_jitter!r}")
        if self.half_open_permits < 1:
            raise ValueError(f"half_open_permits must be >= 1, got {self.half_open_permits}")


class CircuitBreaker:
    """One target's breaker.

    Before an attempt call `allow()`; afterwards exactly one of `record_success`, `record_failure`
    or `release_permit` (the call says nothing about the target: cancelled by the client, rejected
    as a client error, shed locally). Reading `state` applies a due OPEN → HALF_OPEN transition.
    Observers are called synchronously after the state has changed; their exceptions propagate.
    """

    def __init__(
        self,
        target: str,
        clock: Clock,
        policy: BreakerPolicy | None = None,
        *,
        rng: random.Random | None = None,
        on_transition: Callable[[BreakerTransition], None] | None = None,
    ) -> None:
        self.target = target
        self._clock = clock
        self._policy = policy or BreakerPolicy()
        self._rng = rng or random.Random()
        self._on_transition = on_transition
        self._window = BucketWindow(clock, bucket_s=1.0, buckets=self._policy.window_s, fields=3)
        self._state = BreakerState.CLOSED
        self._open_until: float | None = None
        self._opens = 0  # consecutive openings since the last clean close
        self._streak = 0  # failures in a row while closed
        self._last_permit_at = 0.0
        self._permits_out = 0  # half-open trials handed out and not yet resolved
        self._trials = [0, 0, 0]  # resolved half-open trials: calls, failures, slow

    @property
    def state(self) -> BreakerState:
        self._tick()
        return self._state

    @property
    def open_until(self) -> float | None:
        """Clock time at which an OPEN breaker goes half-open; `None` in any other state."""
        self._tick()
        return self._open_until

    def snapshot(self) -> BreakerSnapshot:
        state = self.state
        calls, failures, slow = self._window.totals()
        return BreakerSnapshot(
            state=state,
            calls=calls,
            failure_rate=failures / calls if calls else 0.0,
            slow_call_rate=slow / calls if calls else 0.0,
            open_until=self._open_until,
            consecutive_opens=self._opens,
        )

    def allow(self) -> bool:
        """Whether a call may go to the target now (in half-open this takes one trial permit)."""
        self._tick()
        if self._state is BreakerState.CLOSED:
            return True
        taken = self._permits_out + self._trials[_CALLS]
        if self._state is BreakerState.HALF_OPEN and taken < self._policy.half_open_permits:
            self._permits_out += 1
            self._last_permit_at = self._clock.now()
            return True
        return False

    def release_permit(self) -> None:
        """A permitted call ended without saying anything about the target: give its permit back."""
        if self._state is BreakerState.HALF_OPEN and self._permits_out > 0:
            self._permits_out -= 1

    def record_success(self, *, ttft_s: float | None = None) -> None:
        """A call succeeded; `ttft_s` (time to first token) judges slowness, `None` = not judged."""
        self._record(failed=False, ttft_s=ttft_s)

    def record_failure(self, *, ttft_s: float | None = None) -> None:
        """A call failed in a way that counts against the target's health."""
        self._record(failed=True, ttft_s=ttft_s)

    def force_open(self) -> None:
        """Operator action: refuse every call until `reset()`."""
        if self._state is not BreakerState.FORCED_OPEN:
            self._transition(BreakerState.FORCED_OPEN, "forced")

    def reset(self) -> None:
        """Operator action: close, forget the window and the growing wait."""
        self._opens = 0
        self._window.clear()
        if self._state is not BreakerState.CLOSED:
            self._transition(BreakerState.CLOSED, "reset")

    def _record(self, *, failed: bool, ttft_s: float | None) -> None:
        self._tick()
        slow = ttft_s is not None and ttft_s > self._policy.slow_call_s
        if self._state is BreakerState.CLOSED:
            self._window.add(_CALLS)
            self._window.add(_FAILURES, int(failed))
            self._window.add(_SLOW, int(slow))
            calls, failures, slows = self._window.totals()
            self._streak = self._streak + 1 if failed else 0
            limit = self._policy.consecutive_failures
            if limit and self._streak >= limit:
                self._open("consecutive_failures", failures / calls, slows / calls)
            elif calls >= self._policy.min_calls:
                self._open_if_tripped(calls, failures, slows, "failure_rate", "slow_call_rate")
        elif self._state is BreakerState.HALF_OPEN and self._permits_out > 0:
            # Results with no permit out started before the breaker opened: they are ignored.
            self._permits_out -= 1
            self._trials[_CALLS] += 1
            self._trials[_FAILURES] += int(failed)
            self._trials[_SLOW] += int(slow)
            n = self._policy.half_open_permits
            failures, slow_calls = self._trials[_FAILURES], self._trials[_SLOW]
            # Reopen as soon as the trials can no longer pass; close once all of them have passed.
            if self._open_if_tripped(n, failures, slow_calls, "trials_failed", "trials_failed"):
                return
            if self._trials[_CALLS] >= n:
                self._opens = 0
                self._transition(BreakerState.CLOSED, "trials_passed", failures / n, slow_calls / n)

    def _open_if_tripped(
        self, calls: int, failures: int, slow: int, on_failures: TransitionReason, on_slow: TransitionReason
    ) -> bool:
        failure_rate, slow_rate = failures / calls, slow / calls
        if failure_rate >= self._policy.failure_rate_threshold:
            self._open(on_failures, failure_rate, slow_rate)
        elif slow_rate >= self._policy.slow_call_rate_threshold:
            self._open(on_slow, failure_rate, slow_rate)
        else:
            return False
        return True

    def _open(self, reason: TransitionReason, failure_rate: float | None, slow_rate: float | None) -> None:
        p = self._policy
        wait = min(p.open_max_s, p.open_base_s * p.open_multiplier ** min(self._opens, 64))
        wait *= self._rng.uniform(1.0 - p.open_jitter, 1.0 + p.open_jitter)
        self._opens += 1
        self._transition(BreakerState.OPEN, reason, failure_rate, slow_rate, self._clock.now() + wait)

    def _tick(self) -> None:
        now = self._clock.now()
        if self._state is BreakerState.OPEN and self._open_until is not None and now >= self._open_until:
            self._transition(BreakerState.HALF_OPEN, "wait_elapsed")
        elif (
            self._state is BreakerState.HALF_OPEN
            and self._permits_out > 0
            and now - self._last_permit_at >= self._policy.half_open_max_wait_s
        ):
            self._open("trial_timeout", None, None)

    def _transition(
        self,
        new: BreakerState,
        reason: TransitionReason,
        failure_rate: float | None = None,
        slow_rate: float | None = None,
        open_until: float | None = None,
    ) -> None:
        old, now = self._state, self._clock.now()
        self._state, self._open_until = new, open_until
        self._window.clear()
        self._streak = 0
        self._permits_out, self._trials = 0, [0, 0, 0]
        if self._on_transition is not None:
            event = BreakerTransition(self.target, old, new, reason, now, failure_rate, slow_rate, open_until)
            self._on_transition(event)
