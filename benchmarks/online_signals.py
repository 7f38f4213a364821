"""What reading a request's online signals costs: `signals_of(record)` per record, and
`OnlineFeed.submit` (the event loop's whole share).

    .venv/bin/python benchmarks/online_signals.py
    .venv/bin/python benchmarks/online_signals.py --words 300 --loops 2000

Records are real ones: requests through a gateway to embedded simulators (`kind: simulated`),
answers of `--words` words (a stream sends one chunk per word). `signals_of` runs on the feed's
thread, never the event loop; the figures are its CPU per record on this thread.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Callable
from typing import Any

import orjson

import seawall
from seawall._exchange import Relay
from seawall.ingress import ANTHROPIC, OPENAI
from seawall.quality._feed import OnlineFeed
from seawall.quality._signals import signals_of
from seawall.trace._schema import TraceRecord

QUESTION = [{"role": "user", "content": "What is the weather in Paris?"}]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]
SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "openai JSON": ("openai", {"stream": False}),
    "openai stream": ("openai", {"stream": True, "stream_options": {"include_usage": True}}),
    "anthropic JSON": ("anthropic", {"stream": False, "max_tokens": 1000}),
    "anthropic stream": ("anthropic", {"stream": True, "max_tokens": 1000}),
    "openai JSON, tool call": ("openai", {"stream": False, "tools": TOOLS}),
    "openai stream, tool call": ("openai", {"stream": True, "tools": TOOLS}),
    "openai JSON, json_schema": (
        "openai",
        {
            "stream": False,
            "response_format": {"type": "json_schema", "json_schema": {"name": "a", "schema": SCHEMA}},
        },
    ),
}


async def _discard(data: bytes) -> None:
    return None


async def make_records(words: int) -> dict[str, TraceRecord]:
    config = {
        "providers": [{"name": "sim", "kind": "simulated", "simulate": {"reply_words": words}}],
        "models": [{"name": "m", "targets": [{"provider": "sim", "model": "m"}]}],
        "traces": {"store": "none"},
    }
    out: dict[str, TraceRecord] = {}
    async with seawall.Gateway.from_config(config) as gw:
        for name, (ingress, extra) in CASES.items():
            got: list[TraceRecord] = []
            body = {"model": "m", "messages": QUESTION, **extra}
            dialect = ANTHROPIC if ingress == "anthropic" else OPENAI
            exchange = gw.exchange(dialect, orjson.dumps(body), {}, record=got.append)
            if body["stream"]:
                relay = await exchange.open_stream()
                assert isinstance(relay, Relay)
                await relay.pump(_discard)
                await relay.close()
            else:
                await exchange.complete()
            out[name] = got[0]
    return out


def per_call_us(fn: Callable[[], object], loops: int) -> float:
    """The best of 5 runs of `loops` calls, in µs per call."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(loops):
            fn()
        best = min(best, time.perf_counter() - start)
    return best / loops * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--words", type=int, default=12, help="words per answer (the simulator's reply_words)"
    )
    parser.add_argument("--loops", type=int, default=5000)
    args = parser.parse_args()
    records = asyncio.run(make_records(args.words))
    print(f"signals_of per record, answers of {args.words} words (best of 5 × {args.loops}):")
    for name, record in records.items():
        signals = signals_of(record)
        assert signals is not None, name
        body = record.response.body if isinstance(record.response.body, str) else ""
        us = per_call_us(lambda record=record: signals_of(record), args.loops)  # type: ignore[misc]
        print(f"  {name:<28} {us:8.1f} µs   ({len(body):>6} bytes of answer)")
    feed = OnlineFeed(lambda s: None, capacity=1 << 30)  # not started: submit only appends
    one = records["openai JSON"]
    print(f"OnlineFeed.submit (event loop):  {per_call_us(lambda: feed.submit(one), args.loops):.2f} µs")


if __name__ == "__main__":
    main()
