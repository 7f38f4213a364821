#!/usr/bin/env python3
"""Memory under many idle streams, and memory growth under steady load (soak).

Idle streams (default):
  python idle_streams.py --target bare-proxy --streams 1000 --hold 20

  Starts the fake upstream with a huge time-to-first-token (--upstream-ttft-ms, default one
  hour): every stream gets its headers and first (role) event at once, then sits idle. Opens
  --streams concurrent streaming requests through the gateway, waits until each has its first
  event, holds them --hold seconds while sampling the gateway's RSS, CPU and open file
  descriptors every second, probes the gateway with ordinary JSON requests meanwhile, then
  closes every client connection and checks that the gateway lets go (RSS and descriptors
  after release; a gateway that does not pass client disconnects on keeps its upstream
  connections open).

Soak:
  python idle_streams.py --target seawall --soak --minutes 10 --rate 100

  Steady open-loop load (loadgen.py: half JSON, half streams by default) for --minutes,
  sampling the gateway's RSS every --sample-every seconds (default 10). Reports the RSS series,
  the growth after the first minute (warm-up) and its slope in MiB/hour: a leak shows as a
  steady slope, a cache or pool as growth that levels off.

Pinning as in overhead.py: gateway on --gateway-core (1), upstream + client on --client-core (0).
Results: results/idle-streams-<target>-<time>.json or results/soak-<target>-<time>.json.
"""

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import time

import aiohttp
from benchlib import (
    HERE,
    chat_body,
    http,
    load_target,
    pin_self,
    raise_fd_limit,
    start_target,
    start_upstream,
)

MIB = 2**20


def fd_count(proc):
    total = 0
    for pid in proc.tree():
        with contextlib.suppress(OSError):
            total += len(os.listdir(f"/proc/{pid}/fd"))
    return total


def probe(target, n=20):
    """p50 of n sequential JSON requests through the gateway, in ms (None if any failed)."""
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        status, _ = http("POST", target["url"], chat_body(target["model"]), target["headers"], timeout=30)
        if status != 200:
            return None
        times.append((time.perf_counter() - t0) * 1000)
    return round(statistics.median(times), 2)


class Sampler:
    def __init__(self, proc):
        self.proc = proc
        self.t0 = time.time()
        self.cpu0 = proc.cpu_seconds()
        self.samples = []

    def sample(self, label=""):
        s = {
            "t": round(time.time() - self.t0, 1),
            "rss_mib": round(self.proc.rss_bytes() / MIB, 1),
            "cpu_s": round(self.proc.cpu_seconds() - self.cpu0, 2),
            "fds": fd_count(self.proc),
        }
        if label:
            s["label"] = label
        self.samples.append(s)
        return s


async def open_streams(target, n, open_timeout):
    """Open n streams; returns (session, tasks, opened count, failures, seconds to open)."""
    body = json.dumps(chat_body(target["model"], stream=True)).encode()
    headers = {"Content-Type": "application/json", **target["headers"]}
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=None))
    opened = asyncio.Event()
    state = {"opened": 0, "failed": 0, "ended": 0, "errors": {}}

    async def one():
        try:
            async with session.post(target["url"], data=body, headers=headers) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"HTTP {resp.status}")
                first = await resp.content.readany()
                if not first:
                    raise RuntimeError("closed before the first event")
                state["opened"] += 1
                if state["opened"] == n:
                    opened.set()
                while await resp.content.readany():  # idle until the gateway or we close
                    pass
                state["ended"] += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure is a data point here
            state["failed"] += 1
            key = f"{type(exc).__name__}: {exc}"[:120]
            state["errors"][key] = state["errors"].get(key, 0) + 1
            if state["opened"] + state["failed"] >= n:
                opened.set()

    t0 = time.perf_counter()
    tasks = [asyncio.ensure_future(one()) for _ in range(n)]
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(opened.wait(), open_timeout)
    return session, tasks, state, time.perf_counter() - t0


