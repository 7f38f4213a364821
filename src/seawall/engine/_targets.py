"""Per-target and gateway-wide resilience state, and the one place attempt outcomes feed it.

`ResilienceState` is all the engine talks to about resilience, through methods that each make one
decision or take one report:

    per request:   permit = try_admit(p) or await admit(p, deadline=...); ...; release(permit)
    per attempt:   st = target(key); gate(st) ("ok", or why not and gate_wait() how long), then
                   clearance(st, ...) (backoff, deadline, retry cap and budget; on refusal it gives
                   back what gate() took), the attempt, release_retry() if it was a retry or hedge
    after it:      commit(st, ttft_s=...) when a stream reaches its first content, and
                   attempt_ended(outcome) once when the attempt ends
    views:         snapshot(), admission_view(), recent_transitions(n), gauges()

Where the state lives: each target's records (breaker, retry budget, limiter, stats, rate-limit
block, counters) and each provider's throttle record are kept by a `seawall.state.StateBackend`
under (kind, target key / provider name); `MemoryBackend` by default. The admission controller
and the retry-concurrency cap count this process's own requests and stay here. The facades
(`CircuitBreaker`, ...) step those records; this module only wires them and reports changes to the
backend. It must not do I/O, sleep, or know which backend it runs on.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Literal, Protocol

from seawall._clock import Clock
from seawall._types import AttemptOutcome, Priority, Target
from seawall.config import TargetPolicies
from seawall.errors import ErrorClass, UpstreamError
from seawall.resilience import (
    AdaptiveThrottle,
    AdmissionController,
    AdmissionPolicy,
    AIMDPolicy,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    ConcurrencyLimiter,
    Deadline,
    LimiterRecord,
    Permit,
    RetryBudget,
    RetryConcurrencyCap,
    RetryConcurrencyPolicy,
    StatsPolicy,
    TargetStats,
    ThrottlePolicy,
)
from seawall.state import MemoryBackend, StateBackend

# What each failure says about the target (see docs/resilience.md).
_BREAKER_FAILURE = frozenset(
    {
        ErrorClass.TIMEOUT,
        ErrorClass.CONNECT,
        ErrorClass.SERVER_ERROR,
        ErrorClass.OVERLOADED,
        ErrorClass.BAD_RESPONSE,
        ErrorClass.STREAM_CUT,
        ErrorClass.AUTH,
        ErrorClass.NOT_FOUND,
    }
)
_LIMIT_DROP = frozenset({ErrorClass.RATE_LIMITED, ErrorClass.OVERLOADED, ErrorClass.TIMEOUT})
_UNLIMITED = 1_000_000
_NO_LIMIT = AIMDPolicy(initial_limit=_UNLIMITED, min_limit=_UNLIMITED, max_limit=_UNLIMITED)
_STATS = StatsPolicy()

# Record kinds in the state backend. Per target (key "provider/model"): BREAKER, BUDGET, BLOCK
# are worth sharing between replicas; LIMITER, STATS, COUNTERS describe this process's own calls.
# Per provider (key: its name): THROTTLE, worth sharing.
BREAKER = "breaker"
BUDGET = "budget"
BLOCK = "block"
LIMITER = "limiter"
STATS = "stats"
COUNTERS = "counters"
THROTTLE = "throttle"

Gate = Literal["ok", "blocked", "breaker", "throttled", "saturated"]
SkipCode = Literal["retry_after", "no_time", "retry_cap", "budget"]


@dataclass(slots=True)
class BlockRecord:
    """A target's rate-limit block: no attempt before `until` (a `Clock.now` reading; 0 = none)."""

    until: float = 0.0


@dataclass(slots=True)
class TargetCounters:
    """What happened at one target, for /admin/targets."""

    attempts: int = 0
    hedges: int = 0
    budget_refusals: int = 0
    local_rejections: int = 0


