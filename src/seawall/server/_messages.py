"""`POST /v1/messages`: the Anthropic Messages dialect at Seawall's ingress, to any target.

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
(`{"type": "error", "error": {"type", "message"}}` with the matching status) and carries
`x-seawall-trace-id`. After the stream's commit point a failure is a terminal `event: error`.

Must not: decide routing (the engine does), or record credentials (`x-api-key` is never kept).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import orjson

from seawall._types import ChatRequest, Dialect, JSONDict, Priority
from seawall.engine import StreamHandle
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
from seawall.providers._wire_common import expect_int, expect_list, expect_str
from seawall.resilience import parse_client_timeout, parse_stream_deadline
from seawall.server._anthropic_dialect import (
    KNOWN_FIELDS,
    AnthropicStreamEncoder,
    anthropic_error_body,
    anthropic_error_type,
    anthropic_response_from_canonical,
    canonical_from_anthropic_request,
)
from seawall.server._app import (
    _SSE_HEADERS,
    _TRACE_HEADERS,
    Receive,
    Scope,
    Send,
    _ClientGone,
    _DisconnectWatcher,
    _headers,
    _respond,
    _trace_headers,
    due_write,
)
from seawall.server._errors import error_headers
from seawall.trace import Trace

if TYPE_CHECKING:
    from seawall.server._app import SeawallApp

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
    priority = Priority.INTERACTIVE
    value = headers.get("x-seawall-priority")
    if value is not None:
        try:
            priority = Priority(value.strip().lower())
        except ValueError:
            raise InvalidRequest(
                f"Invalid x-seawall-priority header {value!r}: expected 'interactive' or 'batch'.",
                param="x-seawall-priority",
            ) from None
    return ChatRequest(
        body=canonical,
        model=canonical["model"],
        stream=canonical.get("stream") is True,
        ingress=Dialect.ANTHROPIC,
        timeout_s=parse_client_timeout(headers),
        stream_timeout_s=parse_stream_deadline(headers),
        priority=priority,
        hedge_safe=headers.get("x-seawall-hedge", "").strip().lower() in ("1", "true", "safe"),
        native_body=body,
        native_headers={k: headers[k] for k in _FORWARDED_HEADERS if headers.get(k)},
        untranslatable=untranslatable,
    )


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
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("stream: must be a boolean", param="stream")
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


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


class MessagesRoute:
    """The ASGI handler of `POST /v1/messages`, bound to one `SeawallApp`."""

    def __init__(self, app: SeawallApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway = self.app.gateway
        headers = _headers(scope)
        kept = {k: v for k, v in headers.items() if k in _TRACE_HEADERS}
        raw: bytes | None = None
        try:
            raw = await self.app._read_body(scope, receive)
            request = parse_anthropic_request(raw, headers)
        except _ClientGone:
            return
        except SeawallError as exc:
            # Rejected requests are traced too: "what did the client actually send?"
            trace = Trace(model="", ingress="anthropic", stream=False, request_body=raw, request_headers=kept)
            await self._fail(send, trace, exc)
            return
        trace = gateway.new_trace(request, raw, kept)
        watcher = _DisconnectWatcher(receive)
        try:
            if request.stream:
                await self._stream(request, trace, send, watcher)
            else:
                await self._complete(request, trace, send, watcher)
        finally:
            watcher.stop()

    async def _fail(self, send: Send, trace: Trace, exc: SeawallError) -> None:
        status, body = error_response(exc)
        self.app.gateway.finish(trace.finish(status=status, error=exc, response_body=body))
        await _respond(send, status, body, [*error_headers(exc), *_trace_headers(trace)])

    async def _complete(
        self, request: ChatRequest, trace: Trace, send: Send, watcher: _DisconnectWatcher
    ) -> None:
        gateway = self.app.gateway
        try:
            completion, _target = await watcher.run(gateway._engine().complete(request, trace))
            if completion.native is not None:
                body = completion.native
            else:
                model = completion.body.get("model")
                message = anthropic_response_from_canonical(
                    completion.body, model=model if isinstance(model, str) and model else request.model
                )
                body = orjson.dumps(message)
        except _ClientGone:
            trace.event("client_disconnect")
            gateway.finish(trace.finish(status=499))
            return
        except SeawallError as exc:
            await self._fail(send, trace, exc)
            return
        gateway.finish(trace.finish(status=200, response_body=body, usage=completion.body.get("usage")))
        await _respond(send, 200, body, _trace_headers(trace))

    async def _stream(
        self, request: ChatRequest, trace: Trace, send: Send, watcher: _DisconnectWatcher
    ) -> None:
        gateway = self.app.gateway
        try:
            handle: StreamHandle = await watcher.run(gateway._engine().open_stream(request, trace))
        except _ClientGone:
            trace.event("client_disconnect")
            gateway.finish(trace.finish(status=499))
            return
        except SeawallError as exc:
            await self._fail(send, trace, exc)
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, *_trace_headers(trace)]}
        )
        relay = _Relay(request.model, trace, send)
        terminal = "done"
        try:
            await watcher.run(relay.run(handle))
        except _ClientGone:
            terminal = "client_disconnect"
        finally:
            with contextlib.suppress(Exception):
                await handle.aclose()
        if terminal == "client_disconnect":
            trace.event("client_disconnect")
            gateway.finish(trace.finish(status=200, terminal=terminal, usage=relay.usage))
            return
        held = b"".join(relay.pending)  # events held back to go out with the end (same upstream read)
        if relay.error is not None:
            # After the commit point the client gets a terminal error event, never a clean end.
            gateway.finish(trace.finish(status=200, terminal="error", error=relay.error, usage=relay.usage))
            body = held + error_event(relay.error)
            await send({"type": "http.response.body", "body": body, "more_body": False})
            return
        tail = relay.finish()
        if tail:
            trace.chunk(tail)
        gateway.finish(trace.finish(status=200, terminal="done", usage=relay.usage))
        await send({"type": "http.response.body", "body": held + tail, "more_body": False})


class _Relay:
    """Sends one committed stream to an Anthropic client: the upstream's own events when passed
    through, else canonical chunks encoded as Anthropic events."""

    __slots__ = ("_encoder", "_model", "_send", "_trace", "error", "pending", "usage")

    def __init__(self, model: str, trace: Trace, send: Send) -> None:
        self._model = model
        self._trace = trace
        self._send = send
        self._encoder: AnthropicStreamEncoder | None = None
        self.error: SeawallError | None = None
        self.usage: Any = None
        self.pending: list[bytes] = []  # events of one upstream read go out in one write

    async def run(self, handle: StreamHandle) -> None:
        pending = self.pending
        first = True  # the first content goes at once (time to first token); then one write per read
        try:
            async for chunk in handle:
                data = chunk.data
                if "choices" in data and not data["choices"] and data.get("usage"):
                    self.usage = data["usage"]
                if chunk.native is not None:
                    out = chunk.native
                else:
                    if self._encoder is None:
                        model = data.get("model")
                        self._encoder = AnthropicStreamEncoder(
                            model=model if isinstance(model, str) and model else self._model
                        )
                    out = b"".join(_frame(event, body) for event, body in self._encoder.feed(data))
                if out:
                    self._trace.chunk(out)
                    pending.append(out)
                if (body := due_write(pending, chunk, first)) is not None:
                    first = first and not chunk.content  # until a content event is out
                    await self._send({"type": "http.response.body", "body": body, "more_body": True})
        except SeawallError as exc:
            self.error = exc

    def finish(self) -> bytes:
        """What still closes the message (translated streams whose upstream sent no usage)."""
        if self._encoder is None:
            return b""
        return b"".join(_frame(event, body) for event, body in self._encoder.finish())


__all__ = ["MessagesRoute", "error_response", "parse_anthropic_request"]
