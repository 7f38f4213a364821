#!/usr/bin/env python3
"""Chaos benchmark: Seawall's resilience under real faults, over real sockets (issue 4's figures).

  .venv/bin/python benchmarks/chaos.py                      # every scenario, full length (~10 min)
  .venv/bin/python benchmarks/chaos.py --duration 8 --warmup 3 --recovery 4 --soak 30   # quick (~4 min)
  .venv/bin/python benchmarks/chaos.py --scenarios a,e      # a subset

Starts two `seawall simulate` upstreams (primary, secondary) and, per scenario, a fresh `seawall serve`
gateway (fresh resilience state), all on 127.0.0.1 free ports. Closed-loop aiohttp clients (16 by
default) send chat completions through the gateway for `warmup` s with every upstream healthy, then the
fault is switched on at the primary for `duration` s, then off again for `recovery` s.

Scenarios (the fault is at the primary; model `chat` = primary → secondary, model `solo` = primary only):

  a  primary answers 100% 503 (default 30 s): success %, upstream calls per client request per time
     bucket (first 1 s, 1–5 s, rest), breaker transitions, latency, recovery.
  a0 the same with no warm-up (a cold gateway: its breaker window holds no successes yet).
  e  baseline for a: breaker, throttle, retry budget and concurrency limits effectively off.
  f  both targets answer 100% 503 (default 10 s): the setup of shared/bench's LiteLLM / Portkey
     retry-amplification baseline (8.0x there).
  b  latency spike (default 20 s): the primary answers after 20 s; clients send x-seawall-timeout-ms
     (2000 or 800 ms), half of them streaming: deadline overshoot, success %, in-flight counts.
  b2 the same spike after the commit point: primary streams send their first token at once, then stall
     (one chunk per 20 s); every client streams with a 2000 ms deadline.
  c  429 storm: the primary answers 429 with Retry-After N (default 2 s): primary calls per second
     against 1/N, successes through the fallback.
  c1 the same on model `solo` (no fallback): clients wait the retry-after-ms they are given; what do
     they get told, and how often do they come back?
  d  soak (default 180 s): one gateway while the primary's fault changes every 10 s (503, latency,
     429, stall, healthy): is memory flat?

Every scenario samples the gateway's RSS and open descriptors each second. Prints markdown tables
and writes everything (per-second series included) to benchmarks/results/chaos-<time>.json and .md.
Every load loop is bounded by time and count; traffic stays on 127.0.0.1. Uses the standard library,
aiohttp and PyYAML from Seawall's own environment (and reads `seawall.resilience.BreakerPolicy` to
switch the breaker off in scenario e).

Pinning (on ≥ 2 cores, like shared/bench): the gateway on core 1, the simulators and this client on
core 0 (--no-pin to turn off). Numbers from a 2-core VM are noisy: run it a few times.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODEL_PATHS = ("/v1/chat/completions", "/chat/completions")
BODY = {"messages": [{"role": "user", "content": "Tell me about rivers."}], "max_tokens": 32}
MAX_REQUESTS = 1_000_000  # a hard cap on requests per scenario, whatever the timing


# -- processes -------------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Proc:
    """A child in its own process group (so stopping it never touches anything else)."""

    def __init__(self, args: list[str], log: Path, core: int | None, cwd: Path | None = None) -> None:
        self.log = log
        self._out = log.open("ab")
        self.proc = subprocess.Popen(
            args, stdout=self._out, stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True
        )
        if core is not None:
            with contextlib.suppress(OSError):
                os.sched_setaffinity(self.proc.pid, {core})  # threads it starts later inherit this

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._out.close()


def wait_ready(url: str, proc: Proc, timeout: float = 30.0) -> None:
    import urllib.error
    import urllib.request

    until = time.monotonic() + timeout
    while time.monotonic() < until:
        if proc.proc.poll() is not None:
            raise SystemExit(f"{proc.log.name}: exited with {proc.proc.returncode}; see {proc.log}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise SystemExit(f"{url} not ready after {timeout}s; see {proc.log}")


def tree_rss_fds(pgid: int) -> tuple[float, int]:
    """RSS (MiB) and open descriptors summed over a process group, read from /proc."""
    rss_kib, fds = 0, 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat") as f:
                stat = f.read()
            if int(stat.rsplit(")", 1)[1].split()[2]) != pgid:  # field 5: pgrp
                continue
            with open(f"/proc/{entry.name}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss_kib += int(line.split()[1])
                        break
            fds += len(os.listdir(f"/proc/{entry.name}/fd"))
        except (OSError, ValueError, IndexError):
            continue
    return rss_kib / 1024, fds


class Simulator:
    def __init__(self, name: str, out: Path, core: int | None, seed: int, base: dict[str, Any]) -> None:
        self.name = name
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            sys.executable,
            "-m",
            "seawall.cli",
            "simulate",
            "--port",
            str(self.port),
            "--seed",
            str(seed),
        ]
        for key, value in base.items():
            args += ["--set", f"{key}={json.dumps(value)}"]
        self.proc = Proc(args, out / f"chaos-sim-{name}.log", core)
        wait_ready(self.url + "/health", self.proc)

    def stop(self) -> None:
        self.proc.stop()


class GatewayProcess:
    def __init__(self, config: dict[str, Any], workdir: Path, out: Path, core: int | None) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / "seawall.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [sys.executable, "-m", "seawall.cli", "serve", "-c", str(path), "--port", str(self.port)]
        self.proc = Proc(args, out / "chaos-gateway.log", core, cwd=workdir)
        wait_ready(self.url + "/health/ready", self.proc)

    def stop(self) -> None:
        self.proc.stop()


# -- configuration -----------------------------------------------------------------------------------
def gateway_config(
    primary: Simulator, secondary: Simulator, db: Path, resilience: dict[str, Any], attempt_timeout_s: float
) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "primary", "kind": "openai", "base_url": primary.url + "/v1", "api_key": "sk-chaos-1"},
            {
                "name": "secondary",
                "kind": "openai",
                "base_url": secondary.url + "/v1",
                "api_key": "sk-chaos-2",
            },
        ],
        "models": [
            {
                "name": "chat",
                "targets": [
                    {"provider": "primary", "model": "gpt-primary"},
                    {"provider": "secondary", "model": "gpt-secondary"},
                ],
                "attempt_timeout_s": attempt_timeout_s,
                "first_token_timeout_s": attempt_timeout_s,
            },
            {"name": "solo", "targets": [{"provider": "primary", "model": "gpt-primary"}]},
        ],
        "traces": {"store": f"sqlite:///{db}"},
        "resilience": resilience,
    }


def breaker_off() -> dict[str, Any]:
    """Breaker settings that never open, whichever trip conditions the installed Seawall has."""
    from seawall.resilience import BreakerPolicy  # the gateway under test runs this same package

    off: dict[str, Any] = {"min_calls": 1_000_000}
    if "consecutive_failures" in BreakerPolicy.__dataclass_fields__:
        off["consecutive_failures"] = 0
    return off


# Scenario e: every fleet-level protection effectively off; retries and fallback as configured.
RELAXED = {
    "breaker": breaker_off(),
    "throttle": {"min_requests": 1_000_000},
    "budget": {"min_retries_per_sec": 100_000, "percent_can_retry": 1000},
    "retry_concurrency": {"min_retry_concurrency": 100_000},
    "concurrency": {"algorithm": "none"},
}


@dataclass
class Scenario:
    key: str
    title: str
    model: str
    fault: dict[str, Any]
    duration: float
    warmup: float
    recovery: float
    resilience: dict[str, Any] = field(default_factory=dict)
    deadlines_ms: tuple[int, ...] = ()
    stream_share: float = 0.0
    honour_retry_after: bool = False
    cycle: tuple[dict[str, Any], ...] = ()  # soak: faults applied in turn, `period` s each
    secondary_fault: dict[str, Any] = field(default_factory=dict)  # also break the secondary
    period: float = 10.0


# -- load ------------------------------------------------------------------------------------------
@dataclass(slots=True)
class Result:
    t: float  # start, seconds after the fault went on (negative: warm-up)
    latency: float
    status: int | str
    target: str | None
    attempts: int | None
    retry_after_ms: float | None
    stream: bool
    deadline_ms: int | None
    wall_end: float  # time.time() at the end


@dataclass
class Samples:
    calls: list[tuple[float, int, int]] = field(default_factory=list)  # t, primary, secondary (cumulative)
    admin: list[dict[str, Any]] = field(default_factory=list)
    primary_times: set[float] = field(default_factory=set)  # wall time of each primary model call


async def model_calls(session: aiohttp.ClientSession, sim: Simulator) -> int:
    async with session.get(sim.url + "/_stats") as resp:
        stats = await resp.json()
    return sum(n for path, n in stats.get("by_path", {}).items() if path in MODEL_PATHS)


async def control(session: aiohttp.ClientSession, sim: Simulator, **changes: Any) -> None:
    async with session.post(sim.url + "/_control", json=changes) as resp:
        if resp.status != 200:
            raise SystemExit(f"{sim.name} /_control {changes}: {resp.status} {await resp.text()}")


async def one_request(
    session: aiohttp.ClientSession,
    url: str,
    model: str,
    *,
    stream: bool,
    deadline_ms: int | None,
    timeout_s: float,
) -> tuple[int | str, dict[str, str]]:
    headers = {"content-type": "application/json"}
    if deadline_ms is not None:
        headers["x-seawall-timeout-ms"] = str(deadline_ms)
    body = {**BODY, "model": model}
    if stream:
        body["stream"] = True
    try:
        async with session.post(
            url, json=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout_s)
        ) as resp:
            raw = await resp.read()
            status: int | str = resp.status
            if status == 200 and (b"[DONE]" if stream else b'"choices"') not in raw:
                status = "bad_body"
            return status, dict(resp.headers)
    except TimeoutError:
        return "client_timeout", {}
    except aiohttp.ClientError as exc:
        return type(exc).__name__, {}


async def run_load(
    sc: Scenario,
    *,
    gw: GatewayProcess,
    primary: Simulator,
    secondary: Simulator,
    clients: int,
    client_timeout_s: float,
) -> tuple[list[Result], Samples, dict[str, Any], float]:
    """Warm-up, fault, recovery under closed-loop load; returns results, samples, final admin view."""
    results: list[Result] = []
    samples = Samples()
    url = gw.url + "/v1/chat/completions"
    total = sc.warmup + sc.duration + sc.recovery
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as session:
        for sim in (primary, secondary):
            await control(session, sim, reset=True)
            async with session.post(sim.url + "/_stats/reset") as resp:
                await resp.read()
        start = time.monotonic()
        fault_at = start + sc.warmup  # replaced by the exact moment the fault went on
        stop_at = start + total
        clock = {"fault_at": fault_at}

        async def worker(i: int) -> None:
            stream = sc.stream_share >= 1.0 or (sc.stream_share >= 0.5 and i % 2 == 0)
            deadline = sc.deadlines_ms[(i // 2) % len(sc.deadlines_ms)] if sc.deadlines_ms else None
            while (now := time.monotonic()) < stop_at and len(results) < MAX_REQUESTS:
                status, headers = await one_request(
                    session, url, sc.model, stream=stream, deadline_ms=deadline, timeout_s=client_timeout_s
                )
                end = time.monotonic()
                attempts = headers.get("x-seawall-attempts")
                ra = headers.get("retry-after-ms")
                results.append(
                    Result(
                        t=now - clock["fault_at"],
                        latency=end - now,
                        status=status,
                        target=headers.get("x-seawall-target"),
                        attempts=None if attempts is None else int(attempts),
                        retry_after_ms=None if ra is None else float(ra),
                        stream=stream,
                        deadline_ms=deadline,
                        wall_end=time.time(),
                    )
                )
                if sc.honour_retry_after and status in (429, 503) and ra is not None:
                    await asyncio.sleep(min(float(ra) / 1000, max(0.0, stop_at - time.monotonic())))

        async def calls_sampler() -> None:
            n = 0
            while time.monotonic() < stop_at + 1:
                p, s = await asyncio.gather(model_calls(session, primary), model_calls(session, secondary))
                samples.calls.append((time.monotonic() - clock["fault_at"], p, s))
                if n % 2 == 0:  # the simulator keeps its last 100 requests: read them often enough
                    samples.primary_times.update(await primary_call_times(session, primary))
                n += 1
                await asyncio.sleep(0.1)

        async def admin_sampler() -> None:
            while time.monotonic() < stop_at + 1:
                t = time.monotonic() - clock["fault_at"]
                async with session.get(gw.url + "/admin/targets") as resp:
                    view = await resp.json()
                rss, fds = tree_rss_fds(gw.proc.pid)
                samples.admin.append({"t": round(t, 3), "rss_mib": round(rss, 2), "fds": fds, **slim(view)})
                await asyncio.sleep(1.0)

        async def phases() -> None:
            if sc.warmup:
                await asyncio.sleep(max(0.0, fault_at - time.monotonic()))
                if sc.secondary_fault:
                    await control(session, secondary, **sc.secondary_fault)
                await control(session, primary, **sc.fault)
                clock["fault_at"] = time.monotonic()  # t = 0: when the primary really started failing
                for r in results:  # requests recorded during warm-up: re-base on the real moment
                    r.t -= clock["fault_at"] - fault_at
            end = clock["fault_at"] + sc.duration
            for i in range(math.ceil(sc.duration / sc.period) if sc.cycle else 0):
                await control(session, primary, reset=True, **sc.cycle[i % len(sc.cycle)])
                await asyncio.sleep(max(0.0, min(end, time.monotonic() + sc.period) - time.monotonic()))
            await asyncio.sleep(max(0.0, end - time.monotonic()))
            await control(session, primary, reset=True)
            if sc.secondary_fault:
                await control(session, secondary, reset=True)

        if not sc.warmup:  # a cold start: the primary fails from the first request on
            if sc.secondary_fault:
                await control(session, secondary, **sc.secondary_fault)
            await control(session, primary, **sc.fault)
            clock["fault_at"] = fault_at = time.monotonic()
            stop_at = fault_at + total
        tasks = [asyncio.create_task(worker(i)) for i in range(clients)]
        helpers = [asyncio.create_task(f()) for f in (calls_sampler, admin_sampler, phases)]
        await asyncio.wait_for(asyncio.gather(*tasks, *helpers), total + client_timeout_s + 30)
        async with session.get(gw.url + "/admin/targets") as resp:
            final = await resp.json()
        async with session.get(gw.url + "/metrics") as resp:
            final["metrics"] = [
                line
                for line in (await resp.text()).splitlines()
                if line.startswith("seawall_upstream_attempts")
            ]
        samples.primary_times.update(await primary_call_times(session, primary))
        final["primary_request_times"] = sorted(samples.primary_times)
    return results, samples, final, clock["fault_at"]


async def primary_call_times(session: aiohttp.ClientSession, sim: Simulator) -> list[float]:
    async with session.get(sim.url + "/_requests") as resp:
        log = await resp.json()
    return [
        r["time"] for r in (log["requests"] if isinstance(log, dict) else log) if r["path"] in MODEL_PATHS
    ]


def slim(view: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "admission_inflight": view["admission"]["inflight"],
        "admission_queued": view["admission"]["queued"],
        "retries_in_flight": view["retries_in_flight"],
    }
    for t in view["targets"]:
        name = t["provider"]
        out[name] = {
            "breaker": t["breaker"]["state"],
            "inflight": t["concurrency"]["inflight"],
            "limit": t["concurrency"]["limit"],
            "budget": t["retry_budget"]["balance"],
            "throttle_p": t["throttle"]["reject_probability"],
            "blocked_s": t["rate_limited_for_s"],
        }
    return out


# -- analysis --------------------------------------------------------------------------------------
def pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def cum_at(samples: list[tuple[float, int, int]], t: float, idx: int) -> float:
    """Cumulative calls at time t, interpolated between samples."""
    times = [s[0] for s in samples]
    i = bisect.bisect_left(times, t)
    if i == 0:
        return float(samples[0][idx]) if samples else 0.0
    if i >= len(samples):
        return float(samples[-1][idx])
    (t0, *v0), (t1, *v1) = samples[i - 1], samples[i]
    a, b = v0[idx - 1], v1[idx - 1]
    return a + (b - a) * (t - t0) / (t1 - t0) if t1 > t0 else float(b)


def window(results: list[Result], samples: Samples, a: float, b: float) -> dict[str, Any]:
    """Figures for requests started in [a, b) and upstream calls received in [a, b)."""
    rs = [r for r in results if a <= r.t < b]
    primary = cum_at(samples.calls, b, 1) - cum_at(samples.calls, a, 1)
    secondary = cum_at(samples.calls, b, 2) - cum_at(samples.calls, a, 2)
    n = len(rs)
    ok = sum(1 for r in rs if r.status == 200)
    attempts = [r.attempts for r in rs if r.attempts is not None]
    return {
        "from_s": a,
        "to_s": b,
        "requests": n,
        "ok": ok,
        "success_pct": round(100 * ok / n, 2) if n else None,
        "primary_calls": round(primary),
        "secondary_calls": round(secondary),
        "primary_per_request": round(primary / n, 3) if n else None,
        "upstream_per_request": round((primary + secondary) / n, 3) if n else None,
        "attempts_header_mean": round(sum(attempts) / len(attempts), 3) if attempts else None,
        "primary_calls_per_s": round(primary / (b - a), 2) if b > a else None,
    }


def latency_stats(rs: list[Result]) -> dict[str, Any]:
    lat = [r.latency * 1000 for r in rs]
    return {
        "p50_ms": round(pct(lat, 0.5) or 0, 1),
        "p99_ms": round(pct(lat, 0.99) or 0, 1),
        "max_ms": round(max(lat, default=0), 1),
    }


def statuses(rs: list[Result]) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in rs:
        out[str(r.status)] = out.get(str(r.status), 0) + 1
    return dict(sorted(out.items()))


def memory(samples: Samples, warmup: float) -> dict[str, Any]:
    rows = [(s["t"], s["rss_mib"], s["fds"]) for s in samples.admin]
    if not rows:
        return {}
    after = [r for r in rows if r[0] >= min(0.0, -warmup / 2)] or rows
    n = len(after)
    slope = None
    if n >= 3:  # least squares, MiB per minute
        mt = sum(r[0] for r in after) / n
        mr = sum(r[1] for r in after) / n
        den = sum((r[0] - mt) ** 2 for r in after)
        slope = round(60 * sum((r[0] - mt) * (r[1] - mr) for r in after) / den, 3) if den else None
    third = [r for r in rows if r[0] >= rows[0][0] + (rows[-1][0] - rows[0][0]) / 3]
    return {
        "rss_first_mib": rows[0][1],
        "rss_at_one_third_mib": third[0][1] if third else None,
        "rss_growth_last_two_thirds_mib": round(rows[-1][1] - third[0][1], 2) if third else None,
        "rss_min_mib": min(r[1] for r in rows),
        "rss_max_mib": max(r[1] for r in rows),
        "rss_last_mib": rows[-1][1],
        "rss_slope_mib_per_min": slope,
        "fds_max": max(r[2] for r in rows),
        "fds_last": rows[-1][2],
    }


def transitions(final: dict[str, Any], fault_at: float) -> list[dict[str, Any]]:
    return [
        {"t": round(t["at"] - fault_at, 2), "target": t["target"], "to": t["new"], "reason": t["reason"]}
        for t in final.get("breaker_transitions", [])
    ]


def analyse(
    sc: Scenario, results: list[Result], samples: Samples, final: dict[str, Any], fault_at: float
) -> dict[str, Any]:
    d = sc.duration
    during = [r for r in results if 0 <= r.t < d]
    buckets = [(0.0, 1.0), (1.0, 5.0), (5.0, d)] if d > 5 else [(0.0, 1.0), (1.0, d)]
    out: dict[str, Any] = {
        "scenario": sc.key,
        "title": sc.title,
        "settings": {k: v for k, v in asdict(sc).items() if k not in ("key", "title")},
        "warmup": window(results, samples, -sc.warmup, 0.0) if sc.warmup else None,
        "fault": window(results, samples, 0.0, d),
        "fault_statuses": statuses(during),
        "fault_latency": latency_stats(during),
        "fault_ok_latency": latency_stats([r for r in during if r.status == 200]),
        "buckets": [window(results, samples, a, b) for a, b in buckets if b > a],
        "per_second": [window(results, samples, float(s), float(s + 1)) for s in range(math.ceil(d))],
        "recovery": window(results, samples, d, d + sc.recovery) if sc.recovery else None,
        "breaker_transitions": transitions(final, fault_at),
        "memory": memory(samples, sc.warmup),
        "admin_samples": samples.admin,
        "metrics": final.get("metrics", []),
    }
    back = [r.t for r in results if r.t >= d and r.target == "primary/gpt-primary"]
    out["primary_answers_again_after_s"] = round(min(back) - d, 2) if back else None
    prim = [s for s in samples.admin if "primary" in s and 0 <= s["t"] < d]
    out["primary_inflight_max"] = max((s["primary"]["inflight"] for s in prim), default=None)
    out["admission_inflight_max"] = max((s["admission_inflight"] for s in samples.admin), default=None)
    if sc.deadlines_ms:
        out["deadline"] = deadline_figures(results, d)
    if sc.fault.get("rate_limit_rate"):
        out["retry_after"] = retry_after_figures(sc, results, final, fault_at)
    return out


def deadline_figures(results: list[Result], d: float) -> dict[str, Any]:
    """Client-observed latency against each request's own deadline, per deadline and in total."""
    out: dict[str, Any] = {}
    during = [r for r in results if 0 <= r.t < d and r.deadline_ms is not None]
    groups = {"fault, all": during, "whole run": [r for r in results if r.deadline_ms is not None]}
    for ms in sorted({r.deadline_ms for r in during if r.deadline_ms is not None}):
        for stream in (False, True):
            rs = [r for r in during if r.deadline_ms == ms and r.stream == stream]
            if rs:
                groups[f"fault, {ms} ms, {'stream' if stream else 'json'}"] = rs
    for name, rs in groups.items():
        over = [(r.latency - (r.deadline_ms or 0) / 1000) * 1000 for r in rs]
        lat = [r.latency * 1000 for r in rs]
        out[name] = {
            "requests": len(rs),
            "ok": sum(1 for r in rs if r.status == 200),
            "statuses": statuses(rs),
            "latency_p50_ms": round(pct(lat, 0.5) or 0, 1),
            "latency_p99_ms": round(pct(lat, 0.99) or 0, 1),
            "latency_max_ms": round(max(lat, default=0), 1),
            "overshoot_max_ms": round(max(over, default=0.0), 1),
            "overshoot_p99_ms": round(pct(over, 0.99) or 0.0, 1),
            "over_deadline": sum(1 for o in over if o > 0),
            "over_deadline_by_100ms": sum(1 for o in over if o > 100),
        }
    return out


