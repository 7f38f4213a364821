"""A lean HTTP/1.1 client for upstream calls: keep-alive connections per origin, parsed by httptools.

Why not aiohttp's client: on the gateway's hot path it cost ~40% of all CPU per proxied request
(request/headers objects, payload registry, tracing signals, timers); this client does the same
wire work in a fraction of that (docs/benchmarks.md). It does only what upstream calls need:
`POST` (any method whose answer has a body: not `HEAD`) with a bytes body and a
`Content-Length`; answers delimited by `Content-Length`, chunked encoding or connection close;
gzip answers (it asks for gzip only; zlib-wrapped deflate is decoded too); TLS; a connection
limit with waiting; idle expiry; flow control for streamed answers; and one retry on a fresh
connection when a reused one turns out to have been closed by the server before it answered
(the keep-alive race: nothing was processed, so resending is safe).

Not supported (not needed for provider APIs): proxies, redirects, HTTP/2, cookies, `Expect`.

It is the default `Transport` (`_transport`): `send(UpstreamRequest)` returns a `Response` once
the head has arrived. Errors are the transport vocabulary (`_transport`), under this module's
historical names: `H1ConnectError` = `ConnectError` (could not connect; `__cause__` is the OS
error), `H1Disconnected` = `Disconnected` (the server closed the connection before the answer was
complete), `H1ProtocolError` = `ProtocolError` (unparseable answer), `asyncio.TimeoutError`
(connect, head or idle timeout); `ValueError` before anything is sent if a header name or value
holds a line break (header injection).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import zlib
from collections import deque
from collections.abc import AsyncIterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httptools

from seawall.providers._transport import (
    USE_CLIENT_DEFAULT,
    ConnectError,
    Disconnected,
    ProtocolError,
    TransportError,
    UpstreamRequest,
    UseClientDefault,
)

HIGH_WATER = 256 * 1024  # bytes buffered from a streamed answer before reading pauses
LOW_WATER = 64 * 1024


# The client raises the transport vocabulary itself, so any transport's failures map the same way.
H1Error = TransportError
H1ConnectError = ConnectError
H1Disconnected = Disconnected
H1ProtocolError = ProtocolError


class _Origin:
    """Everything about one URL that does not change per request (parsed once, cached)."""

    __slots__ = ("host", "key", "port", "request_line", "server_hostname", "static", "tls")

    def __init__(self, url: str, method: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.tls = parts.scheme == "https"
        self.host = parts.hostname
        self.port = parts.port or (443 if self.tls else 80)
        self.key = (self.host, self.port, self.tls)
        self.server_hostname = self.host if self.tls else None
        target = parts.path or "/"
        if parts.query:
            target += "?" + parts.query
        default = (self.tls and self.port == 443) or (not self.tls and self.port == 80)
        name = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 literal: bracketed
        host_header = name if default else f"{name}:{self.port}"
        self.request_line = f"{method} {target} HTTP/1.1\r\n".encode("ascii")
        self.static = f"Host: {host_header}\r\nAccept-Encoding: gzip\r\n".encode("latin-1")


class _Connection(asyncio.Protocol):
    """One TCP (or TLS) connection and the answer it is currently receiving."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.closed = False
        self.reused = False
        self.in_use = True
        self.idle_since = 0.0
        self._reset()

    def _reset(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.head_done = False
        self.done = False
        self.got_bytes = False
        self.keep_alive = False
        self.until_close = False
        self.error: BaseException | None = None
        self.body: list[bytes] = []
        self.buffered = 0
        self.paused = False
        self.waiter: asyncio.Future[None] | None = None
        self.decoder: Any = None

    # -- asyncio.Protocol --------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if not self.in_use:  # bytes on an idle connection (e.g. a server's 408): never reuse it
            self.close()
            return
        self.got_bytes = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(H1ProtocolError(f"invalid HTTP answer: {exc}"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.pool.forget(self)
        if self.done:
            return
        if self.until_close and self.error is None and exc is None:
            self.on_message_complete()  # a body delimited by the connection's (clean) end
            return
        error = H1Disconnected("upstream closed the connection" + (f": {exc}" if exc else ""))
        if exc is not None:
            error.__cause__ = exc
        self._fail(error)

    # -- httptools callbacks -----------------------------------------------------------------
    def on_header(self, name: bytes, value: bytes) -> None:
        key = name.decode("latin-1").lower()
        text = value.decode("latin-1")
        old = self.headers.get(key)
        self.headers[key] = text if old is None else f"{old}, {text}"

    def on_headers_complete(self) -> None:
        self.status = self.parser.get_status_code()
        if self.status < 200:  # 1xx: an interim answer; the real one follows
            self.headers = {}
            return
        headers = self.headers
        coding = headers.get("content-encoding", "identity").strip().lower()
        if coding in ("gzip", "x-gzip", "deflate"):
            self.decoder = zlib.decompressobj(47)  # gzip or zlib header, detected
        elif coding not in ("identity", ""):
            self._fail(H1ProtocolError(f"unsupported content-encoding {coding!r}"))
            self.close()
            return
        chunked = "chunked" in headers.get("transfer-encoding", "").lower()
        if "content-length" not in headers and not chunked:
            self.until_close = self.status not in (204, 304)
        self.head_done = True
        self._wake()

    def on_body(self, body: bytes) -> None:
        if self.error is not None:  # a failed answer (bad encoding): ignore the rest of it
            return
        if self.decoder is not None:
            try:
                body = self.decoder.decompress(body)
            except zlib.error as exc:
                self._fail(H1ProtocolError(f"cannot decode the compressed answer: {exc}"))
                self.close()
                return
            if not body:
                return
        self.body.append(body)
        self.buffered += len(body)
        if self.buffered > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def on_message_complete(self) -> None:
        if self.status < 200 or self.error is not None:
            return
        if self.decoder is not None:
            with contextlib.suppress(zlib.error):
                tail = self.decoder.flush()
                if tail:
                    self.body.append(tail)
        self.keep_alive = not self.until_close and self.parser.should_keep_alive()
        self.done = True
        self._wake()

    # -- helpers -----------------------------------------------------------------------------
    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: BaseException) -> None:
        if self.error is None:
            self.error = error
        self._wake()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            if self.transport is not None:
                self.transport.close()
            self.pool.forget(self)

    async def wait(self, limit_s: float | None = None) -> None:
        """Until something new arrived (head, body, end or error); TimeoutError after `limit_s`."""
        loop = asyncio.get_running_loop()
        self.waiter = waiter = loop.create_future()
        handle = None if limit_s is None else loop.call_later(limit_s, _expire, waiter)
        try:
            await waiter
        finally:
            self.waiter = None
            if handle is not None:
                handle.cancel()

    def take(self) -> bytes:
        """Everything buffered so far (and resume reading if it was paused)."""
        parts = self.body
        data = parts[0] if len(parts) == 1 else b"".join(parts)
        self.body = []
        self.buffered = 0
        if self.paused and self.transport is not None:
            self.paused = False
            self.transport.resume_reading()
        return data


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


class Response:
    """An answer whose head has arrived. Read it with `read()` or `iter_chunks()`, then `release()`
    (also on errors: an unfinished answer's connection is closed, a finished one is reused)."""

    __slots__ = ("_conn", "_released", "headers", "status")

    def __init__(self, conn: _Connection) -> None:
        self._conn = conn
        self._released = False
        self.status = conn.status
        self.headers = conn.headers

    async def read(self) -> bytes:
        conn = self._conn
        parts = []
        while not conn.done:
            if conn.error is not None:
                raise conn.error
            if conn.buffered > HIGH_WATER:  # take it, or reading stays paused and this never ends
                parts.append(conn.take())
            await conn.wait()
        if not parts:
            return conn.take()
        parts.append(conn.take())
        return b"".join(parts)

    async def iter_chunks(self, idle_timeout: float | None = None) -> AsyncIterator[bytes]:
        """The body as it arrives; `asyncio.TimeoutError` if nothing arrives for `idle_timeout` s."""
        conn = self._conn
        while True:
            if conn.body:
                yield conn.take()
                continue
            if conn.done:
                return
            if conn.error is not None:
                raise conn.error
            await conn.wait(idle_timeout)

    def release(self) -> None:
        if self._released:  # twice would pool the connection twice (or drop another request's)
            return
        self._released = True
        conn = self._conn
        if conn.done and conn.keep_alive and not conn.closed and not conn.body:
            conn.pool.put(conn)
        else:
            conn.close()

    async def __aenter__(self) -> Response:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.release()


class _Pool:
    """Idle keep-alive connections to one origin and the count of all open ones."""

    def __init__(self, client: H1Client, origin: _Origin) -> None:
        self.client = client
        self.origin = origin
        self.idle: deque[_Connection] = deque()
        self.open: set[_Connection] = set()
        self.waiters: deque[asyncio.Future[None]] = deque()
        self._sweeper: asyncio.TimerHandle | None = None

    def take_idle(self, now: float) -> _Connection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()  # most recently used first: the least likely to have expired
            if conn.closed:
                continue
            if now - conn.idle_since > self.client.keepalive_s:
                conn.close()
                continue
            conn.reused = True
            conn.in_use = True
            conn._reset()
            return conn
        return None

    async def connect(self, connect_s: float | None) -> _Connection:
        client = self.client
        while len(self.open) >= client.max_connections:
            waiter = asyncio.get_running_loop().create_future()
            self.waiters.append(waiter)
            try:
                await waiter
            except BaseException:
                with contextlib.suppress(ValueError):
                    self.waiters.remove(waiter)
                if waiter.done() and not waiter.cancelled():
                    self._notify()  # woken, then cancelled before it ran: pass the turn on
                raise
            conn = self.take_idle(time.monotonic())
            if conn is not None:
                return conn
        conn = _Connection(self)
        self.open.add(conn)
        origin = self.origin
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(connect_s):
                await loop.create_connection(
                    lambda: conn,
                    origin.host,
                    origin.port,
                    ssl=client.ssl_context() if origin.tls else None,
                    server_hostname=origin.server_hostname,
                )
        except TimeoutError:
            self.forget(conn)
            raise
        except OSError as exc:
            self.forget(conn)
            raise H1ConnectError(f"cannot connect to {origin.host}:{origin.port}: {exc}") from exc
        except BaseException:
            self.forget(conn)
            raise
        return conn

    def put(self, conn: _Connection) -> None:
        conn.in_use = False
        conn.idle_since = time.monotonic()
        self.idle.append(conn)
        if self._sweeper is None:
            self._sweeper = asyncio.get_running_loop().call_later(self.client.keepalive_s, self._sweep)
        self._notify()

    def _sweep(self) -> None:
        """Close connections idle for longer than `keepalive_s` (oldest are on the left)."""
        self._sweeper = None
        now = time.monotonic()
        idle = self.idle
        while idle and (idle[0].closed or now - idle[0].idle_since > self.client.keepalive_s):
            idle.popleft().close()
        if idle:
            delay = max(0.05, self.client.keepalive_s - (now - idle[0].idle_since))
            self._sweeper = asyncio.get_running_loop().call_later(delay, self._sweep)

    def forget(self, conn: _Connection) -> None:
        if not conn.in_use:
            with contextlib.suppress(ValueError):
                self.idle.remove(conn)
        if conn in self.open:
            self.open.discard(conn)
            self._notify()

    def _notify(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for conn in list(self.open):
            conn.close()
        self.idle.clear()


class H1Client:
    """Keep-alive HTTP/1.1 connections, at most `max_connections` open per origin."""

    def __init__(
        self,
        *,
        max_connections: int = 1000,
        connect_timeout_s: float = 10.0,
        keepalive_s: float = 30.0,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.connect_timeout_s = connect_timeout_s
        self.keepalive_s = keepalive_s
        self._ssl = ssl_context
        self._origins: dict[tuple[str, str], _Origin] = {}
        self._pools: dict[tuple[str, int, bool], _Pool] = {}

    def ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = ssl.create_default_context()
        return self._ssl

    def _origin(self, method: str, url: str) -> _Origin:
        key = (method, url)
        origin = self._origins.get(key)
        if origin is None:
            if len(self._origins) > 4096:  # URLs come from config; bound it anyway
                self._origins.clear()
            origin = self._origins[key] = _Origin(url, method)
        return origin

    async def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes = b"",
        *,
        connect_timeout: float | UseClientDefault | None = USE_CLIENT_DEFAULT,
        head_timeout: float | None = None,
    ) -> Response:
        """Send one request and wait for the answer's head (status + headers). `connect_timeout`
        defaults to the client's; `head_timeout` bounds the wait for the head once sent."""
        return await self.send(UpstreamRequest(method, url, headers, body, connect_timeout, head_timeout))

    async def send(self, request: UpstreamRequest) -> Response:
        """`request` as a `Transport` sends it: see `request()`."""
        connect_timeout = request.connect_timeout
        if connect_timeout is USE_CLIENT_DEFAULT:
            connect_timeout = self.connect_timeout_s
        headers = request.headers
        body = request.body
        origin = self._origin(request.method, request.url)
        pool = self._pools.get(origin.key)
        if pool is None:
            pool = self._pools[origin.key] = _Pool(self, origin)
        extra = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        if extra.count("\n") != len(headers) or extra.count("\r") != len(headers):
            # a line break inside a name or value would smuggle headers into the request
            raise ValueError("header names and values must not contain line breaks")
        head = b"".join(
            (
                origin.request_line,
                origin.static,
                extra.encode("latin-1"),
                b"Content-Length: %d\r\n\r\n" % len(body),
            )
        )
        for attempt in range(2):
            conn = (pool.take_idle(time.monotonic()) if attempt == 0 else None) or await pool.connect(
                connect_timeout
            )
            try:
                return await self._exchange(conn, head, body, request.head_timeout)
            except H1Disconnected:
                conn.close()
                if attempt or not conn.reused or conn.got_bytes:
                    raise
                # a kept-alive connection the server had closed: nothing was processed; once more,
                # on a new connection (other idle ones may be just as stale)
            except BaseException:
                conn.close()
                raise
        raise H1Disconnected("upstream closed a fresh connection before answering")

    async def _exchange(self, conn: _Connection, head: bytes, body: bytes, head_s: float | None) -> Response:
        transport = conn.transport
        if conn.closed or transport is None or transport.is_closing():
            raise H1Disconnected("connection closed before sending")
        if len(body) < 65536:
            transport.write(head + body)
        else:
            transport.writelines((head, body))
        while not conn.head_done:
            if conn.error is not None:
                raise conn.error
            await conn.wait(head_s)
        return Response(conn)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()
        await asyncio.sleep(0)  # let transports run their close callbacks
