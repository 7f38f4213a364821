#!/usr/bin/env python3
"""Measure what a gateway adds: the same load against the fake upstream directly and
through the gateway, side by side, for one or more gateways (run one after another).

  python overhead.py --target bare-proxy --target seawall --target litellm
  python overhead.py --name mygw --start 'python -m mygw --port 8080' \\
      --url http://127.0.0.1:8080/v1/chat/completions --header 'Authorization: Bearer x'
  python overhead.py --target direct          # only the direct (no gateway) runs

Pinning (2 cores): the gateway and all its children run on --gateway-core (default 1);
the fake upstream, wrk / loadgen.py and this script run on --client-core (default 0).
The gateway thus gets a core to itself and is measured per core; the client side is
light next to it. "Direct" runs use the same client core, so they show the floor that the
client + upstream + loopback impose on their own, not a gateway-free production latency.

For each mode (json, stream), each connection count and each run, a direct wrk run and a
gateway wrk run are made back to back (interleaved, to share any drift); medians of the
runs are reported. wrk is closed-loop: at N connections, N requests are in flight, so RPS
is the gateway's saturation throughput once N is large enough, and latencies above
saturation are mostly queueing. --rates adds open-loop runs at fixed arrival rates with
loadgen.py, which also reports time to first token for streams.

Adapted from the Seawall team's shared harness (shared/bench/overhead.py, 2026-11-26); changes:
targets by name, a "direct"-only target, a failing gateway is recorded and skipped instead of
ending the run, TTFT added vs direct, and a markdown report (results/overhead-*.md).
"""

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time

from benchlib import (
    HERE,
    RssSampler,
    finish_target,
    load_target,
    parse_headers,
    pin_self,
    raise_fd_limit,
    start_target,
    start_upstream,
    upstream_stats,
)

WRK_SCRIPTS = {"json": "wrk/chat.lua", "stream": "wrk/chat_stream.lua"}
DIRECT = "direct"


def wrk(url, headers, model, mode, conns, *, duration, core, timeout_s=30):
    env = dict(
        os.environ, BENCH_MODEL=model, BENCH_HEADERS="\n".join(f"{k}: {v}" for k, v in headers.items())
    )
    argv = [
        *(["taskset", "-c", str(core)] if core is not None else []),
        "wrk",
        "-t1",
        f"-c{conns}",
        f"-d{duration}s",
        f"--timeout={timeout_s}s",
        "-s",
        os.path.join(HERE, WRK_SCRIPTS[mode]),
        url,
    ]
    out = subprocess.run(
        argv, env=env, capture_output=True, text=True, timeout=duration + timeout_s + 30, check=False
    ).stdout
    for line in out.splitlines():
        if line.startswith("BENCH_JSON "):
            r = json.loads(line[len("BENCH_JSON ") :])
            secs = r["duration_us"] / 1e6
            return {
                "rps": r["requests"] / secs if secs else 0.0,
                "p50": r["p50_us"] / 1000,
                "p90": r["p90_us"] / 1000,
                "p99": r["p99_us"] / 1000,
                "requests": r["requests"],
                "errors": r["status_errors"] + r["socket_errors"] + r["timeouts"],
                "bad": r["bad"],
            }
    raise RuntimeError(f"wrk printed no result:\n{out}")


def loadgen(url, headers, model, mode, rate, *, duration, core):
    argv = [
        *(["taskset", "-c", str(core)] if core is not None else []),
        sys.executable,
        os.path.join(HERE, "loadgen.py"),
        "--url",
        url,
        "--rate",
        str(rate),
        "--duration",
        str(duration),
        "--model",
        model,
    ]
    argv += ["--stream"] if mode == "stream" else []
    for k, v in headers.items():
        argv += ["--header", f"{k}: {v}"]
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=duration + 120).stdout
    r = json.loads(out)
    return {
        "rps": r["rps"],
        "p50": r["p50_ms"],
        "p90": r["p90_ms"],
        "p99": r["p99_ms"],
        "ttft50": r["ttft_p50_ms"],
        "ttft99": r["ttft_p99_ms"],
        "requests": r["sent"],
        "errors": r["sent"] - r["ok"] - r["bad"] + r["dropped"],
        "bad": r["bad"],
    }


