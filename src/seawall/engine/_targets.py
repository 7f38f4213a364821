"""Per-target and gateway-wide resilience state, and the one place attempt outcomes feed it.

`TargetState` bundles one target's breaker, retry budget, concurrency limiter, rolling stats and
rate-limit block; `ResilienceState` holds them all plus the per-provider throttles, the admission
controller and the retry-concurrency cap. The engine asks `gate()` before an attempt and reports
with `settle()` after it; everything else here is read-only views for /admin and /metrics.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Literal

from seawall._clock import Clock
from seawall._types import AttemptOutcome, Priority, Target
from seawall.config import TargetPolicies
from seawall.errors import ErrorClass, UpstreamError
from seawall.resilience import (
    AdaptiveThrottle,
    AdmissionController,
    AdmissionPolicy,
    AIMDLimit,
    AIMDPolicy,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    ConcurrencyLimiter,
    Deadline,
    Gradient2Limit,
    Permit,
    RetryBudget,
    RetryConcurrencyCap,
    RetryConcurrencyPolicy,
    TargetStats,
    ThrottlePolicy,
)

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

Gate = Literal["ok", "blocked", "breaker", "throttled", "saturated"]


@dataclass(frozen=True, slots=True)
class Clearance:
    """Whether an attempt that passed its gate may start, and after what backoff."""

    ok: bool
    delay_s: float = 0.0
    code: str | None = None
    reason: str | None = None
    out_of_time: bool = False


_CLEAR = Clearance(True)


@dataclass(slots=True)
class TargetState:
    """Everything Seawall tracks about one target (`provider/model`)."""

    target: Target
    policies: TargetPolicies
    breaker: CircuitBreaker
    budget: RetryBudget
    limiter: ConcurrencyLimiter
    stats: TargetStats
    throttle: AdaptiveThrottle
    blocked_until: float = 0.0
    attempts: int = 0
    hedges: int = 0
    budget_refusals: int = 0
    local_rejections: int = 0

    def observed_start_s(self) -> float | None:
        """Observed p50 time to get going here (TTFT, else duration), capped by the policy; None
        before the target has answered at all (a fallback that was never needed)."""
        observed = self.stats.ttft.quantile(0.5) or self.stats.duration.quantile(0.5)
        return None if observed is None else min(self.policies.retry.min_attempt_s, max(0.05, observed))

    def min_attempt_s(self) -> float:
        """How long an attempt here usually takes to get going: observed TTFT/duration p50, else policy."""
        observed = self.observed_start_s()
        return self.policies.retry.min_attempt_s if observed is None else observed


@dataclass(slots=True)
class ResilienceState:
    """All resilience state of one gateway process."""

    clock: Clock
    rng: random.Random
    admission: AdmissionController
    retry_cap: RetryConcurrencyCap
    throttle_policy: ThrottlePolicy
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
    ) -> ResilienceState:
        return cls(
            clock=clock,
            rng=rng,
            admission=AdmissionController(clock, admission),
            retry_cap=RetryConcurrencyCap(retry_concurrency),
            throttle_policy=throttle or ThrottlePolicy(),
        )

    def register(self, target: Target, policies: TargetPolicies) -> TargetState:
        """State for a target; the first model that names a target decides its policies."""
        state = self.targets.get(target.key)
        if state is not None:
            return state
        throttle = self.throttles.get(target.provider)
        if throttle is None:
            throttle = self.throttles[target.provider] = AdaptiveThrottle(
                self.clock, self.throttle_policy, rng=self.rng
            )
        conc = policies.concurrency
        if conc is None:
            algorithm: Any = AIMDLimit(
                AIMDPolicy(initial_limit=_UNLIMITED, min_limit=_UNLIMITED, max_limit=_UNLIMITED)
            )
        elif isinstance(conc, AIMDPolicy):
            algorithm = AIMDLimit(conc)
        else:
            algorithm = Gradient2Limit(conc)
        state = TargetState(
            target=target,
            policies=policies,
            breaker=CircuitBreaker(
                target.key, self.clock, policies.breaker, rng=self.rng, on_transition=self._transition
            ),
            budget=RetryBudget(self.clock, policies.budget),
            limiter=ConcurrencyLimiter(algorithm),
            stats=TargetStats(self.clock),
            throttle=throttle,
        )
        self.targets[target.key] = state
        return state

    def _transition(self, transition: BreakerTransition) -> None:
        self.transitions.append(transition)
        self.transition_seq += 1
        key = (transition.target, transition.new.value)
        self.transition_counts[key] = self.transition_counts.get(key, 0) + 1

    # -- admission ---------------------------------------------------------------------------------
    def try_admit(self, priority: Priority) -> Permit | None:
        permit = self.admission.try_admit(priority)
        if permit is not None:
            self.active_requests += 1
        return permit

    async def admit(self, priority: Priority, *, deadline: Deadline) -> Permit:
        permit = await self.admission.admit(priority, deadline=deadline)
        self.active_requests += 1
        return permit

    @property
    def queued(self) -> int:
        return self.admission.queued

    def release(self, permit: Permit) -> None:
        self.active_requests -= 1
        self.admission.release(permit)

    def next_queue_expiry(self) -> float | None:
        return self.admission.next_expiry()

    def expire_queue(self) -> None:
        self.admission.expire()

    def target(self, key: str) -> TargetState:
        return self.targets[key]

    # -- before an attempt -------------------------------------------------------------------------
    def gate_wait(self, state: TargetState, gate: Gate) -> float:
        now = self.clock.now()
        if gate == "blocked":
            return max(0.0, state.blocked_until - now)
        if gate == "breaker":
            until = state.breaker.open_until
            return 0.0 if until is None else max(0.0, until - now)
        return 0.0

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
        if tried or hedge:
            verdict = self._retry_clearance(state, tried, remaining_s, hedge=hedge, last_error=last_error)
            if not verdict.ok:
                self.abandon(state)
                return verdict
            if hedge:
                state.hedges += 1
            return verdict
        start_s = state.observed_start_s() if fallback else None
        if start_s is not None and not state.policies.retry.fits(remaining_s, 0.0, start_s):
            # a fallback that cannot get going before the deadline only adds load (judged on what
            # the target has shown; a cold fallback only needs the engine's minimum)
            self.abandon(state)
            return Clearance(
                False, code="no_time", reason="no time left before the deadline", out_of_time=True
            )
        state.budget.deposit()
        return _CLEAR

    def _retry_clearance(
        self,
        state: TargetState,
        tried: int,
        remaining: float,
        *,
        hedge: bool,
        last_error: UpstreamError | None,
    ) -> Clearance:
        retry = state.policies.retry
        delay = 0.0
        cost = 1.0
        if not hedge and last_error is not None:
            maybe = retry.delay_for(
                tried - 1,
                error_class=last_error.error_class,
                retry_after_s=last_error.retry_after_s,
                rng=self.rng,
            )
            if maybe is None:
                return Clearance(
                    False, code="retry_after", reason=f"Retry-After beyond {retry.max_retry_after_s:g}s"
                )
            delay = maybe
            cost = state.budget.policy.cost_for(last_error.error_class)
        if not retry.fits(remaining, delay, state.min_attempt_s()):
            return Clearance(
                False, code="no_time", reason="no time left before the deadline", out_of_time=True
            )
        if not self.retry_cap.try_acquire(self.active_requests):
            return Clearance(False, code="retry_cap", reason="too many concurrent retries")
        if not state.budget.try_withdraw(cost):
            self.retry_cap.release()
            state.budget_refusals += 1
            return Clearance(False, code="budget", reason="retry budget exhausted")
        return Clearance(True, delay)

    def release_retry(self) -> None:
        self.retry_cap.release()

    def hedge_delay(self, state: TargetState) -> float | None:
        return state.policies.hedging.hedge_delay(state.stats.duration)

    def commit(self, state: TargetState, *, ttft_s: float) -> None:
        self.settle(state, None, duration_s=ttft_s, ttft_s=ttft_s, hold_slot=True)

    def attempt_ended(self, outcome: AttemptOutcome) -> None:
        state = self.targets[outcome.target.key]
        if outcome.committed:
            self.release_stream(
                state, duration_s=outcome.duration_s, ttft_s=outcome.ttft_s, error=outcome.error
            )
        else:
            self.settle(state, outcome.error, duration_s=outcome.duration_s, ttft_s=outcome.ttft_s)

    def admission_view(self) -> dict[str, Any]:
        admission = self.admission
        return {
            "inflight": admission.inflight,
            "queued": admission.queued,
            "congested": admission.congested,
            "max_concurrency": admission.policy.max_concurrency,
        }

    def recent_transitions(self, n: int) -> list[dict[str, Any]]:
        return [
            {"target": t.target, "old": t.old.value, "new": t.new.value, "reason": t.reason, "at": t.at}
            for t in list(self.transitions)[-n:]
        ]

    def gate(self, state: TargetState) -> Gate:
        """May an attempt start at this target now? On "ok", a breaker permit and a concurrency slot
        are held and must be returned by `settle()` or `abandon()`."""
        if state.blocked_until > self.clock.now():
            return "blocked"
        if not state.breaker.allow():
            return "breaker"
        if state.throttle.should_reject():
            state.breaker.release_permit()
            state.local_rejections += 1
            return "throttled"
        if not state.limiter.try_acquire():
            state.breaker.release_permit()
            return "saturated"
        return "ok"

    def abandon(self, state: TargetState) -> None:
        """Give back what `gate()` took when the attempt does not happen (or was cancelled)."""
        state.breaker.release_permit()
        state.limiter.release("ignore")

    # -- after an attempt ----------------------------------------------------------------------------
    def settle(
        self,
        state: TargetState,
        error: UpstreamError | None,
        *,
        duration_s: float,
        ttft_s: float | None = None,
        hold_slot: bool = False,
    ) -> None:
        """Feed one attempt's outcome to every policy. `hold_slot`: a committed stream keeps its
        concurrency slot and its breaker permit until `release_stream()`, which gives the breaker
        its verdict (a stream cut or stalled after its first token is a failure)."""
        state.attempts += 1
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
            state.blocked_until = max(state.blocked_until, self.clock.now() + wait)
        if cls in _BREAKER_FAILURE:
            state.breaker.record_failure(ttft_s=ttft_s)
        elif cls == ErrorClass.RATE_LIMITED:
            state.breaker.release_permit()  # our quota says nothing about the target's health
        else:
            state.breaker.record_success(ttft_s=ttft_s)  # it answered; the request was at fault
        state.throttle.record(not cls.provider_health)
        state.limiter.release("drop" if cls in _LIMIT_DROP else "ignore", duration_s)
        state.stats.record(ok=not cls.provider_health)

    def transitions_since(self, seq: int) -> list[BreakerTransition]:
        """Transitions after `transition_seq` was `seq` (that are still in the bounded log)."""
        new = self.transition_seq - seq
        return list(self.transitions)[-new:] if new > 0 else []

    def release_stream(
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
    def snapshot(self) -> list[dict[str, Any]]:
        now = self.clock.now()
        out = []
        for key, st in self.targets.items():
            b = st.breaker.snapshot()
            s = st.stats.snapshot()
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
                        "refusals": st.budget_refusals,
                    },
                    "throttle": {
                        "reject_probability": round(st.throttle.probability(), 4),
                        "local_rejections": st.local_rejections,
                    },
                    "concurrency": {
                        "limit": None if st.limiter.limit >= _UNLIMITED else st.limiter.limit,
                        "inflight": st.limiter.inflight,
                    },
                    "rate_limited_for_s": round(max(0.0, st.blocked_until - now), 3),
                    "attempts": st.attempts,
                    "hedges": st.hedges,
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

    def gauges(self) -> Any:
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
                    "rate_limited_seconds": max(0.0, st.blocked_until - self.clock.now()),
                },
            )
