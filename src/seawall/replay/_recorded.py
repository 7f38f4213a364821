"""Stand-ins that hand a recorded execution's inputs back to the engine, in order.

Replay re-runs the real gateway (lifecycle, dialects, engine, adapters) but swaps every source of
nondeterminism for one of these, built from a `TraceRecord`:

- `ReplayClock`: the engine's, the trace's and the adapters' clock readings (`capture.now`,
  `capture.wall`), exactly; each reading also moves the virtual loop's time forward to it.
- `ReplayRandom`: the engine's random draws (`capture.draws`).
- `ReplayIds`: the recorded trace id.
- `ReplayState`: the resilience state's answers (`gate` and `hedge_delay` events,
  admission, breaker transitions) instead of a state that would need the whole history.
- `RecordedUpstream`: each provider's `Transport`; answers each upstream call with the recorded
  attempt (status, the headers the adapters read, the body read by read at its recorded moment,
  and how the body ended), and notes a request body that differs from the recorded one.

What the recording lacks (a what-if config tries another target, asks more questions, reads the
clock more often) is answered by a declared stand-in and noted in `notes`, so a replay never
fails silently. Must not: do real I/O.
"""

from __future__ import annotations

import asyncio
import builtins
import random
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Mapping
from typing import Any, cast

from seawall._types import AttemptOutcome, Priority, Target
from seawall.config import TargetPolicies
from seawall.engine import Clearance, Gate
from seawall.errors import DeadlineExceeded, Overloaded, UpstreamError
from seawall.providers import ConnectError, Disconnected, ProtocolError, TransportError, UpstreamRequest
from seawall.replay._virtual import VirtualTime
from seawall.resilience import BreakerState, BreakerTransition, Deadline, Permit, TransitionReason
from seawall.trace._schema import (
    Admitted,
    Attempt,
    AttemptCancelled,
    BreakerChanged,
    Gated,
    HedgeDelay,
    Queued,
    Shed,
    TraceRecord,
)

STAND_IN_BODY = (
    b'{"error":{"message":"replay stand-in: the recording has no answer for this call",'
    b'"type":"server_error"}}'
)
_FAILURES: dict[str, type[BaseException]] = {
    "ConnectError": ConnectError,
    "Disconnected": Disconnected,
    "ProtocolError": ProtocolError,
    "TransportError": TransportError,
    "TimeoutError": TimeoutError,
}


def first_difference(expected: bytes, got: bytes) -> int:
    """The index of the first byte where `got` differs from `expected` (or where one ends)."""
    for i, (a, b) in enumerate(zip(expected, got, strict=False)):
        if a != b:
            return i
    return min(len(expected), len(got))


def failure_from(body_end: str) -> BaseException | None:
    """The transport failure a recorded `body_end` names (`Type: message`), or None for `eof`."""
    if body_end == "eof":
        return None
    name, _, message = body_end.partition(": ")
    cls = _FAILURES.get(name)
    if cls is None:
        found = getattr(builtins, name, None)
        cls = found if isinstance(found, type) and issubclass(found, OSError) else OSError
    return cls(message) if message else cls()


async def _hang() -> None:
    """Wait until cancelled: the recorded execution stopped waiting here (a timeout fired, the
    client left, a hedge won)."""
    await asyncio.Event().wait()


class ReplayClock:
    """The recorded clock readings, in order (see the module docstring). Readings beyond the
    recording come from the virtual loop's time and are counted in `extra`."""

    __slots__ = ("_now", "_time", "_wall", "_wall_base", "extra", "served")

    def __init__(self, record: TraceRecord, time: VirtualTime) -> None:
        capture = record.capture
        self._now = deque(capture.now if capture else ())
        self._wall = deque(capture.wall if capture else ())
        self._time = time
        self._wall_base = record.ts - time.now
        self.extra = 0
        self.served = 0

    def now(self) -> float:
        if self._now:
            value = self._now.popleft()
            self._time.advance_to(value)
            self.served += 1
            return value
        self.extra += 1
        return self._time.now

    def wall(self) -> float:
        if self._wall:
            return self._wall.popleft()
        return self._wall_base + self._time.now

    @property
    def left(self) -> int:
        """Recorded readings nobody asked for."""
        return len(self._now)


class ReplayRandom(random.Random):
    """The recorded draws of `random()`, in order; past them, a seeded generator (`extra` counts)."""

    def __init__(self, draws: tuple[float, ...]) -> None:
        super().__init__(0)
        self._draws = deque(draws)
        self.extra = 0

    def random(self) -> float:
        if self._draws:
            return self._draws.popleft()
        self.extra += 1
        return super().random()


class ReplayIds:
    """The recorded trace id."""

    def __init__(self, trace_id: str) -> None:
        self._id = trace_id

    def trace_id(self) -> str:
        return self._id


class _Handle:
    __slots__ = ("target",)

    def __init__(self, target: Target) -> None:
        self.target = target


