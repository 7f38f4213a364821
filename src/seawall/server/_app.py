"""The ASGI application: a small router in front of the `Gateway`, written as raw ASGI.

No framework sits on the hot path: the body is read once, and each chat route hands it to the
gateway's request lifecycle (`Gateway.exchange`) in its client's dialect — OpenAI on
`/v1/chat/completions`, Anthropic on `/v1/messages` — then writes what the lifecycle returns. Every
response carries `x-seawall-trace-id`. A client disconnect cancels the upstream attempt.

Errors raised before a response started become an error response; every start is noted in the
scope (`_asgi.STARTED`), so a failure after that drops the connection, never answers twice.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable

import msgspec
import orjson

from seawall._context import ContextService
from seawall._exchange import Relay
from seawall._gateway import Gateway
from seawall.context import parse_hash
from seawall.errors import (
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    SeawallError,
    Unauthorized,
    UnreadableTrace,
)
from seawall.ingress import ANTHROPIC, OPENAI, IngressDialect, error_headers, openai_error_body
from seawall.server._asgi import (
    SSE_HEADERS,
    STARTED,
    ClientGone,
    DisconnectWatcher,
    Receive,
    Scope,
    Send,
    headers_of,
    query_of,
    read_body,
    respond,
    start_message,
)
from seawall.trace import to_json
from seawall.trace._query import QueryError, query_from_params

log = logging.getLogger("seawall.server")

Handler = Callable[[Scope, Receive, Send], Awaitable[None]]


SNAPSHOTS = "/v1/context/snapshots/"


class SeawallApp:
    """ASGI app. `lifespan` starts and stops the gateway."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.max_body = gateway.config.server.max_body_bytes
        openai_chat = self._chat(OPENAI)
        self._routes: dict[tuple[str, str], Handler] = {
            ("POST", "/v1/chat/completions"): openai_chat,
            ("POST", "/chat/completions"): openai_chat,
            ("POST", "/v1/messages"): self._chat(ANTHROPIC),
            ("GET", "/v1/models"): self.models,
            ("GET", "/models"): self.models,
            ("GET", "/health/live"): self.live,
            ("GET", "/health/ready"): self.ready,
            ("GET", "/admin/traces"): self.admin_traces,
            ("GET", "/metrics"): self.metrics,
            ("GET", "/admin/targets"): self.admin_targets,
            ("POST", "/admin/quality"): self.admin_quality,
            ("POST", "/v1/context/snapshots"): self.put_snapshot,
        }
        self._paths = {path for (_method, path) in self._routes}
        token = gateway.config.server.admin_token
        self._admin_auth = f"Bearer {token.get_secret_value()}".encode() if token is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            handler = self._routes.get((scope["method"], path))
            if handler is None and path.startswith("/admin/traces/") and scope["method"] == "GET":
                handler = self.admin_trace
            elif handler is None and path.startswith(SNAPSHOTS) and scope["method"] == "GET":
                handler = self.get_snapshot
            if handler is not None and path.startswith("/admin/") and not self._admin_ok(scope):
                denied = Unauthorized("Admin API: missing or wrong bearer token (server.admin_token).")
                await self._error(scope, send, denied)
                return
            if handler is None:
                await self._not_found(scope, send)
                return
            try:
                await handler(scope, receive, send)
            except SeawallError as exc:
                if scope.get(STARTED):
                    raise
                await self._error(scope, send, exc)
            except Exception:
                if scope.get(STARTED):
                    raise  # the server drops the connection: never a second response
                log.exception("unhandled error on %s %s", scope["method"], path)
                await self._error(scope, send, SeawallError("Internal error in Seawall (logged)."))
            return
        if kind == "lifespan":
            await self._lifespan(receive, send)

    @staticmethod
    async def _error(scope: Scope, send: Send, exc: SeawallError) -> None:
        await respond(scope, send, exc.status, openai_error_body(exc), error_headers(exc))

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
        expected = self._admin_auth
        return any(k == b"authorization" and hmac.compare_digest(v, expected) for k, v in scope["headers"])

    async def _not_found(self, scope: Scope, send: Send) -> None:
        path = scope["path"]
        if path in self._paths:
            await self._error(
                scope, send, MethodNotAllowed(f"Method {scope['method']} is not allowed on {path}.")
            )
        else:
            await self._error(scope, send, NotFound(f"Unknown path {path!r}."))

    # -- the chat routes: one lifecycle, any dialect ---------------------------------------------------
    def _chat(self, dialect: IngressDialect) -> Handler:
        async def handle(scope: Scope, receive: Receive, send: Send) -> None:
            await self._serve(dialect, scope, receive, send)

        return handle

    async def _serve(self, dialect: IngressDialect, scope: Scope, receive: Receive, send: Send) -> None:
        headers = headers_of(scope)
        try:
            raw = await read_body(scope, receive, self.max_body)
        except ClientGone:
            return
        except SeawallError as exc:  # too large, bad Content-Length: traced in the route's dialect
            reply = self.gateway.exchange(dialect, None, headers, error=exc).fail(exc)
            await respond(scope, send, reply.status, reply.body, reply.headers)
            return
        exchange = self.gateway.exchange(dialect, raw, headers)
        if exchange.error is not None:
            reply = exchange.fail(exchange.error)
            await respond(scope, send, reply.status, reply.body, reply.headers)
            return
        assert exchange.request is not None
        watcher = DisconnectWatcher(receive)
        try:
            if not exchange.request.stream:
                try:
                    reply = await watcher.run(exchange.complete())
                except ClientGone:
                    return  # the exchange recorded it
                await respond(scope, send, reply.status, reply.body, reply.headers)
                return
            try:
                opened = await watcher.run(exchange.open_stream())
            except ClientGone:
                return
            if not isinstance(opened, Relay):
                await respond(scope, send, opened.status, opened.body, opened.headers)
                return
            await self._relay(scope, opened, watcher, send)
        finally:
            watcher.stop()

    @staticmethod
    async def _relay(scope: Scope, relay: Relay, watcher: DisconnectWatcher, send: Send) -> None:
        """Send a committed stream: status and headers at commit, then one write per upstream read,
        then the end (or, after a failure, the terminal error event), recorded before it is sent."""
        closed = False
        try:
            await send(start_message(scope, 200, [*SSE_HEADERS, *relay.headers]))

            async def write(body: bytes) -> None:
                await send({"type": "http.response.body", "body": body, "more_body": True})

            try:
                await watcher.run(relay.pump(write))
            except ClientGone:
                return
            final = await relay.close()
            closed = True
            await send({"type": "http.response.body", "body": final, "more_body": False})
        finally:
            if not closed:
                await asyncio.shield(relay.abandon())

    # -- admin -----------------------------------------------------------------------------------
    async def admin_traces(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Trace summaries, newest first, filtered like `seawall traces list` (docs/traces.md)."""
        store = self.gateway.store
        if store is None:
            off = {"object": "list", "data": [], "enabled": False, "has_more": False}
            await respond(scope, send, 200, orjson.dumps(off), [])
            return
        try:
            query = query_from_params(query_of(scope), now=self.gateway.clock.wall())
        except QueryError as exc:
            raise InvalidRequest(f"Invalid {exc.param}: {exc.message}", param=exc.param) from None
        await asyncio.to_thread(self.gateway.recorder.flush, 2.0)
        try:  # one more than asked: whether there is a next page
            rows = await asyncio.to_thread(store.list, msgspec.structs.replace(query, limit=query.limit + 1))
        except QueryError as exc:
            raise InvalidRequest(f"Invalid {exc.param}: {exc.message}", param=exc.param) from None
        more = len(rows) > query.limit
        body = msgspec.json.encode(
            {"object": "list", "data": rows[: query.limit], "enabled": True, "has_more": more}
        )
        await respond(scope, send, 200, body, [])

    async def admin_targets(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(scope, send, 200, orjson.dumps(self.gateway.resilience_view()), [])

    # -- context snapshots (docs/context.md) ---------------------------------------------------------
    async def put_snapshot(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Store a retrieval snapshot: 201 `{"hash": "sha256:<hex>", "created": bool}` (the same
        content gives the same hash); 400 naming the JSON path of what is wrong, 413 when too large."""
        context = self._context()
        raw = await read_body(scope, receive, 4 * context.config.max_snapshot_bytes + 1024)
        digest, created = await context.put(raw)
        body = orjson.dumps({"hash": digest, "created": created})
        await respond(scope, send, 201, body, [(b"location", (SNAPSHOTS + digest).encode())])

    async def get_snapshot(self, scope: Scope, receive: Receive, send: Send) -> None:
        """A stored snapshot by its hash (canonical JSON); 400 for a malformed hash, 404 unknown."""
        digest = scope["path"].removeprefix(SNAPSHOTS)
        try:
            parse_hash(digest)
        except ValueError as exc:
            raise InvalidRequest(f"Invalid snapshot hash: {exc}", param="hash") from None
        found = await self._context().get(digest)
        if found is None:
            raise NotFound(f"No context snapshot {digest} (never stored, or past its retention).")
        await respond(scope, send, 200, found, [])

    def _context(self) -> ContextService:
        context = self.gateway.context
        if context is None:
            raise SeawallError("The gateway is not started.")
        return context

    async def admin_quality(self, scope: Scope, receive: Receive, send: Send) -> None:
        """An operator's action on one target's quality detection: `{"target": "provider/model",
        "action": "reset" | "rewarm" | "battery"}` (docs/quality.md#operator-actions)."""
        raw = await read_body(scope, receive, 64 * 1024)
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            raise InvalidRequest("The body is not valid JSON.") from None
        if not isinstance(data, dict) or not isinstance(data.get("target"), str):
            raise InvalidRequest("Expected a JSON object with 'target' (provider/model).", param="target")
        if not isinstance(data.get("action"), str):
            raise InvalidRequest("Expected 'action': reset, rewarm or battery.", param="action")
        quality = self.gateway.quality
        try:
            if quality is None:
                raise KeyError(data["target"])
            view = quality.act(data["target"], data["action"])
        except KeyError:
            raise NotFound(f"No model watches the quality of target {data['target']!r}.") from None
        except ValueError as exc:
            raise InvalidRequest(str(exc), param="action") from None
        await respond(scope, send, 200, orjson.dumps({"target": data["target"], "quality": view}), [])

    async def admin_trace(self, scope: Scope, receive: Receive, send: Send) -> None:
        """One whole record, by id or a unique prefix of 6+ characters of one."""
        trace_id = scope["path"].removeprefix("/admin/traces/")
        store = self.gateway.store
        record = None
        if store is not None and trace_id:
            await asyncio.to_thread(self.gateway.recorder.flush, 2.0)
            try:
                record = await asyncio.to_thread(store.get, trace_id)
            except ValueError as exc:  # a torn record, or one from a newer schema
                raise UnreadableTrace(f"Trace {trace_id!r} is stored but cannot be read: {exc}") from None
        if record is None:
            raise NotFound(f"No trace {trace_id!r}.", param="trace_id")
        await respond(scope, send, 200, orjson.dumps(to_json(record)), [])

    # -- the rest --------------------------------------------------------------------------------
    async def live(self, scope: Scope, receive: Receive, send: Send) -> None:
        await respond(scope, send, 200, b'{"status":"live"}', [])

    async def ready(self, scope: Scope, receive: Receive, send: Send) -> None:
        ok = self.gateway.started
        body = orjson.dumps(
            {"status": "ready" if ok else "starting", "models": len(self.gateway.model_names())}
        )
        await respond(scope, send, 200 if ok else 503, body, [])

    async def metrics(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = self.gateway.metrics.render()
        headers = [
            (b"content-type", b"text/plain; version=0.0.4; charset=utf-8"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send(start_message(scope, 200, headers))
        await send({"type": "http.response.body", "body": body})

    async def models(self, scope: Scope, receive: Receive, send: Send) -> None:
        created = 1700000000
        data = [
            {"id": name, "object": "model", "created": created, "owned_by": "seawall"}
            for name in self.gateway.model_names()
        ]
        await respond(scope, send, 200, orjson.dumps({"object": "list", "data": data}), [])


__all__ = ["SeawallApp"]
