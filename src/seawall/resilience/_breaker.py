"""Circuit breaker per target, with resilience4j's TIME_BASED semantics.

Closed: count calls in one-second buckets over `window_s`; open when, after `min_calls`, the failure
rate or the slow-call rate (time to first token over `slow_call_s`) reaches its threshold, or at once
after `consecutive_failures` failures in a row (Envoy / Finagle). Open:
refuse until a jittered wait that grows with each consecutive opening. Half-open: hand out
`half_open_permits` trial calls, then close or reopen on their results.

Three parts: `BreakerPolicy` (frozen tuning) steps a `BreakerRecord` (plain data a state backend
can store or ship) for an explicit `now` and `random.Random`; `CircuitBreaker` is the facade that
adds a clock, an rng and observers. Pure: it must not sleep, run timers, or classify errors.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from seawall._clock import Clock
from seawall.resilience._window import WindowRecord, window_advance, window_clear, window_totals

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

    # -- steps: pure functions of (policy, record, now, rng) ------------------------------------------
    def new_record(self, now: float) -> BreakerRecord:
        """A closed breaker whose window is aligned to `now`."""
        return BreakerRecord(WindowRecord.empty(now, buckets=self.window_s, fields=3))

    def tick(self, r: BreakerRecord, now: float, rng: random.Random) -> None:
        """Apply a transition that is due by time alone (open → half-open, a lost trial)."""
        if r.state is BreakerState.OPEN and r.open_until is not None and now >= r.open_until:
            _transition(r, now, BreakerState.HALF_OPEN, "wait_elapsed")
        elif (
            r.state is BreakerState.HALF_OPEN
            and r.permits_out > 0
            and now - r.last_permit_at >= self.half_open_max_wait_s
        ):
            self._open(r, now, rng, "trial_timeout")

    def allow(self, r: BreakerRecord, now: float, rng: random.Random) -> bool:
        """Whether a call may go to the target at `now` (in half-open this takes one trial permit)."""
        if r.state is BreakerState.CLOSED:
            return True  # tick() never acts on (or moves to) a closed breaker
        self.tick(r, now, rng)
        if r.state is BreakerState.HALF_OPEN and r.permits_out + r.trial_calls < self.half_open_permits:
            r.permits_out += 1
            r.last_permit_at = now
            return True
        return False

    def release_permit(self, r: BreakerRecord) -> None:
        """A permitted call ended without saying anything about the target."""
        if r.state is BreakerState.HALF_OPEN and r.permits_out > 0:
            r.permits_out -= 1

    def observe(
        self, r: BreakerRecord, now: float, rng: random.Random, *, failed: bool, ttft_s: float | None
    ) -> None:
        """One call's result; `ttft_s` (time to first token) judges slowness, `None` = not judged."""
        if r.state is not BreakerState.CLOSED:
            self.tick(r, now, rng)
        slow = ttft_s is not None and ttft_s > self.slow_call_s
        if r.state is BreakerState.CLOSED:
            w = r.window
            bucket, totals = w.ring[window_advance(w, 1.0, now)], w.totals
            bucket[_CALLS] += 1
            totals[_CALLS] += 1
            if failed:
                bucket[_FAILURES] += 1
                totals[_FAILURES] += 1
            if slow:
                bucket[_SLOW] += 1
                totals[_SLOW] += 1
            calls, failures, slows = totals
            r.streak = r.streak + 1 if failed else 0
            limit = self.consecutive_failures
            if limit and r.streak >= limit:
                self._open(
                    r,
                    now,
                    rng,
                    "consecutive_failures",
                    failure_rate=failures / calls,
                    slow_rate=slows / calls,
                )
            elif calls >= self.min_calls:
                self._open_if_tripped(
                    r,
                    now,
                    rng,
                    calls=calls,
                    failures=failures,
                    slow=slows,
                    on_failures="failure_rate",
                    on_slow="slow_call_rate",
                )
        elif r.state is BreakerState.HALF_OPEN and r.permits_out > 0:
            # Results with no permit out started before the breaker opened: they are ignored.
            r.permits_out -= 1
            r.trial_calls += 1
            r.trial_failures += failed
            r.trial_slow += slow
            n = self.half_open_permits
            failures, slow_calls = r.trial_failures, r.trial_slow
            # Reopen as soon as the trials can no longer pass; close once all of them have passed.
            tripped = self._open_if_tripped(
                r,
                now,
                rng,
                calls=n,
                failures=failures,
                slow=slow_calls,
                on_failures="trials_failed",
                on_slow="trials_failed",
            )
            if tripped:
                return
            if r.trial_calls >= n:
                r.opens = 0
                _transition(
                    r,
                    now,
                    BreakerState.CLOSED,
                    "trials_passed",
                    failure_rate=failures / n,
                    slow_rate=slow_calls / n,
                )

    def force_open(self, r: BreakerRecord, now: float) -> None:
        """Operator action: refuse every call until `reset`."""
        if r.state is not BreakerState.FORCED_OPEN:
            _transition(r, now, BreakerState.FORCED_OPEN, "forced")

    def reset(self, r: BreakerRecord, now: float) -> None:
        """Operator action: close, forget the window and the growing wait."""
        r.opens = 0
        window_clear(r.window)
        if r.state is not BreakerState.CLOSED:
            _transition(r, now, BreakerState.CLOSED, "reset")

    def snapshot(self, r: BreakerRecord, now: float, rng: random.Random) -> BreakerSnapshot:
        """The state at `now` (applying a due transition) and the window's rates."""
        self.tick(r, now, rng)
        calls, failures, slow = window_totals(r.window, 1.0, now)
        return BreakerSnapshot(
            state=r.state,
            calls=calls,
            failure_rate=failures / calls if calls else 0.0,
            slow_call_rate=slow / calls if calls else 0.0,
            open_until=r.open_until,
            consecutive_opens=r.opens,
        )

    def _open_if_tripped(
        self,
        r: BreakerRecord,
        now: float,
        rng: random.Random,
        *,
        calls: int,
        failures: int,
        slow: int,
        on_failures: TransitionReason,
        on_slow: TransitionReason,
    ) -> bool:
        failure_rate, slow_rate = failures / calls, slow / calls
        if failure_rate >= self.failure_rate_threshold:
            self._open(r, now, rng, on_failures, failure_rate=failure_rate, slow_rate=slow_rate)
        elif slow_rate >= self.slow_call_rate_threshold:
            self._open(r, now, rng, on_slow, failure_rate=failure_rate, slow_rate=slow_rate)
        else:
            return False
        return True

    def _open(
        self,
        r: BreakerRecord,
        now: float,
        rng: random.Random,
        reason: TransitionReason,
        *,
        failure_rate: float | None = None,
        slow_rate: float | None = None,
    ) -> None:
        wait = min(self.open_max_s, self.open_base_s * self.open_multiplier ** min(r.opens, 64))
        wait *= rng.uniform(1.0 - self.open_jitter, 1.0 + self.open_jitter)
        r.opens += 1
        _transition(
            r,
            now,
            BreakerState.OPEN,
            reason,
            failure_rate=failure_rate,
            slow_rate=slow_rate,
            open_until=now + wait,
        )


