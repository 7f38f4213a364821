"""Conversation state bindings on the real `MemoryBackend`: one winner per state, stale versions flagged."""

from __future__ import annotations

import asyncio
import random
import re
from typing import Any

import pytest

from seawall._clock import ManualClock
from seawall.context import (
    MAX_VERSION,
    BindingPolicy,
    BindOutcome,
    BindResult,
    Snapshot,
    bind,
    conflict_error,
    content_hash,
    parse_conversation,
    parse_version,
)
from seawall.context._binding import NEWEST
from seawall.errors import ContextConflict
from seawall.state import MemoryBackend

TTL = 3600.0


def snap(n: int) -> str:
    return content_hash({"documents": [{"id": f"doc-{n}", "content": f"text {n}"}]})


class RacingBackend(MemoryBackend):
    """The real `MemoryBackend`, whose primitives first yield to the event loop a random number of times,
    as a network round trip would: concurrent binders really interleave between their calls."""

    def __init__(self, clock: ManualClock, seed: int) -> None:
        super().__init__(clock)
        self._rng = random.Random(seed)

    async def _pause(self) -> None:
        for _ in range(self._rng.randrange(4)):
            await asyncio.sleep(0)

    async def set_if_absent(
        self, namespace: str, key: str, value: bytes, *, ttl_s: float | None = None
    ) -> Any:
        await self._pause()
        return await super().set_if_absent(namespace, key, value, ttl_s=ttl_s)

    async def get(self, namespace: str, key: str) -> bytes | None:
        await self._pause()
        return await super().get(namespace, key)

    async def add(self, namespace: str, key: str, amount: float, **kw: Any) -> tuple[bool, float]:
        await self._pause()
        return await super().add(namespace, key, amount, **kw)


async def test_first_binder_wins_and_others_see_same_or_conflict() -> None:
    backend = MemoryBackend(ManualClock())
    first = await bind(backend, "conv-1", 3, snap(1), ttl_s=TTL)
    assert first == BindResult(BindOutcome.BOUND, "conv-1", 3, snap(1), snap(1), 3)
    again = await bind(backend, "conv-1", 3, snap(1), ttl_s=TTL)
    assert again.outcome is BindOutcome.SAME
    other = await bind(backend, "conv-1", 3, snap(2), ttl_s=TTL)
    assert other.outcome is BindOutcome.CONFLICT and other.conflict
    assert (other.bound, other.requested) == (snap(1), snap(2))
    assert not other.stale
    # another version or conversation is another state
    assert (await bind(backend, "conv-1", 4, snap(2), ttl_s=TTL)).outcome is BindOutcome.BOUND
    assert (await bind(backend, "conv-2", 3, snap(2), ttl_s=TTL)).outcome is BindOutcome.BOUND


@pytest.mark.parametrize("shared", [False, True])
async def test_fifty_racers_on_one_state_have_exactly_one_winner_every_round(shared: bool) -> None:
    """200 rounds of 50 concurrent binders of one (conversation, version): each names its own snapshot
    (or, `shared`, one of three), and exactly one binds."""
    backend = RacingBackend(ManualClock(), seed=12)
    for round_ in range(200):
        conversation, version = f"conv-{round_ % 17}", round_
        wanted = [snap(i % 3 if shared else i) for i in range(50)]
        results = await asyncio.gather(*(bind(backend, conversation, version, h, ttl_s=TTL) for h in wanted))
        winners = [r for r in results if r.outcome is BindOutcome.BOUND]
        assert len(winners) == 1, round_
        bound = winners[0].requested
        for result, requested in zip(results, wanted, strict=True):
            assert result.bound == bound
            assert result.requested == requested
            expected = BindOutcome.CONFLICT if requested != bound else result.outcome
            assert result.outcome is expected
            if result.outcome is not BindOutcome.BOUND:
                assert result.outcome is (BindOutcome.SAME if requested == bound else BindOutcome.CONFLICT)
            if result.conflict:
                message = conflict_error(result).message
                assert bound in message and requested in message


