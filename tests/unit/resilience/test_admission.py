from __future__ import annotations

import asyncio

import pytest

from seawall._clock import ManualClock
from seawall._types import Priority
from seawall.errors import DeadlineExceeded, Overloaded
from seawall.resilience import AdmissionController, AdmissionPolicy, Deadline, Permit

INTERACTIVE, BATCH = Priority.INTERACTIVE, Priority.BATCH


def controller(clock: ManualClock, **overrides: float) -> AdmissionController:
    return AdmissionController(clock, AdmissionPolicy(**overrides))  # type: ignore[arg-type]


def fill(adm: AdmissionController, priority: Priority, n: int) -> list[Permit]:
    permits = [adm.try_admit(priority) for _ in range(n)]
    assert all(p is not None for p in permits)
    return [p for p in permits if p is not None]


async def enqueue(adm: AdmissionController, priority: Priority, **kw: Deadline) -> asyncio.Task[Permit]:
    task = asyncio.ensure_future(adm.admit(priority, **kw))
    await asyncio.sleep(0)  # let it reach the queue (a yield to the loop, not a timed wait)
    assert not task.done()
    return task


async def outcome(task: asyncio.Task[Permit]) -> Permit:
    """The waiter's permit (or its exception raised), failing rather than hanging if it still waits."""
    for _ in range(3):
        await asyncio.sleep(0)
    assert task.done(), "the waiter is still queued"
    return task.result()


async def refused(adm: AdmissionController, priority: Priority, **kw: Deadline) -> BaseException | None:
    """What `admit` raised at once; fails rather than hanging if it queued instead."""
    task = asyncio.ensure_future(adm.admit(priority, **kw))
    await asyncio.sleep(0)
    if not task.done():
        task.cancel()
        pytest.fail("admit() queued instead of refusing")
    return task.exception()


def test_defaults() -> None:
    p = AdmissionPolicy()
    assert (p.max_concurrency, p.max_queue, p.queue_timeout_s, p.congested_timeout_s) == (256, 100, 1.0, 0.05)
    assert (p.guaranteed(INTERACTIVE), p.guaranteed(BATCH)) == (230, 25)


def test_each_class_gets_its_share_and_then_is_rejected() -> None:
    adm = controller(ManualClock(), max_concurrency=10)
    fill(adm, INTERACTIVE, 9)
    fill(adm, BATCH, 1)
    assert adm.try_admit(INTERACTIVE) is None
    assert adm.try_admit(BATCH) is None
    assert (adm.inflight_of(INTERACTIVE), adm.inflight_of(BATCH), adm.inflight) == (9, 1, 10)


def test_a_class_may_borrow_idle_capacity_up_to_the_total() -> None:
    adm = controller(ManualClock(), max_concurrency=10)
    fill(adm, BATCH, 10)
    assert adm.try_admit(BATCH) is None


def test_interactive_preempts_batch_borrowing_for_new_admissions() -> None:
    adm = controller(ManualClock(), max_concurrency=10)
    batch = fill(adm, BATCH, 10)  # batch borrowed 9 beyond its guarantee of 1
    fill(adm, INTERACTIVE, 9)  # interactive still gets its whole guarantee
    assert adm.try_admit(INTERACTIVE) is None
    assert adm.inflight == 19  # over the total by at most what was borrowed...
    for permit in batch[:9]:
        adm.release(permit)
    assert adm.try_admit(BATCH) is None  # ...and borrowers get nothing until it drains
    adm.release(batch[9])
    assert adm.try_admit(BATCH) is not None  # back within the total: batch's own share


async def test_release_hands_capacity_to_a_waiter() -> None:
    adm = controller(ManualClock(), max_concurrency=1, interactive_share=1.0, batch_share=0.0)
    (held,) = fill(adm, INTERACTIVE, 1)
    waiter = await enqueue(adm, INTERACTIVE)
    assert adm.queued == 1
    adm.release(held)
    permit = await outcome(waiter)
    assert (permit.priority, adm.inflight, adm.queued) == (INTERACTIVE, 1, 0)


async def test_admit_without_contention_does_not_queue() -> None:
    adm = controller(ManualClock())
    permit = await outcome(asyncio.ensure_future(adm.admit(BATCH)))
    assert (permit.priority, adm.inflight, adm.queued) == (BATCH, 1, 0)


async def test_queue_timeout_sheds_with_retry_after() -> None:
    clock = ManualClock()
    adm = controller(clock, max_concurrency=1, interactive_share=1.0, batch_share=0.0)
    fill(adm, INTERACTIVE, 1)
    waiter = await enqueue(adm, INTERACTIVE)
    assert adm.next_expiry() == clock.now() + 1.0
    clock.advance(0.99)
    adm.expire()
    assert not waiter.done()
    clock.advance(0.01)
    adm.expire()
    with pytest.raises(Overloaded) as info:
        await outcome(waiter)
    assert info.value.retry_after is not None and info.value.retry_after >= 1.0
    assert info.value.status == 503
    assert (adm.queued, adm.next_expiry()) == (0, None)