@dataclass(slots=True)
class BreakerRecord:
    """Where one breaker is: plain data a state backend can store, copy or ship.

    Clock times (`open_until`, `last_permit_at`, `last_at`, the window's origin) are readings of
    the stepping process's `Clock.now`. `transitions` counts state changes, and the `last_*` fields
    describe the latest one, so whoever steps the record (or receives a copy of it) can tell that
    and why the breaker moved without a callback inside the step.
    """

    window: WindowRecord  # calls, failures, slow calls per one-second bucket (closed only)
    state: BreakerState = BreakerState.CLOSED
    open_until: float | None = None
    opens: int = 0  # consecutive openings since the last clean close
    streak: int = 0  # failures in a row while closed
    last_permit_at: float = 0.0
    permits_out: int = 0  # half-open trials handed out and not yet resolved
    trial_calls: int = 0  # resolved half-open trials
    trial_failures: int = 0
    trial_slow: int = 0
    transitions: int = 0
    last_from: BreakerState = BreakerState.CLOSED
    last_reason: TransitionReason | None = None
    last_at: float = 0.0
    last_failure_rate: float | None = None
    last_slow_call_rate: float | None = None


def _transition(
    r: BreakerRecord,
    now: float,
    new: BreakerState,
    reason: TransitionReason,
    *,
    failure_rate: float | None = None,
    slow_rate: float | None = None,
    open_until: float | None = None,
) -> None:
    r.last_from, r.last_reason, r.last_at = r.state, reason, now
    r.last_failure_rate, r.last_slow_call_rate = failure_rate, slow_rate
    r.transitions += 1
    r.state, r.open_until = new, open_until
    window_clear(r.window)
    r.streak = 0
    r.permits_out = r.trial_calls = r.trial_failures = r.trial_slow = 0


