"""One request's lifecycle, written once: request in → engine → answer or stream → trace recorded.

The gateway makes an `Exchange` per request (`Gateway.exchange`), for the HTTP server's two
ingresses and for library mode alike. Whatever happens — a rejected body, an engine error, an
answer, a committed stream that ends, breaks or loses its client — the trace is finished and
recorded exactly once, and before the response's last byte is handed back to the caller to send
(the durability promise: a delivered response's trace is already in the journal).

Auth, the response cache, context checks and replay each hook in here, once, for every ingress.
Must not: know about ASGI, sockets or any wire format (the `IngressDialect` encodes).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, NamedTuple

from seawall import _capture
from seawall._types import ChatRequest, Completion, JSONDict
from seawall.cache import completion_from_chunks
from seawall.errors import SeawallError
from seawall.ingress import IngressDialect, StreamEncoder, error_headers
from seawall.trace import Trace
from seawall.trace._schema import ClientDisconnected, TraceRecord

if TYPE_CHECKING:
    from seawall._cache import CacheService, Lookup
    from seawall._context import ContextService
    from seawall.engine import Engine, StreamHandle

Headers = list[tuple[bytes, bytes]]
Write = Callable[[bytes], Awaitable[None]]


class Reply(NamedTuple):
    """A whole response: status, body and the headers Seawall adds (trace id, retry hints)."""

    status: int
    body: bytes
    headers: Headers


class Exchange:
    """One request, from its parsed form (or the error that rejected it) to its recorded trace."""

    __slots__ = (
        "_cache",
        "_capture_token",
        "_context",
        "_done",
        "_engine",
        "_record",
        "cache_lookup",
        "completion",
        "dialect",
        "error",
        "request",
        "trace",
    )

    def __init__(
        self,
        engine: Engine | None,
        record: Callable[[TraceRecord], None],
        dialect: IngressDialect,
        trace: Trace,
        request: ChatRequest | None,
        *,
        error: SeawallError | None = None,
        capture_token: contextvars.Token[_capture.Reading | None] | None = None,
        cache: CacheService | None = None,
        context: ContextService | None = None,
    ) -> None:
        self._engine = engine
        self._cache = cache
        self._context = context
        self.cache_lookup: Lookup | None = None
        """The response cache's decision, for a model that is cached."""
        self._capture_token = capture_token
        self._record = record
        self.dialect = dialect
        self.trace = trace
        self.request = request
        self.error = error
        """Why the request was rejected or failed (set before the trace is recorded)."""
        self.completion: Completion | None = None
        self._done = False

    def _commit(self, record: TraceRecord) -> None:
        if not self._done:
            self._done = True
            if self._capture_token is not None:
                _capture.end(self._capture_token)  # the record is final: nothing more is its own
            self._record(record)

    def _ready(self) -> tuple[Engine, ChatRequest]:
        if self._engine is None or self.request is None:
            raise RuntimeError("a rejected request cannot be run; answer it with `fail()`")
        return self._engine, self.request

    def trace_headers(self) -> Headers:
        trace = self.trace
        headers = [(b"x-seawall-trace-id", trace.id.encode())]
        if trace.answered_by:
            headers.append((b"x-seawall-target", trace.answered_by.encode()))
        headers.append((b"x-seawall-attempts", str(trace.attempt_count).encode()))
        found = self.cache_lookup
        if found is not None:
            headers.append(
                (b"x-seawall-cache", b"bypass" if found.result == "uncacheable" else found.result.encode())
            )
        return headers

    async def _cached(self, request: ChatRequest) -> Lookup | None:
        """The cache's decision for a request of a cached model (None: the model is not cached)."""
        cache = self._cache
        if cache is None or not cache.applies(request):
            return None
        found = self.cache_lookup = await cache.lookup(request, self.trace)
        return found

    # -- endings -------------------------------------------------------------------------------------
    def fail(self, exc: SeawallError) -> Reply:
        """Answer with an error in the client's dialect (nothing was sent yet) and record it."""
        self.error = exc
        status, body = self.dialect.error_response(exc)
        self._commit(self.trace.finish(status=status, body=body, error=exc))
        return Reply(status, body, [*error_headers(exc), *self.trace_headers()])

    def gone(self) -> None:
        """The client left before an answer (or a stream) started: record a 499."""
        if not self._done:
            self.trace.add(ClientDisconnected(t_ms=self.trace.ms()))
            self._commit(self.trace.finish(status=499))

    # -- non-streamed --------------------------------------------------------------------------------
    async def complete(self) -> Reply:
        """Run a non-streamed request: the answer or the error, as a reply (trace recorded). If the
        caller is cancelled (the client left) the trace records a 499 and the cancellation goes on."""
        if self.error is not None:
            return self.fail(self.error)
        engine, request = self._ready()
        try:
            if request.context is not None and self._context is not None:
                await self._context.check(request, self.trace)  # 400 unknown snapshot, 409 conflict
            found = None if self._cache is None else await self._cached(request)
            if found is not None and found.entry is not None:  # a hit: the stored answer, in this dialect
                assert self._cache is not None
                completion = Completion(self._cache.completion_of(found.entry), found.entry.body)
            else:
                completion, _target = await engine.complete(request, self.trace)
                if found is not None and found.store:
                    assert self._cache is not None
                    await self._cache.store(found, self.trace, completion.body, completion.raw)
            body = self.dialect.encode_answer(request, completion)
        except SeawallError as exc:
            return self.fail(exc)
        except asyncio.CancelledError:
            self.gone()
            raise
        self.completion = completion
        self._commit(self.trace.finish(status=200, body=body, usage=completion.body.get("usage")))
        return Reply(200, body, self.trace_headers())

    # -- streamed ------------------------------------------------------------------------------------
    async def open_stream(self) -> Reply | Relay:
        """Run a streamed request up to its commit point: a `Relay` for the committed stream, or the
        error reply when no target got that far (a real status, not a 200 stream)."""
        if self.error is not None:
            return self.fail(self.error)
        engine, request = self._ready()
        if request.context is not None and self._context is not None:
            try:
                await self._context.check(request, self.trace)  # 400 unknown snapshot, 409 conflict
            except SeawallError as exc:
                return self.fail(exc)
        found = None if self._cache is None else await self._cached(request)
        if found is not None and found.entry is not None:  # a hit: the stored answer as a stream
            assert self._cache is not None
            cached = self._cache.stream_of(found.entry, request.include_usage)
            return Relay(self, cached, self.dialect.stream_encoder(request))  # type: ignore[arg-type]
        try:
            handle = await engine.open_stream(request, self.trace)
        except SeawallError as exc:
            return self.fail(exc)
        except asyncio.CancelledError:
            self.gone()
            raise
        relay = Relay(self, handle, self.dialect.stream_encoder(request))
        if found is not None and found.store:
            relay.collected = []
        return relay


