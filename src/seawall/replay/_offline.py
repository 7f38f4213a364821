"""Offline replay: re-run one recorded request through the real gateway, with no network, and say
whether it did exactly what the recording says — or where it first did not.

The gateway is rebuilt from the config the request ran under (or another one: a what-if), on a
virtual-time loop (`_virtual`), with every nondeterministic input handed back from the recording
(`_recorded`): clock readings, random draws, the resilience state's answers and the upstream's
bytes at their recorded moments. The client's recorded request goes through the same lifecycle,
dialect, engine and adapters; a client that left is made to leave at the same moment. Then the
replayed execution is compared with the recorded one, most visible first: the status and every
byte the client got, the decisions (events) in order, then the attempts (what was sent upstream).

Must not: touch the network, the real clock or the trace store it reads from.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

import msgspec

from seawall._context import ContextService
from seawall._exchange import Relay
from seawall._gateway import Gateway
from seawall._types import ChatRequest, Priority
from seawall.config import GatewayConfig
from seawall.context import UnknownSnapshot
from seawall.engine import TargetHealth
from seawall.errors import ContextConflict, SeawallError
from seawall.ingress import ANTHROPIC, OPENAI, IngressDialect
from seawall.replay._recorded import (
    RecordedUpstream,
    ReplayClock,
    ReplayIds,
    ReplayRandom,
    ReplayState,
    first_difference,
)
from seawall.replay._virtual import VirtualTime, run_virtual
from seawall.trace import Trace
from seawall.trace._schema import (
    AttemptCancelled,
    ClientDisconnected,
    ContextNote,
    Demoted,
    ErrorInfo,
    Skipped,
    TraceRecord,
)


class NotReplayable(ValueError):
    """The record describes no execution to re-run (e.g. a response-cache hit)."""


@dataclass
class ReplayResult:
    """What a replay found. `identical` when nothing differs; else `divergences` lists every
    difference found, the first being the first point where the execution went another way."""

    recorded: TraceRecord
    replayed: TraceRecord | None
    status: int
    body: bytes
    divergences: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return not self.divergences


class _Rejected(SeawallError):
    """A request rejected before its body was read (too large), restated from its record."""

    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.status = error.status
        self.type = error.type
        self.code = error.code


def replay(record: TraceRecord, config: GatewayConfig, *, stand_in: str = "error") -> ReplayResult:
    """Replay `record` under `config` in this thread (on its own virtual-time loop)."""
    note = record.context
    if note is not None and note.cache == "hit":
        stored_by = (note.cache_parts or {}).get("stored_by")
        raise NotReplayable(
            f"trace {record.id} was answered from the response cache (key {note.cache_key}, stored by "
            f"{stored_by}): no upstream execution ran, so there is nothing to re-run; the bytes the client "
            "got are in the trace (seawall traces show)"
        )
    capture = record.capture
    t0 = capture.now[0] if capture and capture.now else 0.0
    time = VirtualTime(t0)
    return run_virtual(_replay(record, config, time, t0, stand_in), time)


async def _replay(
    record: TraceRecord, config: GatewayConfig, time: VirtualTime, t0: float, stand_in: str
) -> ReplayResult:
    quiet = config.model_copy(update={"traces": config.traces.model_copy(update={"store": "none"})})
    clock = ReplayClock(record, time)
    state = ReplayState(record)
    upstream = RecordedUpstream(record, time, t0, stand_in=stand_in)
    gateway = Gateway(
        quiet,
        clock=clock,
        ids=ReplayIds(record.id),
        rng=ReplayRandom(record.capture.draws if record.capture else ()),
        transports=upstream.transport_for,
        state=state,
        source="(replay)",
        probing=False,
    )
    records: list[TraceRecord] = []
    status, body = 0, b""
    await gateway.start()
    assert gateway.engine is not None
    gateway.engine.record_decisions = True  # its trace is compared, though it is not stored
    gateway.engine.health = _recorded_health(record)  # what quality detection said then
    if gateway.context is not None:  # what the context check concluded then (no snapshot store here)
        gateway.context = RecordedContext(record, gateway.context)
    gateway.cache = None  # a miss re-runs the engine as recorded; a hit is not replayed (NotReplayable)
    try:
        status, body = await _run(gateway, record, records.append, time, t0)
    finally:
        await gateway.aclose()
    result = ReplayResult(record, records[0] if records else None, status, body)
    notes = result.notes
    if record.config_hash and gateway.config_hash != record.config_hash:
        notes.append(
            f"what-if: replayed under config {gateway.config_hash[:12] if gateway.config_hash else '?'}, "
            f"the request ran under {record.config_hash[:12]}"
        )
    if record.capture is None:
        notes.append(
            "this trace has no capture (recorded before replay capture, or with traces.capture off): "
            "times come from the recorded events only"
        )
    if clock.extra:
        notes.append(f"the replay read the clock {clock.extra} time(s) more than the recording")
    elif clock.left:
        notes.append(f"the replay read the clock {clock.left} time(s) less than the recording")
    notes += state.notes + upstream.notes
    result.divergences = _compare(record, result, upstream, state)
    if record.config_hash and gateway.config_hash != record.config_hash and result.replayed is not None:
        same = isinstance(record.response.body, str) and record.response.body.encode() == result.body
        notes.append(
            f"what-if outcome: status {result.status} (recorded {record.status}), "
            f"{len(result.replayed.attempts)} attempt(s) (recorded {len(record.attempts)}), "
            f"the client's bytes {'the same' if same else 'different'}"
        )
    return result


class RecordedContext(ContextService):
    """The context check as recorded: the same verdict (400 unknown snapshot, 409 conflict, or the
    binding noted in the trace), from the record instead of a snapshot store and bindings."""

    def __init__(self, record: TraceRecord, real: ContextService) -> None:
        self.__dict__.update(real.__dict__)
        self._recorded = record

    async def check(self, request: ChatRequest, trace: Trace) -> None:
        record = self._recorded
        note = record.context
        error = record.error
        if error is not None and error.code == "unknown_snapshot":
            raise UnknownSnapshot(error.message, param="x-seawall-context-snapshot")
        if note is not None and note.binding is not None:
            trace.context = msgspec.structs.replace(
                trace.context or ContextNote(note.conversation, note.version, note.snapshot),
                binding=note.binding,
                bound_snapshot=note.bound_snapshot,
                newest_version=note.newest_version,
            )
        if error is not None and error.status == 409 and note is not None and note.binding == "conflict":
            raise ContextConflict(error.message)


def _recorded_health(record: TraceRecord) -> dict[str, dict[str, TargetHealth]]:
    """The routing health the request saw, from its `demoted` and `skip` (code `health`) events."""
    seen: dict[str, TargetHealth] = {}
    for event in record.events:
        if isinstance(event, Demoted):
            seen[event.target] = TargetHealth("degraded", event.reason)
        elif isinstance(event, Skipped) and event.code == "health":
            seen[event.target] = TargetHealth("failing", event.reason)
    if not seen or record.route is None:
        return {}
    return {record.route.model: seen}


def _dialect(record: TraceRecord) -> IngressDialect:
    return ANTHROPIC if record.ingress == "anthropic" else OPENAI


async def _run(
    gateway: Gateway, record: TraceRecord, sink: Any, time: VirtualTime, t0: float
) -> tuple[int, bytes]:
    dialect = _dialect(record)
    headers = dict(record.request.headers)
    if record.request.body is None and record.error is not None:
        exchange = gateway.exchange(dialect, None, headers, error=_Rejected(record.error), record=sink)
    else:
        raw = (
            record.request.body.encode("utf-8", "surrogatepass")
            if isinstance(record.request.body, str)
            else b""
        )
        probe = record.quality.probe if record.quality is not None else None
        if probe is not None:  # a canary probe: its own route, as when it ran
            request = dialect.parse(raw, headers)
            request.probe_target = probe.target
            if record.route is not None:
                request.priority = Priority(record.route.priority)
            exchange = gateway.exchange(dialect, raw, headers, parse=lambda: request, record=sink)
        else:
            exchange = gateway.exchange(dialect, raw, headers, record=sink)
    if exchange.error is not None:
        reply = exchange.fail(exchange.error)
        return reply.status, reply.body
    leave_at = _client_left_at(record, t0)
    assert exchange.request is not None
    if not exchange.request.stream:
        task = asyncio.ensure_future(exchange.complete())
        _leave(task, leave_at)
        try:
            reply = await task
        except asyncio.CancelledError:
            return 499, b""
        return reply.status, reply.body
    opening = asyncio.ensure_future(exchange.open_stream())
    _leave(opening, leave_at)
    try:
        opened = await opening
    except asyncio.CancelledError:
        return 499, b""
    if not isinstance(opened, Relay):
        return opened.status, opened.body
    written: list[bytes] = []

    async def write(data: bytes) -> None:
        written.append(data)

    pumping = asyncio.ensure_future(opened.pump(write))
    _leave(pumping, leave_at)
    try:
        await pumping
    except asyncio.CancelledError:
        await opened.abandon()
        return 200, b"".join(written)
    final = await opened.close()
    return 200, b"".join(written) + final


def _client_left_at(record: TraceRecord, t0: float) -> float | None:
    """When the client went away (virtual time), if it did: at the first sign of it in the events
    (an attempt cancelled, or the disconnect itself)."""
    if record.status != 499 and record.response.terminal != "client_disconnect":
        return None
    moments = [e.t_ms for e in record.events if isinstance(e, AttemptCancelled | ClientDisconnected)]
    return t0 + min(moments) / 1000.0 if moments else None


def _leave(task: asyncio.Future[Any], at: float | None) -> None:
    if at is not None:
        loop = asyncio.get_running_loop()
        handle = loop.call_at(at, task.cancel)
        task.add_done_callback(lambda _t: handle.cancel())


# -- comparing -------------------------------------------------------------------------------------
def _compare(
    recorded: TraceRecord, result: ReplayResult, upstream: RecordedUpstream, state: ReplayState
) -> list[str]:
    out: list[str] = []
    replayed = result.replayed
    if result.status != recorded.status:
        out.append(f"status: expected {recorded.status}, got {result.status}")
    expected = recorded.response.body
    if isinstance(expected, str):
        out += _bytes_diff("response body", expected.encode("utf-8", "surrogatepass"), result.body)
    if replayed is None:
        out.append("the replay recorded no trace")
        return out
    writes_a = [size for _t, size in recorded.response.writes or ()]
    writes_b = [size for _t, size in replayed.response.writes or ()]
    if recorded.response.writes is not None and writes_a != writes_b and not out:
        out.append(f"stream writes (bytes each): expected {writes_a}, got {writes_b}")
    out += _events_diff(recorded, replayed)
    out += upstream.mismatches
    out += _attempts_diff(recorded, replayed)
    out += [f"recorded {what}: never used by the replay" for what in upstream.unused()]
    return out


def _bytes_diff(what: str, expected: bytes, got: bytes) -> list[str]:
    if expected == got:
        return []
    at = first_difference(expected, got)
    lo = max(0, at - 30)
    return [
        f"{what} differs at byte {at} (of {len(expected)} recorded, {len(got)} replayed): "
        f"expected {expected[lo : at + 40]!r}, got {got[lo : at + 40]!r}"
    ]


def _without_time(event: Any) -> dict[str, Any]:
    data: dict[str, Any] = msgspec.to_builtins(event)
    data.pop("t_ms", None)
    return data


def _events_diff(recorded: TraceRecord, replayed: TraceRecord) -> list[str]:
    out: list[str] = []
    for i, (a, b) in enumerate(zip(recorded.events, replayed.events, strict=False)):
        da, db = _without_time(a), _without_time(b)
        if da != db:
            keys = sorted(k for k in da.keys() | db.keys() if da.get(k) != db.get(k))
            detail = ", ".join(f"{k}: expected {da.get(k)!r}, got {db.get(k)!r}" for k in keys)
            out.append(f"decision {i} ({a.type} {getattr(a, 'target', '')}".rstrip() + f"): {detail}")
            return out  # later events follow from this one
        if a.t_ms != b.t_ms:
            out.append(f"decision {i} ({a.type}): at {b.t_ms} ms instead of {a.t_ms} ms")
            return out
    if len(recorded.events) != len(replayed.events):
        longer, what = (
            (recorded, "missing from the replay")
            if len(recorded.events) > len(replayed.events)
            else (replayed, "not in the recording")
        )
        extra = longer.events[min(len(recorded.events), len(replayed.events))]
        out.append(f"decision {min(len(recorded.events), len(replayed.events))} ({extra.type}): {what}")
    return out


_ATTEMPT_FIELDS = (
    "provider",
    "model",
    "kind",
    "status",
    "error_class",
    "error",
    "committed",
    "retry",
    "hedge",
)


def _attempts_diff(recorded: TraceRecord, replayed: TraceRecord) -> list[str]:
    out: list[str] = []
    if len(recorded.attempts) != len(replayed.attempts):
        out.append(f"attempts: {len(recorded.attempts)} recorded, {len(replayed.attempts)} replayed")
    for a, b in zip(recorded.attempts, replayed.attempts, strict=False):
        for name in _ATTEMPT_FIELDS:
            if getattr(a, name) != getattr(b, name):
                out.append(
                    f"attempt {a.index} {name}: expected {getattr(a, name)!r}, got {getattr(b, name)!r}"
                )
                return out
    return out


__all__ = ["ReplayResult", "replay"]
