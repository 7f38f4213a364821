#!/usr/bin/env python3
"""The response cache's own cost on the request path, in µs: `CacheService.lookup` for a miss (the
normalised request, its key, the backend lookup, the trace note) and `CacheService.store` (the entry
under the key of the target and identity that answered), timed on real requests and traces.

    .venv/bin/python benchmarks/cache_path.py
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import seawall
from seawall.ingress import OPENAI
from seawall.trace._schema import TraceRecord

CONFIG = {
    "providers": [{"name": "a", "kind": "simulated", "simulate": {"seed": 1}}],
    "models": [
        {"name": "c", "targets": [{"provider": "a", "model": "x"}], "cache": {"mode": "exact", "ttl_s": 600}}
    ],
    "traces": {"store": "none"},
}
BODY = (
    b'{"model":"c","messages":[{"role":"system","content":"You are terse."},'
    b'{"role":"user","content":"Write one short sentence about foxes %d."}],"max_tokens":16}'
)
N = 20_000


async def main() -> None:
    async with seawall.Gateway.from_config(CONFIG) as gw:
        cache = gw.cache
        assert cache is not None
        records: list[TraceRecord] = []
        first = gw.exchange(OPENAI, BODY % -1, {}, record=records.append)
        await first.complete()
        completion = first.completion
        assert completion is not None
        exchanges: list[Any] = []
        for i in range(N):
            exchange = gw.exchange(OPENAI, BODY % i, {})
            exchange.trace.answered_by = "a/x"
            exchange.trace.attempts = list(records[0].attempts)
            exchanges.append(exchange)
        started = time.perf_counter()
        found = [await cache.lookup(e.request, e.trace) for e in exchanges]
        lookup = (time.perf_counter() - started) / N
        started = time.perf_counter()
        for exchange, decision in zip(exchanges, found, strict=True):
            await cache.store(decision, exchange.trace, completion.body, completion.raw)
        store = (time.perf_counter() - started) / N
        print(
            f"lookup (a miss): {lookup * 1e6:.2f} µs   store: {store * 1e6:.2f} µs   "
            f"total: {(lookup + store) * 1e6:.2f} µs"
        )


if __name__ == "__main__":
    asyncio.run(main())