async def test_two_services_two_snapshots_one_state_is_refused_or_flagged_every_time() -> None:
    """The failure the issue starts from: two services retrieve different snapshots for one conversation
    state and race to ask. Strict refuses the loser with a 409 naming both; warn serves it, flagged."""
    backend = RacingBackend(ManualClock(), seed=7)
    service_a = Snapshot.from_value({"documents": [{"id": "policy-v1", "content": "refunds: 30 days"}]})
    service_b = Snapshot.from_value({"documents": [{"id": "policy-v2", "content": "refunds: 14 days"}]})
    strict, warn = BindingPolicy("strict"), BindingPolicy("warn")
    for turn in range(100):
        a, b = await asyncio.gather(
            bind(backend, "support-42", turn, service_a.hash, ttl_s=TTL),
            bind(backend, "support-42", turn, service_b.hash, ttl_s=TTL),
        )
        loser = b if a.outcome is BindOutcome.BOUND else a
        winner = a if loser is b else b
        assert winner.outcome is BindOutcome.BOUND and loser.conflict
        with pytest.raises(ContextConflict) as info:
            strict.check(loser)
        assert info.value.status == 409
        assert service_a.hash in info.value.message and service_b.hash in info.value.message
        warn.check(loser)  # served; the caller flags it
        assert warn.refuses(loser) is False
        strict.check(winner)


async def test_an_older_version_is_flagged_stale_with_the_newest() -> None:
    backend = MemoryBackend(ManualClock())
    await bind(backend, "c", 5, snap(5), ttl_s=TTL)
    old = await bind(backend, "c", 3, snap(3), ttl_s=TTL)
    assert old.stale and old.newest == 5
    assert old.outcome is BindOutcome.BOUND  # the older state still gets its one binding
    assert not (await bind(backend, "c", 5, snap(5), ttl_s=TTL)).stale
    assert (await bind(backend, "c", 6, None, ttl_s=TTL)).newest == 6
    late = await bind(backend, "c", 5, None, ttl_s=TTL)
    assert late.stale and late.newest == 6 and late.outcome is BindOutcome.READ
    assert not (await bind(backend, "other", 0, None, ttl_s=TTL)).stale


async def test_concurrent_versions_never_raise_a_false_alarm_and_end_on_the_newest() -> None:
    for seed in range(50):
        backend = RacingBackend(ManualClock(), seed=seed)
        rng = random.Random(seed)
        versions = [rng.randrange(30) for _ in range(50)]
        results = await asyncio.gather(*(bind(backend, "c", v, None, ttl_s=TTL) for v in versions))
        for result in results:
            assert result.newest >= result.version
            if result.stale:
                assert result.newest in versions  # only ever a version some request carried
        assert not any(r.stale for r in results if r.version == max(versions))
        assert (await backend.add(NEWEST, "c", 0))[1] == max(versions)
        if max(versions) > 0:
            assert (await bind(backend, "c", max(versions) - 1, None, ttl_s=TTL)).stale


async def test_versions_up_to_two_to_the_53_are_exact() -> None:
    backend = MemoryBackend(ManualClock())
    await bind(backend, "c", MAX_VERSION, None, ttl_s=TTL)
    result = await bind(backend, "c", MAX_VERSION - 1, None, ttl_s=TTL)
    assert result.stale and result.newest == MAX_VERSION


async def test_a_request_without_a_snapshot_reads_the_binding() -> None:
    backend = MemoryBackend(ManualClock())
    unbound = await bind(backend, "c", 1, None, ttl_s=TTL)
    assert (unbound.outcome, unbound.bound, unbound.requested) == (BindOutcome.UNBOUND, None, None)
    await bind(backend, "c", 1, snap(1), ttl_s=TTL)
    read = await bind(backend, "c", 1, None, ttl_s=TTL)
    assert (read.outcome, read.bound) == (BindOutcome.READ, snap(1))
    # reading bound nothing: a snapshot named later for an unbound state binds
    assert (await bind(backend, "c", 2, None, ttl_s=TTL)).outcome is BindOutcome.UNBOUND
    assert (await bind(backend, "c", 2, snap(9), ttl_s=TTL)).outcome is BindOutcome.BOUND