class Relay:
    """A committed stream on its way to the client.

    `pump(write)` sends the stream as it arrives: events decoded from one upstream read go out in
    one write, except the stream's first content, which goes at once (time to first token). A
    failure after the commit point is kept in `error`. Then exactly one of `close()` (returns the
    final bytes to send: events still held, then the clean end or the terminal error event) or
    `abandon()` (the client left) ends it; both record the trace, and both are idempotent.
    """

    __slots__ = ("_encoder", "_ex", "_handle", "_pending", "collected", "error", "headers")

    def __init__(self, exchange: Exchange, handle: StreamHandle, encoder: StreamEncoder) -> None:
        self._ex = exchange
        self._handle = handle
        self._encoder = encoder
        self._pending: list[bytes] = []
        self.error: SeawallError | None = None
        self.headers = exchange.trace_headers()
        self.collected: list[JSONDict] | None = None
        """The stream's canonical chunks, kept when its answer may be stored in the response cache."""

    async def pump(self, write: Write) -> None:
        """Relay the stream through `write`, one write per upstream read."""
        encode = self._encoder.encode
        pending = self._pending
        sent = self._ex.trace.sent
        collected = self.collected
        first = True  # until a content event is out, content goes at once
        try:
            async for chunk in self._handle:
                if collected is not None and chunk.data:
                    collected.append(chunk.data)
                out = encode(chunk)
                if out:
                    pending.append(out)
                if pending and (not chunk.more or (first and chunk.content)):
                    body = pending[0] if len(pending) == 1 else b"".join(pending)
                    pending.clear()
                    first = first and not chunk.content
                    sent(body)
                    await write(body)
        except SeawallError as exc:
            self.error = exc

    async def chunks(self) -> AsyncIterator[JSONDict]:
        """Library mode: the stream's canonical chunks, as an OpenAI client would see them. The trace
        records the bytes such a client would have been sent, write by write as `pump` writes them
        (so a library stream replays like an HTTP one). Raises the error of a stream that failed
        after its commit point (after `close()` has recorded it)."""
        encode = self._encoder.encode
        pending = self._pending
        sent = self._ex.trace.sent
        request = self._ex.request
        include_usage = request is not None and request.include_usage
        collected = self.collected
        first = True
        try:
            async for chunk in self._handle:
                if collected is not None and chunk.data:
                    collected.append(chunk.data)
                out = encode(chunk)
                if out:
                    pending.append(out)
                if pending and (not chunk.more or (first and chunk.content)):
                    sent(pending[0] if len(pending) == 1 else b"".join(pending))
                    pending.clear()
                    first = first and not chunk.content
                data = chunk.data
                if not data or (not data.get("choices") and not include_usage):
                    continue
                yield data
        except SeawallError as exc:
            self.error = exc
            await self.close()
            raise

    async def _release(self) -> None:
        with contextlib.suppress(Exception):
            await self._handle.aclose()  # the attempt's outcome reaches every observer here

    async def close(self) -> bytes:
        """End the stream (see the class docstring); returns the final bytes to send."""
        await self._release()
        ex = self._ex
        if ex._done:
            return b""
        if self.collected is not None and self.error is None:
            await self._keep(ex)
        held = b"".join(self._pending)
        self._pending.clear()
        error = self.error
        final = held + (self._encoder.end() if error is None else ex.dialect.error_event(error))
        if final:
            ex.trace.sent(final)
        ex.error = error
        ex._commit(
            ex.trace.finish(
                status=200,
                terminal="done" if error is None else "error",
                error=error,
                usage=self._encoder.usage,
            )
        )
        return final

    async def _keep(self, ex: Exchange) -> None:
        """A stream that ended cleanly: its answer, reassembled, goes into the response cache."""
        found, cache = ex.cache_lookup, ex._cache
        assert self.collected is not None
        completion = completion_from_chunks(self.collected)
        self.collected = None
        if completion is not None and found is not None and cache is not None:
            await cache.store(found, ex.trace, completion, None)

    async def abandon(self) -> None:
        """The client left mid-stream: stop the upstream and record what it was sent."""
        await self._release()
        ex = self._ex
        if not ex._done:
            ex.trace.add(ClientDisconnected(t_ms=ex.trace.ms()))
            ex._commit(ex.trace.finish(status=200, terminal="client_disconnect", usage=self._encoder.usage))


__all__ = ["Exchange", "Relay", "Reply"]
