"""The ASGI application: a small router in front of the `Gateway`, written as raw ASGI.

No framework sits on the hot path: the body is read once, parsed once (orjson), validated for what
routing needs, and answered with the upstream's own bytes where the dialects match. Every
response carries `x-seawall-trace-id`. A client disconnect cancels the upstream attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from seawall._gateway import Gateway
from seawall._types import ChatRequest, Chunk
from seawall.engine import StreamHandle
from seawall.errors import InvalidRequest, PayloadTooLarge, SeawallError
from seawall.resilience import parse_client_timeout, parse_stream_deadline
from seawall.server._errors import error_headers, openai_error_body
from seawall.server._validate import parse_openai_request
from seawall.trace import Trace

log = logging.getLogger("seawall.server")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

_JSON = (b"content-type", b"application/json")
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_DONE = b"data: [DONE]\n\n"
_DRAIN_MAX = 64 * 1024 * 1024  # bodies up to this size are read and dropped before a 413
# Client headers kept in traces (never credentials).
_TRACE_HEADERS = frozenset(
    {
        "user-agent",
        "x-seawall-timeout-ms",
        "x-seawall-priority",
        "x-stainless-read-timeout",
        "x-stainless-timeout",
        "x-stainless-lang",
        "x-stainless-package-version",
        "anthropic-version",
        "anthropic-beta",
    }
)


class _ClientGone(Exception):
    """Internal: the client disconnected."""


def _headers(scope: Scope) -> dict[str, str]:
    return {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}


async def _respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [_JSON, (b"content-length", str(len(body)).encode()), *headers],
        }
    )
    await send({"type": "http.response.body", "body": body})


class SeawallApp:
    """ASGI app. `lifespan` starts and stops the gateway."""

    def __init__(self, gateway: Gateway) -> None:
        from seawall.server._messages import MessagesRoute  # it builds on this module's helpers

        self.gateway = gateway
        self.max_body = gateway.config.server.max_body_bytes
        self._routes: dict[tuple[str, str], Callable[[Scope, Receive, Send], Awaitable[None]]] = {
            ("POST", "/v1/chat/completions"): self.chat_completions,
            ("POST", "/chat/completions"): self.chat_completions,
            ("POST", "/v1/messages"): MessagesRoute(self),
            ("GET", "/v1/models"): self.models,
            ("GET", "/models"): self.models,
            ("GET", "/health/live"): self.live,
            ("GET", "/health/ready"): self.ready,
            ("GET", "/admin/traces"): self.admin_traces,
            ("GET", "/metrics"): self.metrics,
            ("GET", "/admin/targets"): self.admin_targets,
        }
        token = gateway.config.server.admin_token
        self._admin_auth = f"Bearer {token.get_secret_value()}".encode() if token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            handler = self._routes.get((scope["method"], path))
            if handler is None and path.startswith("/admin/traces/") and scope["method"] == "GET":
                handler = self.admin_trace
            if handler is not None and path.startswith("/admin/") and not self._admin_ok(scope):
                exc = InvalidRequest("Admin API: missing or wrong bearer token (server.admin_token).")
                exc.status, exc.type = 401, "authentication_error"
                await _respond(send, 401, openai_error_body(exc), error_headers(exc))
                return
            if handler is None:
                await self._not_found(scope, send)
                return
            try:
                await handler(scope, receive, send)
            except SeawallError as exc:  # raised before a response started
                await _respond(send, exc.status, openai_error_body(exc), error_headers(exc))
            return
        if kind == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.gateway.start()
                except Exception as exc:
                    log.exception("gateway failed to start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.gateway.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    def _admin_ok(self, scope: Scope) -> bool:
        if self._admin_auth is None:
            return True
        return any(k == b"authorization" and v == self._admin_auth for k, v in scope["headers"])

    # -- admin -----------------------------------------------------------------------------------
    async def admin_traces(self, scope: Scope, receive: Receive, send: Send) -> None:
        store = self.gateway.store
        if store is None:
            await _respond(send, 200, b'{"object":"list","data":[],"enabled":false}', [])
            return
        query = _query(scope)
        try:
            limit = max(1, min(int(query.get("limit", "50")), 1000))
        except ValueError:
            raise InvalidRequest("Invalid 'limit': expected an integer.", param="limit") from None
        await asyncio.to_thread(self.gateway.recorder.flush, 2.0)
        rows = await asyncio.to_thread(
            store.list, limit=limit, model=query.get("model") or None, errors_only=query.get("errors") == "1"
        )
        await _respond(send, 200, orjson.dumps({"object": "list", "data": rows, "enabled": True}), [])

    async def admin_targets(self, scope: Scope, receive: Receive, send: Send) -> None:
        engine = self.gateway._engine()
        state = engine.state
        admission = state.admission
        transitions = [
            {"target": t.target, "old": t.old.value, "new": t.new.value, "reason": t.reason, "at": t.at}
            for t in list(state.transitions)[-50:]
        ]
        body = {
            "targets": state.snapshot(),
            "admission": {
                "inflight": admission.inflight,
                "queued": admission.queued,
                "congested": admission.congested,
                "max_concurrency": admission.policy.max_concurrency,
            },
            "retries_in_flight": state.retry_cap.active,
            "breaker_transitions": transitions,
        }
        await _respond(send, 200, orjson.dumps(body), [])

    async def admin_trace(self, scope: Scope, receive: Receive, send: Send) -> None:
        trace_id = scope["path"].removeprefix("/admin/traces/")
        store = self.gateway.store
        record = None
        if store is not None and trace_id:
            await asyncio.to_thread(self.gateway.recorder.flush, 2.0)
            record = await asyncio.to_thread(store.get, trace_id)
        if record is None:
            exc = InvalidRequest(f"No trace {trace_id!r}.", param="trace_id")
            exc.status = 404
            await _respond(send, 404, openai_error_body(exc), [])
            return
        await _respond(send, 200, orjson.dumps(record), [])

    async def _not_found(self, scope: Scope, send: Send) -> None:
        paths = {p for (_m, p) in self._routes}
        if scope["path"] in paths:
            exc: SeawallError = InvalidRequest(f"Method {scope['method']} is not allowed on {scope['path']}.")
            exc.status = 405
        else:
            exc = InvalidRequest(f"Unknown path {scope['path']!r}.")
            exc.status = 404
        await _respond(send, exc.status, openai_error_body(exc), error_headers(exc))

    # -- body ------------------------------------------------------------------------------------
    async def _read_body(self, scope: Scope, receive: Receive) -> bytes:
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    raise InvalidRequest("Invalid Content-Length header.") from None
                if declared > self.max_body:
                    if declared <= _DRAIN_MAX:
                        await _drain(receive)  # so clients that write the whole body first can read the 413
                    raise PayloadTooLarge(
                        f"Request body of {declared} bytes exceeds the limit of {self.max_body} bytes "
                        "(server.max_body_bytes)."
                    )
                break
        message = await receive()
        body: bytes = message.get("body", b"")
        if not message.get("more_body"):
            return body
        parts = [body]
        size = len(body)
        while message.get("more_body"):
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _ClientGone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                if message.get("more_body"):
                    await _drain(receive)
                raise PayloadTooLarge(
                    f"Request body exceeds the limit of {self.max_body} bytes (server.max_body_bytes)."
                )
            parts.append(chunk)
        return b"".join(parts)

    # -- routes ----------------------------------------------------------------------------------
    async def live(self, scope: Scope, receive: Receive, send: Send) -> None:
        await _respond(send, 200, b'{"status":"live"}', [])

    async def ready(self, scope: Scope, receive: Receive, send: Send) -> None:
        ok = self.gateway.started
        body = orjson.dumps(
            {"status": "ready" if ok else "starting", "models": len(self.gateway.model_names())}
        )
        await _respond(send, 200 if ok else 503, body, [])

    async def metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.gateway.metrics.render()
        headers = [
            (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def models(self, scope: Scope, receive: Receive, send: Send) -> None:
        created = 1700000000
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "seawall"}
            for name in self.gateway.model_names()
        ]
        await _respond(send, 200, orjson.dumps({"object": "list", "data": data}), [])

    async def chat_completions(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            raw = await self._read_body(scope, receive)
        except _ClientGone:
            return
        headers = _headers(scope)
        gateway = self.gateway
        kept = {k: v for k, v in headers.items() if k in _TRACE_HEADERS}
        try:
            try:
                parsed = orjson.loads(raw)
            except orjson.JSONDecodeError as exc:
                raise InvalidRequest(f"The request body is not valid JSON: {exc}") from None
            request = parse_openai_request(parsed, headers, timeout_s=parse_client_timeout(headers))
            request.stream_timeout_s = parse_stream_deadline(headers)
        except SeawallError as exc:
            # Rejected requests are traced too: "what did the client actually send?"
            trace = Trace(model="", ingress="openai", stream=False, request_body=raw, request_headers=kept)
            body = openai_error_body(exc)
            gateway.finish(trace.finish(status=exc.status, error=exc, response_body=body))
            await _respond(send, exc.status, body, [*error_headers(exc), *_trace_headers(trace)])
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

    async def _complete(
        self, request: ChatRequest, trace: Trace, send: Send, watcher: _DisconnectWatcher
    ) -> None:
        engine = self.gateway._engine()
        try:
            completion, _target = await watcher.run(engine.complete(request, trace))
        except _ClientGone:
            trace.event("client_disconnect")
            self.gateway.finish(trace.finish(status=499, error=None))
            return
        except SeawallError as exc:
            body = openai_error_body(exc)
            self.gateway.finish(trace.finish(status=exc.status, error=exc, response_body=body))
            await _respond(send, exc.status, body, [*error_headers(exc), *_trace_headers(trace)])
            return
        body = completion.raw if completion.raw is not None else orjson.dumps(completion.body)
        self.gateway.finish(trace.finish(status=200, response_body=body, usage=completion.body.get("usage")))
        await _respond(send, 200, body, _trace_headers(trace))

    async def _stream(
        self, request: ChatRequest, trace: Trace, send: Send, watcher: _DisconnectWatcher
    ) -> None:
        engine = self.gateway._engine()
        try:
            handle: StreamHandle = await watcher.run(engine.open_stream(request, trace))
        except _ClientGone:
            trace.event("client_disconnect")
            self.gateway.finish(trace.finish(status=499))
            return
        except SeawallError as exc:
            body = openai_error_body(exc)
            self.gateway.finish(trace.finish(status=exc.status, error=exc, response_body=body))
            await _respond(send, exc.status, body, [*error_headers(exc), *_trace_headers(trace)])
            return
        await send(
            {"type": "http.response.start", "status": 200, "headers": [*_SSE_HEADERS, *_trace_headers(trace)]}
        )
        state = _RelayState()
        try:
            await watcher.run(self._relay(handle, request.include_usage, trace, send, state))
        except _ClientGone:
            state.terminal = "client_disconnect"
        finally:
            with contextlib.suppress(Exception):
                await handle.aclose()
        if state.terminal == "client_disconnect":
            trace.event("client_disconnect")
            self.gateway.finish(trace.finish(status=200, terminal=state.terminal, usage=state.usage))
            return
        held = b"".join(state.pending)  # events held back to go out with the end (same upstream read)
        if state.error is not None:
            # After the commit point the client gets a terminal error event, never a clean end.
            self.gateway.finish(
                trace.finish(status=200, terminal="error", error=state.error, usage=state.usage)
            )
            event = b"data: " + openai_error_body(state.error) + b"\n\n"
            await send({"type": "http.response.body", "body": held + event, "more_body": False})
            return
        self.gateway.finish(trace.finish(status=200, terminal="done", usage=state.usage))
        await send({"type": "http.response.body", "body": held + _DONE, "more_body": False})

    @staticmethod
    async def _relay(
        handle: StreamHandle, include_usage: bool, trace: Trace, send: Send, state: _RelayState
    ) -> None:
        pending = state.pending  # events of one upstream read go out in one write...
        first = True  # ...except the first content, which goes at once (time to first token)
        try:
            async for chunk in handle:
                # an event with no meaning in the OpenAI dialect (e.g. ping) sends nothing
                if chunk.data:
                    raw = chunk.raw if chunk.raw is not None else orjson.dumps(chunk.data)
                    trace.chunk(raw)
                    if chunk.data.get("choices"):
                        pending.append(b"data: " + raw + b"\n\n")
                    else:
                        state.usage = chunk.data.get("usage") or state.usage
                        if include_usage:
                            pending.append(b"data: " + raw + b"\n\n")
                if (body := due_write(pending, chunk, first)) is not None:
                    first = first and not chunk.content  # until a content event is out
                    await send({"type": "http.response.body", "body": body, "more_body": True})
        except SeawallError as exc:
            state.error = exc


def due_write(pending: list[bytes], chunk: Chunk, first: bool) -> bytes | None:
    """The held events to write now, or None to keep holding them: a relay holds events while the
    upstream read they came from has more (`Chunk.more`), except the stream's first content, which
    goes at once (time to first token; `first` until it has been sent)."""
    if pending and (not chunk.more or (first and chunk.content)):
        body = pending[0] if len(pending) == 1 else b"".join(pending)
        pending.clear()
        return body
    return None


class _RelayState:
    __slots__ = ("error", "pending", "terminal", "usage")

    def __init__(self) -> None:
        self.terminal = "done"
        self.error: SeawallError | None = None
        self.usage: Any = None
        self.pending: list[bytes] = []


async def _drain(receive: Receive) -> None:
    """Read and discard the rest of a request body, up to `_DRAIN_MAX` bytes."""
    seen = 0
    while seen <= _DRAIN_MAX:
        message = await receive()
        if message["type"] != "http.request":
            return
        seen += len(message.get("body", b""))
        if not message.get("more_body"):
            return


def _query(scope: Scope) -> dict[str, str]:
    from urllib.parse import parse_qsl

    raw = scope.get("query_string", b"").decode("latin-1")
    return dict(parse_qsl(raw))


def _trace_headers(trace: Trace) -> list[tuple[bytes, bytes]]:
    headers = [(b"x-seawall-trace-id", trace.id.encode())]
    if trace.answered_by:
        headers.append((b"x-seawall-target", trace.answered_by.encode()))
    headers.append((b"x-seawall-attempts", str(len(trace.attempts)).encode()))
    return headers


class _DisconnectWatcher:
    """Races work against the client's `http.disconnect`, so a gone client cancels upstream work.

    The watcher task starts only if the work is still running after `WATCH_AFTER_S`: answers
    faster than that never pay for a task, and a model call (seconds) is cancelled at most
    `WATCH_AFTER_S` later than it could have been. Several `run()` calls share one watcher."""

    WATCH_AFTER_S = 0.05

    __slots__ = ("_gone", "_owner", "_receive", "_task", "_timer")

    def __init__(self, receive: Receive) -> None:
        self._receive = receive
        self._task: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._owner: asyncio.Task[Any] | None = None
        self._gone = False

    def _start(self) -> None:
        self._timer = None
        if self._task is None and self._owner is not None:
            self._task = asyncio.get_running_loop().create_task(self._watch(self._owner))

    async def _watch(self, owner: asyncio.Task[Any]) -> None:
        while True:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self._gone = True
                owner.cancel()
                return

    async def run(self, work: Awaitable[Any]) -> Any:
        owner = asyncio.current_task()
        assert owner is not None
        self._owner = owner
        if self._task is None and self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.WATCH_AFTER_S, self._start)
        try:
            return await work
        except asyncio.CancelledError:
            if self._gone and owner.uncancel() == 0:
                raise _ClientGone from None
            raise

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._task is not None and not self._task.done():
            self._task.cancel()
