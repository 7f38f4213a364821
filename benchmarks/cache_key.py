"""CPU per cache operation: normalising a request and computing its key, and a MemoryCache get / put.

The budget for a cache miss is 20 µs of CPU per request in all (issue 12): normalise + key + one
`get` that misses, then one `put` once the answer is in. Measured in-process, single thread, median of
several rounds (each round times many calls and divides).

    .venv/bin/python benchmarks/cache_key.py
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from typing import Any

from seawall._clock import ManualClock
from seawall.cache import CacheKey, Entry, MemoryCache, cache_key, normalized_request

SMALL: dict[str, Any] = {
    "model": "gpt-4o-mini",
    "messages": [
        {"role": "system", "content": "You are a helpful assistant. Answer briefly."},
        {"role": "user", "content": "What is the capital of France? Answer in one word."},
    ],
    "temperature": 0.2,
    "max_tokens": 64,
    "stream": False,
}


def _tool(name: str, props: dict[str, str]) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"Look up {name.replace('_', ' ')} for the user.",
            "parameters": {
                "type": "object",
                "properties": {k: {"type": v, "description": f"the {k}"} for k, v in props.items()},
                "required": list(props),
            },
        },
    }


WITH_TOOLS: dict[str, Any] = {
    **SMALL,
    "messages": [
        *SMALL["messages"],
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{}"}}
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "Sunny, 21 °C"}]},
    ],
    "tools": [
        _tool("get_weather", {"city": "string", "unit": "string"}),
        _tool("get_time", {"timezone": "string"}),
        _tool(
            "search_flights",
            {"origin": "string", "destination": "string", "date": "string", "seats": "integer"},
        ),
    ],
    "tool_choice": "auto",
    "parallel_tool_calls": True,
    "user": "user-1234",
}

ANSWER = (
    b'{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini-2024-07-18",'
    b'"choices":[{"index":0,"message":{"role":"assistant","content":"Paris.","refusal":null},'
    b'"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":30,"completion_tokens":2,'
    b'"total_tokens":32},"system_fingerprint":"fp_1"}'
)
IDENTITY = ("gpt-4o-mini-2024-07-18", "fp_1")


def per_call_us(fn: Callable[[], object], *, calls: int, rounds: int) -> float:
    """Median over `rounds` of the mean µs per call of `fn` (process CPU time)."""
    samples = []
    for _ in range(rounds):
        start = time.process_time_ns()
        for _ in range(calls):
            fn()
        samples.append((time.process_time_ns() - start) / calls / 1000)
    return statistics.median(samples)


def key_for(body: dict[str, Any]) -> CacheKey:
    return cache_key(
        normalized=normalized_request(body),
        target="openai/gpt-4o-mini",
        identity=IDENTITY,
        snapshot=None,
        tenant="-",
    )


def drive(coro_fn: Callable[[], Any]) -> Callable[[], object]:
    """A MemoryCache coroutine run to completion without an event loop (it never suspends), so the
    figure is the operation plus one coroutine, not the loop's scheduling."""

    def run() -> object:
        coro = coro_fn()
        try:
            coro.send(None)
        except StopIteration as done:
            return done.value
        raise RuntimeError("MemoryCache suspended")

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    timing = {"calls": args.calls, "rounds": args.rounds}

    rows: list[tuple[str, float]] = []
    for name, body in (("small request", SMALL), ("request with 3 tools", WITH_TOOLS)):
        rows.append(
            (f"normalized_request, {name}", per_call_us(lambda b=body: normalized_request(b), **timing))
        )
        rows.append(
            (f"normalized_request + cache_key, {name}", per_call_us(lambda b=body: key_for(b), **timing))
        )

    cache = MemoryCache(max_entries=10_000, max_bytes=64 << 20, clock=ManualClock())
    keys = [
        cache_key(
            normalized={**SMALL, "seed": i},
            target="openai/gpt-4o-mini",
            identity=IDENTITY,
            snapshot=None,
            tenant="-",
        )
        for i in range(20_000)
    ]
    entry = Entry(
        ANSWER,
        "application/json",
        "openai/gpt-4o-mini",
        IDENTITY,
        0.0,
        600.0,
        IDENTITY[0],
        {"total_tokens": 32},
    )
    cursor = iter(range(10**12))

    def put() -> object:  # cycles 20 000 keys through a 10 000-entry cache: half the puts evict
        return drive(lambda: cache.put(keys[next(cursor) % len(keys)], entry))()

    rows.append(("MemoryCache.put (full cache, evicting)", per_call_us(put, **timing)))
    hit_key = keys[(next(cursor) - 1) % len(keys)]
    miss_key = key_for({**SMALL, "seed": -1})
    rows.append(("MemoryCache.get, hit", per_call_us(drive(lambda: cache.get(hit_key)), **timing)))
    rows.append(("MemoryCache.get, miss", per_call_us(drive(lambda: cache.get(miss_key)), **timing)))

    width = max(len(name) for name, _ in rows)
    print(f"{'operation':<{width}}  µs/call")
    for name, us in rows:
        print(f"{name:<{width}}  {us:7.2f}")
    miss = dict(rows)
    total = miss["normalized_request + cache_key, small request"] + miss["MemoryCache.get, miss"]
    total += miss["MemoryCache.put (full cache, evicting)"]
    print(f"\nmiss path, small request (key + get miss + put): {total:.2f} µs (budget 20 µs)")


if __name__ == "__main__":
    main()