@dataclass(frozen=True, slots=True)
class Clearance:
    """Whether an attempt that passed `gate()` may go ahead, and after how long.

    `ok`: go after `delay_s` (the backoff before a retry). Otherwise `code` says why not, as the
    trace's skip code ("retry_after": the upstream asked for a longer wait than the retry policy
    honours; "no_time": it cannot finish before the deadline; "retry_cap": too many retries in
    flight; "budget": the target's retry budget is spent), `reason` says it for a human, and
    `out_of_time` marks a refusal that means the request ran out of time.
    """

    ok: bool
    delay_s: float = 0.0
    code: SkipCode | None = None
    reason: str | None = None
    out_of_time: bool = False


_GO = Clearance(True)
_NO_TIME = Clearance(False, 0.0, "no_time", "no time left before the deadline", True)
_RETRY_CAP = Clearance(False, 0.0, "retry_cap", "too many concurrent retries")
_BUDGET = Clearance(False, 0.0, "budget", "retry budget exhausted")


class TargetState:
    """Everything Seawall tracks about one target (`provider/model`).

    To the engine an opaque handle (it reads `target`); `ResilienceState` steps it. The facades
    (`breaker`, `budget`, `limiter`, `stats`, `throttle`) run on records the state backend keeps;
    they are public for views and tests; the block and the counters are read-only from outside.
    """

    __slots__ = (
        "_block",
        "_block_changed",
        "_breaker_rec",
        "_counters",
        "_counters_changed",
        "_limiter_rec",
        "breaker",
        "budget",
        "limiter",
        "policies",
        "stats",
        "target",
        "throttle",
    )

    def __init__(
        self,
        target: Target,
        policies: TargetPolicies,
        *,
        breaker: CircuitBreaker,
        budget: RetryBudget,
        limiter: ConcurrencyLimiter,
        stats: TargetStats,
        throttle: AdaptiveThrottle,
        block: BlockRecord | None = None,
        counters: TargetCounters | None = None,
        on_block: Callable[[], None] | None = None,
        on_counters: Callable[[], None] | None = None,
    ) -> None:
        self.target = target
        self.policies = policies
        self.breaker = breaker
        self.budget = budget
        self.limiter = limiter
        self.stats = stats
        self.throttle = throttle
        self._block = block or BlockRecord()
        self._counters = counters or TargetCounters()
        self._block_changed = on_block
        self._counters_changed = on_counters
        # the live records the facades step (never replaced): `consulted` reads them directly
        self._breaker_rec = breaker.state_record
        self._limiter_rec = limiter.state_record

    def observed_start_s(self) -> float | None:
        """Observed p50 time to get going here (TTFT, else duration), capped by the policy; None
        before the target has answered at all (a fallback that was never needed)."""
        observed = self.stats.ttft.quantile(0.5) or self.stats.duration.quantile(0.5)
        return None if observed is None else min(self.policies.retry.min_attempt_s, max(0.05, observed))

    def min_attempt_s(self) -> float:
        """How long an attempt here usually takes to get going: observed TTFT/duration p50, else policy."""
        observed = self.observed_start_s()
        return self.policies.retry.min_attempt_s if observed is None else observed

    # -- read-only views of the records (ResilienceState steps them) ------------------------------------
    @property
    def blocked_until(self) -> float:
        """Clock time before which the target is rate-limited (Retry-After); 0 if never."""
        return self._block.until

    @property
    def attempts(self) -> int:
        return self._counters.attempts

    @property
    def hedges(self) -> int:
        return self._counters.hedges

    @property
    def budget_refusals(self) -> int:
        return self._counters.budget_refusals

    @property
    def local_rejections(self) -> int:
        return self._counters.local_rejections

    def _noted_block(self) -> None:
        if self._block_changed is not None:
            self._block_changed()

    def _noted_counters(self) -> None:
        if self._counters_changed is not None:
            self._counters_changed()