class ReplayState:
    """The resilience state's recorded answers, per target and in order (the `Resilience` the
    engine asks). A question the recording has no answer for gets the permissive default (gate
    "ok", go without backoff, no hedge) and is noted."""

    def __init__(self, record: TraceRecord) -> None:
        self._record = record
        self._gates: dict[str, deque[Gated]] = defaultdict(deque)
        self._current: dict[str, Gated | None] = {}
        self._hedges: dict[str, deque[HedgeDelay]] = defaultdict(deque)
        self._transitions: dict[int, list[BreakerChanged]] = defaultdict(list)
        self._queued = self._admitted = self._shed = None
        for event in record.events:
            if isinstance(event, Gated):
                self._gates[event.target].append(event)
            elif isinstance(event, HedgeDelay):
                self._hedges[event.target].append(event)
            elif isinstance(event, BreakerChanged) and event.attempt is not None:
                self._transitions[event.attempt].append(event)
            elif isinstance(event, Queued):
                self._queued = event
            elif isinstance(event, Admitted):
                self._admitted = event
            elif isinstance(event, Shed):
                self._shed = event
        self._handles: dict[str, _Handle] = {}
        self._log: list[BreakerTransition] = []
        self._outcomes = 0
        self.transition_seq = 0
        self.notes: list[str] = []

    # -- setup, admission ------------------------------------------------------------------------
    def register(self, target: Target, policies: TargetPolicies) -> _Handle:
        return self._handles.setdefault(target.key, _Handle(target))

    def target(self, key: str) -> _Handle:
        return self._handles[key]

    def try_admit(self, priority: Priority) -> Permit | None:
        return None if self._queued is not None else Permit(priority, 0.0)

    async def admit(self, priority: Priority, *, deadline: Deadline) -> Permit:
        error = self._record.error
        if self._shed is not None:
            message = error.message if error is not None else "Seawall is overloaded (replayed)"
            retry_after = self._shed.retry_after_s if self._shed.retry_after_s is not None else 1.0
            raise Overloaded(message, retry_after_s=retry_after, status=error.status if error else 503)
        if self._admitted is None:
            raise DeadlineExceeded(error.message if error else "the request's deadline passed while queued")
        await asyncio.sleep(self._admitted.waited_ms / 1000.0)
        return Permit(priority, 0.0)

    @property
    def queued(self) -> int:
        return self._queued.queued if self._queued is not None else 0

    def release(self, permit: Permit) -> None:
        return None

    def next_queue_expiry(self) -> float | None:
        return None

    def expire_queue(self) -> None:
        return None

    # -- before an attempt -----------------------------------------------------------------------
    def gate(self, state: _Handle) -> Gate:
        key = state.target.key
        queue = self._gates.get(key)
        recorded = queue.popleft() if queue else None
        self._current[key] = recorded
        if recorded is None:
            self.notes.append(f"gate of {key}: not in the recording, taken as open")
            return "ok"
        return cast(Gate, recorded.result)

    def gate_wait(self, state: _Handle, gate: Gate) -> float:
        recorded = self._current.get(state.target.key)
        return 0.0 if recorded is None else recorded.wait_ms / 1000.0

    def consulted(self, state: _Handle, *, retry: bool) -> tuple[str, int, int | None, float, float | None]:
        g = self._current.get(state.target.key)
        if g is None:
            return ("closed", 0, None, 0.0, 0.0 if retry else None)
        return (g.breaker, g.inflight, g.limit, g.reject_p, g.budget)

    def abandon(self, state: _Handle) -> None:
        return None

    def clearance(
        self,
        state: _Handle,
        *,
        tried: int,
        hedge: bool,
        fallback: bool,
        remaining_s: float,
        last_error: UpstreamError | None,
    ) -> Clearance:
        g = self._current.get(state.target.key)
        if g is None or g.go is None:
            return Clearance(True)
        return Clearance(g.go, g.delay_ms / 1000.0, g.code, g.reason, g.out_of_time)  # type: ignore[arg-type]

    def release_retry(self) -> None:
        return None

    def hedge_delay(self, state: _Handle) -> float | None:
        queue = self._hedges.get(state.target.key)
        if not queue:
            return None
        delay = queue.popleft().delay_ms
        return None if delay is None else delay / 1000.0

    # -- after an attempt ------------------------------------------------------------------------
    def commit(self, state: _Handle, *, ttft_s: float) -> None:
        return None

    def attempt_ended(self, outcome: AttemptOutcome) -> None:
        for event in self._transitions.get(self._outcomes, ()):
            reason = cast(TransitionReason, event.reason)
            self._log.append(
                BreakerTransition(event.target, BreakerState(event.old), BreakerState(event.new), reason, 0.0)
            )
            self.transition_seq += 1
        self._outcomes += 1

    def transitions_since(self, seq: int) -> list[BreakerTransition]:
        new = self.transition_seq - seq
        return self._log[-new:] if new > 0 else []

    # -- lifecycle and views ---------------------------------------------------------------------
    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    def snapshot(self) -> list[dict[str, Any]]:
        return []

    def admission_view(self) -> dict[str, Any]:
        return {"retries_in_flight": 0}

    def recent_transitions(self, n: int) -> list[dict[str, Any]]:
        return []

    def unanswered(self) -> list[str]:
        """Recorded answers nobody asked for (a replay that asked fewer questions)."""
        return [f"gate of {k} ({len(q)} left)" for k, q in self._gates.items() if q]


