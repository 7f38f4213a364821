#!/usr/bin/env python3
"""Fake LLM provider for gateway benchmarks and fault-injection tests.

Listens on loopback and speaks just enough of two provider APIs:

  POST /v1/chat/completions   OpenAI Chat Completions (JSON, or SSE with "stream": true;
                              "stream_options": {"include_usage": true} is honoured)
  POST /v1/messages           Anthropic Messages (JSON, or SSE event stream)
  GET  /v1/models             OpenAI-style model list
  GET  /health                200 {"status": "ok"}

Control plane (never counted in the stats, never subject to faults):

  GET  /_control              current behaviour settings
  POST /_control              JSON object: change any setting at runtime, e.g.
                              {"error_rate": 1, "error_status": 503}; {"reset": true, ...}
                              first restores the settings given on the command line
  GET  /_stats                counts of requests received: total, by path, by status
                              ("hang"/"reset" for requests that got no HTTP answer), by model
  POST /_stats/reset          zero the counts

Every setting is also a command-line flag (underscores become dashes), see --help.
Faults are drawn independently per request in this order, the first hit wins:
hang, reset, rate_limit (429), error, malformed; then a normal answer, which may still
be "degraded" (a wrong answer to a simple arithmetic question, HTTP 200) or, for a stream,
cut off after `disconnect_after` content chunks. `latency_ms` (+ uniform `jitter_ms`) is
waited before any answer, errors included. Streams: headers and the first (role /
message_start) event are sent after the latency, then `ttft_ms`, then one content chunk per
reply word with `chunk_delay_ms` between them. With `only_models` set, faults and
degradation apply only to requests for those model names (to test fallbacks).

Runs on the standard library alone; uses uvloop when it is installed (about 2x faster).

Copied from the Seawall team's shared gateway harness (shared/bench/upstream.py, 2026-11-26);
only reformatted for the repository's ruff settings.
"""

import argparse
import asyncio
import contextlib
import json
import random
import re
import socket
import struct
import sys
import time
from collections import Counter

REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    413: "Payload Too Large",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
    529: "Overloaded",
}

# name: (default, type, help)
SETTINGS = {
    "latency_ms": (0.0, float, "fixed delay before any answer"),
    "jitter_ms": (0.0, float, "extra uniform random delay in [0, jitter_ms]"),
    "ttft_ms": (0.0, float, "streams: delay between the first event and the first content chunk"),
    "chunk_delay_ms": (0.0, float, "streams: delay between content chunks"),
    "reply_words": (12, int, "length of the canned reply (= number of content chunks)"),
    "error_rate": (0.0, float, "fraction of requests answered with error_status"),
    "error_status": (500, int, "status for error_rate: 500, 502, 503 or 529"),
    "rate_limit_rate": (0.0, float, "fraction answered 429 with Retry-After"),
    "retry_after": (1, int, "Retry-After seconds sent with 429"),
    "hang_rate": (0.0, float, "fraction never answered (connection kept open)"),
    "reset_rate": (0.0, float, "fraction answered by a TCP reset"),
    "malformed_rate": (0.0, float, "fraction answered 200 with a broken JSON body / SSE event"),
    "disconnect_rate": (0.0, float, "fraction of streams cut off after disconnect_after chunks"),
    "disconnect_after": (2, int, "content chunks sent before a mid-stream disconnect"),
    "degraded_rate": (0.0, float, "fraction of arithmetic questions answered wrongly (HTTP 200)"),
    "model": ("", str, "model name to report (empty: echo the requested model)"),
    "system_fingerprint": ("fp_bench_v1", str, "system_fingerprint to report"),
    "only_models": ([], list, "apply faults only to these requested models (comma list)"),
}

ARITH = re.compile(r"what is\s+(-?\d+)\s*([-+*x\u00d7])\s*(-?\d+)", re.IGNORECASE)
# fmt: off
WORDS = ["The", "quick", "brown", "fox", "jumps", "over", "the", "lazy", "dog", "while", "the", "gateway",
         "under", "test", "forwards", "every", "token", "without", "adding", "much", "latency", "at", "all"]
# fmt: on