def run_load(kind, level, dest, mode, args):
    """One bounded run: wrk at `level` connections, or loadgen.py at `level` requests/s.
    `dest` is a target (or the direct pseudo-target): its url, headers and model are used."""
    tool = wrk if kind == "conns" else loadgen
    return tool(
        dest["url"],
        dest["headers"],
        dest["model"],
        mode,
        level,
        duration=args.duration,
        core=args.client_core,
    )


def direct_dest(upstream, model):
    return {"url": upstream + "/v1/chat/completions", "headers": {}, "model": model}


def median_of(runs, key):
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def load_levels(args):
    return [("conns", c) for c in args.connections] + [("rate", r) for r in args.rates]


def load_label(kind, level):
    return f"c={level}" if kind == "conns" else f"r={level}/s"


def measure_direct(args, upstream):
    """Only the direct runs (no gateway): the rig's own floor."""
    print("\n== direct (no gateway)", flush=True)
    rows = []
    for mode in args.modes:
        for kind, level in load_levels(args):
            runs = [
                run_load(kind, level, direct_dest(upstream, "gpt-4o-mini"), mode, args)
                for _ in range(args.runs)
            ]
            d = {k: median_of(runs, k) for k in runs[0]}
            d["errors_total"] = sum(r["errors"] + r["bad"] for r in runs)
            rows.append({"mode": mode, "load": load_label(kind, level), "direct": d, "direct_runs": runs})
            print(f"   {mode:<6} {load_label(kind, level):<8} rps {d['rps']:.0f} p50 {fmt(d['p50'])} "
                  f"p99 {fmt(d['p99'])} ms", flush=True)  # fmt: skip
    return {"name": DIRECT, "rows": rows}


def measure_target(target, args, upstream, results_dir):
    print(f"\n== {target['name']}: starting ({target['start']})", flush=True)
    log = os.path.join(results_dir, f"{target['name']}.log")
    t0 = time.time()
    proc = start_target(target, upstream, args.gateway_core, log)
    startup_s = time.time() - t0
    idle_rss = proc.rss_bytes()
    sampler = RssSampler(proc)
    sampler.start()
    direct = direct_dest(upstream, target["model"])
    rows = []
    try:
        if args.warmup:
            print(f"   ready in {startup_s:.1f}s; warming up {args.warmup}s per mode", flush=True)
            for mode in args.modes:
                wrk(
                    target["url"],
                    target["headers"],
                    target["model"],
                    mode,
                    max(args.connections or [16]),
                    duration=args.warmup,
                    core=args.client_core,
                )
        for mode in args.modes:
            for kind, level in load_levels(args):
                direct_runs, gw_runs = [], []
                for _ in range(args.runs):
                    direct_runs.append(run_load(kind, level, direct, mode, args))
                    upstream_stats(upstream, reset=True)
                    cpu0 = proc.cpu_seconds()
                    g = run_load(kind, level, target, mode, args)
                    g["cpu_s"] = proc.cpu_seconds() - cpu0
                    # Share of the gateway's core it used: near 1.0 means the gateway was the
                    # bottleneck, as intended; well below 1.0 at high c means the client side was.
                    g["core_busy"] = g["cpu_s"] / args.duration
                    g["upstream_calls"] = upstream_stats(upstream).get("total", 0)
                    gw_runs.append(g)
                    if not proc.alive():
                        raise RuntimeError(f"{target['name']} died; see {log}")
                row = {
                    "mode": mode,
                    "load": load_label(kind, level),
                    "direct": {k: median_of(direct_runs, k) for k in direct_runs[0]},
                    "gateway": {k: median_of(gw_runs, k) for k in gw_runs[0]},
                    "direct_runs": direct_runs,
                    "gateway_runs": gw_runs,
                }
                g = row["gateway"]
                g["cpu_ms_per_req"] = statistics.median(
                    1000 * r["cpu_s"] / r["requests"] for r in gw_runs if r["requests"]
                )
                g["errors_total"] = sum(r["errors"] + r["bad"] for r in gw_runs)
                row["direct"]["errors_total"] = sum(r["errors"] + r["bad"] for r in direct_runs)
                rows.append(row)
                print("   " + format_row(row), flush=True)
    finally:
        peak = sampler.stop()
        proc.stop()
    return {
        "name": target["name"],
        "start": target["start"],
        "url": target["url"],
        "startup_s": round(startup_s, 1),
        "idle_rss_mib": round(idle_rss / 2**20, 1),
        "peak_rss_mib": round(peak / 2**20, 1),
        "rows": rows,
    }


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def added(row, key):
    d, g = row["direct"], row["gateway"]
    return g[key] - d[key] if g.get(key) is not None and d.get(key) is not None else None