async def test_codel_short_timeout_once_the_queue_has_not_been_empty_for_n() -> None:
    clock = ManualClock()
    adm = controller(clock, max_concurrency=1, interactive_share=1.0, batch_share=0.0)
    fill(adm, INTERACTIVE, 1)
    first = await enqueue(adm, INTERACTIVE)  # t=0: timeout N = 1 s
    clock.advance(0.9)
    second = await enqueue(adm, INTERACTIVE)  # t=0.9: not yet congested, so timeout N too (until 1.9)
    clock.advance(0.15)  # t=1.05: the first timed out, but the queue was never empty
    adm.expire()
    with pytest.raises(Overloaded):
        await outcome(first)
    assert adm.congested
    third = await enqueue(adm, INTERACTIVE)  # congested: timeout M = 50 ms
    assert adm.next_expiry() == pytest.approx(clock.now() + 0.05)
    clock.advance(0.05)
    adm.expire()
    with pytest.raises(Overloaded):
        await outcome(third)
    clock.advance(0.79)  # t=1.89
    adm.expire()
    assert not second.done()
    clock.advance(0.02)
    adm.expire()
    with pytest.raises(Overloaded):
        await outcome(second)


async def test_queue_timeouts_reset_once_the_queue_drains() -> None:
    clock = ManualClock()
    adm = controller(clock, max_concurrency=1, interactive_share=1.0, batch_share=0.0)
    (held,) = fill(adm, INTERACTIVE, 1)
    waiter = await enqueue(adm, INTERACTIVE)
    clock.advance(0.5)
    adm.release(held)
    await outcome(waiter)  # the queue is empty again
    clock.advance(5.0)
    assert not adm.congested
    await enqueue(adm, INTERACTIVE)
    assert adm.next_expiry() == clock.now() + 1.0


async def test_fifo_when_not_congested() -> None:
    clock = ManualClock()
    adm = controller(clock, max_concurrency=1, interactive_share=1.0, batch_share=0.0)
    (held,) = fill(adm, INTERACTIVE, 1)
    older = await enqueue(adm, INTERACTIVE)
    clock.advance(0.5)
    newer = await enqueue(adm, INTERACTIVE)
    adm.release(held)
    await outcome(older)
    assert not newer.done()


async def test_lifo_when_congested() -> None:
    clock = ManualClock()
    adm = controller(clock, max_concurrency=1, interactive_share=1.0, batch_share=0.0)
    (held,) = fill(adm, INTERACTIVE, 1)
    await enqueue(adm, INTERACTIVE)  # t=0, times out at 1.0
    clock.advance(0.5)
    older = await enqueue(adm, INTERACTIVE)  # t=0.5, times out at 1.5
    clock.advance(0.4)
    newer = await enqueue(adm, INTERACTIVE)  # t=0.9, times out at 1.9
    clock.advance(0.3)  # t=1.2: the queue has not been empty for 1.2 s > N
    adm.release(held)
    await outcome(newer)
    assert not older.done()


async def test_interactive_waiters_are_served_before_batch_waiters() -> None:
    adm = controller(ManualClock(), max_concurrency=2, interactive_share=0.5, batch_share=0.0)
    (i_held,) = fill(adm, INTERACTIVE, 1)
    (b_held,) = fill(adm, BATCH, 1)
    batch_waiter = await enqueue(adm, BATCH)
    interactive_waiter = await enqueue(adm, INTERACTIVE)
    adm.release(b_held)
    assert (await outcome(interactive_waiter)).priority is INTERACTIVE
    assert not batch_waiter.done()
    adm.release(i_held)
    assert (await outcome(batch_waiter)).priority is BATCH


async def test_full_queue_rejects_at_once_with_retry_after() -> None:
    adm = controller(ManualClock(), max_concurrency=1, interactive_share=1.0, batch_share=0.0, max_queue=2)
    fill(adm, INTERACTIVE, 1)
    waiters = [await enqueue(adm, INTERACTIVE), await enqueue(adm, INTERACTIVE)]
    for _ in range(50):  # memory stays bounded: the queue never grows past max_queue
        error = await refused(adm, INTERACTIVE)
        assert isinstance(error, Overloaded) and "queue is full" in error.message
        assert error.retry_after == 1.0
    assert adm.queued == 2
    assert not any(w.done() for w in waiters)


