"""Value types shared by every layer: the internal request, targets, and what adapters return.

The canonical internal request is the OpenAI Chat Completions body (a plain dict, parsed once):
OpenAI-dialect traffic passes through untranslated, and other dialects translate to and from it
at the edges (`seawall.server` for ingress, `seawall.providers` for targets).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import msgspec

from seawall.errors import RequestError, UpstreamError

JSONDict = dict[str, Any]


class Dialect(StrEnum):
    """A wire format spoken by a client or an upstream."""

    OPENAI = "openai"
    ANTHROPIC = "anthropic"
    GEMINI = "gemini"


class Priority(StrEnum):
    """Admission class of a request (`x-seawall-priority`)."""

    INTERACTIVE = "interactive"
    BATCH = "batch"


@dataclass(frozen=True, slots=True)
class ContextRef:
    """A request's conversation state and retrieval snapshot, as the client named them
    (docs/context.md): the conversation id, its state version, the snapshot's content hash."""

    conversation: str | None = None
    version: int | None = None
    snapshot: str | None = None


@dataclass(slots=True)
class ChatRequest:
    """One client request, in canonical (OpenAI Chat Completions) form.

    `body["model"]` is the client-facing model name; adapters substitute the target's model.
    """

    body: JSONDict
    model: str
    stream: bool = False
    ingress: Dialect = Dialect.OPENAI
    timeout_s: float | None = None
    stream_timeout_s: float | None = None
    """The client's deadline for a whole stream, first token to last (`x-seawall-timeout-ms`);
    `timeout_s` (which also reads the SDKs' read timeouts) bounds a stream only until its first token."""
    priority: Priority = Priority.INTERACTIVE
    hedge_safe: bool = False
    native_body: JSONDict | None = None
    """The client's body as sent, in the `ingress` dialect, when that is not OpenAI. An adapter
    whose dialect equals `ingress` sends it (model swapped) instead of translating `body` back."""
    native_headers: dict[str, str] = field(default_factory=dict)
    """Client headers a same-dialect upstream needs (e.g. `anthropic-beta`); never credentials."""
    untranslatable: RequestError | None = None
    """Why `body` is incomplete: the client used a feature the canonical form cannot carry (e.g.
    Anthropic extended thinking). Only a same-dialect target can serve the request; any other
    adapter raises this error (a 400 naming the parameter) instead of sending a partial request."""
    probe_target: str | None = None
    context: ContextRef | None = None
    """The conversation state and context snapshot the client named (`x-seawall-*` or `seawall`)."""
    no_cache: bool = False
    """The client's `cache-control: no-cache` (or `no-store`): not answered from the cache."""
    no_store: bool = False
    """The client's `cache-control: no-store`: the answer is not stored either."""
    """A canary probe of this one target (its key): never set from client input (docs/quality.md)."""

    @property
    def passthrough(self) -> bool:
        """True when the client's own body is available for an upstream of the ingress dialect."""
        return self.native_body is not None and self.ingress is not Dialect.OPENAI

    @property
    def include_usage(self) -> bool:
        opts = self.body.get("stream_options")
        return bool(isinstance(opts, dict) and opts.get("include_usage"))


@dataclass(frozen=True, slots=True)
class Target:
    """One place a model can be served: a provider and the upstream model name there.

    `tier` and `weight` order a model's targets: lower tiers are preferred (a target without a tier
    is in the tier of its position in the list), and targets sharing a tier are picked by weight."""

    provider: str
    model: str
    weight: float = 1.0
    tier: int | None = None

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"


@dataclass(frozen=True, slots=True)
class AttemptTimeouts:
    """Time limits for one attempt, in seconds (`None`: no limit of that kind; for `connect`: the
    provider's own `connect_timeout_s`)."""

    total: float | None = None
    connect: float | None = None
    first_token: float | None = None
    idle: float | None = None