def retry_after_figures(
    sc: Scenario, results: list[Result], final: dict[str, Any], fault_at: float
) -> dict[str, Any]:
    """Client-facing Retry-After under a 429 storm: what clients were told, and how often the primary
    was really called (from the simulator's request log, wall clock)."""
    d = sc.duration
    times = sorted(final.get("primary_request_times", []))
    wall0 = time.time() - (time.monotonic() - fault_at)  # wall clock at t = 0 (to ~1 ms)
    during = [r for r in results if 0 <= r.t < d]
    refusals = [r for r in during if r.status != 200]
    told = [r.retry_after_ms for r in refusals if r.retry_after_ms is not None]
    storm_calls = [t - wall0 for t in times if wall0 <= t < wall0 + d]
    # After the first wave (requests already in flight when the storm began), how many primary calls
    # per Retry-After period?
    later = [t for t in storm_calls if t >= 1.0]
    periods = max(1e-9, (d - 1.0) / sc.fault["retry_after"])
    return {
        "upstream_retry_after_s": sc.fault.get("retry_after"),
        "client_requests_per_s": round(len(during) / d, 1),
        "client_refusals": len(refusals),
        "client_refusals_by_status": statuses(refusals),
        "refusals_with_retry_after": len(told),
        "refusals_without_upstream_attempt": sum(1 for r in refusals if r.attempts == 0),
        "retry_after_ms": {
            "min": min(told, default=None),
            "p50": pct(told, 0.5),
            "max": max(told, default=None),
            "under_1s": sum(1 for v in told if v < 1000),
        },
        "retry_after_ms_by_status": {
            str(st): {"n": len(v), "min": min(v), "max": max(v)}
            for st in (429, 503)
            if (v := [r.retry_after_ms for r in refusals if r.status == st and r.retry_after_ms is not None])
        },
        "primary_calls_in_storm": len(storm_calls),
        "primary_calls_first_1s": len(storm_calls) - len(later),
        "primary_calls_per_retry_after_after_1s": round(len(later) / periods, 2),
        "primary_call_times_s": [round(t, 3) for t in storm_calls],
    }