@dataclass(slots=True)
class ResilienceState:
    """All resilience state of one gateway process, on a `StateBackend` (see the module docstring).

    The engine uses only the methods; the fields are for views and tests."""

    clock: Clock
    rng: random.Random
    admission: AdmissionController
    retry_cap: RetryConcurrencyCap
    throttle_policy: ThrottlePolicy
    backend: StateBackend
    targets: dict[str, TargetState] = field(default_factory=dict)
    throttles: dict[str, AdaptiveThrottle] = field(default_factory=dict)
    transitions: deque[BreakerTransition] = field(default_factory=lambda: deque(maxlen=200))
    transition_counts: dict[tuple[str, str], int] = field(default_factory=dict)
    transition_seq: int = 0  # transitions ever seen (the deque keeps only the last 200)
    active_requests: int = 0

    @classmethod
    def create(
        cls,
        clock: Clock,
        rng: random.Random,
        admission: AdmissionPolicy | None = None,
        retry_concurrency: RetryConcurrencyPolicy | None = None,
        throttle: ThrottlePolicy | None = None,
        *,
        backend: StateBackend | None = None,
    ) -> ResilienceState:
        """State on `backend` (a `MemoryBackend` on `clock` when `None`)."""
        return cls(
            clock=clock,
            rng=rng,
            admission=AdmissionController(clock, admission),
            retry_cap=RetryConcurrencyCap(retry_concurrency),
            throttle_policy=throttle or ThrottlePolicy(),
            backend=backend if backend is not None else MemoryBackend(clock),
        )

    async def start(self) -> None:
        """Start the backend (connections, subscriptions); the memory backend needs nothing."""
        await self.backend.start()

    async def aclose(self) -> None:
        await self.backend.aclose()

    def register(self, target: Target, policies: TargetPolicies) -> TargetState:
        """State for a target; the first model that names a target decides its policies."""
        key = target.key
        state = self.targets.get(key)
        if state is not None:
            return state
        clock, rng, backend = self.clock, self.rng, self.backend
        now = clock.now()
        throttle = self.throttles.get(target.provider)
        if throttle is None:
            provider, policy = target.provider, self.throttle_policy
            rec = backend.record(THROTTLE, provider, lambda: policy.new_record(now))
            throttle = self.throttles[provider] = AdaptiveThrottle(
                clock, policy, rng=rng, record=rec, on_change=self._notifier(THROTTLE, provider, rec)
            )
        breaker_rec = backend.record(BREAKER, key, lambda: policies.breaker.new_record(now))
        budget_rec = backend.record(BUDGET, key, lambda: policies.budget.new_record(now))
        conc = policies.concurrency or _NO_LIMIT
        limiter_rec = backend.record(LIMITER, key, lambda: LimiterRecord.for_policy(conc))
        stats_rec = backend.record(STATS, key, lambda: _STATS.new_record(now))
        block = backend.record(BLOCK, key, BlockRecord)
        counters = backend.record(COUNTERS, key, TargetCounters)
        state = TargetState(
            target,
            policies,
            breaker=CircuitBreaker(
                key,
                clock,
                policies.breaker,
                rng=rng,
                on_transition=self._transition,
                record=breaker_rec,
                on_change=self._notifier(BREAKER, key, breaker_rec),
            ),
            budget=RetryBudget(
                clock, policies.budget, record=budget_rec, on_change=self._notifier(BUDGET, key, budget_rec)
            ),
            limiter=ConcurrencyLimiter.for_policy(
                conc, record=limiter_rec, on_change=self._notifier(LIMITER, key, limiter_rec)
            ),
            stats=TargetStats(
                clock,
                window_s=_STATS.window_s,
                max_samples=_STATS.max_samples,
                record=stats_rec,
                on_change=self._notifier(STATS, key, stats_rec),
            ),
            throttle=throttle,
            block=block,
            counters=counters,
            on_block=self._notifier(BLOCK, key, block),
            on_counters=self._notifier(COUNTERS, key, counters),
        )
        self.targets[key] = state
        return state

    def _notifier(self, kind: str, key: str, record: object) -> Callable[[], None] | None:
        """What a facade calls after a step: the backend's `changed`, or nothing if it keeps the
        kind to itself (the common case, and the cheap one on the hot path)."""
        return partial(self.backend.changed, kind, key, record) if self.backend.shares(kind) else None

    def _transition(self, transition: BreakerTransition) -> None:
        self.transitions.append(transition)
        self.transition_seq += 1
        key = (transition.target, transition.new.value)
        self.transition_counts[key] = self.transition_counts.get(key, 0) + 1

    def transitions_since(self, seq: int) -> list[BreakerTransition]:
        """Transitions after `transition_seq` was `seq` (that are still in the bounded log)."""
        new = self.transition_seq - seq
        return list(self.transitions)[-new:] if new > 0 else []

    # -- admission -------------------------------------------------------------------------------------
    def try_admit(self, priority: Priority) -> Permit | None:
        """A permit now, or `None` if the request would have to queue (or be shed)."""
        permit = self.admission.try_admit(priority)
        if permit is not None:
            self.active_requests += 1
        return permit

    async def admit(self, priority: Priority, *, deadline: Deadline) -> Permit:
        """A permit, queueing if need be: raises `Overloaded` (queue full, queue timeout, shed) or
        `DeadlineExceeded` (the deadline passed while queued). The owner must run `expire_queue()`
        at `next_queue_expiry()` while anything is queued. The deadline is read on this state's own
        clock (the caller's may be capturing a request's readings, which are not the state's)."""
        own = deadline if deadline.clock is self.clock else Deadline(deadline.expires_at, self.clock)
        permit = await self.admission.admit(priority, deadline=own)
        self.active_requests += 1
        return permit

    @property
    def queued(self) -> int:
        """Requests waiting for admission."""
        return self.admission.queued

    def release(self, permit: Permit) -> None:
        """The request is over (idempotent): its capacity goes to the next waiter."""
        if permit.released:
            return
        self.active_requests -= 1
        self.admission.release(permit)

    def next_queue_expiry(self) -> float | None:
        """Clock time at which the earliest queued request times out; `None` if none is queued."""
        return self.admission.next_expiry()

    def expire_queue(self) -> None:
        """Fail every queued request whose queue timeout or deadline has passed."""
        self.admission.expire()

    # -- before an attempt -------------------------------------------------------------------------------
    def target(self, key: str) -> TargetState:
        """The handle of a registered target."""
        return self.targets[key]

    def gate(self, state: TargetState) -> Gate:
        """May an attempt start at this target now? On "ok", a breaker permit and a concurrency slot
        are held: `clearance()` gives them back if it refuses, else the attempt's end does (or
        `abandon()` if it never happens)."""
        if state._block.until > self.clock.now():
            return "blocked"
        if not state.breaker.allow():
            return "breaker"
        if state.throttle.should_reject():
            state.breaker.release_permit()
            state._counters.local_rejections += 1
            state._noted_counters()
            return "throttled"
        if not state.limiter.try_acquire():
            state.breaker.release_permit()
            return "saturated"
        return "ok"

    def gate_wait(self, state: TargetState, gate: Gate) -> float:
        """Seconds until a closed `gate` clears: the rest of a rate-limit block or of a breaker's open
        wait; 0.0 when unknown (throttled, saturated, half-open) or already over."""
        now = self.clock.now()
        if gate == "blocked":
            return max(0.0, state._block.until - now)
        if gate == "breaker":
            until = state.breaker.open_until
            return 0.0 if until is None else max(0.0, until - now)
        return 0.0

    def consulted(
        self, state: TargetState, *, retry: bool
    ) -> tuple[str, int, int | None, float, float | None]:
        """What the last `gate()` rested on, for the trace: the breaker's state, the limiter's calls in
        flight and limit (None: unlimited), the throttle's last reject probability, and for a
        `retry` (or hedge), which the retry budget must fund, the budget's balance (None otherwise:
        a first attempt deposits and consults nothing). Read from the records as `gate()` left
        them (cheap: no window is recomputed but the budget's, and only for a retry)."""
        limit = state.limiter.limit
        return (
            state._breaker_rec.state,
            state._limiter_rec.inflight,
            None if limit >= _UNLIMITED else limit,
            state.throttle.last_probability,
            state.budget.balance() if retry else None,
        )

    def abandon(self, state: TargetState) -> None:
        """Give back what `gate()` took when the attempt does not happen (or was cancelled)."""
        state.breaker.release_permit()
        state.limiter.release("ignore")

    def clearance(
        self,
        state: TargetState,
        *,
        tried: int,
        hedge: bool,
        fallback: bool,
        remaining_s: float,
        last_error: UpstreamError | None,
    ) -> Clearance:
        """After `gate()` said "ok": may the attempt go, and after what backoff?

        `tried`: attempts this request already made at this target; `hedge`: a hedge (no backoff,
        priced like a retry); `fallback`: not the request's first attempt and the target not tried
        yet; `remaining_s`: time to the deadline; `last_error`: the error of the last attempt here
        (needed for a retry). A retry or hedge takes its backoff (Retry-After honoured), must fit
        the deadline judged on the target's observed start time, takes a slot under the retry
        concurrency cap (`release_retry()` when it ends) and withdraws from the target's budget
        (costed by error class). A fallback that cannot get going before the deadline is refused;
        any other first attempt at a target deposits into its budget. On refusal what `gate()`
        took is given back.
        """
        if tried or hedge:
            verdict = self._retry_clearance(state, tried, hedge, remaining_s, last_error)
            if not verdict.ok:
                self.abandon(state)
            elif hedge:
                state._counters.hedges += 1
                state._noted_counters()
            return verdict
        if (
            fallback
            and (start_s := state.observed_start_s()) is not None
            and not state.policies.retry.fits(remaining_s, 0.0, start_s)
        ):
            # a fallback that cannot get going before the deadline only adds load (judged on what
            # the target has shown; a cold fallback only has the engine's minimum to meet)
            self.abandon(state)
            return _NO_TIME
        state.budget.deposit()
        return _GO

    def _retry_clearance(
        self,
        state: TargetState,
        tried: int,
        hedge: bool,
        remaining_s: float,
        last_error: UpstreamError | None,
    ) -> Clearance:
        retry = state.policies.retry
        delay, cost = 0.0, 1.0
        if not hedge:
            if last_error is None:
                raise ValueError("a retry at a target needs the error of the last attempt there")
            maybe = retry.delay_for(
                tried - 1,
                error_class=last_error.error_class,
                retry_after_s=last_error.retry_after_s,
                rng=self.rng,
            )
            if maybe is None:
                return Clearance(
                    False, 0.0, "retry_after", f"Retry-After beyond {retry.max_retry_after_s:g}s"
                )
            delay = maybe
            cost = state.budget.policy.cost_for(last_error.error_class)
        if not retry.fits(remaining_s, delay, state.min_attempt_s()):
            return _NO_TIME
        if not self.retry_cap.try_acquire(self.active_requests):
            return _RETRY_CAP
        if not state.budget.try_withdraw(cost):
            self.retry_cap.release()
            state._counters.budget_refusals += 1
            state._noted_counters()
            return _BUDGET
        return Clearance(True, delay) if delay else _GO

    def release_retry(self) -> None:
        """A retry or hedge cleared by `clearance()` ended, however it ended."""
        self.retry_cap.release()

    def hedge_delay(self, state: TargetState) -> float | None:
        """Seconds after which to hedge an attempt here, or `None`: do not (off, or too few samples)."""
        return state.policies.hedging.hedge_delay(state.stats.duration)

    # -- after an attempt ----------------------------------------------------------------------------
    def commit(self, state: TargetState, *, ttft_s: float) -> None:
        """A stream reached its first content: count the attempt, keep its concurrency slot and
        breaker permit until `attempt_ended()` reports the committed stream's end."""
        self._settle(state, None, duration_s=ttft_s, ttft_s=ttft_s, hold_slot=True)

    def attempt_ended(self, outcome: AttemptOutcome) -> None:
        """The one report per attempt end: feed its outcome to every policy of its target.

        A committed stream (`outcome.committed`) gives back the slot `commit()` kept and gets the
        breaker's verdict (a cut or stall after the first token is a failure); any other attempt is
        settled as it stands."""
        state = self.targets[outcome.target.key]
        if outcome.committed:
            self._release_stream(
                state, duration_s=outcome.duration_s, ttft_s=outcome.ttft_s, error=outcome.error
            )
        else:
            self._settle(state, outcome.error, duration_s=outcome.duration_s, ttft_s=outcome.ttft_s)

    def _settle(
        self,
        state: TargetState,
        error: UpstreamError | None,
        *,
        duration_s: float,
        ttft_s: float | None = None,
        hold_slot: bool = False,
    ) -> None:
        """Feed one attempt's outcome to every policy. `hold_slot`: a committed stream keeps its
        concurrency slot and its breaker permit until `_release_stream()`, which gives the breaker
        its verdict (a stream cut or stalled after its first token is a failure)."""
        state._counters.attempts += 1
        state._noted_counters()
        if error is None:
            if not hold_slot:
                state.breaker.record_success(ttft_s=ttft_s)
            state.throttle.record(True)
            if not hold_slot:
                state.limiter.release("success", duration_s if ttft_s is None else ttft_s)
            state.stats.record(ok=True, duration_s=None if hold_slot else duration_s, ttft_s=ttft_s)
            return
        cls = error.error_class
        if cls == ErrorClass.RATE_LIMITED:
            wait = error.retry_after_s if error.retry_after_s is not None else 1.0
            block = state._block
            until = self.clock.now() + wait
            if until > block.until:
                block.until = until
                state._noted_block()
        if cls in _BREAKER_FAILURE:
            state.breaker.record_failure(ttft_s=ttft_s)
        elif cls == ErrorClass.RATE_LIMITED:
            state.breaker.release_permit()  # our quota says nothing about the target's health
        else:
            state.breaker.record_success(ttft_s=ttft_s)  # it answered; the request was at fault
        state.throttle.record(not cls.provider_health)
        state.limiter.release("drop" if cls in _LIMIT_DROP else "ignore", duration_s)
        state.stats.record(ok=not cls.provider_health)

    def _release_stream(
        self,
        state: TargetState,
        *,
        duration_s: float,
        ttft_s: float | None,
        error: UpstreamError | None = None,
    ) -> None:
        """A committed stream ended: give its concurrency slot back (latency signal: TTFT). A failure
        after commit (cut, stall) counts against the target's recent error rate; a stall also tells
        the concurrency limit that the target is overloaded."""
        rtt = ttft_s if ttft_s is not None else duration_s
        if error is None:
            state.breaker.record_success(ttft_s=ttft_s)
            state.limiter.release("success", rtt)
            state.stats.duration.add(duration_s)
            return
        if error.error_class in _BREAKER_FAILURE:
            state.breaker.record_failure(ttft_s=ttft_s)
        else:
            state.breaker.record_success(ttft_s=ttft_s)
        state.limiter.release("drop" if error.error_class in _LIMIT_DROP else "ignore", rtt)
        state.stats.record(ok=False)

    # -- views ---------------------------------------------------------------------------------------
    def admission_view(self) -> dict[str, Any]:
        """Gateway-wide admission for /admin/targets, with the retries in flight."""
        admission = self.admission
        return {
            "inflight": admission.inflight,
            "queued": admission.queued,
            "congested": admission.congested,
            "max_concurrency": admission.policy.max_concurrency,
            "retries_in_flight": self.retry_cap.active,
        }

    def recent_transitions(self, n: int) -> list[dict[str, Any]]:
        """The last `n` breaker transitions (of at most 200 kept), oldest first, as JSON objects."""
        if n <= 0:
            return []
        return [
            {"target": t.target, "old": t.old.value, "new": t.new.value, "reason": t.reason, "at": t.at}
            for t in list(self.transitions)[-n:]
        ]

    def snapshot(self) -> list[dict[str, Any]]:
        """Every registered target's state, for /admin/targets."""
        now = self.clock.now()
        out = []
        for key, st in self.targets.items():
            b = st.breaker.snapshot()
            s = st.stats.snapshot()
            counters = st._counters
            out.append(
                {
                    "target": key,
                    "provider": st.target.provider,
                    "model": st.target.model,
                    "breaker": {
                        "state": b.state.value,
                        "failure_rate": b.failure_rate,
                        "slow_call_rate": b.slow_call_rate,
                        "calls": b.calls,
                        "open_for_s": None
                        if b.open_until is None
                        else round(max(0.0, b.open_until - now), 3),
                    },
                    "retry_budget": {
                        "balance": round(st.budget.balance(), 3),
                        "refusals": counters.budget_refusals,
                    },
                    "throttle": {
                        "reject_probability": round(st.throttle.probability(), 4),
                        "local_rejections": counters.local_rejections,
                    },
                    "concurrency": {
                        "limit": None if st.limiter.limit >= _UNLIMITED else st.limiter.limit,
                        "inflight": st.limiter.inflight,
                    },
                    "rate_limited_for_s": round(max(0.0, st._block.until - now), 3),
                    "attempts": counters.attempts,
                    "hedges": counters.hedges,
                    "recent": {
                        "requests": s.requests,
                        "errors": s.errors,
                        "error_rate": round(s.error_rate, 4),
                        "ttft_p50_s": s.ttft_p50,
                        "ttft_p95_s": s.ttft_p95,
                        "ttft_p99_s": s.ttft_p99,
                        "duration_p50_s": s.duration_p50,
                        "duration_p95_s": s.duration_p95,
                        "duration_p99_s": s.duration_p99,
                    },
                }
            )
        return out

    def gauges(self) -> Iterator[tuple[str, dict[str, float]]]:
        """(target, {gauge: value}) pairs for Prometheus, read at scrape time."""
        states = {
            BreakerState.CLOSED: 0.0,
            BreakerState.HALF_OPEN: 1.0,
            BreakerState.OPEN: 2.0,
            BreakerState.FORCED_OPEN: 3.0,
        }
        for key, st in self.targets.items():
            yield (
                key,
                {
                    "breaker_state": states[st.breaker.state],
                    "retry_budget_balance": st.budget.balance(),
                    "throttle_reject_probability": st.throttle.probability(),
                    "concurrency_limit": float(min(st.limiter.limit, _UNLIMITED)),
                    "inflight": float(st.limiter.inflight),
                    "rate_limited_seconds": max(0.0, st._block.until - self.clock.now()),
                },
            )