async def test_interactive_arrival_sheds_a_batch_waiter_from_a_full_queue() -> None:
    adm = controller(ManualClock(), max_concurrency=2, interactive_share=0.5, batch_share=0.5, max_queue=2)
    (i_held,) = fill(adm, INTERACTIVE, 1)
    fill(adm, BATCH, 1)
    oldest_batch, newest_batch = await enqueue(adm, BATCH), await enqueue(adm, BATCH)
    interactive = await enqueue(adm, INTERACTIVE)
    with pytest.raises(Overloaded, match="shed for interactive"):
        await outcome(oldest_batch)
    assert adm.queued == 2 and not newest_batch.done()
    assert isinstance(await refused(adm, BATCH), Overloaded)  # batch never sheds anyone
    adm.release(i_held)
    assert (await outcome(interactive)).priority is INTERACTIVE


async def test_retry_after_follows_littles_law() -> None:
    clock = ManualClock()
    adm = controller(clock, max_concurrency=2, interactive_share=1.0, batch_share=0.0, max_queue=1)
    for permit in fill(adm, INTERACTIVE, 2):
        clock.advance(15.0)
        adm.release(permit)  # held 15 s, then 30 s: moving average 15 + 0.1·15 = 16.5 s
    fill(adm, INTERACTIVE, 2)
    await enqueue(adm, INTERACTIVE)
    assert adm.retry_after() == pytest.approx(2 * 16.5 / 2)
    error = await refused(adm, INTERACTIVE)
    assert isinstance(error, Overloaded) and error.retry_after == pytest.approx(16.5)


def test_retry_after_is_clamped() -> None:
    clock = ManualClock()
    adm = controller(clock, max_concurrency=1)
    (permit,) = fill(adm, INTERACTIVE, 1)
    clock.advance(3600.0)
    adm.release(permit)
    assert adm.retry_after() == 60.0
    quick = controller(clock, max_concurrency=100)
    (permit,) = fill(quick, INTERACTIVE, 1)
    clock.advance(0.1)
    quick.release(permit)
    assert quick.retry_after() == 1.0


async def test_deadline_bounds_the_wait() -> None:
    clock = ManualClock()
    adm = controller(clock, max_concurrency=1, interactive_share=1.0, batch_share=0.0)
    fill(adm, INTERACTIVE, 1)
    waiter = await enqueue(adm, INTERACTIVE, deadline=Deadline.after(clock, 0.3))
    assert adm.next_expiry() == pytest.approx(clock.now() + 0.3)
    clock.advance(0.3)
    adm.expire()
    with pytest.raises(DeadlineExceeded):
        await outcome(waiter)
    error = await refused(adm, INTERACTIVE, deadline=Deadline.after(clock, 0.0))
    assert isinstance(error, DeadlineExceeded)
    spare = controller(clock)
    error = await refused(spare, INTERACTIVE, deadline=Deadline.after(clock, 0.0))
    assert isinstance(error, DeadlineExceeded)  # even with capacity to spare
    assert spare.inflight == 0


async def test_cancelled_waiter_leaves_the_queue() -> None:
    adm = controller(ManualClock(), max_concurrency=1, interactive_share=1.0, batch_share=0.0)
    (held,) = fill(adm, INTERACTIVE, 1)
    waiter = await enqueue(adm, INTERACTIVE)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await outcome(waiter)
    assert adm.queued == 0
    adm.release(held)
    assert adm.inflight == 0


async def test_permit_granted_as_the_waiter_is_cancelled_is_not_leaked() -> None:
    adm = controller(ManualClock(), max_concurrency=1, interactive_share=1.0, batch_share=0.0)
    (held,) = fill(adm, INTERACTIVE, 1)
    waiter = await enqueue(adm, INTERACTIVE)
    adm.release(held)  # the waiter's future now holds a permit...
    waiter.cancel()  # ...but the waiter is cancelled before it resumes
    with pytest.raises(asyncio.CancelledError):
        await outcome(waiter)
    assert (adm.inflight, adm.queued) == (0, 0)


def test_release_is_idempotent() -> None:
    adm = controller(ManualClock())
    (permit,) = fill(adm, BATCH, 1)
    adm.release(permit)
    adm.release(permit)
    assert adm.inflight_of(BATCH) == 0


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_concurrency", 0),
        ("interactive_share", 1.2),
        ("batch_share", -0.1),
        ("max_queue", -1),
        ("queue_timeout_s", 0.0),
        ("congested_timeout_s", 2.0),
    ],
)
def test_validation_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        AdmissionPolicy(**{field: value})  # type: ignore[arg-type]


def test_shares_must_fit_in_the_total() -> None:
    with pytest.raises(ValueError, match="interactive_share \\+ batch_share"):
        AdmissionPolicy(interactive_share=0.9, batch_share=0.2)
