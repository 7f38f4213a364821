"""Pure resilience policy objects: deadlines, retries, budgets, throttles, breakers, limits, admission.

Every object here is driven by an injected `seawall._clock.Clock` (and, where random, an injected
`random.Random`); none sleeps, reads the wall clock, or does I/O, so all are tested on a
`ManualClock`. The engine owns the I/O and consults them like this:

    per request:   permit = await admission.admit(priority, deadline=deadline); release it at the end
    per target:    budget.deposit() on the first attempt there, then before each attempt
                   breaker.allow() → not throttle.should_reject() → limiter.try_acquire()
    after it:      breaker.record_*() or release_permit(), throttle.record(), limiter.release(),
                   stats.record()
    retry there?   attempts < retry.max_attempts and error_class.retryable
                   and budget.try_withdraw(budget.policy.cost_for(error_class))
                   and (delay := retry.delay_for(n, ...)) is not None
                   and retry.fits(deadline.remaining(), delay)

Hedges (`HedgePolicy.hedge_delay`) withdraw from the same `RetryBudget` as retries. State here is
per process; sharing it across replicas is `seawall.state`'s job.
"""

from seawall.resilience._admission import AdmissionController, AdmissionPolicy, Permit
from seawall.resilience._backoff import RetryPolicy, parse_retry_after
from seawall.resilience._breaker import (
    BreakerPolicy,
    BreakerSnapshot,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    TransitionReason,
)
from seawall.resilience._budget import (
    RetryBudget,
    RetryBudgetPolicy,
    RetryConcurrencyCap,
    RetryConcurrencyPolicy,
)
from seawall.resilience._concurrency import (
    AIMDLimit,
    AIMDPolicy,
    ConcurrencyLimiter,
    Gradient2Limit,
    Gradient2Policy,
    LimitAlgorithm,
    Outcome,
)
from seawall.resilience._deadline import Deadline, parse_client_timeout, parse_stream_deadline
from seawall.resilience._hedging import HedgePolicy
from seawall.resilience._latency import LatencyWindow, TargetStats, TargetStatsSnapshot
from seawall.resilience._throttle import AdaptiveThrottle, ThrottlePolicy

__all__ = [
    "AIMDLimit",
    "AIMDPolicy",
    "AdaptiveThrottle",
    "AdmissionController",
    "AdmissionPolicy",
    "BreakerPolicy",
    "BreakerSnapshot",
    "BreakerState",
    "BreakerTransition",
    "CircuitBreaker",
    "ConcurrencyLimiter",
    "Deadline",
    "Gradient2Limit",
    "Gradient2Policy",
    "HedgePolicy",
    "LatencyWindow",
    "LimitAlgorithm",
    "Outcome",
    "Permit",
    "RetryBudget",
    "RetryBudgetPolicy",
    "RetryConcurrencyCap",
    "RetryConcurrencyPolicy",
    "RetryPolicy",
    "TargetStats",
    "TargetStatsSnapshot",
    "ThrottlePolicy",
    "TransitionReason",
    "parse_client_timeout",
    "parse_retry_after",
    "parse_stream_deadline",
]
