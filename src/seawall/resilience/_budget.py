"""Retry budgets per target: bound how much extra load retries may add, whatever the failure pattern.

`RetryBudget` is Finagle's `RetryBudget` / tower's `TpsBudget` (a token bucket whose deposits expire)
with AWS-style costs per cause; `RetryConcurrencyCap` is Envoy's retry budget (a cap on retries in
flight). Both are pure counters on an injected clock: they must not sleep, wait, or decide whether
an error is retryable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from seawall._clock import Clock
from seawall.errors import ErrorClass
from seawall.resilience._window import BucketWindow

# Fixed-point micro-tokens keep the arithmetic exact (Finagle scales by 1000 for the same reason).
_SCALE = 1_000_000


@dataclass(frozen=True, slots=True)
class RetryBudgetPolicy:
    """How much retrying a target's budget allows."""

    # Finagle RetryBudget / tower TpsBudget: deposits live 10 s (Finagle allows 1–60 s).
    ttl_s: float = 10.0
    # Finagle / tower / Linkerd: +20% load. The SRE book's tighter bound is 0.1 ("retries < 10%").
    percent_can_retry: float = 0.2
    # Finagle / tower: 10 free retries/s. An LLM retry is ~100× longer and costs tokens, and one
    # target often sees only a few requests/s, so 10/s would let every request retry; 1/s (10 per
    # ttl) still lets a quiet target retry its occasional transient failure.
    min_retries_per_sec: float = 1.0
    # AWS standard mode (botocore quota.py): a retry costs 5, after a timeout 10, so 2× here. A
    # timed-out attempt may still be running upstream, so its retry doubles the load.
    timeout_cost: float = 2.0
    # AWS "new retries 2026": a throttling retry costs 5 against 14 for others (~0.36×); rounded to
    # 0.5. Throttled retries wait for Retry-After or a 1 s-base backoff, so they add less load.
    throttle_cost: float = 0.5
    # tower TpsBudget: the ttl is split into 10 slots.
    slots: int = 10

    def __post_init__(self) -> None:
        if not 1.0 <= self.ttl_s <= 60.0:
            raise ValueError(f"ttl_s must be in [1, 60] (as in Finagle), got {self.ttl_s!r}")
        if not 0.0 <= self.percent_can_retry <= 1000.0:
            raise ValueError(f"percent_can_retry must be in [0, 1000], got {self.percent_can_retry!r}")
        if not 0.0 <= self.min_retries_per_sec < math.inf:
            raise ValueError(f"min_retries_per_sec must be >= 0 and finite, got {self.min_retries_per_sec!r}")
        for name in ("timeout_cost", "throttle_cost"):
            if not 0.0 < getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be > 0 and finite, got {getattr(self, name)!r}")
        if self.slots < 1:
            raise ValueError(f"slots must be >= 1, got {self.slots}")

    def cost_for(self, error_class: ErrorClass) -> float:
        """What retrying after a failure of `error_class` withdraws from the budget."""
        if error_class is ErrorClass.TIMEOUT:
            return self.timeout_cost
        if error_class is ErrorClass.RATE_LIMITED:
            return self.throttle_cost
        return 1.0


class RetryBudget:
    """A token bucket whose deposits expire after `ttl_s`.

    Call `deposit()` once per original request and `try_withdraw(cost)` before each retry (and each
    hedge). Within any window, retries granted ≤ `percent_can_retry` × requests +
    `min_retries_per_sec` × `ttl_s`: retries cannot multiply load during an outage. Withdrawals expire
    like deposits, so the `min_retries_per_sec` reserve refills every ttl. Successful retries are not
    refunded (unlike AWS), because refunds would break that bound.
    """

    __slots__ = ("_deposit", "_infinite", "_policy", "_reserve", "_window")

    def __init__(self, clock: Clock, policy: RetryBudgetPolicy | None = None) -> None:
        self._policy = policy or RetryBudgetPolicy()
        p = self._policy
        # One bucket more than `slots`, so a deposit lives at least ttl (and at most ttl + ttl/slots).
        self._window = BucketWindow(clock, bucket_s=p.ttl_s / p.slots, buckets=p.slots + 1, fields=1)
        self._deposit = round(p.percent_can_retry * _SCALE)
        self._reserve = round(p.min_retries_per_sec * p.ttl_s * _SCALE)
        self._infinite = False

    @classmethod
    def infinite(cls, clock: Clock) -> RetryBudget:
        """A budget that always allows (for tests, or to switch budgeting off)."""
        budget = cls(clock)
        budget._infinite = True
        return budget

    @property
    def policy(self) -> RetryBudgetPolicy:
        return self._policy

    def deposit(self) -> None:
        """Record one original request (not a retry, not a hedge)."""
        self._window.add(0, self._deposit)

    def try_withdraw(self, cost: float = 1.0) -> bool:
        """Take `cost` for one retry if the budget holds it; `False` means: do not retry."""
        if not 0.0 < cost < math.inf:
            raise ValueError(f"cost must be > 0 and finite, got {cost!r}")
        if self._infinite:
            return True
        amount = round(cost * _SCALE)
        if self._reserve + self._window.total(0) < amount:
            return False
        self._window.add(0, -amount)
        return True

    def balance(self) -> float:
        """Retries of cost 1 available now (`math.inf` if infinite). May dip below 0 briefly when
        deposits expire before the withdrawals they funded."""
        if self._infinite:
            return math.inf
        return (self._reserve + self._window.total(0)) / _SCALE


@dataclass(frozen=True, slots=True)
class RetryConcurrencyPolicy:
    """Envoy's retry budget: how many retries may be in flight at once."""

    # Envoy circuit_breakers.retry_budget.budget_percent default 20%.
    budget_percent: float = 0.2
    # Envoy circuit_breakers.retry_budget.min_retry_concurrency default 3.
    min_retry_concurrency: int = 3

    def __post_init__(self) -> None:
        if not 0.0 <= self.budget_percent <= 1.0:
            raise ValueError(f"budget_percent must be in [0, 1], got {self.budget_percent!r}")
        if self.min_retry_concurrency < 0:
            raise ValueError(f"min_retry_concurrency must be >= 0, got {self.min_retry_concurrency}")


class RetryConcurrencyCap:
    """Active retries ≤ max(budget_percent × active requests, min_retry_concurrency) (Envoy).

    Complements `RetryBudget`: the budget bounds retries over time, this bounds them at any instant.
    Pass the target's requests in flight (e.g. `ConcurrencyLimiter.inflight`) to `try_acquire`, and
    call `release()` when the retry attempt ends, however it ends.
    """

    __slots__ = ("_active", "_policy")

    def __init__(self, policy: RetryConcurrencyPolicy | None = None) -> None:
        self._policy = policy or RetryConcurrencyPolicy()
        self._active = 0

    @property
    def active(self) -> int:
        """Retries in flight."""
        return self._active

    def limit(self, active_requests: int) -> int:
        """Retries allowed in flight when `active_requests` requests are in flight."""
        p = self._policy
        return max(int(p.budget_percent * max(0, active_requests)), p.min_retry_concurrency)

    def try_acquire(self, active_requests: int) -> bool:
        """Start one retry if under the cap."""
        if self._active >= self.limit(active_requests):
            return False
        self._active += 1
        return True

    def release(self) -> None:
        """End one retry started by `try_acquire`."""
        if self._active == 0:
            raise RuntimeError("release() without a matching try_acquire()")
        self._active -= 1