class _RecordedResponse:
    """One recorded upstream answer, handed back at its recorded moments."""

    def __init__(self, attempt: Attempt, upstream: RecordedUpstream) -> None:
        self._attempt = attempt
        self._upstream = upstream
        self.status = attempt.status or 0
        self.headers: Mapping[str, str] = attempt.ratelimit or {}

    async def read(self) -> bytes:
        attempt = self._attempt
        await self._upstream.until(attempt.started_ms + attempt.latency_ms)
        failure = failure_from(attempt.body_end) if attempt.body_end else None
        if failure is not None:
            raise failure
        if attempt.response_body is None or attempt.body_end is None:
            await _hang()  # the recorded attempt never got its whole body
        return _bytes(attempt.response_body)

    async def iter_chunks(self, idle_timeout: float | None = None) -> AsyncIterator[bytes]:
        attempt = self._attempt
        body = _bytes(attempt.response_body)
        start = 0
        for offset, size in attempt.reads or ():
            await self._upstream.until(offset)
            piece = body[start : start + size]
            start += size
            yield piece
        if attempt.body_end == "eof":
            return
        failure = failure_from(attempt.body_end) if attempt.body_end else None
        if failure is not None:
            raise failure
        await _hang()  # the reader stopped waiting in the recording (or read to the terminal event)

    def release(self) -> None:
        return None


def _bytes(text: str | Any) -> bytes:
    return text.encode("utf-8", "surrogatepass") if isinstance(text, str) else b""


class _ProviderTransport:
    def __init__(self, upstream: RecordedUpstream, provider: str) -> None:
        self._upstream = upstream
        self._provider = provider

    async def send(self, request: UpstreamRequest) -> Any:
        return await self._upstream.answer(self._provider, request)

    async def aclose(self) -> None:
        return None


class RecordedUpstream:
    """Every provider's replaying `Transport` (`transport_for(provider config)`), answering from the
    recorded attempts in the order they started. `stand_in` answers calls the recording lacks:
    `"error"` (a 503 with a server_error body) or `"hang"` (no answer until cancelled)."""

    def __init__(self, record: TraceRecord, time: VirtualTime, t0: float, *, stand_in: str = "error") -> None:
        self._pending = sorted(record.attempts, key=lambda a: a.started_ms)
        self._cancelled: dict[str, int] = defaultdict(int)
        for event in record.events:
            if isinstance(event, AttemptCancelled):
                self._cancelled[event.target.partition("/")[0]] += 1
        self._time = time
        self._t0 = t0
        self._stand_in = stand_in
        self.mismatches: list[str] = []
        self.notes: list[str] = []

    def transport_for(self, provider: Any) -> _ProviderTransport:
        return _ProviderTransport(self, provider.name)

    async def until(self, offset_ms: float) -> None:
        """Wait (virtually) until `offset_ms` after the request arrived."""
        delay = self._t0 + offset_ms / 1000.0 - self._time.now
        if delay > 0:
            await asyncio.sleep(delay)

    async def answer(self, provider: str, request: UpstreamRequest) -> _RecordedResponse:
        attempt = next((a for a in self._pending if a.provider == provider), None)
        if attempt is None:
            if self._cancelled.get(provider):
                self._cancelled[provider] -= 1
                await _hang()  # cancelled in the recording before it answered (a lost hedge)
            self.notes.append(
                f"{provider}: a call the recording lacks, answered by the stand-in ({self._stand_in})"
            )
            if self._stand_in == "hang":
                await _hang()
            return _RecordedResponse(
                Attempt(
                    index=-1,
                    provider=provider,
                    model="",
                    kind="",
                    url=request.url,
                    started_ms=0.0,
                    latency_ms=0.0,
                    status=503,
                    response_body=STAND_IN_BODY.decode(),
                    body_end="eof",
                ),
                self,
            )
        self._pending.remove(attempt)
        expected = _bytes(attempt.request_body)
        if attempt.request_body is not None and request.body != expected:
            at = first_difference(expected, request.body)
            where = f"attempt {attempt.index} ({attempt.provider}/{attempt.model})"
            self.mismatches.append(
                f"{where}: the request sent upstream differs at byte {at}: "
                f"expected {expected[at : at + 40]!r}, got {request.body[at : at + 40]!r}"
            )
        if attempt.head_ms is None:  # no answer ever came: a failure to connect, a timeout, a cancel
            failure = failure_from(attempt.body_end) if attempt.body_end else None
            if failure is None:
                await _hang()
            await self.until(attempt.started_ms + attempt.latency_ms)
            raise failure  # type: ignore[misc]
        await self.until(attempt.head_ms)
        return _RecordedResponse(attempt, self)

    def unused(self) -> list[str]:
        return [f"attempt {a.index} ({a.provider}/{a.model})" for a in self._pending]


__all__ = [
    "RecordedUpstream",
    "ReplayClock",
    "ReplayIds",
    "ReplayRandom",
    "ReplayState",
    "failure_from",
    "first_difference",
]