class CircuitBreaker:
    """One target's breaker: a `BreakerPolicy` stepping a `BreakerRecord` on a clock.

    Before an attempt call `allow()`; afterwards exactly one of `record_success`, `record_failure`
    or `release_permit` (the call says nothing about the target: cancelled by the client, rejected
    as a client error, shed locally). Reading `state` applies a due OPEN → HALF_OPEN transition.
    Observers are called synchronously after the state has changed; their exceptions propagate.
    `on_change` (if given) is called after every step that may have changed the record (a shared
    state backend publishes it then). Pass `record` to step an existing record (from a backend).
    """

    __slots__ = ("_clock", "_on_change", "_on_transition", "_policy", "_rec", "_rng", "target")

    def __init__(
        self,
        target: str,
        clock: Clock,
        policy: BreakerPolicy | None = None,
        *,
        rng: random.Random | None = None,
        on_transition: Callable[[BreakerTransition], None] | None = None,
        record: BreakerRecord | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.target = target
        self._clock = clock
        self._policy = policy or BreakerPolicy()
        self._rng = rng or random.Random()
        self._on_transition = on_transition
        self._on_change = on_change
        self._rec = record or self._policy.new_record(clock.now())

    @property
    def policy(self) -> BreakerPolicy:
        return self._policy

    @property
    def state_record(self) -> BreakerRecord:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    @property
    def state(self) -> BreakerState:
        self._tick()
        return self._rec.state

    @property
    def open_until(self) -> float | None:
        """Clock time at which an OPEN breaker goes half-open; `None` in any other state."""
        self._tick()
        return self._rec.open_until

    def snapshot(self) -> BreakerSnapshot:
        r = self._rec
        seen = r.transitions
        snap = self._policy.snapshot(r, self._clock.now(), self._rng)
        self._done(seen, False)
        return snap

    def allow(self) -> bool:
        """Whether a call may go to the target now (in half-open this takes one trial permit)."""
        r = self._rec
        if r.state is BreakerState.CLOSED:
            return True
        seen, permits = r.transitions, r.permits_out
        allowed = self._policy.allow(r, self._clock.now(), self._rng)
        self._done(seen, r.permits_out != permits)
        return allowed

    def release_permit(self) -> None:
        """A permitted call ended without saying anything about the target: give its permit back."""
        r = self._rec
        permits = r.permits_out
        self._policy.release_permit(r)
        if r.permits_out != permits and self._on_change is not None:
            self._on_change()

    def record_success(self, *, ttft_s: float | None = None) -> None:
        """A call succeeded; `ttft_s` (time to first token) judges slowness, `None` = not judged."""
        r = self._rec
        seen = r.transitions
        self._policy.observe(r, self._clock.now(), self._rng, failed=False, ttft_s=ttft_s)
        self._done(seen, True)

    def record_failure(self, *, ttft_s: float | None = None) -> None:
        """A call failed in a way that counts against the target's health."""
        r = self._rec
        seen = r.transitions
        self._policy.observe(r, self._clock.now(), self._rng, failed=True, ttft_s=ttft_s)
        self._done(seen, True)

    def force_open(self) -> None:
        """Operator action: refuse every call until `reset()`."""
        seen = self._rec.transitions
        self._policy.force_open(self._rec, self._clock.now())
        self._done(seen, False)

    def reset(self) -> None:
        """Operator action: close, forget the window and the growing wait."""
        seen = self._rec.transitions
        self._policy.reset(self._rec, self._clock.now())
        self._done(seen, True)

    def _tick(self) -> None:
        r = self._rec
        if r.state is not BreakerState.CLOSED:
            seen = r.transitions
            self._policy.tick(r, self._clock.now(), self._rng)
            self._done(seen, False)

    def _done(self, seen: int, changed: bool) -> None:
        """After a step: notify `on_change`, and the observer if the step made a transition (a step
        makes at most one: `tick` only moves to states the rest of that step cannot leave)."""
        r = self._rec
        moved = r.transitions != seen
        if (changed or moved) and self._on_change is not None:
            self._on_change()
        if moved and self._on_transition is not None:
            assert r.last_reason is not None
            self._on_transition(
                BreakerTransition(
                    self.target,
                    r.last_from,
                    r.state,
                    r.last_reason,
                    r.last_at,
                    r.last_failure_rate,
                    r.last_slow_call_rate,
                    r.open_until,
                )
            )