HEADER = (
    "mode   load     | direct: rps     p50     p90     p99 | gateway: rps     p50     p90"
    "     p99 |   +p50    +p99  rps ratio | cpu ms/req  errors"
)


def format_row(row):
    d, g = row["direct"], row["gateway"]
    ratio = g["rps"] / d["rps"] if d["rps"] and row["load"].startswith("c=") else None
    text = (
        f"{row['mode']:<6} {row['load']:<8} | {d['rps']:11.0f} {fmt(d['p50']):>7} "
        f"{fmt(d['p90']):>7} {fmt(d['p99']):>7} | {g['rps']:12.0f} {fmt(g['p50']):>7} "
        f"{fmt(g['p90']):>7} {fmt(g['p99']):>7} | {fmt(added(row, 'p50')):>6} {fmt(added(row, 'p99')):>7} "
        f"{fmt(ratio, 4):>10} | {fmt(g.get('cpu_ms_per_req')):>10} "
        f"{d['errors_total']:>3}/{g['errors_total']:<3}"
    )
    if g.get("ttft50") is not None:
        text += (
            f"  ttft p50/p99 direct {fmt(d['ttft50'])}/{fmt(d['ttft99'])}"
            f" gateway {fmt(g['ttft50'])}/{fmt(g['ttft99'])} ms"
        )
    return text


def print_report(report):
    a = report["settings"]
    print(f"\nGateway overhead vs direct upstream, {report['date']}, {report['machine']}")
    print(
        f"medians of {a['runs']} runs x {a['duration']}s; gateway pinned to core "
        f"{a['gateway_core']}, upstream + load generator on core {a['client_core']}; "
        "latencies in ms; c=N: wrk closed loop with N connections; r=N/s: loadgen.py open "
        "loop; errors: direct/gateway (non-200, socket errors, timeouts, bad bodies, summed over runs)"
    )
    for t in report["targets"]:
        if t.get("error"):
            print(f"\n{t['name']}: FAILED: {t['error']}")
            continue
        if t["name"] == DIRECT:
            continue
        print(
            f"\n{t['name']}  (start {t['startup_s']}s, RSS idle {t['idle_rss_mib']} MiB, "
            f"peak {t['peak_rss_mib']} MiB)"
        )
        print(HEADER)
        for row in t["rows"]:
            print(format_row(row))