class Upstream:
    def __init__(self, settings, seed=None):
        self.initial = dict(settings)
        self.cfg = dict(settings)
        self.rng = random.Random(seed)
        self.seq = 0
        self.reset_stats()

    # ---- control plane -------------------------------------------------------------
    def reset_stats(self):
        self.total = 0
        self.by_path = Counter()
        self.by_status = Counter()
        self.by_model = Counter()
        self.started = time.time()

    def stats(self):
        return {
            "total": self.total,
            "by_path": dict(self.by_path),
            "by_status": {str(k): v for k, v in self.by_status.items()},
            "by_model": dict(self.by_model),
            "since": self.started,
        }

    def update(self, changes):
        if not isinstance(changes, dict):
            raise ValueError("expected a JSON object")
        new = dict(self.initial) if changes.pop("reset", False) else dict(self.cfg)
        for key, value in changes.items():
            if key not in SETTINGS:
                raise ValueError(f"unknown setting {key!r}")
            kind = SETTINGS[key][1]
            if kind is list:
                items = value.split(",") if isinstance(value, str) else value
                new[key] = [v for v in items if v]
            else:
                new[key] = kind(value)
        self.cfg = new  # applied all at once, or not at all
        return self.cfg

    # ---- helpers ----------------------------------------------------------------------
    def hit(self, rate):
        return rate > 0 and (rate >= 1 or self.rng.random() < rate)

    def next_id(self, prefix):
        self.seq += 1
        return f"{prefix}{self.seq:012x}"

    def answer_text(self, question, faulty):
        m = ARITH.search(question or "")
        if not m:
            return " ".join(WORDS[i % len(WORDS)] for i in range(self.cfg["reply_words"]))
        a, op, b = int(m.group(1)), m.group(2), int(m.group(3))
        value = a + b if op == "+" else a - b if op == "-" else a * b
        if faulty and self.hit(self.cfg["degraded_rate"]):
            value += self.rng.choice((-10, -2, -1, 1, 2, 10))
        return str(value)


def last_user_text(messages):
    """Text of the last user message; content may be a string or a list of parts."""
    for msg in reversed(messages or []):
        if isinstance(msg, dict) and msg.get("role") == "user":
            content = msg.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def ntokens(text):
    return max(1, len(text) // 4)


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"))


def openai_error(status, retry_after=None):
    kind = {
        429: "rate_limit_exceeded",
        500: "server_error",
        502: "bad_gateway",
        503: "service_unavailable",
        529: "overloaded",
    }.get(status, "error")
    msg = f"Simulated upstream {status} ({kind})"
    return {"error": {"message": msg, "type": kind, "param": None, "code": kind}}


def anthropic_error(status, retry_after=None):
    kind = {
        429: "rate_limit_error",
        500: "api_error",
        502: "api_error",
        503: "overloaded_error",
        529: "overloaded_error",
    }.get(status, "api_error")
    return {"type": "error", "error": {"type": kind, "message": f"Simulated upstream {status}"}}


class Response:
    """What a handler wants written: a status + body, or an SSE event list, or a fault."""

    __slots__ = ("body", "cut_after", "delay", "fault", "headers", "status", "stream")

    def __init__(
        self, status=200, body=b"", headers=(), *, stream=None, cut_after=None, fault=None, delay=0.0
    ):
        # stream: (opening event, [content events], closing events) as bytes
        self.status, self.body, self.headers = status, body, list(headers)
        self.stream, self.cut_after, self.fault, self.delay = stream, cut_after, fault, delay


def json_response(status, obj, headers=()):
    return Response(status, dumps(obj).encode(), [("content-type", "application/json"), *headers])


# ---- model endpoints -------------------------------------------------------------------
def handle_model_call(up, path, body):
    anthropic = path.endswith("/messages")
    try:
        req = json.loads(body or b"{}")
        if not isinstance(req, dict):
            raise ValueError
    except ValueError:
        up.by_status[400] += 1
        return json_response(
            400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}}
        )
    cfg = up.cfg
    model = str(req.get("model", ""))
    up.by_model[model] += 1
    faulty = not cfg["only_models"] or model in cfg["only_models"]
    delay = cfg["latency_ms"] + (up.rng.uniform(0, cfg["jitter_ms"]) if cfg["jitter_ms"] else 0.0)
    delay /= 1000.0
    err = anthropic_error if anthropic else openai_error

    if faulty:
        if up.hit(cfg["hang_rate"]):
            up.by_status["hang"] += 1
            return Response(fault="hang", delay=delay)
        if up.hit(cfg["reset_rate"]):
            up.by_status["reset"] += 1
            return Response(fault="reset", delay=delay)
        if up.hit(cfg["rate_limit_rate"]):
            up.by_status[429] += 1
            r = json_response(429, err(429), [("retry-after", str(cfg["retry_after"]))])
            r.delay = delay
            return r
        if up.hit(cfg["error_rate"]):
            status = cfg["error_status"]
            up.by_status[status] += 1
            r = json_response(status, err(status))
            r.delay = delay
            return r
    malformed = faulty and up.hit(cfg["malformed_rate"])
    up.by_status[200] += 1

    text = up.answer_text(last_user_text(req.get("messages")), faulty)
    prompt_tokens = ntokens(json.dumps(req.get("messages", "")))
    words = text.split(" ")
    pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
    out_model = cfg["model"] or model
    stream = bool(req.get("stream"))
    cut = cfg["disconnect_after"] if stream and faulty and up.hit(cfg["disconnect_rate"]) else None

    if anthropic:
        r = anthropic_reply(up, out_model, text, pieces, prompt_tokens, stream, malformed)
    else:
        usage_in_stream = bool((req.get("stream_options") or {}).get("include_usage"))
        r = openai_reply(up, out_model, text, pieces, prompt_tokens, stream, usage_in_stream, malformed)
    r.delay, r.cut_after = delay, cut
    return r


