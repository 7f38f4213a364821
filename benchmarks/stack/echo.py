#!/usr/bin/env python3
"""Server-only baselines for the stack comparison: no upstream call at all.

Each app reads the whole request body, parses it with orjson and answers with a canned
~600-byte chat completion (or, with "stream": true, a canned 15-event SSE stream, sent as 15
body chunks). The difference between a proxy's CPU per request and its server's echo CPU per
request is what the upstream *client* costs; the echo numbers themselves are what the HTTP
*server* layer costs.

  python stack/echo.py --port 4311                          # aiohttp.web + uvloop
  uvicorn echo:app --app-dir stack --loop uvloop --http httptools --lifespan off --no-access-log
  granian --interface asginl --loop uvloop --no-ws --working-dir stack echo:app
"""

import argparse
import asyncio

import orjson
from aiohttp import web

try:
    import uvloop
except ImportError:  # pragma: no cover - optional
    uvloop = None

ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-000000000001",
        "object": "chat.completion",
        "created": 1795676536,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The quick brown fox jumps over the lazy dog"},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 38, "completion_tokens": 12, "total_tokens": 50},
        "system_fingerprint": "fp_bench_v1",
    }
)
_HEAD = (
    b'data: {"id":"chatcmpl-2","object":"chat.completion.chunk","created":1795676536,"model":"gpt-4o-mini",'
)
EVENTS = (
    [_HEAD + b'"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n']
    + [
        _HEAD + b'"choices":[{"index":0,"delta":{"content":" %s"},"finish_reason":null}]}\n\n' % w
        for w in b"The quick brown fox jumps over the lazy dog while the gateway".split()
    ]
    + [_HEAD + b'"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n']
)
JSON_CT = (b"content-type", b"application/json")
SSE_CT = (b"content-type", b"text/event-stream")


# ---- raw ASGI ---------------------------------------------------------------------------------
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = orjson.loads(b"".join(chunks))
    if body.get("stream") is True:
        await send({"type": "http.response.start", "status": 200, "headers": [SSE_CT]})
        for event in EVENTS:
            await send({"type": "http.response.body", "body": event, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    else:
        await send({"type": "http.response.start", "status": 200, "headers": [JSON_CT]})
        await send({"type": "http.response.body", "body": ANSWER, "more_body": False})


# ---- aiohttp.web ------------------------------------------------------------------------------
async def chat(request: web.Request) -> web.StreamResponse:
    body = orjson.loads(await request.read())
    if body.get("stream") is True:
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        for event in EVENTS:
            await resp.write(event)
        await resp.write_eof()
        return resp
    return web.Response(body=ANSWER, headers={"Content-Type": "application/json"})


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=4311)
    args = p.parse_args(argv)
    aio = web.Application()
    aio.router.add_post("/v1/chat/completions", chat)
    loop = uvloop.new_event_loop() if uvloop is not None else asyncio.new_event_loop()
    web.run_app(aio, host=args.host, port=args.port, access_log=None, print=None, backlog=4096, loop=loop)


if __name__ == "__main__":
    main()
