#!/usr/bin/env python3
"""Retry amplification: how many upstream attempts a gateway makes per client request
while the upstream is failing, and how fast it serves again once the upstream recovers.

  python retry_amplification.py --target litellm-retries

Steps: start the fake upstream (client core) and the gateway (gateway core); check one
request passes; zero the upstream counters; switch the upstream to the fault (default:
every model call answered 503); run loadgen.py closed-loop (default 16 connections for
10 s, so every client request is counted exactly); read the upstream counters; clear the
fault; then probe the gateway every 100 ms until it answers 200 again (recovery time).

amplification = upstream model calls received / client requests sent.
A gateway with N retries and one fallback deployment that also retries N times would show
up to 2*(N+1); circuit breakers / cooldowns lower it, hidden client-library retries raise it.

Adapted from the Seawall team's shared gateway harness (shared/bench/retry_amplification.py,
2026-11-26): targets by name (targets/NAME.json), ruff formatting.
"""

import argparse
import json
import os
import subprocess
import sys
import time

from benchlib import (
    HERE,
    chat_body,
    http,
    load_target,
    pin_self,
    start_target,
    start_upstream,
    upstream_control,
    upstream_stats,
)

MODEL_PATHS = ("/v1/chat/completions", "/chat/completions", "/v1/messages", "/messages")


def model_calls(stats):
    return sum(v for k, v in stats.get("by_path", {}).items() if k in MODEL_PATHS)


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument("--target", default="litellm-retries", help="target name (targets/NAME.json) or JSON file")
    p.add_argument(
        "--fault",
        default='{"error_rate": 1, "error_status": 503}',
        help="JSON sent to the upstream's /_control for the failing phase",
    )
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--duration", type=float, default=10)
    p.add_argument("--stream", action="store_true")
    p.add_argument("--recovery", type=float, default=30, help="max seconds to wait for a 200 after")
    p.add_argument("--request-timeout", type=float, default=120)
    p.add_argument("--gateway-core", type=int, default=1)
    p.add_argument("--client-core", type=int, default=0)
    p.add_argument("--upstream-port", type=int, default=9999)
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    pin_self(args.client_core)

    up_proc, upstream = start_upstream(
        args.upstream_port, args.client_core, log_path=os.path.join(args.out, "upstream.log")
    )
    target = load_target(args.target, upstream)
    gw = None
    try:
        gw = start_target(
            target, upstream, args.gateway_core, os.path.join(args.out, f"{target['name']}.log")
        )
        upstream_stats(upstream, reset=True)
        upstream_control(upstream, reset=True, **json.loads(args.fault))
        argv = [
            "taskset",
            "-c",
            str(args.client_core),
            sys.executable,
            os.path.join(HERE, "loadgen.py"),
            "--url",
            target["url"],
            "--connections",
            str(args.connections),
            "--duration",
            str(args.duration),
            "--model",
            target["model"],
            "--timeout",
            str(args.request_timeout),
        ]
        argv += ["--stream"] if args.stream else []
        for k, v in target["headers"].items():
            argv += ["--header", f"{k}: {v}"]
        t0 = time.time()
        client = json.loads(
            subprocess.run(
                argv,
                capture_output=True,
                text=True,
                check=True,
                timeout=args.duration + args.request_timeout + 60,
            ).stdout
        )
        fault_wall = time.time() - t0
        during = upstream_stats(upstream)
        upstream_control(upstream, reset=True)

        # Recovery: probe until the gateway answers 200 again.
        t1 = time.time()
        probes = failed = 0
        recovered = None
        while time.time() - t1 < args.recovery:
            probes += 1
            status, _ = http(
                "POST",
                target["url"],
                chat_body(target["model"]),
                target["headers"],
                timeout=args.request_timeout,
            )
            if status == 200:
                recovered = time.time() - t1
                break
            failed += 1
            time.sleep(0.1)
    finally:
        if gw is not None:
            gw.stop()
        up_proc.stop()

    sent = client["sent"]
    calls = model_calls(during)
    result = {
        "target": target["name"],
        "fault": json.loads(args.fault),
        "connections": args.connections,
        "duration_s": args.duration,
        "client_requests": sent,
        "client_status": client["status"],
        "client_exceptions": client["exceptions"],
        "client_latency_p50_ms": client["all_p50_ms"],
        "client_latency_p99_ms": client["all_p99_ms"],
        "fault_phase_wall_s": round(fault_wall, 1),
        "upstream_model_calls": calls,
        "upstream_by_model": during.get("by_model", {}),
        "upstream_by_status": during.get("by_status", {}),
        "amplification": round(calls / sent, 2) if sent else None,
        "recovery_s": None if recovered is None else round(recovered, 2),
        "recovery_failed_probes": failed,
    }
    stamp = time.strftime("%Y%m%d-%H%M%S")
    with open(os.path.join(args.out, f"amplification-{target['name']}-{stamp}.json"), "w") as f:
        json.dump(result, f, indent=1)
    print(json.dumps(result, indent=1))
    print(
        f"\n{target['name']}: {calls} upstream calls for {sent} client requests "
        f"-> amplification {result['amplification']}x; recovered after "
        f"{result['recovery_s']}s ({failed} failed probes)"
    )


if __name__ == "__main__":
    main()
