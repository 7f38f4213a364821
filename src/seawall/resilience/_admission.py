"""Gateway-wide admission: a concurrency limit partitioned by priority, a bounded queue, and shedding.

* Partitioning (Netflix concurrency-limits' partitioned limiter): each `Priority` is guaranteed
  `share × max_concurrency` permits and may borrow idle capacity up to the total. A class below its
  guarantee is always admitted, even when borrowers have filled the total: interactive traffic
  preempts batch borrowing for new admissions. The total is then exceeded by at most the amount
  borrowed, and borrowers get nothing more until it drains.
* Queueing (Facebook, "Fail at Scale", ACM Queue 2015): controlled delay — if the queue has not been
  empty within `queue_timeout_s` (N), new waiters may wait only `congested_timeout_s` (M), else N —
  and adaptive LIFO: while congested, serve the newest waiter (the one most likely still wanted).
  Interactive waiters are served before batch ones; a full queue sheds a batch waiter to make room
  for an interactive one, else rejects. Memory is bounded by `max_queue`.
* Shedding raises `Overloaded` with an honest Retry-After: Little's law over observed hold times.

The counters (permits per priority, when the queue last became non-empty, the mean hold time) are
an `AdmissionRecord` that `AdmissionPolicy` steps; the queue of waiting futures is process-local
by nature and stays in `AdmissionController`. Waiting uses asyncio futures, but this module never
sleeps, runs timers or reads the wall clock: the owner calls `expire()` when `next_expiry()` comes
due (every entry point also expires lazily).
"""

from __future__ import annotations

import asyncio
from collections import deque
from dataclasses import dataclass

from seawall._clock import Clock
from seawall._types import Priority
from seawall.errors import DeadlineExceeded, Overloaded
from seawall.resilience._deadline import Deadline

# Serving order when capacity frees up.
_ORDER = (Priority.INTERACTIVE, Priority.BATCH)
# Weight of the newest hold time in its moving average: ~the last 10 holds dominate.
_HOLD_ALPHA = 0.1


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """Tuning for `AdmissionController`."""

    # Requests in flight through the gateway. Each holds a client and an upstream socket, so 256
    # stays well inside the common 1024-descriptor soft limit with room for pools and stores.
    max_concurrency: int = 256
    # concurrency-limits README partition example: live 0.9 / batch 0.1.
    interactive_share: float = 0.9
    batch_share: float = 0.1
    # concurrency-limits LifoBlockingLimiter backlog size 100.
    max_queue: int = 100
    # N. Fail at Scale uses 100 ms for RPCs of a few ms; an LLM call holds its slot for seconds, so
    # we take LifoBlockingLimiter's 1 s backlog timeout.
    queue_timeout_s: float = 1.0
    # M. Fail at Scale: 5 ms against N = 100 ms; we keep that 1:20 ratio.
    congested_timeout_s: float = 0.05
    # Retry-After bounds: HTTP's resolution is 1 s; the OpenAI SDK ignores values over 60 s.
    min_retry_after_s: float = 1.0
    max_retry_after_s: float = 60.0

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError(f"max_concurrency must be >= 1, got {self.max_concurrency}")
        for name in ("interactive_share", "batch_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}")
        if self.interactive_share + self.batch_share > 1.0 + 1e-9:
            raise ValueError("interactive_share + batch_share must be <= 1")
        if self.max_queue < 0:
            raise ValueError(f"max_queue must be >= 0, got {self.max_queue}")
        if not self.queue_timeout_s > 0.0:
            raise ValueError(f"queue_timeout_s must be > 0, got {self.queue_timeout_s!r}")
        if not 0.0 < self.congested_timeout_s <= self.queue_timeout_s:
            raise ValueError(
                f"congested_timeout_s must be in (0, queue_timeout_s], got {self.congested_timeout_s!r}"
            )
        if not 0.0 < self.min_retry_after_s <= self.max_retry_after_s:
            raise ValueError("need 0 < min_retry_after_s <= max_retry_after_s")

    def guaranteed(self, priority: Priority) -> int:
        """Permits `priority` can always get, however much others borrow."""
        share = self.interactive_share if priority is Priority.INTERACTIVE else self.batch_share
        return int(share * self.max_concurrency + 1e-9)

    # -- steps: pure functions of (policy, record[, now]); the queue itself is the controller's ------
    def new_record(self) -> AdmissionRecord:
        """Nothing admitted, nothing queued, no hold time seen."""
        return AdmissionRecord(dict.fromkeys(Priority, 0))

    def can_admit(self, r: AdmissionRecord, priority: Priority) -> bool:
        """Under the total, or `priority` under its guarantee (even when borrowers filled the total)."""
        inflight = r.inflight
        return sum(inflight.values()) < self.max_concurrency or inflight[priority] < self.guaranteed(priority)

    def congested(self, r: AdmissionRecord, now: float) -> bool:
        """Whether the queue has not been empty for longer than `queue_timeout_s` (N) at `now`."""
        since = r.nonempty_since
        return since is not None and now - since > self.queue_timeout_s

    def granted(self, r: AdmissionRecord, priority: Priority) -> None:
        """A permit of `priority` went out."""
        r.inflight[priority] += 1

    def released(self, r: AdmissionRecord, priority: Priority, hold_s: float) -> None:
        """A permit of `priority`, held `hold_s` seconds, came back."""
        r.inflight[priority] -= 1
        m = r.mean_hold_s
        r.mean_hold_s = hold_s if m is None else m + _HOLD_ALPHA * (hold_s - m)

    def retry_after(self, r: AdmissionRecord, queued: int) -> float:
        """Seconds until a request shed now would likely be admitted, with `queued` waiting.

        Little's law: when full, permits free up at `max_concurrency / mean hold` per second, and
        the queue plus this request must drain first. Clamped for Retry-After.
        """
        if r.mean_hold_s is None:
            return self.min_retry_after_s
        wait = (queued + 1) * r.mean_hold_s / self.max_concurrency
        return min(self.max_retry_after_s, max(self.min_retry_after_s, wait))