async def idle_run(args, target, proc):
    loop = asyncio.get_running_loop()
    sampler = Sampler(proc)
    await asyncio.sleep(2)
    base = sampler.sample("idle")
    probe_idle = await loop.run_in_executor(None, probe, target)
    print(f"   idle: RSS {base['rss_mib']} MiB, {base['fds']} fds, probe p50 {probe_idle} ms", flush=True)

    session, tasks, state, open_s = await open_streams(target, args.streams, args.open_timeout)
    opened = sampler.sample("opened")
    print(
        f"   {state['opened']}/{args.streams} streams open after {open_s:.1f}s "
        f"({state['failed']} failed): RSS {opened['rss_mib']} MiB, {opened['fds']} fds",
        flush=True,
    )
    cpu_hold0 = proc.cpu_seconds()
    t_hold = time.time()
    probe_during = None
    peak = opened["rss_mib"]
    while time.time() - t_hold < args.hold:
        await asyncio.sleep(1)
        s = sampler.sample()
        peak = max(peak, s["rss_mib"])
        if probe_during is None and time.time() - t_hold > args.hold / 2:
            probe_during = await loop.run_in_executor(None, probe, target)
    hold_cpu = proc.cpu_seconds() - cpu_hold0
    held = sampler.sample("held")
    still_open = sum(1 for t in tasks if not t.done())

    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await session.close()
    await asyncio.sleep(args.settle)
    released = sampler.sample("released")
    probe_after = await loop.run_in_executor(None, probe, target)
    n = max(1, state["opened"])
    result = {
        "streams_requested": args.streams,
        "streams_opened": state["opened"],
        "streams_failed": state["failed"],
        "stream_errors": state["errors"],
        "streams_still_open_after_hold": still_open,
        "open_seconds": round(open_s, 2),
        "hold_seconds": args.hold,
        "rss_idle_mib": base["rss_mib"],
        "rss_open_mib": opened["rss_mib"],
        "rss_peak_during_hold_mib": peak,
        "rss_after_release_mib": released["rss_mib"],
        "kib_per_stream": round((peak - base["rss_mib"]) * 1024 / n, 1),
        "fds_idle": base["fds"],
        "fds_open": opened["fds"],
        "fds_after_release": released["fds"],
        "hold_cpu_ms_per_s": round(1000 * hold_cpu / args.hold, 2),
        "probe_p50_ms_idle": probe_idle,
        "probe_p50_ms_during": probe_during,
        "probe_p50_ms_after": probe_after,
        "samples": sampler.samples,
    }
    print(
        f"   held {args.hold}s: peak RSS {peak} MiB (+{result['kib_per_stream']} KiB/stream), "
        f"{held['fds']} fds, {result['hold_cpu_ms_per_s']} ms CPU/s, probe p50 {probe_during} ms; "
        f"still open at the end: {still_open}",
        flush=True,
    )
    print(
        f"   released: RSS {released['rss_mib']} MiB, {released['fds']} fds (idle had {base['fds']}), "
        f"probe p50 {probe_after} ms",
        flush=True,
    )
    return result


def loadgen_argv(args, target, stream, rate, duration):
    argv = ["taskset", "-c", str(args.client_core), sys.executable, os.path.join(HERE, "loadgen.py")]
    argv += [
        "--url",
        target["url"],
        "--rate",
        str(rate),
        "--duration",
        str(duration),
        "--model",
        target["model"],
    ]
    argv += ["--stream"] if stream else []
    for k, v in target["headers"].items():
        argv += ["--header", f"{k}: {v}"]
    return argv