def openai_reply(up, model, text, pieces, prompt_tokens, stream, usage_in_stream, malformed):  # noqa: PLR0917
    rid, created, fp = up.next_id("chatcmpl-"), int(time.time()), up.cfg["system_fingerprint"]
    usage = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": len(pieces),
        "total_tokens": prompt_tokens + len(pieces),
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }
    if not stream:
        obj = {
            "id": rid,
            "object": "chat.completion",
            "created": created,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": usage,
            "service_tier": "default",
            "system_fingerprint": fp,
        }
        body = dumps(obj).encode()
        if malformed:
            body = body[: len(body) // 2] + b'"}\x00'
        return Response(200, body, [("content-type", "application/json")])

    # One JSON prefix/suffix per request; only the delta changes between chunks.
    head = dumps(
        {
            "id": rid,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "service_tier": "default",
            "system_fingerprint": fp,
        }
    )[:-1]
    tail = ',"usage":null}' if usage_in_stream else "}"

    def chunk(delta, finish=None):
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}
        return f'data: {head},"choices":[{dumps(choice)}]{tail}\n\n'.encode()

    first = chunk({"role": "assistant", "content": "", "refusal": None})
    content = [chunk({"content": p}) for p in pieces]
    if malformed:
        content[0] = b'data: {"id":"' + rid.encode() + b'","choices":[{"delta":{"content\n\n'
    closing = chunk({}, "stop")
    if usage_in_stream:
        closing += f'data: {head},"choices":[],"usage":{dumps(usage)}}}\n\n'.encode()
    closing += b"data: [DONE]\n\n"
    return Response(
        200, headers=[("content-type", "text/event-stream; charset=utf-8")], stream=(first, content, closing)
    )


def anthropic_reply(up, model, text, pieces, prompt_tokens, stream, malformed):  # noqa: PLR0917
    mid = up.next_id("msg_bench")
    usage = {
        "input_tokens": prompt_tokens,
        "output_tokens": len(pieces),
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
    }
    if not stream:
        obj = {
            "id": mid,
            "type": "message",
            "role": "assistant",
            "model": model,
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }
        body = dumps(obj).encode()
        if malformed:
            body = body[: len(body) // 2] + b'"}\x00'
        return Response(200, body, [("content-type", "application/json")])

    def ev(name, obj):
        return f"event: {name}\ndata: {dumps(obj)}\n\n".encode()

    start = {
        "id": mid,
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": dict(usage, output_tokens=1),
    }
    first = (
        ev("message_start", {"type": "message_start", "message": start})
        + ev(
            "content_block_start",
            {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
        )
        + ev("ping", {"type": "ping"})
    )
    content = [
        ev(
            "content_block_delta",
            {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}},
        )
        for p in pieces
    ]
    if malformed:
        content[0] = b'event: content_block_delta\ndata: {"type":"content_block_delta","ind\n\n'
    closing = (
        ev("content_block_stop", {"type": "content_block_stop", "index": 0})
        + ev(
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": len(pieces)},
            },
        )
        + ev("message_stop", {"type": "message_stop"})
    )
    return Response(
        200, headers=[("content-type", "text/event-stream; charset=utf-8")], stream=(first, content, closing)
    )