@dataclass(slots=True)
class AdmissionRecord:
    """Admission counters: permits out per priority, since when the queue has been non-empty (a
    `Clock.now` reading, `None` when empty), and the moving average of hold times."""

    inflight: dict[Priority, int]
    nonempty_since: float | None = None
    mean_hold_s: float | None = None


class Permit:
    """One admitted request. Hand it back with `AdmissionController.release` (idempotent)."""

    __slots__ = ("_released", "admitted_at", "priority")

    def __init__(self, priority: Priority, admitted_at: float) -> None:
        self.priority = priority
        self.admitted_at = admitted_at
        self._released = False

    @property
    def released(self) -> bool:
        """Whether the permit has been handed back."""
        return self._released


@dataclass(slots=True, eq=False)
class _Waiter:
    priority: Priority
    expires_at: float
    by_deadline: bool  # expires_at is the request's deadline, not a queue timeout
    future: asyncio.Future[Permit]


class AdmissionController:
    """Admits requests into the gateway, queueing briefly and shedding when overloaded.

    The counters live in an `AdmissionRecord` (pass `record` to use an existing one), stepped by
    the `AdmissionPolicy`; the waiters' futures live here.
    """

    def __init__(
        self, clock: Clock, policy: AdmissionPolicy | None = None, *, record: AdmissionRecord | None = None
    ) -> None:
        self._clock = clock
        self._policy = policy or AdmissionPolicy()
        self._rec = record or self._policy.new_record()
        self._queues: dict[Priority, deque[_Waiter]] = {p: deque() for p in Priority}

    @property
    def policy(self) -> AdmissionPolicy:
        return self._policy

    @property
    def state_record(self) -> AdmissionRecord:
        """The record this controller steps (the live object, not a copy)."""
        return self._rec

    @property
    def inflight(self) -> int:
        return sum(self._rec.inflight.values())

    def inflight_of(self, priority: Priority) -> int:
        return self._rec.inflight[priority]

    @property
    def queued(self) -> int:
        return sum(len(q) for q in self._queues.values())

    @property
    def congested(self) -> bool:
        """Whether the queue has not been empty for longer than `queue_timeout_s` (N)."""
        return self._policy.congested(self._rec, self._clock.now())

    def retry_after(self) -> float:
        """Seconds until a request shed now would likely be admitted (clamped for Retry-After).

        Little's law: when full, permits free up at `max_concurrency / mean hold` per second, and
        the queue plus this request must drain first.
        """
        return self._policy.retry_after(self._rec, self.queued)

    def try_admit(self, priority: Priority) -> Permit | None:
        """A permit now, or `None` if `priority` has no capacity (the caller may shed or `admit`)."""
        self.expire()
        if self._queues[priority] or not self._policy.can_admit(self._rec, priority):
            return None
        return self._grant(priority)

    async def admit(self, priority: Priority, *, deadline: Deadline | None = None) -> Permit:
        """A permit, waiting in the queue if need be.

        Raises `Overloaded` (queue full, or queue timeout) or `DeadlineExceeded` (the request's
        deadline passed while queued). If the caller is cancelled, nothing leaks.
        """
        if deadline is not None and deadline.expired:
            raise DeadlineExceeded("the request's deadline passed before admission")
        permit = self.try_admit(priority)
        if permit is not None:
            return permit
        if self.queued >= self._policy.max_queue and not self._shed_for(priority):
            raise self._overloaded("admission queue is full")
        now = self._clock.now()
        timeout = self._policy.congested_timeout_s if self.congested else self._policy.queue_timeout_s
        expires_at, by_deadline = now + timeout, False
        if deadline is not None and deadline.expires_at < expires_at:
            expires_at, by_deadline = deadline.expires_at, True
        waiter = _Waiter(priority, expires_at, by_deadline, asyncio.get_running_loop().create_future())
        if self._rec.nonempty_since is None:
            self._rec.nonempty_since = now
        self._queues[priority].append(waiter)
        try:
            return await waiter.future
        except asyncio.CancelledError:
            future = waiter.future
            if future.done() and not future.cancelled() and future.exception() is None:
                self.release(future.result())  # granted just as we were cancelled
            self._remove(waiter)
            raise

    def release(self, permit: Permit) -> None:
        """Hand a permit back; the freed capacity goes to the next waiter."""
        if permit._released:
            return
        permit._released = True
        self._policy.released(self._rec, permit.priority, self._clock.now() - permit.admitted_at)
        self.expire()
        self._dispatch()

    def next_expiry(self) -> float | None:
        """Clock time at which the earliest waiter times out (schedule `expire()` then)."""
        return min((w.expires_at for q in self._queues.values() for w in q), default=None)

    def expire(self) -> None:
        """Fail every waiter whose queue timeout or deadline has passed."""
        now = self._clock.now()
        for queue in self._queues.values():
            for waiter in [w for w in queue if w.expires_at <= now or w.future.done()]:
                self._remove(waiter)
                if waiter.future.done():
                    continue
                waiter.future.set_exception(
                    DeadlineExceeded("the request's deadline passed while queued")
                    if waiter.by_deadline
                    else self._overloaded("timed out in the admission queue")
                )

    def _grant(self, priority: Priority) -> Permit:
        self._policy.granted(self._rec, priority)
        return Permit(priority, self._clock.now())

    def _dispatch(self) -> None:
        while True:
            lifo = self.congested
            for priority in _ORDER:
                queue = self._queues[priority]
                if queue and self._policy.can_admit(self._rec, priority):
                    waiter = queue.pop() if lifo else queue.popleft()
                    self._note_if_empty()
                    if not waiter.future.done():
                        waiter.future.set_result(self._grant(priority))
                    break
            else:
                return

    def _shed_for(self, priority: Priority) -> bool:
        """Make room for an interactive arrival by shedding the longest-waiting batch waiter."""
        batch = self._queues[Priority.BATCH]
        if priority is not Priority.INTERACTIVE or not batch:
            return False
        victim = batch.popleft()
        if not victim.future.done():
            victim.future.set_exception(self._overloaded("shed for interactive traffic"))
        return True

    def _remove(self, waiter: _Waiter) -> None:
        queue = self._queues[waiter.priority]
        if waiter in queue:
            queue.remove(waiter)
        self._note_if_empty()

    def _note_if_empty(self) -> None:
        if not any(self._queues.values()):
            self._rec.nonempty_since = None

    def _overloaded(self, why: str) -> Overloaded:
        return Overloaded(f"Seawall is overloaded: {why}", retry_after_s=self.retry_after())