def slope_mib_per_hour(samples):
    if len(samples) < 3:
        return None
    xs = [s["t"] for s in samples]
    ys = [s["rss_mib"] for s in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return (
        round(3600 * sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / den, 1) if den else None
    )


def soak_run(args, target, proc):
    duration = int(args.minutes * 60)
    stream_rate = round(args.rate * args.stream_share, 2)
    json_rate = round(args.rate - stream_rate, 2)
    sampler = Sampler(proc)
    start = sampler.sample("start")
    procs = []
    for stream, rate in ((False, json_rate), (True, stream_rate)):
        if rate > 0:
            procs.append(
                subprocess.Popen(
                    loadgen_argv(args, target, stream, rate, duration), stdout=subprocess.PIPE, text=True
                )
            )
    print(f"   soak: {json_rate}/s JSON + {stream_rate}/s streams for {args.minutes} min", flush=True)
    deadline = time.time() + duration + 180
    while any(p.poll() is None for p in procs) and time.time() < deadline:
        time.sleep(min(args.sample_every, max(0.1, deadline - time.time())))
        s = sampler.sample()
        print(f"   t={s['t']:>6}s RSS {s['rss_mib']} MiB, {s['fds']} fds, CPU {s['cpu_s']} s", flush=True)
    clients = []
    for p in procs:
        try:
            out, _ = p.communicate(timeout=max(1, deadline - time.time()))
            clients.append(json.loads(out))
        except (subprocess.TimeoutExpired, ValueError) as exc:
            p.kill()
            clients.append({"error": repr(exc)})
    end = sampler.sample("end")
    warm = [s for s in sampler.samples if s["t"] >= min(60, duration / 2)]
    sent = sum(c.get("sent", 0) for c in clients)
    result = {
        "minutes": args.minutes,
        "rate": args.rate,
        "stream_share": args.stream_share,
        "clients": clients,
        "requests": sent,
        "cpu_ms_per_req": round(1000 * end["cpu_s"] / sent, 3) if sent else None,
        "rss_start_mib": start["rss_mib"],
        "rss_after_warmup_mib": warm[0]["rss_mib"] if warm else None,
        "rss_end_mib": end["rss_mib"],
        "rss_max_mib": max(s["rss_mib"] for s in sampler.samples),
        "growth_after_warmup_mib": round(end["rss_mib"] - warm[0]["rss_mib"], 1) if warm else None,
        "slope_after_warmup_mib_per_hour": slope_mib_per_hour(warm),
        "samples": sampler.samples,
    }
    print(
        f"   RSS start {result['rss_start_mib']} -> after warm-up {result['rss_after_warmup_mib']} -> end "
        f"{result['rss_end_mib']} MiB (max {result['rss_max_mib']}); slope after warm-up "
        f"{result['slope_after_warmup_mib_per_hour']} MiB/h; CPU {result['cpu_ms_per_req']} ms/req",
        flush=True,
    )
    for c in clients:
        if "error" not in c:
            print(
                f"   client {'stream' if c['stream'] else 'json'}: sent {c['sent']}, ok {c['ok']}, "
                f"bad {c['bad']}, dropped {c['dropped']}, p50 {c['p50_ms']} / p99 {c['p99_ms']} ms, "
                f"status {c['status']}",
                flush=True,
            )
    return result


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--target", required=True, help="target name (targets/NAME.json) or JSON file")
    p.add_argument("--streams", type=int, default=1000, help="idle: concurrent streams")
    p.add_argument("--hold", type=float, default=20, help="idle: seconds to hold them open")
    p.add_argument("--open-timeout", type=float, default=60, help="idle: max seconds to open them all")
    p.add_argument("--settle", type=float, default=5, help="idle: seconds after closing before sampling")
    p.add_argument(
        "--upstream-ttft-ms", type=float, default=3_600_000, help="idle: upstream's first-token delay"
    )
    p.add_argument(
        "--upstream-arg",
        action="append",
        default=[],
        help="extra upstream.py option, e.g. --upstream-arg=--chunk-delay-ms=3600000 (repeatable)",
    )
    p.add_argument("--soak", action="store_true", help="steady load instead of idle streams")
    p.add_argument("--minutes", type=float, default=10, help="soak: minutes of load")
    p.add_argument("--rate", type=float, default=100, help="soak: total requests per second (open loop)")
    p.add_argument("--stream-share", type=float, default=0.5, help="soak: share of streaming requests")
    p.add_argument("--sample-every", type=float, default=10, help="soak: seconds between RSS samples")
    p.add_argument("--gateway-core", type=int, default=1)
    p.add_argument("--client-core", type=int, default=0)
    p.add_argument("--upstream-port", type=int, default=9999)
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    raise_fd_limit()
    pin_self(args.client_core)

    upstream_args = ([] if args.soak else [f"--ttft-ms={args.upstream_ttft_ms}"]) + args.upstream_arg
    up_proc, upstream = start_upstream(
        args.upstream_port, args.client_core, upstream_args, os.path.join(args.out, "upstream.log")
    )
    target = load_target(args.target, upstream)
    kind = "soak" if args.soak else "idle-streams"
    gw = None
    try:
        print(f"== {target['name']}: {kind}", flush=True)
        gw = start_target(
            target, upstream, args.gateway_core, os.path.join(args.out, f"{target['name']}.log")
        )
        result = soak_run(args, target, gw) if args.soak else asyncio.run(idle_run(args, target, gw))
    finally:
        if gw is not None:
            gw.stop()
        up_proc.stop()
    result = {"target": target["name"], "kind": kind, "date": time.strftime("%Y-%m-%d %H:%M:%S"), **result}
    path = os.path.join(args.out, f"{kind}-{target['name']}-{time.strftime('%Y%m%d-%H%M%S')}.json")
    with open(path, "w") as f:
        json.dump(result, f, indent=1)
    print(f"results: {path}")


if __name__ == "__main__":
    main()
