"""The upstream HTTP/1.1 client (`seawall.providers._h1`) against real loopback servers.

Most servers here are `asyncio.start_server` handlers that write hand-made HTTP answers, so each
test controls the exact bytes and the exact moment the server sends or closes. Sequencing uses
events and queues; the only timeouts are the client's own (which must fire because the server
never answers) and guards that turn a hang into a quick failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import shutil
import socket
import ssl
import struct
import subprocess
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
import pytest

from seawall._types import AttemptInfo, AttemptTimeouts
from seawall.errors import (
    UpstreamBadResponse,
    UpstreamConnectionError,
    UpstreamError,
    UpstreamStreamCut,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from seawall.providers._h1 import (
    HIGH_WATER,
    H1Client,
    H1ConnectError,
    H1Disconnected,
    H1ProtocolError,
    _Origin,
)
from seawall.providers._http import HTTPProvider, transport_error

GUARD_S = 3.0  # turns a hang into a failure; never reached when the client behaves


# -- a scriptable raw HTTP server --------------------------------------------------------------


@dataclass
class Req:
    line: bytes
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key.lower() == name.lower():
                return value
        return None


class Peer:
    """The server's side of one accepted connection."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, index: int) -> None:
        self.reader = reader
        self.writer = writer
        self.index = index  # 0 for the first connection the server accepted, 1 for the next...

    async def request(self) -> Req | None:
        """The next request on this connection, or None when the client closed it."""
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial:
                raise
            return None
        except ConnectionError:
            return None
        line, *lines = head[:-4].split(b"\r\n")
        headers = []
        for raw in lines:
            name, _, value = raw.decode("latin-1").partition(":")
            headers.append((name, value.strip()))
        req = Req(line, headers, b"")
        req.body = await self.reader.readexactly(int(req.header("content-length") or 0))
        return req

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def client_closed(self) -> None:
        """Until the client closes this connection (reading and dropping anything it sends)."""
        with contextlib.suppress(ConnectionError):
            while await self.reader.read(65536):
                pass

    def reset(self) -> None:
        """Close with a TCP RST instead of a FIN."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # on, 0 s
        self.writer.transport.abort()


Handler = Callable[[Peer], Awaitable[None]]


class RawServer:
    """A loopback server running `handler` per connection; counts connections, re-raises handler bugs."""

    def __init__(self, handler: Handler, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None):
        self.handler = handler
        self.host = host
        self.tls = tls
        self.accepted = 0
        self.open_now = 0
        self.max_open = 0
        self.url = ""
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._errors: list[BaseException] = []

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._serve, self.host, 0, ssl=self.tls)
        port = self._server.sockets[0].getsockname()[1]
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.url = f"{'https' if self.tls else 'http'}://{host}:{port}"
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        index = self.accepted
        self.accepted += 1
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        try:
            await self.handler(Peer(reader, writer, index))
            await writer.drain()
        except (ConnectionError, asyncio.CancelledError):
            pass
        except BaseException as exc:
            self._errors.append(exc)
        finally:
            self.open_now -= 1
            writer.close()
            self._tasks.discard(task)

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._server is not None
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
        await asyncio.sleep(0)  # let the closed transports run their callbacks
        if self._errors and exc is None:
            raise self._errors[0]


def answer(body: bytes = b"ok", *, status: bytes = b"200 OK", extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), extra, body)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


async def echo_index(peer: Peer) -> None:
    """Keep-alive server: each answer names the connection it was sent on."""
    while await peer.request() is not None:
        peer.send(answer(b"conn-%d" % peer.index))


@contextlib.asynccontextmanager
async def h1(**kwargs: Any) -> AsyncIterator[H1Client]:
    client = H1Client(**kwargs)
    try:
        yield client
    finally:
        await client.aclose()


async def get(client: H1Client, url: str, body: bytes = b"", **kwargs: Any) -> tuple[int, bytes]:
    resp = await client.request("POST", url, {}, body, **kwargs)
    async with resp:
        return resp.status, await resp.read()


async def collect(pieces: AsyncIterator[bytes], got: list[bytes]) -> None:
    """Append each piece to `got` as it arrives, so what came before an error is kept."""
    async for piece in pieces:
        got.append(piece)  # noqa: PERF401 - one by one: the iteration is expected to fail midway


def refused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- 1. framing: Content-Length, chunked, connection close ----------------------------------------


async def test_content_length_answer() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(answer(b'{"hello": "world"}', status=b"201 Created", extra=b"X-Thing: One\r\n"))
        await peer.client_closed()

    async with RawServer(handler) as srv, h1() as client:
        resp = await client.request("POST", srv.url, {}, b"")
        async with resp:
            assert resp.status == 201
            assert resp.headers["x-thing"] == "One"
            assert resp.headers["content-length"] == "18"
            assert await resp.read() == b'{"hello": "world"}'


async def test_repeated_header_is_joined() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(answer(extra=b"Vary: a\r\nVary: b\r\n"))
        await peer.client_closed()

    async with RawServer(handler) as srv, h1() as client, await client.request("GET", srv.url, {}) as resp:
        assert resp.headers["vary"] == "a, b"
        assert await resp.read() == b"ok"


async def test_chunked_answer_with_extensions_and_trailers() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n")
            peer.send(chunk(b"alpha-"))
            peer.send(b"5;name=value\r\nbeta-\r\n")  # a chunk extension
            peer.send(chunk(b"gamma") + b"0\r\nX-Sum: 16\r\n\r\n")  # a trailer

    async with RawServer(handler) as srv, h1() as client:
        assert await get(client, srv.url) == (200, b"alpha-beta-gamma")
        assert await get(client, srv.url) == (200, b"alpha-beta-gamma")
        assert srv.accepted == 1  # the chunked answer ended cleanly: the connection was reused


async def test_transfer_encoding_is_matched_case_insensitively() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n" + chunk(b"x") + b"0\r\n\r\n")

    async with RawServer(handler) as srv, h1() as client:
        assert await get(client, srv.url) == (200, b"x")
        assert await get(client, srv.url) == (200, b"x")
        assert srv.accepted == 1  # not mistaken for a close-delimited answer


async def test_answer_delimited_by_connection_close() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nfirst part, ")
        await peer.writer.drain()
        peer.send(b"second part")
        # the handler returns: the server closes the connection, which ends the body

    async with RawServer(handler) as srv, h1() as client:
        assert await get(client, srv.url) == (200, b"first part, second part")
        assert await get(client, srv.url) == (200, b"first part, second part")
        assert srv.accepted == 2  # a close-delimited answer's connection is never reused


async def test_no_content_answer_is_not_close_delimited() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(b"HTTP/1.1 204 No Content\r\n\r\n")

    async with RawServer(handler) as srv, h1() as client:
        assert await get(client, srv.url) == (204, b"")
        assert await get(client, srv.url) == (204, b"")
        assert srv.accepted == 1


# -- 2. keep-alive ----------------------------------------------------------------------------


async def test_keep_alive_reuses_one_connection() -> None:
    async with RawServer(echo_index) as srv, h1() as client:
        for _ in range(3):
            assert await get(client, srv.url) == (200, b"conn-0")
        assert srv.accepted == 1


async def test_connection_close_from_server_is_honoured() -> None:
    closed_by_client = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(answer(b"conn-%d" % peer.index, extra=b"Connection: close\r\n"))
        await peer.client_closed()  # the server leaves the socket open: the client must close it
        closed_by_client.set()

    async with RawServer(handler) as srv, h1() as client:
        assert await get(client, srv.url) == (200, b"conn-0")
        async with asyncio.timeout(GUARD_S):
            await closed_by_client.wait()
        assert await get(client, srv.url) == (200, b"conn-1")
        assert srv.accepted == 2


async def test_http10_answer_without_keep_alive_is_not_reused() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(b"HTTP/1.0 200 OK\r\nContent-Length: 6\r\n\r\nconn-%d" % peer.index)

    async with RawServer(handler) as srv, h1() as client:
        assert await get(client, srv.url) == (200, b"conn-0")
        assert await get(client, srv.url) == (200, b"conn-1")
        assert srv.accepted == 2


async def test_http10_answer_with_keep_alive_is_reused() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(
                b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 6\r\n\r\nconn-%d" % peer.index
            )

    async with RawServer(handler) as srv, h1() as client:
        assert await get(client, srv.url) == (200, b"conn-0")
        assert await get(client, srv.url) == (200, b"conn-0")
        assert srv.accepted == 1


async def test_release_twice_does_not_pool_the_connection_twice() -> None:
    async with RawServer(echo_index) as srv, h1() as client:
        resp = await client.request("GET", srv.url, {})
        assert await resp.read() == b"conn-0"
        resp.release()
        resp.release()  # e.g. an explicit release inside `async with`
        async with asyncio.timeout(GUARD_S):
            results = await asyncio.gather(get(client, srv.url), get(client, srv.url))
        assert results == [(200, b"conn-0"), (200, b"conn-1")]
        assert srv.accepted == 2


# -- 3. the keep-alive race and disconnects ------------------------------------------------------


async def test_reused_connection_closed_unanswered_is_retried_on_a_fresh_one() -> None:
    second_request_seen_on_conn0 = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(answer(b"conn-%d" % peer.index))
        if peer.index == 0:
            assert await peer.request() is not None  # the reused connection got the 2nd request...
            second_request_seen_on_conn0.set()
            return  # ...and closes without answering (as a server timing out an idle socket does)
        await peer.client_closed()

    async with RawServer(handler) as srv, h1() as client:
        assert await get(client, srv.url) == (200, b"conn-0")
        assert await get(client, srv.url) == (200, b"conn-1")
        assert second_request_seen_on_conn0.is_set()
        assert srv.accepted == 2


async def test_idle_connection_closed_by_server_is_replaced_transparently() -> None:
    server_closed = asyncio.Event()

    async def handler(peer: Peer) -> None:
        if peer.index == 0:
            await peer.request()
            peer.send(answer(b"conn-0"))
            await peer.writer.drain()
            peer.writer.close()
            await peer.writer.wait_closed()
            server_closed.set()
            return
        await echo_index(peer)

    async with RawServer(handler) as srv, h1() as client:
        assert await get(client, srv.url) == (200, b"conn-0")
        await server_closed.wait()
        # whether or not the client has noticed the close yet, the next request must succeed
        assert await get(client, srv.url) == (200, b"conn-1")
        assert srv.accepted == 2


async def test_retry_goes_to_a_fresh_connection_not_another_stale_one() -> None:
    two_requests = asyncio.Event()
    first_requests = 0

    async def handler(peer: Peer) -> None:
        nonlocal first_requests
        await peer.request()
        if peer.index < 2:  # two connections to pool: answer both once they are both open
            first_requests += 1
            if first_requests == 2:
                two_requests.set()
            await two_requests.wait()
            peer.send(answer(b"conn-%d" % peer.index))
            await peer.request()
            return  # stale: the next request on it is dropped with the connection
        peer.send(answer(b"conn-%d" % peer.index))
        await peer.client_closed()

    async with RawServer(handler) as srv, h1() as client:
        first = await asyncio.gather(get(client, srv.url), get(client, srv.url))
        assert sorted(first) == [(200, b"conn-0"), (200, b"conn-1")]
        assert await get(client, srv.url) == (200, b"conn-2")
        assert srv.accepted == 3


async def test_fresh_connection_closed_before_answering_is_not_retried() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()  # then close without a byte of answer

    async with RawServer(handler) as srv, h1() as client:
        with pytest.raises(H1Disconnected):
            await client.request("POST", srv.url, {}, b"{}")
        assert srv.accepted == 1


async def test_reused_connection_closed_mid_head_is_not_retried() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(answer(b"conn-%d" % peer.index))
        await peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Le")  # part of an answer: the request was processed

    async with RawServer(handler) as srv, h1() as client:
        assert await get(client, srv.url) == (200, b"conn-0")
        with pytest.raises(H1Disconnected):
            await client.request("POST", srv.url, {}, b"{}")
        assert srv.accepted == 1


async def test_close_mid_body_raises_from_read() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")

    async with RawServer(handler) as srv, h1() as client:
        resp = await client.request("POST", srv.url, {}, b"")
        async with resp:
            with pytest.raises(H1Disconnected):
                await resp.read()


async def test_close_mid_body_raises_from_iter_chunks_after_the_received_part() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"data: 1\n\n"))

    async with RawServer(handler) as srv, h1() as client:
        resp = await client.request("POST", srv.url, {}, b"")
        got = []
        async with resp:
            with pytest.raises(H1Disconnected):
                await collect(resp.iter_chunks(idle_timeout=GUARD_S), got)
        assert b"".join(got) == b"data: 1\n\n"


async def test_reset_during_close_delimited_body_is_not_a_clean_end() -> None:
    reset = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\n\r\nfirst")
        await reset.wait()
        peer.reset()

    async with RawServer(handler) as srv, h1() as client:
        resp = await client.request("POST", srv.url, {}, b"")
        async with resp:
            pieces = resp.iter_chunks(idle_timeout=GUARD_S)
            assert await anext(pieces) == b"first"
            reset.set()
            with pytest.raises(H1Disconnected):
                await anext(pieces)


# -- 4. content encodings and garbage ------------------------------------------------------------

BODY = b'{"choices": [{"message": {"content": "' + b"compressible " * 2000 + b'"}}]}'


@pytest.mark.parametrize(
    ("coding", "compress"),
    [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
    ],
)
async def test_compressed_answer_is_decoded(coding: str, compress: Callable[[bytes], bytes]) -> None:
    packed = compress(BODY)
    seen: list[Req] = []

    async def handler(peer: Peer) -> None:
        while (req := await peer.request()) is not None:
            seen.append(req)
            head = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nTransfer-Encoding: chunked\r\n\r\n"
            peer.send(head % coding.encode())
            for i in range(0, len(packed), 50):  # the compressed stream split over many chunks
                peer.send(chunk(packed[i : i + 50]))
            peer.send(b"0\r\n\r\n")

    async with RawServer(handler) as srv, h1() as client:
        assert len(packed) < len(BODY) // 10
        assert await get(client, srv.url) == (200, BODY)
        resp = await client.request("POST", srv.url, {}, b"")
        async with resp:
            assert b"".join([piece async for piece in resp.iter_chunks()]) == BODY
        assert seen[0].header("accept-encoding") == "gzip"
        assert srv.accepted == 1


async def test_unknown_content_encoding_is_a_protocol_error() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(answer(b"\x1b\x03\x00brotli-bytes", extra=b"Content-Encoding: br\r\n"))
        await peer.client_closed()

    async with RawServer(handler) as srv, h1() as client:
        with pytest.raises(H1ProtocolError, match="br"):
            await client.request("POST", srv.url, {}, b"")


async def test_corrupt_gzip_is_a_protocol_error_not_a_short_body() -> None:
    packed = gzip.compress(BODY)
    broken = packed[:20] + bytes(b ^ 0xFF for b in packed[20:60]) + packed[60:]

    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(answer(broken, extra=b"Content-Encoding: gzip\r\n"))
        await peer.client_closed()

    async with RawServer(handler) as srv, h1() as client:
        resp = await client.request("POST", srv.url, {}, b"")
        async with resp:
            with pytest.raises(H1ProtocolError, match="compressed"):
                await resp.read()


@pytest.mark.parametrize(
    "garbage",
    [b"SSH-2.0-OpenSSH_9.6\r\n", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", b"HTTP/1.1 abc OK\r\n\r\n"],
)
async def test_garbage_instead_of_http_is_a_protocol_error(garbage: bytes) -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(garbage)
        await peer.client_closed()

    async with RawServer(handler) as srv, h1() as client:
        with pytest.raises(H1ProtocolError):
            await client.request("POST", srv.url, {}, b"")


# -- 5. streaming, timeouts, flow control --------------------------------------------------------


async def test_iter_chunks_yields_each_piece_as_it_is_sent() -> None:
    next_piece = asyncio.Queue[None]()

    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(3):
            peer.send(chunk(b"data: %d\n\n" % i))
            await next_piece.get()  # the next piece only once the client has this one
        peer.send(b"0\r\n\r\n")

    async with RawServer(handler) as srv, h1() as client:
        resp = await client.request("POST", srv.url, {}, b"")
        got = []
        async with resp, asyncio.timeout(GUARD_S):
            async for piece in resp.iter_chunks():
                got.append(piece)
                next_piece.put_nowait(None)
        assert got == [b"data: 0\n\n", b"data: 1\n\n", b"data: 2\n\n"]


async def test_idle_timeout_when_the_server_stalls_mid_stream() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"data: 0\n\n"))
        await peer.client_closed()  # and never another byte

    async with RawServer(handler) as srv, h1() as client:
        resp = await client.request("POST", srv.url, {}, b"")
        got = []
        async with resp:
            with pytest.raises(asyncio.TimeoutError):
                await collect(resp.iter_chunks(idle_timeout=0.1), got)
        assert got == [b"data: 0\n\n"]


async def test_head_timeout_when_the_server_never_answers() -> None:
    closed = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        await peer.client_closed()
        closed.set()

    async with RawServer(handler) as srv, h1() as client:
        with pytest.raises(asyncio.TimeoutError):
            await client.request("POST", srv.url, {}, b"", head_timeout=0.1)
        async with asyncio.timeout(GUARD_S):
            await closed.wait()  # the timed-out connection was closed, not pooled


async def test_large_stream_with_a_slow_consumer_is_intact_and_bounded() -> None:
    body = os.urandom(4 * 1024 * 1024)
    all_written = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
        for i in range(0, len(body), 65536):
            peer.send(body[i : i + 65536])
            await peer.writer.drain()
        all_written.set()
        await peer.client_closed()

    async with RawServer(handler) as srv, h1() as client:
        resp = await client.request("POST", srv.url, {}, b"")
        async with resp:
            pieces = resp.iter_chunks(idle_timeout=GUARD_S)
            got = [await anext(pieces)]
            # A slow consumer: take nothing for a while. Without flow control the client would
            # buffer whatever arrives meanwhile (most of the 4 MB); with it, reading pauses.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(all_written.wait(), 0.3)
            got += [piece async for piece in pieces]
        assert b"".join(got) == body
        # one transport read is at most 256 KiB; reading pauses once more than HIGH_WATER is buffered
        assert max(len(piece) for piece in got) <= HIGH_WATER + 256 * 1024


async def test_large_answer_read_whole() -> None:
    body = os.urandom(4 * 1024 * 1024)

    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body))
            peer.send(body)

    async with RawServer(handler) as srv, h1() as client, asyncio.timeout(GUARD_S):
        assert await get(client, srv.url) == (200, body)
        assert await get(client, srv.url) == (200, body)
        assert srv.accepted == 1


# -- 6. connection limit ------------------------------------------------------------------------


@pytest.mark.parametrize("close_after", [False, True])
async def test_connection_limit_makes_the_third_request_wait(close_after: bool) -> None:
    arrived = asyncio.Queue[int]()
    release = {n: asyncio.Event() for n in range(3)}
    extra = b"Connection: close\r\n" if close_after else b""

    async def handler(peer: Peer) -> None:
        while (req := await peer.request()) is not None:
            n = int(req.body)
            arrived.put_nowait(n)
            await release[n].wait()
            peer.send(answer(b"answer-%d" % n, extra=extra))

    async with RawServer(handler) as srv, h1(max_connections=2) as client:
        tasks = [asyncio.create_task(get(client, srv.url, b"%d" % n)) for n in range(3)]
        async with asyncio.timeout(GUARD_S):
            first = {await arrived.get(), await arrived.get()}
        # Grace for a third connection that must not come: it can only arrive if the limit is broken.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(arrived.get(), 0.2)
        assert srv.accepted == 2
        assert not any(task.done() for task in tasks)

        freed = min(first)
        release[freed].set()
        async with asyncio.timeout(GUARD_S):
            third = await arrived.get()
        assert third not in first
        for event in release.values():
            event.set()
        async with asyncio.timeout(GUARD_S):
            results = await asyncio.gather(*tasks)
        assert results == [(200, b"answer-%d" % n) for n in range(3)]
        if close_after:
            assert srv.accepted == 3  # the closed connection's slot went to the third request
        else:
            assert srv.accepted == 2  # the third request reused the freed connection
            assert srv.max_open == 2


async def test_cancelled_pool_waiter_passes_its_turn_on() -> None:
    async with RawServer(echo_index) as srv, h1(max_connections=1) as client:
        first = await client.request("POST", srv.url, {}, b"")
        assert await first.read() == b"conn-0"
        waiting = [asyncio.create_task(get(client, srv.url)) for _ in range(2)]
        await asyncio.sleep(0)  # both run up to their wait for a free connection
        assert not any(task.done() for task in waiting)
        first.release()  # wakes the first waiter...
        waiting[0].cancel()  # ...which is cancelled before it can run (e.g. its deadline passed)
        async with asyncio.timeout(GUARD_S):
            assert await waiting[1] == (200, b"conn-0")
        with pytest.raises(asyncio.CancelledError):
            await waiting[0]


# -- 7. connect errors --------------------------------------------------------------------------


async def test_connection_refused_is_a_connect_error() -> None:
    port = refused_port()
    async with h1() as client:
        with pytest.raises(H1ConnectError) as info:
            await client.request("POST", f"http://127.0.0.1:{port}/v1", {}, b"")
        assert isinstance(info.value.__cause__, OSError)


async def test_connect_timeout_against_a_full_backlog() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers: list[socket.socket] = []
        try:
            full = False
            for _ in range(8):  # connect until the (never accepted) backlog drops new handshakes
                sock = socket.socket()
                fillers.append(sock)
                sock.settimeout(0.2)
                try:
                    sock.connect(("127.0.0.1", port))
                except TimeoutError:
                    full = True
                    break
            if not full:
                pytest.skip("this kernel never let a listen backlog fill up; no way to stall a connect")
            async with h1(connect_timeout_s=0.2) as client:
                with pytest.raises(asyncio.TimeoutError):
                    await client.request("POST", f"http://127.0.0.1:{port}/", {}, b"")
                # the per-request override wins over the client's default
                with pytest.raises(asyncio.TimeoutError):
                    await client.request("POST", f"http://127.0.0.1:{port}/", {}, b"", connect_timeout=0.05)
        finally:
            for sock in fillers:
                sock.close()


# -- 8. cancellation ----------------------------------------------------------------------------


async def test_cancel_while_waiting_for_the_head_closes_that_connection() -> None:
    got_request = asyncio.Event()
    closed = asyncio.Event()

    async def handler(peer: Peer) -> None:
        if peer.index == 0:
            await peer.request()
            got_request.set()
            await peer.client_closed()
            closed.set()
            return
        await echo_index(peer)

    async with RawServer(handler) as srv, h1() as client:
        task = asyncio.create_task(client.request("POST", srv.url, {}, b""))
        await got_request.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        async with asyncio.timeout(GUARD_S):
            await closed.wait()
        assert await get(client, srv.url) == (200, b"conn-1")
        assert srv.accepted == 2


async def test_releasing_an_unread_answer_closes_its_connection() -> None:
    async def handler(peer: Peer) -> None:
        while await peer.request() is not None:
            peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npart")

    async with RawServer(handler) as srv, h1() as client:
        for _ in range(2):
            resp = await client.request("POST", srv.url, {}, b"")
            resp.release()
        assert srv.accepted == 2


# -- 9-10. idle pooled connections --------------------------------------------------------------


async def test_bytes_on_an_idle_connection_mean_it_is_not_reused() -> None:
    send_408 = asyncio.Event()
    closed = asyncio.Event()

    async def handler(peer: Peer) -> None:
        if peer.index == 0:
            await peer.request()
            peer.send(answer(b"conn-0"))
            await send_408.wait()
            peer.send(b"HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\n\r\n")
            await peer.client_closed()  # the server keeps its end open
            closed.set()
            return
        await echo_index(peer)

    async with RawServer(handler) as srv, h1() as client:
        assert await get(client, srv.url) == (200, b"conn-0")
        send_408.set()
        async with asyncio.timeout(GUARD_S):
            await closed.wait()
        assert await get(client, srv.url) == (200, b"conn-1")
        assert srv.accepted == 2


async def test_idle_connection_past_keepalive_is_not_reused() -> None:
    closed = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await echo_index(peer)
        closed.set()

    async with RawServer(handler) as srv, h1(keepalive_s=30.0) as client:
        resp = await client.request("POST", srv.url, {}, b"")
        assert await resp.read() == b"conn-0"
        resp.release()
        resp._conn.idle_since -= 60.0  # as if it had been idle for a minute
        assert await get(client, srv.url) == (200, b"conn-1")
        async with asyncio.timeout(GUARD_S):
            await closed.wait()  # and the expired one was closed
        assert srv.accepted == 2


async def test_idle_connections_are_swept_after_keepalive() -> None:
    closed = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await echo_index(peer)
        if peer.index == 0:
            closed.set()

    async with RawServer(handler) as srv, h1(keepalive_s=0.01) as client:
        assert await get(client, srv.url) == (200, b"conn-0")
        async with asyncio.timeout(GUARD_S):
            await closed.wait()  # closed by the client's sweeper, with no request to trigger it
        assert await get(client, srv.url) == (200, b"conn-1")


async def test_aclose_closes_pooled_connections() -> None:
    closed = asyncio.Event()

    async def handler(peer: Peer) -> None:
        await echo_index(peer)
        closed.set()

    async with RawServer(handler) as srv, h1() as client:
        assert await get(client, srv.url) == (200, b"conn-0")
        await client.aclose()
        async with asyncio.timeout(GUARD_S):
            await closed.wait()


# -- 11. the request on the wire -----------------------------------------------------------------


async def test_request_wire_format() -> None:
    seen: list[Req] = []

    async def handler(peer: Peer) -> None:
        while (req := await peer.request()) is not None:
            seen.append(req)
            peer.send(answer())

    small = b'{"model": "m", "messages": []}'
    large = os.urandom(200 * 1024)  # over 64 KiB: written as head and body separately
    async with RawServer(handler) as srv, h1() as client:
        headers = {"Authorization": "Bearer sk-test", "anthropic-version": "2023-06-01"}
        await get_with(client, "POST", f"{srv.url}/v1/chat/completions?beta=true&x=1", headers, small)
        await get_with(client, "POST", f"{srv.url}/v1/big", {"X-Big": "yes"}, large)
        await get_with(client, "GET", srv.url, {}, b"")
        host = f"127.0.0.1:{srv.port}"

    assert seen[0].line == b"POST /v1/chat/completions?beta=true&x=1 HTTP/1.1"
    assert seen[0].headers == [
        ("Host", host),
        ("Accept-Encoding", "gzip"),
        ("Authorization", "Bearer sk-test"),
        ("anthropic-version", "2023-06-01"),
        ("Content-Length", str(len(small))),
    ]
    assert seen[0].body == small
    assert seen[1].line == b"POST /v1/big HTTP/1.1"
    assert seen[1].header("content-length") == str(len(large))
    assert seen[1].header("x-big") == "yes"
    assert seen[1].body == large
    assert seen[2].line == b"GET / HTTP/1.1"
    assert seen[2].header("content-length") == "0"
    assert seen[2].body == b""


async def get_with(client: H1Client, method: str, url: str, headers: dict[str, str], body: bytes) -> None:
    resp = await client.request(method, url, headers, body)
    async with resp:
        assert await resp.read() == b"ok"


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
async def test_ipv6_literal_host_header() -> None:
    seen: list[Req] = []

    async def handler(peer: Peer) -> None:
        while (req := await peer.request()) is not None:
            seen.append(req)
            peer.send(answer())

    async with RawServer(handler, host="::1") as srv, h1() as client:
        await get_with(client, "POST", f"{srv.url}/v1", {}, b"x")
        assert seen[0].header("host") == f"[::1]:{srv.port}"


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://example.com/v1", "example.com"),
        ("https://example.com:443/v1", "example.com"),
        ("https://example.com:8443/v1", "example.com:8443"),
        ("http://example.com:443/v1", "example.com:443"),
        ("http://[::1]/v1", "[::1]"),
        ("https://[2001:db8::1]:8443/", "[2001:db8::1]:8443"),
    ],
)
def test_host_header_value(url: str, host: str) -> None:
    # default ports are left out, IPv6 literals bracketed (checked without a server: port 80/443)
    assert _Origin(url, "POST").static.startswith(b"Host: %s\r\n" % host.encode())


@pytest.mark.parametrize("url", ["ftp://example.com/", "http:///nohost", "example.com/v1"])
async def test_non_http_url_is_refused(url: str) -> None:
    async with h1() as client:
        with pytest.raises(ValueError, match="not an http"):
            await client.request("POST", url, {}, b"")


# -- 12. TLS ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.fail("the TLS tests need the openssl CLI (or trustme) to make a self-signed certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=localhost",
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_tls(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


async def test_tls_round_trip_with_keep_alive(tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    seen: list[Req] = []

    async def handler(peer: Peer) -> None:
        assert peer.writer.get_extra_info("ssl_object") is not None
        while (req := await peer.request()) is not None:
            seen.append(req)
            peer.send(answer(b"secure-%d:" % peer.index + req.body))

    trusting = ssl.create_default_context(cafile=str(cert))
    async with RawServer(handler, tls=server_tls(cert, key)) as srv, h1(ssl_context=trusting) as client:
        assert srv.url.startswith("https://127.0.0.1:")
        assert await get(client, f"{srv.url}/v1", b"one") == (200, b"secure-0:one")
        big = os.urandom(100 * 1024)
        assert await get(client, f"{srv.url}/v1", big) == (200, b"secure-0:" + big)
        assert srv.accepted == 1
        assert seen[0].header("host") == f"127.0.0.1:{srv.port}"


async def test_tls_with_an_untrusted_certificate_is_a_connect_error(tls_cert: tuple[Path, Path]) -> None:
    cert, key = tls_cert
    async with RawServer(echo_index, tls=server_tls(cert, key)) as srv, h1() as client:
        with pytest.raises(H1ConnectError) as info:
            await client.request("POST", srv.url, {}, b"")
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)


# -- 13. interim answers ------------------------------------------------------------------------


async def test_interim_1xx_answers_are_skipped() -> None:
    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 100 Continue\r\n\r\n")
        await peer.writer.drain()
        peer.send(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>\r\n\r\n")
        peer.send(answer(b"final", extra=b"X-Final: 1\r\n"))
        await echo_index(peer)

    async with RawServer(handler) as srv, h1() as client:
        resp = await client.request("POST", srv.url, {}, b"")
        async with resp:
            assert resp.status == 200
            assert resp.headers["x-final"] == "1"
            assert "link" not in resp.headers
            assert await resp.read() == b"final"
        assert await get(client, srv.url) == (200, b"conn-0")  # the connection stays usable
        assert srv.accepted == 1


# -- 14. the HTTPProvider boundary ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("exc", "streaming", "expected"),
    [
        (TimeoutError(), False, UpstreamTimeout),
        (TimeoutError(), True, UpstreamTimeout),
        (H1ConnectError("refused"), False, UpstreamConnectionError),
        (H1ConnectError("refused"), True, UpstreamConnectionError),
        (H1Disconnected("closed"), False, UpstreamConnectionError),
        (H1Disconnected("closed"), True, UpstreamStreamCut),
        (H1ProtocolError("junk"), False, UpstreamBadResponse),
        (H1ProtocolError("junk"), True, UpstreamStreamCut),
        (ConnectionResetError("reset"), False, UpstreamConnectionError),
        (ConnectionResetError("reset"), True, UpstreamStreamCut),
    ],
)
def test_transport_error_mapping(exc: BaseException, streaming: bool, expected: type[UpstreamError]) -> None:
    error = transport_error(exc, streaming=streaming)
    assert type(error) is expected
    assert error.error_class == expected.error_class


class _Provider(HTTPProvider):
    label = "test"

    def classify(self, status: int, body: bytes, headers: Any) -> UpstreamError:
        return UpstreamUnavailable(f"status {status}", upstream_status=status)

    def ratelimit(self, headers: Any) -> dict[str, str]:
        return {k: v for k, v in headers.items() if k.startswith("x-ratelimit")}


@contextlib.asynccontextmanager
async def provider() -> AsyncIterator[_Provider]:
    prov = _Provider("test", {}, max_connections=4, connect_timeout_s=2.0)
    try:
        yield prov
    finally:
        await prov.aclose()


async def test_provider_post_reads_a_large_json_answer() -> None:
    payload = {"data": [{"embedding": [0.125] * 1000, "index": i} for i in range(100)]}
    raw = orjson.dumps(payload)

    async def handler(peer: Peer) -> None:
        await peer.request()
        peer.send(answer(raw, extra=b"X-Ratelimit-Remaining: 7\r\n"))
        await peer.client_closed()

    async with RawServer(handler) as srv, provider() as prov, asyncio.timeout(GUARD_S):
        assert len(raw) > 2 * HIGH_WATER
        info = AttemptInfo()
        parsed, body = await prov.post(f"{srv.url}/v1/embeddings", b"{}", {}, info)
        assert parsed == payload
        assert body == raw
        assert info.status == 200
        assert info.ratelimit == {"x-ratelimit-remaining": "7"}


async def test_provider_post_maps_transport_failures() -> None:
    async def cut(peer: Peer) -> None:
        await peer.request()
        peer.send(b"HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n{")

    async with provider() as prov:
        with pytest.raises(UpstreamConnectionError):
            await prov.post(f"http://127.0.0.1:{refused_port()}/", b"{}", {}, AttemptInfo())
        async with RawServer(cut) as srv:
            with pytest.raises(UpstreamConnectionError):
                await prov.post(srv.url, b"{}", {}, AttemptInfo())


async def test_provider_pieces_cut_stream_and_bad_answer() -> None:
    async def handler(peer: Peer) -> None:
        req = await peer.request()
        assert req is not None
        if req.line.startswith(b"POST /cut"):
            peer.send(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk(b"data: 1\n\n"))
        elif req.line.startswith(b"POST /brotli"):
            peer.send(answer(b"...", extra=b"Content-Encoding: br\r\n"))
            await peer.client_closed()
        else:
            await peer.client_closed()  # never answers

    timeouts = AttemptTimeouts(connect=2.0, idle=0.1)
    async with RawServer(handler) as srv, provider() as prov:
        got = []
        with pytest.raises(UpstreamStreamCut):
            await collect(prov.pieces(f"{srv.url}/cut", b"{}", {}, timeouts, AttemptInfo()), got)
        assert got == [b"data: 1\n\n"]
        with pytest.raises(UpstreamBadResponse):
            await collect(prov.pieces(f"{srv.url}/brotli", b"{}", {}, timeouts, AttemptInfo()), got)
        with pytest.raises(UpstreamTimeout):
            await collect(prov.pieces(f"{srv.url}/silent", b"{}", {}, timeouts, AttemptInfo()), got)
        assert got == [b"data: 1\n\n"]  # neither failed call yielded anything


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    from seawall.providers._h1 import H1Client

    client = H1Client()
    try:
        # nothing listens on port 9: had the check not run first, this would be a connect error
        for headers in ({"x-a": "ok\r\nInjected: yes"}, {"x-b\nInjected": "yes"}, {"x-c": "a\rb"}):
            with pytest.raises(ValueError, match="line breaks"):
                await client.request("POST", "http://127.0.0.1:9/v1/x", headers, b"{}")
    finally:
        await client.aclose()


async def test_provider_refuses_a_header_with_a_line_break_as_an_invalid_request() -> None:
    from seawall.errors import InvalidRequest

    async with provider() as prov:
        with pytest.raises(InvalidRequest, match="line breaks"):
            await prov.post("http://127.0.0.1:9/v1/x", b"{}", {"anthropic-beta": "a\r\nX: y"}, AttemptInfo())