@dataclass(slots=True)
class AttemptInfo:
    """What an adapter observed during one attempt; the engine copies it into the trace."""

    url: str = ""
    request_body: bytes = b""
    status: int | None = None
    response_model: str | None = None
    system_fingerprint: str | None = None
    service_tier: str | None = None
    """The service tier the provider says served the answer (OpenAI `service_tier`, Anthropic
    `usage.service_tier`): part of the model identity, with the model and the fingerprint."""
    usage: JSONDict | None = None
    ratelimit: dict[str, str] = field(default_factory=dict)
    response_body: bytes | None = None
    """The upstream's whole answer body as received (non-streamed answers, and error answers)."""
    head_at: float | None = None
    """Clock time (`Clock.now`) at which the answer's status line and headers arrived."""
    reads: list[tuple[float, bytes]] = field(default_factory=list)
    """A streamed answer's body, one entry per transport read: (clock time it arrived, its bytes).
    Kept for every streamed attempt, failed ones included, so a trace holds what the upstream sent."""
    body_end: str | None = None
    """`eof` when the body was read to its end, `<Failure>: <message>` when the transport failed,
    None when the reader stopped first (terminal event, timeout, cancellation)."""


@dataclass(slots=True)
class Completion:
    """A whole (non-streamed) answer in canonical form.

    `raw` is the upstream's exact bytes when they are already a valid OpenAI answer, so an
    OpenAI-dialect client gets them unchanged (no re-serialisation on the hot path).
    """

    body: JSONDict
    raw: bytes | None = None
    native: bytes | None = None
    """The upstream's exact answer in its own (non-OpenAI) dialect, set only when the request came
    in that same dialect (`ChatRequest.passthrough`): the server then sends these bytes as they are."""


@dataclass(slots=True)
class Chunk:
    """One streamed event in canonical form (an OpenAI `chat.completion.chunk`).

    `raw` is the upstream's exact JSON bytes when they are already OpenAI-shaped.
    `content` is true when the chunk carries something the client must see (text, tool-call
    pieces, a refusal, a finish reason or usage): the first such chunk is the commit point,
    after which an attempt can no longer be retried or fall back.

    `native` (pass-through only, see `ChatRequest.passthrough`) is the upstream's exact SSE event
    bytes in its own dialect, which the server relays unchanged. One upstream event becomes one
    chunk carrying its bytes, plus `native=b""` chunks when the event decodes to several canonical
    chunks. An event with no canonical meaning (ping, block stop, thinking) is a carrier chunk with
    `data == {}`; its `content` is true when the client sees something new (e.g. a thinking delta).

    `more` is true when further chunks decoded from the same upstream read follow at once: a relay
    may hold this one and send them together (one write instead of one per event). The last chunk
    of a read always has `more == False`, so nothing is ever held waiting for the network. (Relays
    send a stream's first content at once all the same: time to first token comes first.)
    """

    data: JSONDict
    raw: bytes | None = None
    content: bool = True
    native: bytes | None = None
    more: bool = False


class AttemptOutcome(msgspec.Struct, frozen=True):
    """How one upstream attempt ended: the one value every attempt observer receives.

    Emitted once per attempt that reached its adapter, when it ends: a non-streamed attempt when
    its answer (or error) is in, a streamed one that failed before its first content then, and a
    committed stream when the stream ends (`committed=True`; `error` is what cut it, if anything).
    An attempt abandoned without a verdict (the client left, a hedge lost, the adapter could not
    express the request) has no outcome. Times are readings of the engine's `Clock.now`.
    (A frozen msgspec struct rather than a dataclass: built once per attempt, ten times faster.)
    """

    target: Target
    kind: Dialect
    """The wire dialect the attempt spoke (its provider's)."""
    started: float
    ended: float
    info: AttemptInfo
    error: UpstreamError | None = None
    ttft_s: float | None = None
    """Streams: time from the attempt's start to its first content (the commit point)."""
    backoff_s: float = 0.0
    committed: bool = False
    retry: bool = False
    hedge: bool = False

    @property
    def duration_s(self) -> float:
        return self.ended - self.started

    @property
    def ok(self) -> bool:
        return self.error is None