def markdown(report):
    """Side-by-side tables: for each mode and load, one row per target (direct first)."""
    a = report["settings"]
    out = [
        f"# Gateway overhead, {report['date']}",
        "",
        f"Machine: {report['machine']}, Python {report['python']}. Gateway pinned to core "
        f"{a['gateway_core']}; fake upstream + load generator on core {a['client_core']}. "
        f"Medians of {a['runs']} runs x {a['duration']} s (warm-up {a['warmup']} s per mode). "
        "c=N: wrk, closed loop, N connections. r=N/s: loadgen.py, open loop. Latencies in ms. "
        "`+p50`/`+p99`/`+TTFT`: gateway minus the direct run made back to back. "
        "CPU ms/req: CPU time of the gateway's process tree / requests. errors: non-200, socket "
        "errors, timeouts and bad bodies, summed over runs. See benchmarks/README.md.",
        "",
        f"Upstream flags: `{' '.join(a['upstream_arg']) or '(defaults: instant answers)'}`",
        "",
    ]
    if report.get("upstream_capacity_rps"):
        out += [
            f"Upstream alone (64 connections, wrk on the other core): {report['upstream_capacity_rps']}",
            "",
        ]
    ok = [t for t in report["targets"] if not t.get("error")]
    failed = [t for t in report["targets"] if t.get("error")]
    gateways = [t for t in ok if t["name"] != DIRECT]
    if gateways:
        out += ["| target | start s | RSS idle MiB | RSS peak MiB |", "| --- | ---: | ---: | ---: |"]
        out += [
            f"| {t['name']} | {t['startup_s']} | {t['idle_rss_mib']} | {t['peak_rss_mib']} |"
            for t in gateways
        ]
        out.append("")
    for t in failed:
        out += [f"**{t['name']} failed:** `{t['error']}`", ""]
    for mode in a["modes"]:
        out += [
            f"## {mode}",
            "",
            "| load | target | rps | p50 | p99 | +p50 | +p99 | TTFT p50 | +TTFT p50 | +TTFT p99 "
            "| CPU ms/req | core busy | errors |",
            "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        labels = [lbl for t in ok for r in t["rows"] if r["mode"] == mode for lbl in [r["load"]]]
        for label in dict.fromkeys(labels):
            rows = [(t["name"], r) for t in ok for r in t["rows"] if r["mode"] == mode and r["load"] == label]
            direct_runs = [run for _, r in rows for run in r["direct_runs"]]
            d = {k: median_of(direct_runs, k) for k in ("rps", "p50", "p99", "ttft50")}
            d_err = sum(run["errors"] + run["bad"] for run in direct_runs)
            out.append(
                f"| {label} | direct | {d['rps']:.0f} | {fmt(d['p50'])} | {fmt(d['p99'])} | | | "
                f"{fmt(d['ttft50'])} | | | | | {d_err} |"
            )
            for name, r in rows:
                if "gateway" not in r:
                    continue
                g = r["gateway"]
                ttft_add = added(r, "ttft50")
                ttft99_add = added(r, "ttft99")
                out.append(
                    f"| {label} | **{name}** | {g['rps']:.0f} | {fmt(g['p50'])} | {fmt(g['p99'])} | "
                    f"{fmt(added(r, 'p50'))} | {fmt(added(r, 'p99'))} | {fmt(g.get('ttft50'))} | "
                    f"{fmt(ttft_add)} | {fmt(ttft99_add)} | {fmt(g['cpu_ms_per_req'], 3)} | "
                    f"{g['core_busy']:.0%} | {g['errors_total']} |"
                )
        out.append("")
    calls = [
        f"{t['name']} {r['mode']} {r['load']}: {run['upstream_calls']} upstream calls for "
        f"{run['requests']} client requests"
        for t in gateways
        for r in t["rows"]
        for run in r["gateway_runs"]
        if abs(run["upstream_calls"] - run["requests"]) > in_flight(r["load"])
    ]
    if calls:
        out += [
            "Runs where the upstream saw more or fewer calls than the client counted (beyond the "
            "requests still in flight when the run ended): retries, caching or health checks.",
            "",
        ]
        out += [f"* {c}" for c in calls] + [""]
    return "\n".join(out)


def in_flight(label):
    """Requests that may be unfinished when a run ends (wrk counts only completed ones)."""
    return int(label[2:]) if label.startswith("c=") else 5


def upstream_capacity(args, upstream):
    """Upstream alone, load generator on the other core: how far it is from being a limit."""
    out = {}
    for mode in args.modes:
        r = wrk(
            upstream + "/v1/chat/completions", {}, "gpt-4o-mini", mode, 64, duration=5, core=args.gateway_core
        )
        out[mode] = round(r["rps"])
    return out


def build_parser():
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument(
        "--target",
        action="append",
        default=[],
        help="target name (targets/NAME.json), JSON file, or 'direct' (repeatable)",
    )
    p.add_argument("--name", default="gateway", help="ad-hoc target: name")
    p.add_argument("--start", help="ad-hoc target: shell command that starts the gateway")
    p.add_argument("--url", help="ad-hoc target: its chat completions URL")
    p.add_argument("--header", action="append", default=[], help="ad-hoc target: 'Name: value'")
    p.add_argument("--model", default="gpt-4o-mini", help="ad-hoc target: model name")
    p.add_argument("--connections", default="1,16,64", help="wrk connection counts")
    p.add_argument("--rates", default="", help="open-loop rates for loadgen.py, e.g. 20,50")
    p.add_argument("--modes", default="json,stream", help="json and/or stream")
    p.add_argument("--duration", type=int, default=10, help="seconds per run")
    p.add_argument("--warmup", type=int, default=5, help="seconds of warm-up per mode")
    p.add_argument("--runs", type=int, default=3, help="runs per point (median reported)")
    p.add_argument("--gateway-core", type=int, default=1)
    p.add_argument("--client-core", type=int, default=0)
    p.add_argument("--upstream-port", type=int, default=9999)
    p.add_argument(
        "--upstream-arg",
        action="append",
        default=[],
        help="extra upstream.py flag, e.g. --upstream-arg=--ttft-ms=50 (repeatable)",
    )
    p.add_argument(
        "--capacity", action="store_true", help="first measure the upstream alone (wrk on the gateway core)"
    )
    p.add_argument("--tag", default="", help="suffix for the result file names")
    p.add_argument("--out", default=os.path.join(HERE, "results"), help="folder for JSON, markdown + logs")
    return p


def main(argv=None):
    args = build_parser().parse_args(argv)
    args.connections = [int(c) for c in args.connections.split(",") if c]
    args.rates = [float(r) if "." in r else int(r) for r in args.rates.split(",") if r]
    args.modes = [m for m in args.modes.split(",") if m]

    os.makedirs(args.out, exist_ok=True)
    raise_fd_limit()
    pin_self(args.client_core)
    upstream_proc, upstream = start_upstream(
        args.upstream_port, args.client_core, args.upstream_arg, os.path.join(args.out, "upstream.log")
    )
    names = list(args.target)
    targets = [load_target(t, upstream) for t in names if t != DIRECT]
    if args.start:
        targets.append(
            finish_target(
                {
                    "name": args.name,
                    "start": args.start,
                    "url": args.url,
                    "headers": parse_headers(args.header),
                    "model": args.model,
                },
                upstream,
            )
        )
    report = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.node()} {os.cpu_count()} cores {platform.machine()}",
        "python": platform.python_version(),
        "settings": {k: v for k, v in vars(args).items() if k not in ("out",)},
        "targets": [],
    }
    stamp = time.strftime("%Y%m%d-%H%M%S") + (f"-{args.tag}" if args.tag else "")
    path = os.path.join(args.out, f"overhead-{stamp}.json")
    try:
        if args.capacity:
            report["upstream_capacity_rps"] = upstream_capacity(args, upstream)
            print(
                f"upstream alone, 64 connections, load generator on another core: "
                f"{report['upstream_capacity_rps']} rps",
                flush=True,
            )
        if DIRECT in names or not targets:
            report["targets"].append(measure_direct(args, upstream))
        for target in targets:
            try:
                report["targets"].append(measure_target(target, args, upstream, args.out))
            except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
                print(f"   {target['name']} FAILED: {exc}", flush=True)
                report["targets"].append({"name": target["name"], "error": str(exc)})
    finally:
        upstream_proc.stop()
        with open(path, "w") as f:
            json.dump(report, f, indent=1)
        with open(path[:-5] + ".md", "w") as f:
            f.write(markdown(report))
    print_report(report)
    print(f"\nraw results: {path}\nmarkdown:    {path[:-5]}.md")
    return report


if __name__ == "__main__":
    main()
