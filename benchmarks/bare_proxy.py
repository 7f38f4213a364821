#!/usr/bin/env python3
"""The "Python floor": the least a Python gateway can do per request.

A bare pass-through proxy on aiohttp.web + uvloop + orjson with one shared
aiohttp.ClientSession. For each POST /v1/chat/completions it reads the body, parses it once
(a gateway must, to route by model and see "stream"), serialises it again (a gateway must,
after mapping the model name), POSTs it to the upstream's /v1/chat/completions and returns
the answer unchanged. With "stream": true it relays the SSE bytes chunk by chunk as they
arrive. No routing table, no auth, no retries, no traces, no metrics, no access log.

Whatever Seawall costs above this is the price of its features; whatever this costs is the
price of Python + aiohttp on this machine.

  python bare_proxy.py --port 4200 --upstream http://127.0.0.1:9999

Needs aiohttp and orjson; uses uvloop when installed.
"""

import argparse
import asyncio
import os

import aiohttp
import orjson
from aiohttp import web

try:
    import uvloop
except ImportError:  # pragma: no cover - optional
    uvloop = None

SESSION = web.AppKey("session", aiohttp.ClientSession)
UPSTREAM = web.AppKey("upstream", str)
FORWARD_HEADERS = {"Content-Type": "application/json", "Authorization": "Bearer sk-upstream-fake"}
BAD_JSON = b'{"error":{"message":"invalid JSON body","type":"invalid_request_error"}}'


async def chat(request: web.Request) -> web.StreamResponse:
    raw = await request.read()
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return web.Response(status=400, body=BAD_JSON, content_type="application/json")
    stream = isinstance(body, dict) and body.get("stream") is True
    session = request.app[SESSION]
    async with session.post(request.app[UPSTREAM], data=orjson.dumps(body), headers=FORWARD_HEADERS) as up:
        ctype = up.headers.get("Content-Type", "application/json")
        if not stream or up.status != 200:
            return web.Response(status=up.status, body=await up.read(), headers={"Content-Type": ctype})
        resp = web.StreamResponse(status=200, headers={"Content-Type": ctype, "Cache-Control": "no-cache"})
        await resp.prepare(request)
        async for chunk in up.content.iter_any():
            await resp.write(chunk)
        await resp.write_eof()
        return resp


async def client_session(app: web.Application):
    # limit=0: no cap on upstream connections (idle_streams.py holds 1000+ of them).
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=60)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        app[SESSION] = session
        yield


def make_app(upstream: str) -> web.Application:
    app = web.Application()
    app[UPSTREAM] = upstream.rstrip("/") + "/v1/chat/completions"
    app.cleanup_ctx.append(client_session)
    app.router.add_post("/v1/chat/completions", chat)
    return app


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4200)
    p.add_argument(
        "--upstream",
        default=os.environ.get("BENCH_UPSTREAM_URL", "http://127.0.0.1:9999"),
        help="upstream base URL (default $BENCH_UPSTREAM_URL or http://127.0.0.1:9999)",
    )
    p.add_argument(
        "--no-handler-cancellation",
        action="store_true",
        help="aiohttp's default: keep running a handler whose client left (to measure what cancelling costs)",
    )
    args = p.parse_args(argv)
    loop = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
    web.run_app(
        make_app(args.upstream),
        host=args.host,
        port=args.port,
        access_log=None,
        print=None,
        # Cancel the handler when the client goes away, so that its upstream request is closed
        # too (off by default since aiohttp 3.9: an abandoned idle stream would keep its
        # upstream connection open until the upstream ends it).
        handler_cancellation=not args.no_handler_cancellation,
        backlog=4096,
        loop=loop,
    )


if __name__ == "__main__":
    main()