def handle(up, method, path, body):
    """Route one request; returns a Response."""
    if path.startswith("/_"):
        try:
            if path == "/_stats" and method == "GET":
                return json_response(200, up.stats())
            if path == "/_stats/reset" and method == "POST":
                up.reset_stats()
                return json_response(200, up.stats())
            if path == "/_control" and method == "GET":
                return json_response(200, up.cfg)
            if path == "/_control" and method == "POST":
                return json_response(200, up.update(json.loads(body or b"{}")))
        except (ValueError, TypeError) as exc:
            return json_response(400, {"error": str(exc)})
        return json_response(404, {"error": "not found"})

    up.total += 1
    up.by_path[path] += 1
    if path in ("/v1/chat/completions", "/chat/completions", "/v1/messages", "/messages"):
        if method != "POST":
            up.by_status[405] += 1
            return json_response(405, {"error": "use POST"})
        return handle_model_call(up, path, body)
    if method == "GET" and path in ("/v1/models", "/models"):
        up.by_status[200] += 1
        names = sorted(set(up.by_model) | {"gpt-4o-mini", "claude-3-5-haiku-latest"})
        return json_response(
            200,
            {
                "object": "list",
                "data": [{"id": n, "object": "model", "created": 0, "owned_by": "bench"} for n in names],
            },
        )
    if method == "GET" and path in ("/health", "/healthz", "/"):
        up.by_status[200] += 1
        return json_response(200, {"status": "ok"})
    up.by_status[404] += 1
    return json_response(404, {"error": {"message": f"no route {path}", "type": "invalid_request_error"}})


# ---- HTTP/1.1 server ---------------------------------------------------------------------
MAX_HEAD = 64 * 1024
MAX_BODY = 16 * 1024 * 1024


