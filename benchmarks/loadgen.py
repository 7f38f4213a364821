#!/usr/bin/env python3
"""Small asyncio load generator: fixed arrival rate (open loop) or fixed concurrency.

  --rate R          open loop: request i is *scheduled* at t0 + i/R, whether or not earlier
                    ones finished; latency is measured from the scheduled time, so a slow
                    server cannot hide its queueing (no coordinated omission). A request that
                    would exceed --max-inflight is counted as "dropped", not sent.
  --connections N   closed loop: N workers, each sends its next request when the previous
                    one ends (what wrk does). Used to count client requests exactly.

For streams it also records time to first token (TTFT): the time until the first SSE
event carrying non-empty content ("content":"x... or an Anthropic text_delta) arrives.
Prints one JSON object. Needs aiohttp (uvloop is used when installed).

This is a Python client: it tops out at a few thousand requests/s on one core, far above
what it is used for here (tens to hundreds per second). Use wrk for maximum-throughput runs.

Copied from the Seawall team's shared gateway harness (shared/bench/loadgen.py, 2026-11-26);
only reformatted for the repository's ruff settings.
"""

import argparse
import asyncio
import json
import re
import sys
import time
from collections import Counter

import aiohttp
from benchlib import chat_body, parse_headers

try:
    import uvloop
except ImportError:  # optional: about 2x faster with it
    uvloop = None

CONTENT = re.compile(rb'"content":"[^"]|"text_delta"')


def pct(values, p):
    if not values:
        return None
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * len(values) + 0.5) - 1))
    return values[k]


class Stats:
    def __init__(self):
        self.sent = self.ok = self.bad = self.dropped = 0
        self.status = Counter()
        self.exceptions = Counter()
        self.latency = []  # successful requests
        self.latency_all = []  # every request that got an HTTP answer, errors included
        self.ttft = []


async def one(session, args, body, stats, scheduled):
    stats.sent += 1
    ttft = None
    try:
        async with session.post(args.url, data=body, headers=args.headers_dict) as resp:
            stats.status[resp.status] += 1
            if args.stream:
                tail = b""  # last bytes seen, enough to find a marker split across reads
                async for chunk in resp.content.iter_any():
                    tail = tail[-64:] + chunk
                    if ttft is None and CONTENT.search(tail):
                        ttft = time.perf_counter() - scheduled
                good = resp.status == 200 and (b"[DONE]" in tail or b"message_stop" in tail)
            else:
                data = await resp.read()
                good = resp.status == 200 and (b'"choices"' in data or b'"content"' in data)
            done = time.perf_counter() - scheduled
    except Exception as exc:
        stats.exceptions[type(exc).__name__] += 1
        return
    stats.latency_all.append(done)
    if good:
        stats.ok += 1
        stats.latency.append(done)
        if ttft is not None:
            stats.ttft.append(ttft)
    else:
        stats.bad += 1


async def open_loop(session, args, body, stats):
    t0 = time.perf_counter() + 0.05
    total = int(args.rate * args.duration)
    tasks = set()
    for i in range(total):
        scheduled = t0 + i / args.rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        if len(tasks) >= args.max_inflight:
            stats.dropped += 1
            continue
        task = asyncio.ensure_future(one(session, args, body, stats, scheduled))
        tasks.add(task)
        task.add_done_callback(tasks.discard)
    if tasks:
        await asyncio.wait(tasks, timeout=args.timeout)
    return time.perf_counter() - t0


async def closed_loop(session, args, body, stats):
    t0 = time.perf_counter()
    deadline = t0 + args.duration

    async def worker():
        while time.perf_counter() < deadline:
            await one(session, args, body, stats, time.perf_counter())

    await asyncio.wait_for(
        asyncio.gather(*(worker() for _ in range(args.connections))), args.duration + args.timeout
    )
    return time.perf_counter() - t0


async def run(args, body):
    stats = Stats()
    limit = args.connections or args.max_inflight
    conn = aiohttp.TCPConnector(limit=limit, force_close=False)
    timeout = aiohttp.ClientTimeout(total=args.timeout)
    async with aiohttp.ClientSession(
        connector=conn, timeout=timeout, headers={"Content-Type": "application/json"}
    ) as session:
        if args.rate:
            elapsed = await open_loop(session, args, body, stats)
        else:
            elapsed = await closed_loop(session, args, body, stats)

    def ms(v):
        return None if v is None else round(v * 1000, 3)

    return {
        "mode": f"rate={args.rate}/s" if args.rate else f"connections={args.connections}",
        "stream": args.stream,
        "duration_s": round(elapsed, 3),
        "sent": stats.sent,
        "ok": stats.ok,
        "bad": stats.bad,
        "dropped": stats.dropped,
        "status": {str(k): v for k, v in sorted(stats.status.items())},
        "exceptions": dict(stats.exceptions),
        "rps": round(stats.ok / elapsed, 2) if elapsed else 0,
        "p50_ms": ms(pct(stats.latency, 50)),
        "p90_ms": ms(pct(stats.latency, 90)),
        "p99_ms": ms(pct(stats.latency, 99)),
        "max_ms": ms(max(stats.latency, default=None)),
        "ttft_p50_ms": ms(pct(stats.ttft, 50)),
        "ttft_p99_ms": ms(pct(stats.ttft, 99)),
        "all_p50_ms": ms(pct(stats.latency_all, 50)),
        "all_p99_ms": ms(pct(stats.latency_all, 99)),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--url", required=True, help="full URL, e.g. http://127.0.0.1:9999/v1/chat/completions")
    p.add_argument("--header", action="append", default=[], help="'Name: value' (repeatable)")
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--rate", type=float, help="requests per second (open loop)")
    g.add_argument("--connections", type=int, help="concurrent workers (closed loop)")
    p.add_argument("--duration", type=float, default=10, help="seconds of sending")
    p.add_argument("--stream", action="store_true", help="ask for an SSE stream")
    p.add_argument("--model", default="gpt-4o-mini")
    p.add_argument("--body-file", help="send this file as the body instead")
    p.add_argument("--max-inflight", type=int, default=512, help="open loop: cap on requests in flight")
    p.add_argument("--timeout", type=float, default=60, help="per-request timeout, seconds")
    args = p.parse_args(argv)
    args.headers_dict = parse_headers(args.header)
    if args.body_file:
        with open(args.body_file, "rb") as f:
            body = f.read()
    else:
        body = json.dumps(chat_body(args.model, args.stream)).encode()
    if uvloop is not None:
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    json.dump(asyncio.run(run(args, body)), sys.stdout)
    print()


if __name__ == "__main__":
    main()
