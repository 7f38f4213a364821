"""The contract every `StateBackend` must pass, as a base class to subclass with a `cluster` fixture.

A backend under test provides a `Cluster`: how to get a backend for one more "replica" (all of them
on the same shared store; for the memory backend, the same object), how to let a backend with
bounded staleness catch up (`settle`), and how to move time as its TTLs see it (`advance`). The
tests drive records the way `ResilienceState` does, and hammer the exact primitives from 200
concurrent tasks. A Redis backend passes this suite by subclassing `BackendContract` with a
`cluster` fixture of its own.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from seawall._clock import ManualClock
from seawall._types import AttemptInfo, AttemptOutcome, Dialect, Target
from seawall.engine import ResilienceState
from seawall.errors import UpstreamError, UpstreamRateLimited, UpstreamUnavailable
from seawall.resilience import BreakerState
from seawall.state import StateBackend
from tests.unit.engine.test_engine import policies_with

TARGET = Target("p", "m")


@dataclass
class Cluster:
    """One shared store and the hooks the contract needs around it."""

    clock: ManualClock
    replica: Callable[[], Awaitable[StateBackend]]
    """A started backend on the shared store (each call: one more replica, or the same object)."""
    settle: Callable[[], Awaitable[None]]
    """Wait until every replica has seen every change published so far (memory: nothing to wait for)."""
    advance: Callable[[float], Awaitable[None]]
    """Move time forward by that many seconds, as the backend's TTLs and the `clock` see it."""


@dataclass
class _Counter:
    """A record of the simplest kind, for the record tests."""

    value: int = 0


def outcome(
    clock: ManualClock, error: UpstreamError | None = None, *, took: float = 0.1, target: Target = TARGET
) -> AttemptOutcome:
    """An attempt at `target` that started `took` seconds ago and ended now."""
    now = clock.now()
    return AttemptOutcome(target, Dialect.OPENAI, now - took, now, AttemptInfo(), error)