class HTTPProtocol(asyncio.Protocol):
    """Minimal keep-alive HTTP/1.1 server; requests on one connection are served in order."""

    def __init__(self, up):
        self.up = up
        self.buf = bytearray()
        self.busy = False
        self.closed = False
        self.task = None
        self.transport = None

    def connection_made(self, transport):
        self.transport = transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def connection_lost(self, exc):
        self.closed = True
        if self.task is not None:
            self.task.cancel()

    def data_received(self, data):
        self.buf += data
        if not self.busy:
            self.process()

    def process(self):
        while not self.busy and not self.closed:
            req = self.parse()
            if req is None:
                return
            method, path, keep_alive, body = req
            resp = handle(self.up, method, path, body)
            if (
                resp.delay
                or resp.fault
                or (
                    resp.stream
                    and (
                        self.up.cfg["ttft_ms"] or self.up.cfg["chunk_delay_ms"] or resp.cut_after is not None
                    )
                )
            ):
                self.busy = True
                self.task = asyncio.ensure_future(self.send_slow(resp, keep_alive))
                self.task.add_done_callback(self.slow_done)
                return
            self.send_fast(resp, keep_alive)

    def parse(self):
        buf = self.buf
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            if len(buf) > MAX_HEAD:
                self.fail(413)
            return None
        lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
        try:
            method, target, version = lines[0].split(" ", 2)
        except ValueError:
            self.fail(400)
            return None
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        pos = end + 4
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body, pos = self.dechunk(pos)
            if body is None:
                return None
        else:
            length = int(headers.get("content-length") or 0)
            if length > MAX_BODY:
                self.fail(413)
                return None
            if len(buf) < pos + length:
                return None
            body = bytes(buf[pos : pos + length])
            pos += length
        del buf[:pos]
        conn = headers.get("connection", "").lower()
        keep_alive = "close" not in conn if version == "HTTP/1.1" else "keep-alive" in conn
        return method, target.split("?", 1)[0], keep_alive, body

    def dechunk(self, pos):
        buf, parts = self.buf, []
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None, pos
            size = int(bytes(buf[pos:eol]).split(b";")[0], 16)
            if size == 0:
                trailer_end = buf.find(b"\r\n\r\n", eol)
                if trailer_end == eol:  # no trailers: "0\r\n\r\n"
                    return b"".join(parts), eol + 4
                if trailer_end < 0:
                    return None, pos
                return b"".join(parts), trailer_end + 4
            if len(buf) < eol + 2 + size + 2:
                return None, pos
            parts.append(bytes(buf[eol + 2 : eol + 2 + size]))
            pos = eol + 2 + size + 2

    def fail(self, status):
        self.send_fast(json_response(status, {"error": REASONS.get(status, "error")}), False)

    @staticmethod
    def head(resp, keep_alive, chunked=False):
        out = [f"HTTP/1.1 {resp.status} {REASONS.get(resp.status, 'Unknown')}"]
        out += [f"{k}: {v}" for k, v in resp.headers]
        out.append("transfer-encoding: chunked" if chunked else f"content-length: {len(resp.body)}")
        if chunked:
            out.append("cache-control: no-cache")
        out.append("connection: keep-alive" if keep_alive else "connection: close")
        return ("\r\n".join(out) + "\r\n\r\n").encode()

    @staticmethod
    def chunk(data):
        return b"%x\r\n%s\r\n" % (len(data), data)

    def send_fast(self, resp, keep_alive):
        if resp.stream is None:
            self.transport.write(self.head(resp, keep_alive) + resp.body)
        else:
            first, content, closing = resp.stream
            self.transport.write(
                self.head(resp, keep_alive, chunked=True)
                + self.chunk(first)
                + b"".join(self.chunk(e) for e in content)
                + self.chunk(closing)
                + b"0\r\n\r\n"
            )
        if not keep_alive:
            self.closed = True
            self.transport.close()

    async def send_slow(self, resp, keep_alive):
        if resp.delay:
            await asyncio.sleep(resp.delay)
        if resp.fault == "hang":
            await asyncio.Event().wait()  # until the client gives up (connection_lost cancels us)
        if resp.fault == "reset":
            self.abort(reset=True)
            return
        if resp.stream is None:
            return self.send_fast(resp, keep_alive)
        cfg = self.up.cfg
        write = self.transport.write
        first, content, closing = resp.stream
        write(self.head(resp, keep_alive, chunked=True) + self.chunk(first))
        for i, event in enumerate(content):
            if resp.cut_after is not None and i >= resp.cut_after:
                self.abort(reset=False)
                return
            wait = cfg["ttft_ms"] if i == 0 else cfg["chunk_delay_ms"]
            if wait:
                await asyncio.sleep(wait / 1000.0)
            write(self.chunk(event))
        if resp.cut_after is not None and resp.cut_after >= len(content):
            self.abort(reset=False)  # cut after all content, before the closing events
            return
        write(self.chunk(closing) + b"0\r\n\r\n")
        if not keep_alive:
            self.closed = True
            self.transport.close()

    def slow_done(self, task):
        self.busy = False
        self.task = None
        if not task.cancelled() and task.exception() is not None:
            print(f"upstream: handler error: {task.exception()!r}", file=sys.stderr)
            self.abort(reset=False)
        if not self.closed and self.buf:
            self.process()

    def abort(self, reset):
        self.closed = True
        sock = self.transport.get_extra_info("socket")
        if reset and sock is not None:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.transport.abort()


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9999)
    p.add_argument("--seed", type=int, default=None, help="random seed for fault draws")
    p.add_argument("--no-uvloop", action="store_true", help="use the stdlib event loop")
    for name, (default, kind, help_) in SETTINGS.items():
        flag = "--" + name.replace("_", "-")
        if kind is list:
            p.add_argument(flag, default="", help=help_)
        else:
            p.add_argument(flag, type=kind, default=default, help=help_)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    settings = {}
    for name, (_, kind, _) in SETTINGS.items():
        value = getattr(args, name)
        settings[name] = [v for v in value.split(",") if v] if kind is list else value
    loop_name = "asyncio"
    if not args.no_uvloop:
        try:
            import uvloop

            asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
            loop_name = "uvloop"
        except ImportError:
            pass
    up = Upstream(settings, seed=args.seed)

    async def serve():
        loop = asyncio.get_running_loop()
        server = await loop.create_server(
            lambda: HTTPProtocol(up), args.host, args.port, backlog=4096, reuse_address=True
        )
        print(f"upstream: listening on http://{args.host}:{args.port} ({loop_name})", flush=True)
        async with server:
            await server.serve_forever()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