async def test_bindings_and_the_newest_version_last_ttl_s() -> None:
    clock = ManualClock()
    backend = MemoryBackend(clock)
    await bind(backend, "c", 4, snap(1), ttl_s=10.0)
    clock.advance(9.9)
    assert (await bind(backend, "c", 4, snap(2), ttl_s=10.0)).conflict
    assert (await bind(backend, "c", 3, None, ttl_s=10.0)).stale
    clock.advance(0.1)
    fresh = await bind(backend, "c", 4, snap(2), ttl_s=10.0)
    assert fresh.outcome is BindOutcome.BOUND and not fresh.stale
    forever = MemoryBackend(clock)
    await bind(forever, "c", 4, snap(1), ttl_s=None)
    clock.advance(1e9)
    assert (await bind(forever, "c", 4, snap(2), ttl_s=None)).conflict


async def test_bind_checks_its_arguments() -> None:
    backend = MemoryBackend(ManualClock())
    with pytest.raises(ValueError, match="printable"):
        await bind(backend, "a\nb", 1, None, ttl_s=TTL)
    with pytest.raises(ValueError, match="negative"):
        await bind(backend, "c", -1, None, ttl_s=TTL)
    with pytest.raises(ValueError, match="sha256"):
        await bind(backend, "c", 1, "abc", ttl_s=TTL)


def test_policy() -> None:
    result = BindResult(BindOutcome.CONFLICT, "c", 2, snap(2), snap(1), 2)
    assert BindingPolicy().consistency == "strict"
    assert BindingPolicy().refuses(result)
    assert not BindingPolicy("warn").refuses(result)
    error = conflict_error(result, param="x-seawall-context-snapshot")
    assert (error.status, error.type, error.code, error.param) == (
        409,
        "conflict_error",
        "context_conflict",
        "x-seawall-context-snapshot",
    )
    assert error.message == (
        f"conversation 'c' state version 2 is bound to context snapshot {snap(1)}, "
        f"but this request names {snap(2)}"
    )
    with pytest.raises(ValueError, match="'strict' or 'warn'"):
        BindingPolicy("lenient")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0), ("42", 42), ("007", 7), (str(MAX_VERSION), MAX_VERSION), (5, 5), (MAX_VERSION, MAX_VERSION)],
)
def test_parse_version(value: Any, expected: int) -> None:
    assert parse_version(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "must not be empty"),
        ("-1", "decimal digits, got '-1'"),
        ("+1", "decimal digits"),
        (" 1", "decimal digits"),
        ("1_000", "decimal digits"),
        ("١٢", "decimal digits"),
        ("1.0", "decimal digits"),
        (str(MAX_VERSION + 1), f"at most 2^53 ({MAX_VERSION}), got {MAX_VERSION + 1}"),
        ("9" * 5000, "at most 2^53"),
        (-1, "must not be negative, got -1"),
        (MAX_VERSION + 1, "at most 2^53"),
        (1.0, "must be an integer, got float"),
        (True, "got bool"),
        (None, "got null"),
    ],
)
def test_parse_version_says_what_is_wrong(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_version(value)


@pytest.mark.parametrize("value", ["c", "user 42 / thread 7", "é" * 256, "conv#3"])
def test_parse_conversation(value: str) -> None:
    assert parse_conversation(value) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("", "must not be empty"),
        ("x" * 257, "at most 256 characters, got 257"),
        ("ab\tc", "character 3 is '\\t' (U+0009)"),
        ("a\x00", "U+0000"),
        (7, "must be a string, got int"),
    ],
)
def test_parse_conversation_says_what_is_wrong(value: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_conversation(value)