# -- report ----------------------------------------------------------------------------------------
def fmt(v: Any) -> str:
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.3g}" if abs(v) < 10 else f"{v:.0f}"
    return str(v)


def table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def report(res: dict[str, Any]) -> str:
    f = res["fault"]
    lines = [f"### {res['scenario']}: {res['title']}", ""]
    lines.append(
        table(
            [
                "phase",
                "client requests",
                "success %",
                "primary calls",
                "secondary calls",
                "primary / req",
                "upstream / req",
                "x-seawall-attempts mean",
            ],
            [
                [
                    name,
                    w["requests"],
                    w["success_pct"],
                    w["primary_calls"],
                    w["secondary_calls"],
                    w["primary_per_request"],
                    w["upstream_per_request"],
                    w["attempts_header_mean"],
                ]
                for name, w in [
                    *([("warm-up", res["warmup"])] if res["warmup"] else []),
                    *[(f"fault {b['from_s']:g}–{b['to_s']:g} s", b) for b in res["buckets"]],
                    ("fault, all", f),
                    *([("recovery", res["recovery"])] if res["recovery"] else []),
                ]
            ],
        )
    )
    lat, ok_lat, mem = res["fault_latency"], res["fault_ok_latency"], res["memory"]
    lines += [
        "",
        f"- client statuses during the fault: {res['fault_statuses']}",
        f"- client latency during the fault: p50 {lat['p50_ms']} ms, p99 {lat['p99_ms']} ms, "
        f"max {lat['max_ms']} ms (successes: p50 {ok_lat['p50_ms']} / p99 {ok_lat['p99_ms']} ms)",
        "- primary calls per second during the fault: "
        + " ".join(fmt(w["primary_calls"]) for w in res["per_second"]),
        "- breaker transitions (t from fault start): "
        + (
            ", ".join(
                f"{t['t']}s {t['target'].split('/')[0]}→{t['to']} ({t['reason']})"
                for t in res["breaker_transitions"]
            )
            or "none"
        ),
        f"- primary answered again {fmt(res['primary_answers_again_after_s'])} s after the fault ended; "
        f"primary in-flight max {fmt(res['primary_inflight_max'])}, admission in-flight max "
        f"{fmt(res['admission_inflight_max'])}",
        f"- gateway RSS: first {mem['rss_first_mib']:.1f}, min {mem['rss_min_mib']:.1f}, max "
        f"{mem['rss_max_mib']:.1f}, last {mem['rss_last_mib']:.1f} MiB; slope after warm-up "
        f"{fmt(mem['rss_slope_mib_per_min'])} MiB/min; last two thirds of the run "
        f"{mem['rss_growth_last_two_thirds_mib']:+.1f} MiB; descriptors max {mem['fds_max']}, "
        f"last {mem['fds_last']}",
    ]
    if "deadline" in res:
        lines += ["", "Deadlines (client-observed latency − the request's x-seawall-timeout-ms):", ""]
        lines.append(
            table(
                [
                    "requests",
                    "n",
                    "ok",
                    "statuses",
                    "latency p50 / p99 / max ms",
                    "overshoot max ms",
                    "overshoot p99 ms",
                    "> deadline",
                    "> deadline + 100 ms",
                ],
                [
                    [
                        name,
                        g["requests"],
                        g["ok"],
                        g["statuses"],
                        f"{g['latency_p50_ms']} / {g['latency_p99_ms']} / {g['latency_max_ms']}",
                        g["overshoot_max_ms"],
                        g["overshoot_p99_ms"],
                        g["over_deadline"],
                        g["over_deadline_by_100ms"],
                    ]
                    for name, g in res["deadline"].items()
                ],
            )
        )
    if "retry_after" in res:
        ra = res["retry_after"]
        told = ra["retry_after_ms"]
        lines.append(
            f"- upstream Retry-After {ra['upstream_retry_after_s']} s: {ra['primary_calls_in_storm']} "
            f"primary calls in the storm ({ra['primary_calls_first_1s']} in the first second, then "
            f"{ra['primary_calls_per_retry_after_after_1s']} per Retry-After period); clients sent "
            f"{ra['client_requests_per_s']} req/s; refusals {ra['client_refusals_by_status']}, "
            f"{ra['refusals_with_retry_after']} with Retry-After, {ra['refusals_without_upstream_attempt']} "
            f"without an upstream attempt; retry-after-ms min {fmt(told['min'])} / p50 {fmt(told['p50'])} / "
            f"max {fmt(told['max'])}, {told['under_1s']} under 1 s; by status "
            f"{ra['retry_after_ms_by_status']}"
        )
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------------
def scenarios(args: argparse.Namespace) -> list[Scenario]:
    def dur(default: float) -> float:
        return args.duration if args.duration is not None else default

    ra = args.retry_after
    spike = {"latency_ms": args.spike_ms, "jitter_ms": 0}
    deadlines = tuple(int(v) for v in args.deadlines_ms.split(","))
    all_ = [
        Scenario(
            "a",
            "primary 100% 503, fallback to secondary",
            "chat",
            {"error_rate": 1, "error_status": 503},
            dur(30),
            args.warmup,
            args.recovery,
        ),
        Scenario(
            "a0",
            "primary 100% 503 from a cold start (no warm-up)",
            "chat",
            {"error_rate": 1, "error_status": 503},
            dur(30),
            0.0,
            args.recovery,
        ),
        Scenario(
            "e",
            "baseline: as a, with breaker/throttle/budget/concurrency limits off",
            "chat",
            {"error_rate": 1, "error_status": 503},
            dur(30),
            args.warmup,
            min(args.recovery, 5),
            resilience=RELAXED,
        ),
        Scenario(
            "f",
            "both targets 100% 503 (the LiteLLM / Portkey amplification setup: 10 s, 16 connections)",
            "chat",
            {"error_rate": 1, "error_status": 503},
            dur(10),
            args.warmup,
            min(args.recovery, 5),
            secondary_fault={"error_rate": 1, "error_status": 503},
        ),
        Scenario(
            "b",
            f"latency spike: primary answers after {args.spike_ms / 1000:g} s; client deadlines "
            f"{'/'.join(map(str, deadlines))} ms, half the clients streaming",
            "chat",
            spike,
            dur(20),
            args.warmup,
            args.recovery,
            deadlines_ms=deadlines,
            stream_share=0.5,
        ),
        Scenario(
            "b2",
            f"stall after the first token: primary streams send one chunk, then one every "
            f"{args.spike_ms / 1000:g} s; every client streams, deadline {deadlines[0]} ms",
            "chat",
            {"chunk_delay_ms": args.spike_ms},
            dur(20),
            args.warmup,
            args.recovery,
            deadlines_ms=deadlines[:1],
            stream_share=1.0,
        ),
        Scenario(
            "d",
            f"soak: one gateway, primary faults change every 10 s for {args.soak:g} s (503, 20 s latency, "
            "429, stall after first token, healthy); half the clients stream, deadline 2000 ms",
            "chat",
            {},
            args.soak,
            args.warmup,
            0.0,
            deadlines_ms=deadlines[:1],
            stream_share=0.5,
            cycle=(
                {"error_rate": 1, "error_status": 503},
                {"latency_ms": args.spike_ms, "jitter_ms": 0},
                {"rate_limit_rate": 1, "retry_after": ra},
                {"chunk_delay_ms": args.spike_ms},
                {},
            ),
        ),
        Scenario(
            "c",
            f"429 storm, Retry-After {ra:g} s, fallback to secondary",
            "chat",
            {"rate_limit_rate": 1, "retry_after": ra},
            dur(20),
            args.warmup,
            min(args.recovery, 5),
        ),
        Scenario(
            "c1",
            f"429 storm, Retry-After {ra:g} s, single target (clients honour Retry-After)",
            "solo",
            {"rate_limit_rate": 1, "retry_after": ra},
            dur(20),
            args.warmup,
            min(args.recovery, 5),
            honour_retry_after=True,
        ),
    ]
    wanted = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(wanted) - {s.key for s in all_}
    if unknown:
        raise SystemExit(f"unknown scenario(s) {sorted(unknown)}; known: {[s.key for s in all_]}")
    return [s for s in all_ if s.key in wanted]


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__,
    )
    p.add_argument("--scenarios", default="a,a0,e,f,b,b2,c,c1,d", help="comma-separated (default: all)")
    p.add_argument(
        "--duration", type=float, default=None, help="fault seconds (default: a/e 30, b/c 20, f 10)"
    )
    p.add_argument("--warmup", type=float, default=10.0, help="healthy seconds before the fault")
    p.add_argument("--recovery", type=float, default=15.0, help="healthy seconds after the fault")
    p.add_argument("--soak", type=float, default=180.0, help="seconds of scenario d (memory soak)")
    p.add_argument("--clients", type=int, default=16, help="closed-loop client connections")
    p.add_argument("--latency-ms", type=float, default=200.0, help="upstream latency when healthy")
    p.add_argument("--jitter-ms", type=float, default=100.0, help="upstream jitter when healthy")
    p.add_argument("--spike-ms", type=float, default=20_000.0, help="primary latency during scenario b")
    p.add_argument(
        "--deadlines-ms",
        default="2000,800",
        help="x-seawall-timeout-ms values in scenario b, spread over the clients (2000: room to fall back "
        "after the attempt timeout; 800: the deadline binds first)",
    )
    p.add_argument("--attempt-timeout", type=float, default=1.0, help="model chat attempt_timeout_s")
    p.add_argument("--retry-after", type=float, default=2.0, help="Retry-After of the 429 storm (s)")
    p.add_argument("--client-timeout", type=float, default=30.0, help="client-side limit per request")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--no-pin", action="store_true", help="do not pin processes to cores")
    args = p.parse_args(argv)
    if args.clients < 1 or (args.duration is not None and not 0 < args.duration <= 600):
        raise SystemExit("need --clients >= 1 and 0 < --duration <= 600")
    pin = not args.no_pin and (os.cpu_count() or 1) >= 2
    gw_core, other_core = (1, 0) if pin else (None, None)
    if other_core is not None:
        os.sched_setaffinity(0, {other_core})
    args.out.mkdir(parents=True, exist_ok=True)
    base = {"latency_ms": args.latency_ms, "jitter_ms": args.jitter_ms}
    chosen = scenarios(args)
    out: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "pinned": pin, "python": sys.version.split()[0]},
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "scenarios": [],
    }
    primary = Simulator("primary", args.out, other_core, 11, base)
    secondary = Simulator("secondary", args.out, other_core, 22, base)
    texts = []
    try:
        with tempfile.TemporaryDirectory(prefix="seawall-chaos-") as tmp:
            for sc in chosen:
                work = Path(tmp) / sc.key
                cfg = gateway_config(
                    primary, secondary, work / "traces.db", sc.resilience, args.attempt_timeout
                )
                print(
                    f"-- {sc.key}: {sc.title} ({sc.warmup:g} + {sc.duration:g} + {sc.recovery:g} s)",
                    flush=True,
                )
                gw = GatewayProcess(cfg, work, args.out, gw_core)
                try:
                    results, samples, final, fault_at = asyncio.run(
                        run_load(
                            sc,
                            gw=gw,
                            primary=primary,
                            secondary=secondary,
                            clients=args.clients,
                            client_timeout_s=args.client_timeout,
                        )
                    )
                finally:
                    gw.stop()
                res = analyse(sc, results, samples, final, fault_at)
                out["scenarios"].append(res)
                texts.append(report(res))
                print(texts[-1] + "\n", flush=True)
    finally:
        primary.stop()
        secondary.stop()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = args.out / f"chaos-{stamp}.json"
    path.write_text(json.dumps(out, indent=1))
    (args.out / f"chaos-{stamp}.md").write_text("\n\n".join(texts) + "\n")
    print(f"wrote {path} and {path.with_suffix('.md')}")


if __name__ == "__main__":
    main()
