"""Retry budgets per target: bound how much extra load retries may add, whatever the failure pattern.

`RetryBudget` is Finagle's `RetryBudget` / tower's `TpsBudget` (a token bucket whose deposits expire)
with AWS-style costs per cause; `RetryConcurrencyCap` is Envoy's retry budget (a cap on retries in
flight). Each policy steps a plain record (`BudgetRecord`, `RetryCapRecord`) that a state backend
can store or ship; the classes of the same names without "Policy" are the facades that add a clock.
Pure counters: they must not sleep, wait, or decide whether an error is retryable.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from seawall._clock import Clock
from seawall.errors import ErrorClass
from seawall.resilience._window import WindowRecord, window_add, window_totals

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

    # -- steps: pure functions of (policy, record, now) -------------------------------------------------
    def new_record(self, now: float) -> BudgetRecord:
        """An empty budget (only the reserve) aligned to `now`."""
        # One bucket more than `slots`, so a deposit lives at least ttl (and at most ttl + ttl/slots).
        return BudgetRecord(WindowRecord.empty(now, buckets=self.slots + 1, fields=1))

    def deposit(self, r: BudgetRecord, now: float) -> None:
        """Record one original request (not a retry, not a hedge)."""
        window_add(r.window, self.ttl_s / self.slots, now, 0, round(self.percent_can_retry * _SCALE))

    def try_withdraw(self, r: BudgetRecord, now: float, cost: float = 1.0) -> bool:
        """Take `cost` for one retry if the budget holds it; `False` means: do not retry."""
        if not 0.0 < cost < math.inf:
            raise ValueError(f"cost must be > 0 and finite, got {cost!r}")
        amount = round(cost * _SCALE)
        bucket_s = self.ttl_s / self.slots
        if self._reserve() + window_totals(r.window, bucket_s, now)[0] < amount:
            return False
        window_add(r.window, bucket_s, now, 0, -amount)
        return True

    def balance(self, r: BudgetRecord, now: float) -> float:
        """Retries of cost 1 available at `now`. May dip below 0 briefly when deposits expire before
        the withdrawals they funded."""
        return (self._reserve() + window_totals(r.window, self.ttl_s / self.slots, now)[0]) / _SCALE

    def _reserve(self) -> int:
        return round(self.min_retries_per_sec * self.ttl_s * _SCALE)


@dataclass(slots=True)
class BudgetRecord:
    """One retry budget's state: deposits minus withdrawals (micro-tokens) per slot of its ttl.

    The window's origin is a `Clock.now` reading of the stepping process.
    """

    window: WindowRecord


class RetryBudget:
    """A token bucket whose deposits expire after `ttl_s`.

    Call `deposit()` once per original request and `try_withdraw(cost)` before each retry (and each
    hedge). Within any window, retries granted ≤ `percent_can_retry` × requests +
    `min_retries_per_sec` × `ttl_s`: retries cannot multiply load during an outage. Withdrawals expire
    like deposits, so the `min_retries_per_sec` reserve refills every ttl. Successful retries are not
    refunded (unlike AWS), because refunds would break that bound. A facade: `RetryBudgetPolicy`
    steps a `BudgetRecord` (pass `record` to step an existing one) on the injected clock.
    """

    __slots__ = ("_clock", "_infinite", "_on_change", "_policy", "_rec")

    def __init__(
        self,
        clock: Clock,
        policy: RetryBudgetPolicy | None = None,
        *,
        record: BudgetRecord | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._clock = clock
        self._policy = policy or RetryBudgetPolicy()
        self._rec = record or self._policy.new_record(clock.now())
        self._on_change = on_change
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

    @property
    def state_record(self) -> BudgetRecord:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    def deposit(self) -> None:
        """Record one original request (not a retry, not a hedge)."""
        self._policy.deposit(self._rec, self._clock.now())
        if self._on_change is not None:
            self._on_change()

    def try_withdraw(self, cost: float = 1.0) -> bool:
        """Take `cost` for one retry if the budget holds it; `False` means: do not retry."""
        if self._infinite:
            if not 0.0 < cost < math.inf:
                raise ValueError(f"cost must be > 0 and finite, got {cost!r}")
            return True
        if not self._policy.try_withdraw(self._rec, self._clock.now(), cost):
            return False
        if self._on_change is not None:
            self._on_change()
        return True

    def balance(self) -> float:
        """Retries of cost 1 available now (`math.inf` if infinite). May dip below 0 briefly when
        deposits expire before the withdrawals they funded."""
        if self._infinite:
            return math.inf
        return self._policy.balance(self._rec, self._clock.now())


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

    def limit(self, active_requests: int) -> int:
        """Retries allowed in flight when `active_requests` requests are in flight."""
        return max(int(self.budget_percent * max(0, active_requests)), self.min_retry_concurrency)

    def try_acquire(self, r: RetryCapRecord, active_requests: int) -> bool:
        """Start one retry if under the cap."""
        if r.active >= self.limit(active_requests):
            return False
        r.active += 1
        return True

    def release(self, r: RetryCapRecord) -> None:
        """End one retry started by `try_acquire`."""
        if r.active == 0:
            raise RuntimeError("release() without a matching try_acquire()")
        r.active -= 1


@dataclass(slots=True)
class RetryCapRecord:
    """Retries in flight under one `RetryConcurrencyPolicy`."""

    active: int = 0


class RetryConcurrencyCap:
    """Active retries ≤ max(budget_percent × active requests, min_retry_concurrency) (Envoy).

    Complements `RetryBudget`: the budget bounds retries over time, this bounds them at any instant.
    Pass the target's requests in flight (e.g. `ConcurrencyLimiter.inflight`) to `try_acquire`, and
    call `release()` when the retry attempt ends, however it ends. A facade over a `RetryCapRecord`.
    """

    __slots__ = ("_policy", "_rec")

    def __init__(self, policy: RetryConcurrencyPolicy | None = None, *, record: RetryCapRecord | None = None):
        self._policy = policy or RetryConcurrencyPolicy()
        self._rec = record or RetryCapRecord()

    @property
    def state_record(self) -> RetryCapRecord:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    @property
    def active(self) -> int:
        """Retries in flight."""
        return self._rec.active

    def limit(self, active_requests: int) -> int:
        """Retries allowed in flight when `active_requests` requests are in flight."""
        return self._policy.limit(active_requests)

    def try_acquire(self, active_requests: int) -> bool:
        """Start one retry if under the cap."""
        return self._policy.try_acquire(self._rec, active_requests)

    def release(self) -> None:
        """End one retry started by `try_acquire`."""
        self._policy.release(self._rec)
