"""Seawall's own CPU cost per request, without sockets.

Calls the ASGI app directly with a fixed Chat Completions request while the upstream adapter is
replaced by a stub that returns a canned answer, so the figure is Seawall's code alone (ingress,
engine with every resilience policy, traces, metrics), not uvicorn's or aiohttp's. In stream mode
the real OpenAI adapter runs (SSE parsing, event handling, the record of its reads in
`AttemptInfo`) over a stub transport whose answer arrives in one read.

    .venv/bin/python benchmarks/inprocess.py                 # tracing off and on (SQLite)
    .venv/bin/python benchmarks/inprocess.py --requests 50000
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import orjson

from seawall._gateway import Gateway
from seawall._types import AttemptInfo, AttemptTimeouts, ChatRequest, Completion, Dialect, Target
from seawall.providers import OpenAIProvider
from seawall.server import SeawallApp

ANSWER = orjson.dumps(
    {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "The quick brown fox jumps over the lazy dog."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 8, "completion_tokens": 12, "total_tokens": 20},
        "system_fingerprint": "fp_bench",
    }
)
BODY = (
    b'{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},'
    b'{"role":"user","content":"Write one short sentence about foxes."}],"max_tokens":16}'
)


class StubProvider:
    """Answers at once with a canned completion (no network)."""

    dialect = Dialect.OPENAI
    name = "up"

    async def complete(
        self, request: ChatRequest, target: Target, timeouts: AttemptTimeouts, info: AttemptInfo
    ) -> Completion:
        body = orjson.loads(ANSWER)
        info.status, info.response_model, info.usage = 200, body["model"], body["usage"]
        info.request_body, info.response_body = BODY, ANSWER
        return Completion(body, ANSWER)

    async def aclose(self) -> None:
        return None


def sse_answer(events: int = 13) -> bytes:
    """An OpenAI stream like the benchmark upstream's: role, words, finish, usage, [DONE]."""
    base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    chunks: list[dict[str, Any]] = [
        {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    ]
    chunks += [
        {**base, "choices": [{"index": 0, "delta": {"content": f" word{i}"}, "finish_reason": None}]}
        for i in range(events - 3)
    ]
    chunks.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
    chunks.append(
        {**base, "choices": [], "usage": {"prompt_tokens": 8, "completion_tokens": 12, "total_tokens": 20}}
    )
    return b"".join(b"data: " + orjson.dumps(c) + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"


SSE = sse_answer()


class StubStream:
    """A 200 answer whose body is the whole SSE stream, in one read."""

    status = 200
    headers: ClassVar[dict[str, str]] = {}

    async def read(self) -> bytes:
        return SSE

    async def iter_chunks(self, idle_timeout: float | None = None) -> AsyncIterator[bytes]:
        yield SSE

    def release(self) -> None:
        return None


class StubTransport:
    """Answers every request at once with `StubStream` (no network)."""

    answer = StubStream()  # one for all requests: it holds no state

    async def send(self, request: Any) -> StubStream:
        return self.answer

    async def request(self, *args: Any, **kwargs: Any) -> StubStream:
        """The same for Seawall before its transport seam (its `H1Client.request`), so this harness
        measures the same work on an older checkout (`PYTHON=<its venv>/bin/python`)."""
        return self.answer

    async def aclose(self) -> None:
        return None


def stub_openai_provider() -> OpenAIProvider:
    try:
        return OpenAIProvider("up", "http://127.0.0.1:9/v1", transport=StubTransport())  # type: ignore[arg-type]
    except TypeError:  # before the transport seam: the adapter's own client is replaced instead
        provider = OpenAIProvider("up", "http://127.0.0.1:9/v1")
        provider._client = StubTransport()  # type: ignore[attr-defined,assignment]
        return provider


async def measure(store: str, requests: int, mode: str = "json", capture: bool = True) -> float:
    folder = tempfile.mkdtemp(prefix="seawall-inprocess-")
    config: dict[str, Any] = {
        "providers": [{"name": "up", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "k"}],
        "models": [{"name": "gpt-4o-mini", "targets": [{"provider": "up", "model": "gpt-4o-mini"}]}],
        "traces": {"store": "none" if store == "none" else f"sqlite:///{folder}/traces.db"},
    }
    if not capture:  # an older checkout has no `traces.capture`: only set it when asked
        config["traces"]["capture"] = False
    gateway = Gateway.from_config(config)
    await gateway.start()
    assert gateway.engine is not None
    body = BODY
    if mode == "json":
        gateway.engine.providers["up"] = StubProvider()  # type: ignore[assignment]
    else:
        # the real OpenAI adapter (SSE parsing, event handling, the record of its reads) over a
        # transport whose HTTP read is replaced by one piece
        gateway.engine.providers["up"] = stub_openai_provider()
        body = BODY[:-1] + b',"stream":true,"stream_options":{"include_usage":true}}'
    app = SeawallApp(gateway)
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": headers,
        "query_string": b"",
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    for _ in range(requests // 10):  # warm-up
        await app(scope, receive, send)
    assert gateway.recorder.flush(60)
    cpu = time.process_time()
    for _ in range(requests):
        await app(scope, receive, send)
    assert gateway.recorder.flush(60)  # the writer thread's work counts too
    cost = (time.process_time() - cpu) / requests * 1e6
    await gateway.aclose()
    return cost


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=30000)
    parser.add_argument("--store", choices=("none", "sqlite", "both"), default="both")
    parser.add_argument("--mode", choices=("json", "stream"), default="json", help="stream: 13 SSE events")
    parser.add_argument(
        "--no-capture", action="store_true", help="traces.capture: false (what replay's capture costs)"
    )
    args = parser.parse_args()
    try:
        import uvloop

        run = uvloop.run
    except ImportError:  # pragma: no cover
        run = asyncio.run
    for store in ("none", "sqlite") if args.store == "both" else (args.store,):
        cost = run(measure(store, args.requests, args.mode, not args.no_capture))
        print(f"traces {store:6s}: {cost:6.1f} µs of CPU per {args.mode} request (all threads)")


if __name__ == "__main__":
    main()
