#!/usr/bin/env python3
"""Pool several overhead.py result files into one markdown table per mode (for docs/benchmarks.md).

  python stack/summarize.py results/stack/overhead-*-stack-run1.json results/stack/overhead-*-stack-run2.json

For each target, mode and load it pools every single gateway run of every file and prints:
the median and the range (min-max) of CPU ms/req over the runs, the implied capacity of one
dedicated core (1000 / CPU ms per req), the median RPS, the median +p50 / +p99 against the direct
run made back to back, the median core busy share, and (open-loop rows) +TTFT. The range shows
the noise: a difference between two stacks smaller than their ranges is not a finding.
"""

import argparse
import json
import statistics


def pooled(files):
    rows = {}  # (mode, load) -> target -> [(direct run, gateway run)]
    order = []
    for path in files:
        with open(path) as f:
            report = json.load(f)
        duration = report["settings"]["duration"]
        for t in report["targets"]:
            if t.get("error") or t["name"] == "direct":
                continue
            if t["name"] not in order:
                order.append(t["name"])
            for r in t["rows"]:
                pairs = rows.setdefault((r["mode"], r["load"]), {}).setdefault(t["name"], [])
                for d, g in zip(r["direct_runs"], r["gateway_runs"], strict=True):
                    pairs.append((d, dict(g, core_busy=g.get("core_busy", g["cpu_s"] / duration))))
    return rows, order


def med(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, digits=2):
    return "-" if v is None else f"{v:.{digits}f}"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("files", nargs="+")
    args = p.parse_args(argv)
    rows, order = pooled(args.files)
    modes = list(dict.fromkeys(mode for mode, _ in rows))
    for mode in modes:
        print(f"\n### {mode}\n")
        print(
            "| load | stack | runs | CPU ms/req (median, range) | req/s per core at that CPU | rps | +p50 ms "
            "| +p99 ms | +TTFT p50 ms | core busy | errors |"
        )
        print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for (m, load), by_target in rows.items():
            if m != mode:
                continue
            for name in order:
                pairs = by_target.get(name)
                if not pairs:
                    continue
                cpu = [1000 * g["cpu_s"] / g["requests"] for _, g in pairs if g["requests"]]
                c = med(cpu)
                add50 = med([g["p50"] - d["p50"] for d, g in pairs])
                add99 = med([g["p99"] - d["p99"] for d, g in pairs])
                ttft = med(
                    [g["ttft50"] - d["ttft50"] for d, g in pairs if g.get("ttft50") and d.get("ttft50")]
                )
                errors = sum(g["errors"] + g["bad"] for _, g in pairs)
                rps = med([g["rps"] for _, g in pairs])
                busy = med([g["core_busy"] for _, g in pairs])
                print(
                    f"| {load} | {name} | {len(pairs)} | {fmt(c, 3)} ({fmt(min(cpu), 3)}-{fmt(max(cpu), 3)}) "
                    f"| {1000 / c:.0f} | {rps:.0f} | {fmt(add50)} | {fmt(add99)} | {fmt(ttft)} | {busy:.0%} "
                    f"| {errors} |"
                )


if __name__ == "__main__":
    main()
