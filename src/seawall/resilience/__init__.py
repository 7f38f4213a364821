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

Hedges (`HedgePolicy.hedge_delay`) withdraw from the same `RetryBudget` as retries.

Policy, record, step. Every stateful object is three things: a frozen policy (`BreakerPolicy`,
`RetryBudgetPolicy`, ...), a plain mutable record of where it is (`BreakerRecord`,
`BudgetRecord`, ...: numbers, enums, lists and arrays only, no clock, rng, callback or policy, so a
state backend can store, copy or ship it), and pure step logic, the policy's methods, that moves a
record for an explicit `now` (and a random draw or `random.Random` where needed). The classes
named above (`CircuitBreaker`, `RetryBudget`, ...) are thin facades holding a policy, a record, the
clock, the rng and observers; pass `record=` to run one on a record a backend owns, and read
`state_record` for the live record. Where records live, and whether other replicas see them, is
`seawall.state`'s job; nothing here knows about backends.
"""

from seawall.resilience._admission import AdmissionController, AdmissionPolicy, AdmissionRecord, Permit
from seawall.resilience._backoff import RetryPolicy, parse_retry_after
from seawall.resilience._breaker import (
    BreakerPolicy,
    BreakerRecord,
    BreakerSnapshot,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    TransitionReason,
)
from seawall.resilience._budget import (
    BudgetRecord,
    RetryBudget,
    RetryBudgetPolicy,
    RetryCapRecord,
    RetryConcurrencyCap,
    RetryConcurrencyPolicy,
)
from seawall.resilience._concurrency import (
    AIMDLimit,
    AIMDPolicy,
    AIMDRecord,
    ConcurrencyLimiter,
    Gradient2Limit,
    Gradient2Policy,
    Gradient2Record,
    LimitAlgorithm,
    LimiterRecord,
    Outcome,
)
from seawall.resilience._deadline import Deadline, parse_client_timeout, parse_stream_deadline
from seawall.resilience._hedging import HedgePolicy
from seawall.resilience._latency import (
    LatencyRecord,
    LatencyWindow,
    StatsPolicy,
    StatsRecord,
    TargetStats,
    TargetStatsSnapshot,
)
from seawall.resilience._throttle import AdaptiveThrottle, ThrottlePolicy, ThrottleRecord
from seawall.resilience._window import BucketWindow, WindowRecord

__all__ = [
    "AIMDLimit",
    "AIMDPolicy",
    "AIMDRecord",
    "AdaptiveThrottle",
    "AdmissionController",
    "AdmissionPolicy",
    "AdmissionRecord",
    "BreakerPolicy",
    "BreakerRecord",
    "BreakerSnapshot",
    "BreakerState",
    "BreakerTransition",
    "BucketWindow",
    "BudgetRecord",
    "CircuitBreaker",
    "ConcurrencyLimiter",
    "Deadline",
    "Gradient2Limit",
    "Gradient2Policy",
    "Gradient2Record",
    "HedgePolicy",
    "LatencyRecord",
    "LatencyWindow",
    "LimitAlgorithm",
    "LimiterRecord",
    "Outcome",
    "Permit",
    "RetryBudget",
    "RetryBudgetPolicy",
    "RetryCapRecord",
    "RetryConcurrencyCap",
    "RetryConcurrencyPolicy",
    "RetryPolicy",
    "StatsPolicy",
    "StatsRecord",
    "TargetStats",
    "TargetStatsSnapshot",
    "ThrottlePolicy",
    "ThrottleRecord",
    "TransitionReason",
    "WindowRecord",
    "parse_client_timeout",
    "parse_retry_after",
    "parse_stream_deadline",
]