class BackendContract:
    """Subclass as `Test...` and provide a `cluster` fixture."""

    @pytest.fixture
    def cluster(self) -> Cluster:
        raise NotImplementedError("a backend's test class provides the cluster fixture")

    async def replicas(self, cluster: Cluster, n: int = 2, **sections: Any) -> list[ResilienceState]:
        """`n` gateway processes' resilience states, each on its own replica, with TARGET registered."""
        states = []
        for i in range(n):
            state = ResilienceState.create(cluster.clock, random.Random(i), backend=await cluster.replica())
            state.register(TARGET, policies_with(**sections))
            states.append(state)
        return states

    # -- records -----------------------------------------------------------------------------------
    async def test_a_record_is_made_once_and_keeps_its_steps(self, cluster: Cluster) -> None:
        backend = await cluster.replica()
        made: list[_Counter] = []

        def factory() -> _Counter:
            made.append(_Counter())
            return made[-1]

        first = backend.record("counter", "a", factory)
        first.value += 5
        backend.changed("counter", "a", first)
        again = backend.record("counter", "a", factory)
        assert again is first
        assert again.value == 5
        assert len(made) == 1

    async def test_kinds_and_keys_are_independent(self, cluster: Cluster) -> None:
        backend = await cluster.replica()
        a = backend.record("counter", "a", _Counter)
        b = backend.record("counter", "b", _Counter)
        other = backend.record("other", "a", _Counter)
        a.value = 1
        backend.changed("counter", "a", a)
        assert (b.value, other.value) == (0, 0)
        assert len({id(a), id(b), id(other)}) == 3

    async def test_keys_lists_one_kind_sorted(self, cluster: Cluster) -> None:
        backend = await cluster.replica()
        for key in ("z", "a", "m"):
            backend.changed("counter", key, backend.record("counter", key, _Counter))
        backend.record("other", "q", _Counter)
        assert backend.keys("counter") == ["a", "m", "z"]
        assert backend.keys("nothing") == []

    async def test_a_replica_learns_of_keys_changed_elsewhere(self, cluster: Cluster) -> None:
        one, two = await cluster.replica(), await cluster.replica()
        record = one.record("counter", "a", _Counter)
        record.value = 3
        one.changed("counter", "a", record)
        await cluster.settle()
        assert "a" in two.keys("counter")

    # -- two gateways on one store -------------------------------------------------------------------
    async def test_replicas_see_each_others_breaker_opening(self, cluster: Cluster) -> None:
        one, two = await self.replicas(cluster, breaker={"consecutive_failures": 3, "open_jitter": 0.0})
        for _ in range(3):
            st = one.target(TARGET.key)
            assert one.gate(st) == "ok"
            one.attempt_ended(outcome(cluster.clock, UpstreamUnavailable("503")))
        assert one.target(TARGET.key).breaker.state is BreakerState.OPEN
        await cluster.settle()
        st = two.target(TARGET.key)
        assert two.gate(st) == "breaker"
        assert two.gate_wait(st, "breaker") == pytest.approx(5.0)
        assert two.snapshot()[0]["breaker"]["state"] == "open"

    async def test_replicas_share_budget_withdrawals(self, cluster: Cluster) -> None:
        # no deposits count (percent 0), a reserve of exactly 2 retries per 10 s
        budget = {"percent_can_retry": 0.0, "min_retries_per_sec": 0.2, "ttl_s": 10.0}
        one, two = await self.replicas(cluster, budget=budget)

        def retry(state: ResilienceState) -> str | None:
            st = state.target(TARGET.key)
            assert state.gate(st) == "ok"
            cleared = state.clearance(
                st,
                tried=1,
                hedge=False,
                fallback=False,
                remaining_s=60.0,
                last_error=UpstreamUnavailable("503"),
            )
            if cleared.ok:
                state.release_retry()
                state.abandon(st)
            return cleared.code

        assert [retry(one), retry(one)] == [None, None]
        await cluster.settle()
        assert retry(two) == "budget"
        assert two.target(TARGET.key).budget.balance() == pytest.approx(0.0)

    async def test_replicas_see_each_others_rate_limit_blocks(self, cluster: Cluster) -> None:
        one, two = await self.replicas(cluster)
        st = one.target(TARGET.key)
        assert one.gate(st) == "ok"
        one.attempt_ended(outcome(cluster.clock, UpstreamRateLimited("429", retry_after_s=30.0)))
        await cluster.settle()
        st = two.target(TARGET.key)
        assert two.gate(st) == "blocked"
        assert 0.0 < two.gate_wait(st, "blocked") <= 30.0

    # -- exact primitives ----------------------------------------------------------------------------
    async def test_set_if_absent_stores_once_and_returns_what_is_there(self, cluster: Cluster) -> None:
        backend = await cluster.replica()
        assert await backend.set_if_absent("bind", "conv-1", b"snap-a") is None
        assert await backend.set_if_absent("bind", "conv-1", b"snap-b") == b"snap-a"
        assert await backend.get("bind", "conv-1") == b"snap-a"
        assert await backend.set_if_absent("other", "conv-1", b"x") is None  # namespaces are separate
        await backend.delete("bind", "conv-1")
        assert await backend.get("bind", "conv-1") is None
        assert await backend.set_if_absent("bind", "conv-1", b"snap-c") is None
        assert await backend.get("missing", "nothing") is None

    async def test_add_applies_unless_the_total_would_exceed_the_limit(self, cluster: Cluster) -> None:
        backend = await cluster.replica()
        assert await backend.add("quota", "t1", 6.0, limit=10.0) == (True, 6.0)
        assert await backend.add("quota", "t1", 5.0, limit=10.0) == (False, 6.0)
        assert await backend.add("quota", "t1", 4.0, limit=10.0) == (True, 10.0)
        assert await backend.add("quota", "t1", -2.5, limit=10.0) == (True, 7.5)  # refunds always apply
        assert await backend.add("quota", "t1", 0.0) == (True, 7.5)  # zero reads
        assert await backend.add("quota", "t2", 11.0, limit=10.0) == (False, 0.0)
        assert await backend.add("quota", "t2", 0.0) == (True, 0.0)  # the refusal created nothing
        assert await backend.add("quota", "t3", 1e9) == (True, 1e9)  # no limit

    async def test_values_and_counters_are_separate_keyspaces(self, cluster: Cluster) -> None:
        backend = await cluster.replica()
        assert await backend.set_if_absent("ns", "k", b"v") is None
        assert await backend.add("ns", "k", 2.0) == (True, 2.0)
        assert await backend.get("ns", "k") == b"v"
        await backend.delete("ns", "k")
        assert await backend.get("ns", "k") is None
        assert await backend.add("ns", "k", 0.0) == (True, 0.0)

    async def test_values_expire_after_their_ttl(self, cluster: Cluster) -> None:
        backend = await cluster.replica()
        assert await backend.set_if_absent("cache", "k", b"v1", ttl_s=10.0) is None
        assert await backend.set_if_absent("cache", "forever", b"v") is None
        await cluster.advance(9.0)
        assert await backend.get("cache", "k") == b"v1"
        assert await backend.set_if_absent("cache", "k", b"v2", ttl_s=10.0) == b"v1"  # does not refresh
        await cluster.advance(1.5)
        assert await backend.get("cache", "k") is None
        assert await backend.set_if_absent("cache", "k", b"v3", ttl_s=10.0) is None
        assert await backend.get("cache", "k") == b"v3"
        assert await backend.get("cache", "forever") == b"v"

    async def test_a_counter_expires_ttl_after_it_was_created(self, cluster: Cluster) -> None:
        backend = await cluster.replica()
        assert await backend.add("quota", "minute", 3.0, limit=5.0, ttl_s=60.0) == (True, 3.0)
        await cluster.advance(50.0)
        assert await backend.add("quota", "minute", 2.0, limit=5.0, ttl_s=60.0) == (True, 5.0)
        assert (await backend.add("quota", "minute", 1.0, limit=5.0, ttl_s=60.0))[0] is False
        await cluster.advance(10.5)  # 60.5 s after creation: the later adds did not slide the window
        assert await backend.add("quota", "minute", 1.0, limit=5.0, ttl_s=60.0) == (True, 1.0)

    @pytest.mark.parametrize("ttl_s", [0.0, -1.0, float("inf")])
    async def test_a_ttl_must_be_positive_and_finite(self, cluster: Cluster, ttl_s: float) -> None:
        backend = await cluster.replica()
        with pytest.raises(ValueError, match="ttl_s"):
            await backend.set_if_absent("ns", "k", b"v", ttl_s=ttl_s)
        with pytest.raises(ValueError, match="ttl_s"):
            await backend.add("ns", "k", 1.0, ttl_s=ttl_s)

    async def test_concurrent_adds_never_overshoot_the_limit(self, cluster: Cluster) -> None:
        backends = [await cluster.replica(), await cluster.replica()]

        async def one(i: int) -> tuple[bool, float]:
            await asyncio.sleep(0)  # let the tasks interleave
            return await backends[i % 2].add("quota", "tenant", 1.5, limit=150.0, ttl_s=60.0)

        results = await asyncio.gather(*(one(i) for i in range(200)))
        applied = [total for ok, total in results if ok]
        assert len(applied) == 100
        assert sorted(applied) == [1.5 * (i + 1) for i in range(100)]  # every total seen once
        assert all(total <= 150.0 for _, total in results)
        assert await backends[0].add("quota", "tenant", 0.0) == (True, 150.0)

    async def test_concurrent_set_if_absent_has_exactly_one_winner(self, cluster: Cluster) -> None:
        backends = [await cluster.replica(), await cluster.replica()]

        async def one(i: int) -> bytes | None:
            await asyncio.sleep(0)
            return await backends[i % 2].set_if_absent("bind", "conv", str(i).encode(), ttl_s=60.0)

        results = await asyncio.gather(*(one(i) for i in range(200)))
        winners = [i for i, found in enumerate(results) if found is None]
        assert len(winners) == 1
        winner = str(winners[0]).encode()
        assert all(found == winner for found in results if found is not None)
        assert await backends[1].get("bind", "conv") == winner
