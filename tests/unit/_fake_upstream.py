"""A scripted upstream on a real loopback socket: each request gets the next `Reply`, and is recorded."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web


@dataclass
class Reply:
    status: int = 200
    body: bytes = b"{}"
    headers: dict[str, str] = field(default_factory=dict)
    stream: list[bytes] | None = None
    """Streamed answer: written piece by piece (then the body is ignored)."""
    cut: bool = False
    """Close the connection after the pieces instead of ending the body cleanly."""


@dataclass
class Received:
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class FakeUpstream:
    def __init__(self, *replies: Reply) -> None:
        self.replies = list(replies)
        self.requests: list[Received] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> FakeUpstream:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(self._runner, sock).start()
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        self.requests.append(
            Received(
                request.path,
                dict(request.query),
                {k.lower(): v for k, v in request.headers.items()},
                orjson.loads(raw) if raw else None,
            )
        )
        reply = self.replies.pop(0)
        if reply.stream is None:
            return web.Response(
                status=reply.status,
                body=reply.body,
                headers={"content-type": "application/json", **reply.headers},
            )
        response = web.StreamResponse(
            status=reply.status, headers={"content-type": "text/event-stream", **reply.headers}
        )
        await response.prepare(request)
        for piece in reply.stream:
            await response.write(piece)
        if reply.cut:
            assert request.transport is not None
            request.transport.close()
            return response
        await response.write_eof()
        return response
