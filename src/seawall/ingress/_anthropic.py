"""The Anthropic Messages dialect at Seawall's ingress (`POST /v1/messages`), routed to any target.

The client's body is validated and translated once (`canonical_from_anthropic_request`) so the
engine can route it anywhere, and it also rides along untouched (`ChatRequest.native_body`): an
Anthropic target sends it as is (pass-through) and its answer comes back as the upstream's own
bytes (`Completion.native`, `Chunk.native`). Any other target's canonical answer is encoded into
Anthropic's shapes (`anthropic_response_from_canonical`, `AnthropicStreamEncoder`).

A feature the canonical form cannot carry (extended thinking, server tools, a top-level field
Seawall does not know) does not fail the request here: only an Anthropic target can serve it,
so the request carries the reason (`ChatRequest.untranslatable`) and any other target answers
with that 400, naming the parameter. Nothing is dropped silently.

Every response on this route, errors included, is Anthropic-shaped
(`{"type": "error", "error": {"type", "message"}}` with the matching status). After the stream's
commit point a failure is a terminal `event: error`.

Must not: decide routing (the engine does), or record credentials (`x-api-key` is never kept).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import orjson

from seawall._types import ChatRequest, Chunk, Completion, Dialect, JSONDict
from seawall.errors import (
    ErrorClass,
    InvalidRequest,
    Overloaded,
    RequestError,
    SeawallError,
    UnsupportedFeature,
    UpstreamError,
    UpstreamRejected,
)
from seawall.ingress._anthropic_translate import (
    KNOWN_FIELDS,
    AnthropicStreamEncoder,
    anthropic_error_body,
    anthropic_error_type,
    anthropic_response_from_canonical,
    canonical_from_anthropic_request,
    with_stream,
)
from seawall.ingress._controls import apply_controls
from seawall.providers._wire_common import expect_int, expect_list, expect_str

_REQUIRED = frozenset({"model", "max_tokens", "messages"})
_FORWARDED_HEADERS = ("anthropic-beta",)
_BY_CLASS = {
    ErrorClass.OVERLOADED: "overloaded_error",
    ErrorClass.RATE_LIMITED: "rate_limit_error",
    ErrorClass.TIMEOUT: "timeout_error",
}


def parse_anthropic_request(raw: bytes, headers: Mapping[str, str]) -> ChatRequest:
    """Validate an Anthropic Messages body and wrap it as a `ChatRequest` (canonical + native)."""
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    canonical, untranslatable = _canonical(body)
    request = ChatRequest(
        body=canonical,
        model=canonical["model"],
        stream=canonical.get("stream") is True,
        ingress=Dialect.ANTHROPIC,
        native_body=body,
        native_headers={k: headers[k] for k in _FORWARDED_HEADERS if headers.get(k)},
        untranslatable=untranslatable,
    )
    return apply_controls(request, headers)


def _canonical(body: JSONDict) -> tuple[JSONDict, RequestError | None]:
    """The canonical form of `body`, and why it is partial (if it is).

    A top-level field the canonical form cannot carry is set aside (the rest still translates);
    anything deeper (a server-tool block, say) leaves only the routing essentials."""
    deferred: RequestError | None = None
    unknown = [key for key in body if key not in KNOWN_FIELDS]
    if unknown:
        deferred = UnsupportedFeature(
            f"`{unknown[0]}` is not a field Seawall can translate; only Anthropic targets can serve it",
            param=unknown[0],
        )
    work = {k: v for k, v in body.items() if k not in unknown}
    for _ in range(len(KNOWN_FIELDS)):
        try:
            return canonical_from_anthropic_request(work), deferred
        except UnsupportedFeature as exc:
            deferred = deferred or exc
            if exc.param is None or exc.param not in work or exc.param in _REQUIRED:
                break
            del work[exc.param]
    return _essentials(work), deferred


def _essentials(body: JSONDict) -> JSONDict:
    """What routing needs from a body that did not translate whole (validated like the rest)."""
    for key in sorted(_REQUIRED):
        if body.get(key) is None:
            raise InvalidRequest(f"{key}: Field required", param=key)
    out: JSONDict = {
        "model": expect_str(body["model"], "model"),
        "messages": [],
        "max_tokens": expect_int(body["max_tokens"], "max_tokens", minimum=1),
    }
    expect_list(body["messages"], "messages")
    return with_stream(body, out)


def error_type(exc: SeawallError) -> str:
    """The Anthropic error `type` for a Seawall error (by failure class first, then status)."""
    if isinstance(exc, UpstreamError) and exc.error_class in _BY_CLASS:
        return _BY_CLASS[exc.error_class]
    if isinstance(exc, Overloaded):
        return "overloaded_error"
    return anthropic_error_type(exc.status)


def error_response(exc: SeawallError) -> tuple[int, bytes]:
    """Status and body of an error answer. An Anthropic upstream's own refusal of the request
    (a 4xx returned as is) keeps its exact body and status: the client sees what Anthropic said."""
    if isinstance(exc, UpstreamRejected) and exc.body and _is_anthropic_error(exc.body):
        status = (
            exc.upstream_status if exc.upstream_status and 400 <= exc.upstream_status < 500 else exc.status
        )
        return status, exc.body
    return exc.status, orjson.dumps(anthropic_error_body(error_type(exc), _message(exc)))


def _message(exc: SeawallError) -> str:
    """Anthropic errors have no `param` field: name it in the message, as Anthropic does."""
    if exc.param and not re.search(rf"(?<![\w.]){re.escape(exc.param)}(?![\w\[])", exc.message):
        return f"{exc.param}: {exc.message}"
    return exc.message


def error_event(exc: SeawallError) -> bytes:
    """The terminal `event: error` of a stream that failed after its commit point."""
    if isinstance(exc, UpstreamError) and exc.body and _is_anthropic_error(exc.body):
        payload = exc.body  # the upstream's own error event (e.g. overloaded_error), unchanged
    else:
        payload = orjson.dumps(anthropic_error_body(error_type(exc), _message(exc)))
    return b"event: error\ndata: " + payload + b"\n\n"


def _is_anthropic_error(body: bytes) -> bool:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return False
    error = data.get("error") if isinstance(data, dict) else None
    return (
        data.get("type") == "error"
        and isinstance(error, dict)
        and isinstance(error.get("type"), str)
        and isinstance(error.get("message"), str)
    )


def _frame(event: str, data: JSONDict) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps(data) + b"\n\n"


class AnthropicChunkEncoder:
    """One committed stream for an Anthropic client: the upstream's own events when passed through
    (`Chunk.native`), else canonical chunks encoded as Anthropic events."""

    __slots__ = ("_encoder", "_model", "usage")

    def __init__(self, model: str) -> None:
        self._model = model
        self._encoder: AnthropicStreamEncoder | None = None
        self.usage: JSONDict | None = None

    def encode(self, chunk: Chunk) -> bytes:
        data = chunk.data
        if "choices" in data and not data["choices"] and data.get("usage"):
            self.usage = data["usage"]
        if chunk.native is not None:
            return chunk.native
        if self._encoder is None:
            model = data.get("model")
            self._encoder = AnthropicStreamEncoder(
                model=model if isinstance(model, str) and model else self._model
            )
        return b"".join(_frame(event, body) for event, body in self._encoder.feed(data))

    def end(self) -> bytes:
        """What still closes the message (translated streams whose upstream sent no usage)."""
        if self._encoder is None:
            return b""
        return b"".join(_frame(event, body) for event, body in self._encoder.finish())


class AnthropicDialect:
    """Anthropic Messages, as the official `anthropic` SDKs speak it."""

    name = Dialect.ANTHROPIC

    def parse(self, raw: bytes, headers: Mapping[str, str]) -> ChatRequest:
        return parse_anthropic_request(raw, headers)

    def encode_answer(self, request: ChatRequest, completion: Completion) -> bytes:
        if completion.native is not None:
            return completion.native
        model = completion.body.get("model")
        message = anthropic_response_from_canonical(
            completion.body, model=model if isinstance(model, str) and model else request.model
        )
        return orjson.dumps(message)

    def stream_encoder(self, request: ChatRequest) -> AnthropicChunkEncoder:
        return AnthropicChunkEncoder(request.model)

    def error_response(self, exc: SeawallError) -> tuple[int, bytes]:
        return error_response(exc)

    def error_event(self, exc: SeawallError) -> bytes:
        return error_event(exc)


ANTHROPIC = AnthropicDialect()

__all__ = [
    "ANTHROPIC",
    "AnthropicChunkEncoder",
    "AnthropicDialect",
    "error_event",
    "error_response",
    "parse_anthropic_request",
]