class Resilience(Protocol):
    """What the engine (and the gateway's views) ask of the resilience state: `ResilienceState`,
    or a stand-in that answers from a recording (replay)."""

    transition_seq: int

    def register(self, target: Target, policies: TargetPolicies) -> Any: ...
    def target(self, key: str) -> Any: ...
    def try_admit(self, priority: Priority) -> Permit | None: ...
    async def admit(self, priority: Priority, *, deadline: Deadline) -> Permit: ...
    @property
    def queued(self) -> int: ...
    def release(self, permit: Permit) -> None: ...
    def next_queue_expiry(self) -> float | None: ...
    def expire_queue(self) -> None: ...
    def gate(self, state: Any) -> Gate: ...
    def gate_wait(self, state: Any, gate: Gate) -> float: ...
    def consulted(self, state: Any, *, retry: bool) -> tuple[str, int, int | None, float, float | None]: ...
    def abandon(self, state: Any) -> None: ...
    def clearance(
        self,
        state: Any,
        *,
        tried: int,
        hedge: bool,
        fallback: bool,
        remaining_s: float,
        last_error: UpstreamError | None,
    ) -> Clearance: ...
    def release_retry(self) -> None: ...
    def hedge_delay(self, state: Any) -> float | None: ...
    def commit(self, state: Any, *, ttft_s: float) -> None: ...
    def attempt_ended(self, outcome: AttemptOutcome) -> None: ...
    def transitions_since(self, seq: int) -> list[BreakerTransition]: ...
    async def start(self) -> None: ...
    async def aclose(self) -> None: ...
    def snapshot(self) -> list[dict[str, Any]]: ...
    def admission_view(self) -> dict[str, Any]: ...
    def recent_transitions(self, n: int) -> list[dict[str, Any]]: ...
