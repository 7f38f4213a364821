"""The trace schema: frozen, typed records of one request, and the closed set of event types.

A finished request is one `TraceRecord`: the client request, the route, every `Attempt` (with the
upstream bytes it exchanged), every `Event` the engine decided on, and the response as the client
saw it. Records carry `schema_version`; `seawall.trace._codec` owns their JSON form (and reads the
older, untyped version 1 records). Offsets (`*_ms`) are milliseconds since the request arrived.

In memory a record holds text, never references: `Pointer` (`{"$ref": ...}` within a record,
`{"$blob": sha256}` to a stored body) appears only in the encoded form, written and resolved by the
codec, so every reader and observer sees whole bodies.

This module must not do I/O or read a clock: it only defines shapes.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

SCHEMA_VERSION = 2

JSONObject = dict[str, Any]


class Pointer(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """A body written elsewhere: `{"$ref": "request.body"}` (the same text earlier in this
    record) or `{"$blob": "<sha256>"}` (a body stored once by content hash). Encoded form only."""

    ref: str | None = msgspec.field(default=None, name="$ref")
    blob: str | None = msgspec.field(default=None, name="$blob")


Text = str | Pointer | None
"""A body: text in memory; possibly a `Pointer` in the encoded form."""


class ErrorInfo(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """The error a client was given (or a stream ended with)."""

    type: str
    message: str
    status: int
    code: str | None = None
    error_class: str | None = msgspec.field(default=None, name="class")


class Route(msgspec.Struct, frozen=True, gc=False):
    """How the request was to be served: targets in the order this request tried them."""

    model: str
    targets: tuple[str, ...]
    deadline_ms: float
    max_attempts: int
    priority: str


class RequestPart(msgspec.Struct, frozen=True, gc=False):
    """What the client sent: an allow-list of headers (never credentials) and the body."""

    headers: dict[str, str]
    body: Text = None


class ResponsePart(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """What the client got, byte for byte: `body` is every byte of the response body it was sent
    (a JSON answer, an error body, or a whole SSE stream). For a stream, `writes` gives each write's
    offset and size (`[offset_ms, bytes]`, in order; their sizes add up to the body's UTF-8 length)
    and `terminal` how it ended: `done`, `error` or `client_disconnect`. With
    `traces.record_chunks: false` a stream's body and writes are left out."""

    body: Text = None
    writes: tuple[tuple[float, int], ...] | None = None
    terminal: str | None = None


class Attempt(msgspec.Struct, frozen=True, gc=False):
    """One upstream attempt, as it ended (a committed stream: when the stream ended).

    `request_body` is what was sent upstream; `response_body` the upstream's answer body as
    received: the whole body, or for a streamed attempt every transport read joined (failed and
    cut streams included), with each read's offset and size in `reads` (`[offset_ms, bytes]`).
    `head_ms` is when the status line and headers arrived."""

    index: int
    provider: str
    model: str
    kind: str
    url: str
    started_ms: float
    latency_ms: float
    ttft_ms: float | None = None
    backoff_ms: float = 0.0
    status: int | None = None
    error_class: str | None = None
    error: str | None = None
    retry_after_s: float | None = None
    usage: JSONObject | None = None
    response_model: str | None = None
    system_fingerprint: str | None = None
    ratelimit: dict[str, str] | None = None
    committed: bool = False
    retry: bool = False
    hedge: bool = False
    head_ms: float | None = None
    request_body: Text = None
    response_body: Text = None
    reads: tuple[tuple[float, int], ...] | None = None
    body_end: str | None = None
    """How the upstream's body ended: `eof` (read to its end), `<Failure>: <message>` (the transport
    failed: `Disconnected`, `ProtocolError`, `ConnectError`, `OSError`, `TimeoutError`), or None (the
    reader stopped first: a stream's terminal event, a timeout, a cancellation)."""
    service_tier: str | None = None
    """The service tier that served the answer, as the provider reported it (model identity)."""


# -- events: the closed set of what the engine decides and observes ----------------------------------
SkipCode = Literal[
    "blocked",  # rate limited by the target (its Retry-After)
    "breaker",  # circuit open
    "throttled",  # rejected locally by the adaptive throttle
    "saturated",  # at its concurrency limit
    "health",  # excluded by its health (quality)
    "retry_after",  # asked to wait longer than retry.max_retry_after_s
    "no_time",  # no time left before the deadline
    "retry_cap",  # too many concurrent retries
    "budget",  # retry budget exhausted
    "refused",  # its adapter cannot express this request
]


class Event(msgspec.Struct, frozen=True, kw_only=True, tag_field="type", gc=False):
    """Base of every event; `t_ms` is its offset from the request's arrival."""

    t_ms: float

    @property
    def type(self) -> str:
        """The event's type, as its JSON form tags it (`"skip"`, `"breaker"`...)."""
        return str(self.__struct_config__.tag)


class Queued(Event, tag="queued", frozen=True, kw_only=True, gc=False):
    """The request waited for admission."""

    priority: str
    queued: int


class Admitted(Event, tag="admitted", frozen=True, kw_only=True, gc=False):
    """A queued request was admitted after `waited_ms`."""

    waited_ms: float


class Shed(Event, tag="shed", frozen=True, kw_only=True, gc=False):
    """Admission control refused the request."""

    priority: str
    retry_after_s: float | None


class Skipped(Event, tag="skip", frozen=True, kw_only=True, gc=False):
    """A target was passed over without an attempt, and why."""

    target: str
    reason: str
    code: SkipCode


class Backoff(Event, tag="backoff", frozen=True, kw_only=True, gc=False):
    """The engine slept before retrying a target."""

    target: str
    delay_ms: float


class Hedged(Event, tag="hedge", frozen=True, kw_only=True, gc=False):
    """A second copy of a slow request was sent."""

    target: str
    after_ms: float


class Demoted(Event, tag="demoted", frozen=True, kw_only=True, gc=False):
    """A target was moved behind the healthy ones for this request (its health said so)."""

    target: str
    reason: str


class AttemptCancelled(Event, tag="attempt_cancelled", frozen=True, kw_only=True, gc=False):
    """An attempt was abandoned (the client left, or a hedge lost)."""

    target: str


class BreakerChanged(Event, tag="breaker", frozen=True, kw_only=True, gc=False):
    """A target's circuit breaker changed state (noted when attempt `attempt` ended)."""

    target: str
    old: str
    new: str
    reason: str
    attempt: int | None = None


class Gated(Event, tag="gate", frozen=True, omit_defaults=True, gc=False):
    """One resilience decision about a target, with what it consulted.

    The gate: `result` is `ok`, `blocked`, `breaker`, `throttled` or `saturated`; `wait_ms` how long
    until a closed gate clears (0: unknown); the breaker's state, the concurrency limiter's calls in
    flight and limit (None: unlimited), the throttle's reject probability and, for a retry or
    hedge (which the retry budget must fund), the budget's balance at that moment (None for a
    first attempt, which consults no budget). After an open gate, the clearance: `go` (may the
    attempt start), after what backoff (`delay_ms`, its jitter drawn), or why not (`code`,
    `reason`; `out_of_time` when it means the deadline). `go` is None when the gate was closed.

    Positional in this order, `t_ms` first (the engine builds one per target it considers, and
    keywords cost several times more); the JSON form is the same either way."""

    t_ms: float  # declared again to make it positional (the base's is keyword-only)
    target: str
    result: str
    wait_ms: float
    breaker: str
    inflight: int
    limit: int | None
    reject_p: float
    budget: float | None = None
    go: bool | None = None
    delay_ms: float = 0.0
    code: str | None = None
    reason: str | None = None
    out_of_time: bool = False


class HedgeDelay(Event, tag="hedge_delay", frozen=True, kw_only=True, gc=False):
    """A hedge-safe request asked when to hedge an attempt at `target` (None: not at all)."""

    target: str
    delay_ms: float | None


class StreamFailed(Event, tag="stream_failed_after_commit", frozen=True, kw_only=True, gc=False):
    """A committed stream failed: the client got a terminal error event."""

    error_class: str
    message: str


class ClientDisconnected(Event, tag="client_disconnect", frozen=True, kw_only=True, gc=False):
    """The client went away before the response was complete."""


AnyEvent = (
    Queued
    | Admitted
    | Shed
    | Skipped
    | Backoff
    | Hedged
    | HedgeDelay
    | Gated
    | Demoted
    | AttemptCancelled
    | BreakerChanged
    | StreamFailed
    | ClientDisconnected
)


class Capture(msgspec.Struct, frozen=True, gc=False, array_like=True):
    """What one execution read from outside, in order, so replay can hand it back: every reading of
    the monotonic clock (`now`) and of the wall clock (`wall`) by the engine, the trace and the
    adapters, and every random draw of the engine (`draws`). The resilience state's own readings
    and draws are not here: its answers are recorded as `gate` events instead."""

    now: tuple[float, ...] = ()
    wall: tuple[float, ...] = ()
    draws: tuple[float, ...] = ()


class ProbeNote(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """A canary probe (not client traffic): which probe of which suite asked which target, and its
    verdict (`passed` None: no verdict, the attempt failed or timed out)."""

    suite: str
    probe: str
    target: str
    passed: bool | None = None
    detail: str = ""
    battery: str | None = None
    """Set when the probe belongs to a battery: why the battery runs (e.g. a model-identity change)."""


class QualityEvent(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """What quality detection concluded while this request was finished: a target's quality state
    moved (`kind` `transition`: `old` → `new`, with the detector and `reason`), a battery decided
    (`battery`), or a target answered with a model identity not seen recently (`identity`: `old` →
    `new` as `model, fingerprint ..., tier ...`)."""

    kind: str
    target: str
    new: str
    old: str | None = None
    reason: str = ""
    detector: str | None = None


class QualityNote(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """Quality detection's part of a record: the probe it was, and what was concluded."""

    probe: ProbeNote | None = None
    events: tuple[QualityEvent, ...] = ()


class ContextNote(msgspec.Struct, frozen=True, omit_defaults=True, gc=False):
    """The request's context and cache decision (docs/context.md, docs/cache.md): the conversation
    state and snapshot it named, what binding them concluded (`bound`, `same`, `conflict`,
    `stale`, with the snapshot already bound or the newest version seen), and the cache's decision
    (`hit`, `miss`, `bypass`, `uncacheable`) with the parts of its key — never another request's body."""

    conversation: str | None = None
    version: int | None = None
    snapshot: str | None = None
    binding: str | None = None
    bound_snapshot: str | None = None
    newest_version: int | None = None
    cache: str | None = None
    cache_reason: str | None = None
    cache_key: str | None = None
    cache_parts: dict[str, str | None] | None = None
    cache_stored: bool = False


class TraceRecord(msgspec.Struct, frozen=True, gc=False):
    """Everything recorded about one request. (Fields without a default come first, so the
    collector can build it positionally on the hot path; `schema_version` closes the record.)"""

    id: str
    ts: float
    """Wall-clock time the request arrived (seconds since the epoch)."""
    model: str
    ingress: str
    stream: bool
    status: int
    duration_ms: float
    request: RequestPart
    ttft_ms: float | None = None
    answered_by: str | None = None
    error: ErrorInfo | None = None
    usage: JSONObject | None = None
    route: Route | None = None
    attempts: tuple[Attempt, ...] = ()
    events: tuple[AnyEvent, ...] = ()
    response: ResponsePart = ResponsePart()
    config_hash: str | None = None
    """SHA-256 of the effective config (secrets redacted) the request ran under; the config itself
    is stored once per hash (as a blob)."""
    capture: Capture | None = None
    quality: QualityNote | None = None
    """Canary probes and quality conclusions (docs/quality.md); None for ordinary traffic."""
    context: ContextNote | None = None
    """Conversation state, context snapshot and cache decision; None when none applied."""
    schema_version: int = SCHEMA_VERSION


class TraceSummary(msgspec.Struct, frozen=True, gc=False):
    """One row of a trace listing (what stores index)."""

    id: str
    ts: float
    model: str | None
    status: int | None
    stream: bool
    duration_ms: float | None
    attempts: int
    answered_by: str | None
    error_class: str | None
    conversation_id: str | None = None
    """The client's `x-seawall-conversation-id` (None for traces stored before it was indexed)."""


class StoredTrace(msgspec.Struct, frozen=True, gc=False):
    """What a store receives: the summary to index, the record's JSON (large bodies replaced by
    `$blob` pointers) and those bodies by SHA-256, and the hash of the config it ran under (a blob
    the store keeps while a trace names it). What else a store indexes to find it (targets, error
    classes, text: `seawall.trace._text`) it computes later from the stored record, off the
    writer's path. Every store gets the same parts."""

    summary: TraceSummary
    data: bytes
    blobs: dict[str, bytes]
    config_hash: str | None = None


__all__ = [
    "SCHEMA_VERSION",
    "Admitted",
    "AnyEvent",
    "Attempt",
    "AttemptCancelled",
    "Backoff",
    "BreakerChanged",
    "Capture",
    "ClientDisconnected",
    "ContextNote",
    "Demoted",
    "ErrorInfo",
    "Event",
    "Gated",
    "HedgeDelay",
    "Hedged",
    "Pointer",
    "ProbeNote",
    "QualityEvent",
    "QualityNote",
    "Queued",
    "RequestPart",
    "ResponsePart",
    "Route",
    "Shed",
    "SkipCode",
    "Skipped",
    "StoredTrace",
    "StreamFailed",
    "Text",
    "TraceRecord",
    "TraceSummary",
]
