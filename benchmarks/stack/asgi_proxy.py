"""Raw ASGI pass-through proxies (no framework) for the stack comparison.

Same work as ../bare_proxy.py (the aiohttp.web floor): read the whole body, parse it once with
orjson, serialise it again, POST it to $BENCH_UPSTREAM_URL/v1/chat/completions with one shared
client, return the answer unchanged; with "stream": true relay the upstream's bytes chunk by
chunk (`http.response.body` with `more_body`). Only the HTTP client differs:

  stack.asgi_proxy:aiohttp_app   aiohttp.ClientSession (limit=0)
  stack.asgi_proxy:httpx_app     httpx.AsyncClient (no connection limits, trust_env=False)
  stack.asgi_proxy:httpx2_app    the same with httpx2 (pydantic's fork of httpx), when installed

The client is created in the lifespan "startup" event on the server's own event loop and
closed on "shutdown". While the upstream call runs, a small task waits on receive() for
"http.disconnect" and cancels the request's task if the client goes away, so an abandoned
stream does not keep its upstream connection open (ASGI servers do not cancel the app;
uvicorn silently drops send() after a disconnect). STACK_WATCH_DISCONNECT=0 turns that off,
to measure what it costs. Serve with any ASGI server, e.g.
  uvicorn stack.asgi_proxy:aiohttp_app --loop uvloop --http httptools --lifespan on --no-access-log
  granian --interface asgi --loop uvloop --workers 1 --no-ws stack.asgi_proxy:aiohttp_app
"""

import asyncio
import contextlib
import importlib
import os

import orjson

UPSTREAM = os.environ.get("BENCH_UPSTREAM_URL", "http://127.0.0.1:9999").rstrip("/") + "/v1/chat/completions"
PATH = "/v1/chat/completions"
FORWARD_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-upstream-fake"}
BAD_JSON = b'{"error":{"message":"invalid JSON body","type":"invalid_request_error"}}'
NOT_FOUND = b'{"error":{"message":"not found","type":"invalid_request_error"}}'
JSON_CT = (b"content-type", b"application/json")
NO_CACHE = (b"cache-control", b"no-cache")
WATCH_DISCONNECT = os.environ.get("STACK_WATCH_DISCONNECT", "1") != "0"


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


async def read_body(receive):
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def send_whole(send, status, body, ctype=b"application/json"):
    await send({"type": "http.response.start", "status": status, "headers": [(b"content-type", ctype)]})
    await send({"type": "http.response.body", "body": body, "more_body": False})


async def _cancel_on_disconnect(receive, task):
    while (await receive())["type"] != "http.disconnect":
        pass
    task.cancel()


@contextlib.asynccontextmanager
async def disconnect_cancels(receive):
    """Cancel the current task if the client disconnects inside this block."""
    if not WATCH_DISCONNECT:
        yield
        return
    watcher = asyncio.ensure_future(_cancel_on_disconnect(receive, asyncio.current_task()))
    try:
        yield
    finally:
        watcher.cancel()


async def lifespan(receive, send, startup, shutdown):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return


async def parse_request(scope, receive, send):
    """The body as forwarded upstream and whether a stream was asked for; None if answered here."""
    if scope["path"] != PATH or scope["method"] != "POST":
        await send_whole(send, 404, NOT_FOUND)
        return None
    try:
        body = orjson.loads(await read_body(receive))
    except orjson.JSONDecodeError:
        await send_whole(send, 400, BAD_JSON)
        return None
    except ClientGone:
        return None
    return orjson.dumps(body), isinstance(body, dict) and body.get("stream") is True


class AiohttpProxy:
    def __init__(self):
        self.session = None

    async def startup(self):
        import aiohttp

        connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False)

    async def shutdown(self):
        await self.session.close()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await lifespan(receive, send, self.startup, self.shutdown)
        if scope["type"] != "http":
            return None
        parsed = await parse_request(scope, receive, send)
        if parsed is None:
            return None
        body, stream = parsed
        with contextlib.suppress(asyncio.CancelledError):  # the client went away
            async with (
                disconnect_cancels(receive),
                self.session.post(UPSTREAM, data=body, headers=FORWARD_HEADERS) as up,
            ):
                ctype = up.headers.get("Content-Type", "application/json").encode("latin-1")
                if not stream or up.status != 200:
                    data = await up.read()
                else:
                    data = None
                    headers = [(b"content-type", ctype), NO_CACHE]
                    await send({"type": "http.response.start", "status": 200, "headers": headers})
                    async for chunk in up.content.iter_any():
                        await send({"type": "http.response.body", "body": chunk, "more_body": True})
            if data is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await send_whole(send, up.status, data, ctype)
        return None


class HttpxProxy:
    def __init__(self, module="httpx"):
        self.module = module
        self.client = None

    async def startup(self):
        httpx = importlib.import_module(self.module)

        limits = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=60)
        timeout = httpx.Timeout(None, connect=10)
        self.client = httpx.AsyncClient(limits=limits, timeout=timeout, trust_env=False)

    async def shutdown(self):
        await self.client.aclose()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await lifespan(receive, send, self.startup, self.shutdown)
        if scope["type"] != "http":
            return None
        parsed = await parse_request(scope, receive, send)
        if parsed is None:
            return None
        body, stream = parsed
        request = self.client.build_request("POST", UPSTREAM, content=body, headers=FORWARD_HEADERS)
        with contextlib.suppress(asyncio.CancelledError):  # the client went away
            async with disconnect_cancels(receive):
                up = await self.client.send(request, stream=True)
                try:
                    ctype = up.headers.get("content-type", "application/json").encode("latin-1")
                    if not stream or up.status_code != 200:
                        data = await up.aread()
                    else:
                        data = None
                        headers = [(b"content-type", ctype), NO_CACHE]
                        await send({"type": "http.response.start", "status": 200, "headers": headers})
                        async for chunk in up.aiter_raw():
                            await send({"type": "http.response.body", "body": chunk, "more_body": True})
                finally:
                    await up.aclose()
            if data is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await send_whole(send, up.status_code, data, ctype)
        return None


aiohttp_app = AiohttpProxy()
httpx_app = HttpxProxy()
httpx2_app = HttpxProxy("httpx2")


class H1Proxy:
    """The same with Seawall's own HTTP/1.1 client (seawall.providers._h1; needs seawall installed)."""

    def __init__(self):
        self.client = None

    async def startup(self):
        from seawall.providers._h1 import H1Client

        self.client = H1Client(max_connections=100000, keepalive_s=60)

    async def shutdown(self):
        await self.client.aclose()

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await lifespan(receive, send, self.startup, self.shutdown)
        if scope["type"] != "http":
            return None
        parsed = await parse_request(scope, receive, send)
        if parsed is None:
            return None
        body, stream = parsed
        with contextlib.suppress(asyncio.CancelledError):  # the client went away
            async with disconnect_cancels(receive):
                up = await self.client.request("POST", UPSTREAM, FORWARD_HEADERS, body)
                try:
                    ctype = up.headers.get("content-type", "application/json").encode("latin-1")
                    if not stream or up.status != 200:
                        data = await up.read()
                    else:
                        data = None
                        headers = [(b"content-type", ctype), NO_CACHE]
                        await send({"type": "http.response.start", "status": 200, "headers": headers})
                        async for chunk in up.iter_chunks():
                            await send({"type": "http.response.body", "body": chunk, "more_body": True})
                finally:
                    up.release()
            if data is None:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            else:
                await send_whole(send, up.status, data, ctype)
        return None


h1_app = H1Proxy()
