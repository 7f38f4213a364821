#!/usr/bin/env python3
"""What quality detection costs the request path: `QualityService.seen(record)`, called on the event
loop for every finished request (one identity lookup per attempt; queueing for online signals only
for models with a `quality` key), timed on a real record from a gateway with a simulated provider.

    .venv/bin/python benchmarks/quality_cost.py
"""

from __future__ import annotations

import asyncio
import tempfile
import timeit
from pathlib import Path

import seawall
from seawall.ingress import OPENAI
from seawall.trace._schema import TraceRecord

BODY = b'{"model":"chat","messages":[{"role":"user","content":"hi"}]}'


async def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = {
            "providers": [{"name": "alpha", "kind": "simulated", "simulate": {"seed": 1}}],
            "models": [{"name": "chat", "targets": [{"provider": "alpha", "model": "alpha-model"}]}],
            "traces": {"store": f"sqlite:///{Path(tmp) / 't.db'}"},
        }
        records: list[TraceRecord] = []
        async with seawall.Gateway.from_config(cfg) as gw:
            exchange = gw.exchange(OPENAI, BODY, {}, record=records.append)
            await exchange.complete()
            quality = gw.quality
            assert quality is not None
            record = records[0]
            quality.seen(record)
            n = 200_000
            best = min(timeit.repeat(lambda: quality.seen(record), number=n, repeat=5)) / n
            empty = min(timeit.repeat(lambda: None, number=n, repeat=5)) / n
            print(f"QualityService.seen: {(best - empty) * 1e6:.3f} us per request (call overhead removed)")


if __name__ == "__main__":
    asyncio.run(main())
