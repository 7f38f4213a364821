#!/usr/bin/env python3
"""Run lengths of Seawall's degradation detectors at their defaults, by seeded simulation.

    .venv/bin/python benchmarks/detector_run_lengths.py            # ~3 minutes on one core
    .venv/bin/python benchmarks/detector_run_lengths.py --scale 0.1  # a tenth of the runs

Prints markdown tables (pasted in docs/quality-statistics.md):

* the Bernoulli CUSUM on canary probes: ARL0 (probes to a false alarm at a stable failure rate)
  and what it means at one probe per 30 s; how many stable targets alarm within 5,000 probes and
  within 30 days after learning their own baseline; ARL1 (probes to `degraded` and to `failing`
  after a shift), zero-state and after 1,000 in-control probes; recovery after an outage;
* the same CUSUM on online rate signals (`ONLINE_RATE_POLICY`);
* the SPRT probe battery: error rates and sample numbers;
* Page–Hinkley on latencies: false alarms and delays, Gaussian and heavy-tailed;
* the regression gate: its exact size and power (enumerated, not simulated).

Long CUSUM runs walk the gaps between failures (`seawall.quality._detect._runlength`, checked
probe for probe against the policy in tests/unit/detectors/test_run_lengths.py); everything else
steps the policies themselves. Seeds are fixed: the output is the same on every machine.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable

from seawall.quality._detect import (
    ONLINE_RATE_POLICY,
    BernoulliCusumPolicy,
    Health,
    PageHinkleyPolicy,
    PassCounts,
    RegressionGate,
    SprtDecision,
    SprtPolicy,
)
from seawall.quality._detect._runlength import RunLengthSummary, failure_gaps, first_alarm

PROBE_S = 30.0
POLICY = BernoulliCusumPolicy()
P_PERFECT = POLICY.baseline.p0_from(0, POLICY.baseline.warmup)  # 0.0375


def fmt(x: float) -> str:
    if math.isnan(x):
        return "–"
    if x >= 1e5:
        return f"{x:.3g}".replace("e+0", "×10^").replace("e+", "×10^")
    return f"{x:,.1f}" if x < 100 else f"{x:,.0f}"


def days(probes: float, interval_s: float = PROBE_S) -> str:
    d = probes * interval_s / 86400
    return f"{d / 365:,.1f} years" if d >= 730 else f"{d:,.1f} days"


def table(header: list[str], rows: list[list[str]]) -> None:
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()


def scaled(n: int, scale: float) -> int:
    return max(10, round(n * scale))


# -- CUSUM --------------------------------------------------------------------------------------------
def cusum_arl0(scale: float) -> None:
    print("### CUSUM on canary probes: ARL0 (true failure rate = p0)\n")
    rows = []
    for label, p0, runs in (
        ("perfect target's warm-up (0 of 50 failed)", P_PERFECT, 200),
        ("declared 0 (the floor)", 0.02, 200),
        ("declared 0.05", 0.05, 100),
        ("declared 0.10", 0.10, 100),
    ):
        r = POLICY.new_record(p0=p0)
        n = scaled(runs, scale)
        lengths = [
            first_alarm(
                failure_gaps(p0, random.Random(s)), r.llr_fail, r.llr_pass, h=POLICY.h_warn, limit=10**11
            )
            for s in range(n)
        ]
        s = RunLengthSummary.of(lengths)
        se = statistics.stdev(x for x in lengths if x is not None) / math.sqrt(n)
        assert r.baseline.p1 is not None
        rows.append(
            [
                label,
                f"{r.baseline.p0:.4f}",
                f"{r.baseline.p1:.4f}",
                str(n),
                fmt(s.mean),
                f"± {fmt(2 * se)}",
                fmt(s.median),
                days(s.mean),
            ]
        )
    table(["p0", "value", "p1", "runs", "ARL0 (to degraded)", "± 2 s.e.", "median", "at 30 s a probe"], rows)


def share_alarmed(p: float, limit: int, runs: int, estimate: Callable[[int], float]) -> int:
    """Of `runs` targets failing at rate `p` that learn p0 = estimate(failures in a 50-probe warm-up),
    how many alarm within `limit` probes after it."""
    alarms = 0
    for seed in range(runs if p > 0 else 0):
        rng = random.Random(seed)
        failures = sum(rng.random() < p for _ in range(50))
        r = POLICY.new_record(p0=estimate(failures))
        alarms += (
            first_alarm(failure_gaps(p, rng), r.llr_fail, r.llr_pass, h=POLICY.h_warn, limit=limit)
            is not None
        )
    return alarms


def stable_targets(scale: float) -> None:
    print("### Stable targets that learn their own baseline: share that alarm\n")
    print(
        "Each run: a 50-probe warm-up on the target itself, then probes at the same failure rate.\n"
        "With 0 failures in the warm-up p0 = 0.0375; with 2, 0.1063; a low draw is what alarms.\n"
        "The last column learns p0 as the observed rate (floored at 0.02) instead of the Jeffreys bound.\n"
    )

    def jeffreys(failures: int) -> float:
        return POLICY.baseline.p0_from(failures, 50)

    def observed(failures: int) -> float:
        return failures / 50

    rows = []
    for p in (0.0, 0.01, 0.02, 0.05, 0.10, 0.20, 0.30):
        cells = [f"{p:.2f}"]
        for limit, runs, estimate in (
            (5000, 20_000, jeffreys),
            (86_400, 1_000, jeffreys),
            (5000, 5_000, observed),
        ):
            n = scaled(runs, scale)
            alarms = share_alarmed(p, limit, n, estimate)
            cells.append(f"{alarms}/{n} = {100 * alarms / n:.2f}%")
        rows.append(cells)
    table(["true rate", "≤ 5,000 probes", "≤ 86,400 probes (30 days)", "observed-rate p0, ≤ 5,000"], rows)


def cusum_arl1(scale: float) -> None:
    print("### CUSUM on canary probes: ARL1 (probes from the shift to the alarm)\n")
    print(f"From a perfect target's warm-up: p0 = {P_PERFECT:.4f}, p1 = {P_PERFECT + 0.15:.4f}.\n")
    r = POLICY.new_record(p0=P_PERFECT)
    rows = []
    for p in (0.10, 0.15, 0.20, 0.30, 0.50, 1.00):
        n = scaled(10_000, scale)
        warn = RunLengthSummary.of(
            [
                first_alarm(
                    failure_gaps(p, random.Random(s)), r.llr_fail, r.llr_pass, h=POLICY.h_warn, limit=10**7
                )
                for s in range(n)
            ]
        )
        crit = RunLengthSummary.of(
            [
                first_alarm(
                    failure_gaps(p, random.Random(s)), r.llr_fail, r.llr_pass, h=POLICY.h_crit, limit=10**7
                )
                for s in range(n)
            ]
        )
        over100 = sum(
            first_alarm(failure_gaps(p, random.Random(s)), r.llr_fail, r.llr_pass, h=POLICY.h_warn, limit=100)
            is None
            for s in range(n)
        )
        rows.append(
            [
                f"{p:.2f}",
                str(n),
                fmt(warn.mean),
                fmt(warn.median),
                fmt(warn.p95),
                fmt(warn.p99),
                fmt(warn.max),
                f"{over100}/{n}",
                fmt(crit.mean),
                fmt(crit.p99),
            ]
        )
    table(
        [
            "failure rate",
            "runs",
            "ARL1 degraded",
            "median",
            "p95",
            "p99",
            "max",
            "> 100 probes",
            "ARL1 failing",
            "p99",
        ],
        rows,
    )
    # the same shift after 1,000 in-control probes, with the policy itself
    n = scaled(2000, scale)
    delays, early = [], 0
    for seed in range(n):
        rng = random.Random(seed)
        rec = POLICY.new_record(p0=P_PERFECT)
        for _ in range(1000):
            POLICY.observe(rec, 0.0, failed=rng.random() < P_PERFECT)
        if rec.state is not Health.HEALTHY:
            early += 1
            continue
        k = 0
        while rec.state is Health.HEALTHY:
            k += 1
            POLICY.observe(rec, 0.0, failed=rng.random() < 0.30)
        delays.append(k)
    s = RunLengthSummary.of(delays)
    print(
        f"30% after 1,000 in-control probes (steady state, the policy itself, {n} runs, {early} "
        f"alarmed before the shift): ARL1 {fmt(s.mean)}, median {fmt(s.median)}, p99 {fmt(s.p99)}, "
        f"max {s.max}.\n"
    )


def recovery(scale: float) -> None:
    print("### Recovery after an outage (statistic at the cap, h_crit = 20)\n")
    rows = []
    for label, p in (("perfect (0%)", 0.0), (f"at p0 ({P_PERFECT:.4f})", P_PERFECT), ("5%", 0.05)):
        n = scaled(2000, scale)
        eased, healed, stuck = [], [], 0
        for seed in range(n):
            rng = random.Random(seed)
            rec = POLICY.new_record(p0=P_PERFECT)
            while rec.state is not Health.FAILING:
                POLICY.observe(rec, 0.0, failed=True)
            k = 0
            first_eased = None
            while rec.state is not Health.HEALTHY and k < 100_000:
                k += 1
                POLICY.observe(rec, 0.0, failed=rng.random() < p)
                if first_eased is None and rec.state is Health.DEGRADED:
                    first_eased = k
            if rec.state is Health.HEALTHY:
                healed.append(k)
                eased.append(first_eased or k)
            else:
                stuck += 1
        h = RunLengthSummary.of(healed)
        e = RunLengthSummary.of(eased)
        rows.append(
            [
                label,
                str(n),
                fmt(e.mean),
                fmt(h.mean),
                fmt(h.median),
                fmt(h.p95),
                fmt(h.max),
                f"{h.mean * PROBE_S / 60:.0f} min",
                str(stuck),
            ]
        )
    table(
        [
            "failure rate after",
            "runs",
            "→ degraded (mean)",
            "→ healthy (mean)",
            "median",
            "p95",
            "max",
            "at 30 s",
            "not healed in 10^5",
        ],
        rows,
    )


def online_rates(scale: float) -> None:
    pol = ONLINE_RATE_POLICY
    print("### Online rate signals (`ONLINE_RATE_POLICY`): warm-up 500 requests at a stable 0.5%\n")
    n = scaled(500, scale)
    quiet, p0s = 0, []
    by_rate: dict[float, list[int | None]] = {0.02: [], 0.05: [], 0.10: [], 0.20: []}
    for seed in range(n):
        rng = random.Random(seed)
        rec = pol.new_record()
        while rec.state is Health.WARMING_UP:
            pol.observe(rec, 0.0, failed=rng.random() < 0.005)
        assert rec.baseline.p0 is not None
        p0s.append(rec.baseline.p0)
        quiet += (
            first_alarm(failure_gaps(0.005, rng), rec.llr_fail, rec.llr_pass, h=pol.h_warn, limit=1_000_000)
            is None
        )
        for p, out in by_rate.items():
            out.append(
                first_alarm(failure_gaps(p, rng), rec.llr_fail, rec.llr_pass, h=pol.h_warn, limit=10**6)
            )
    print(
        f"Learned p0: mean {statistics.mean(p0s):.4f} (from {min(p0s):.4f} to {max(p0s):.4f}). "
        f"No alarm within 10^6 requests at 0.5%: {quiet}/{n}.\n"
    )
    rows = []
    for p, out in by_rate.items():
        s = RunLengthSummary.of(out)
        rows.append([f"{p:.2f}", fmt(s.mean), fmt(s.median), fmt(s.p99), fmt(s.max), str(s.censored)])
    table(["rate after", "ARL1 (requests)", "median", "p99", "max", "not found in 10^6"], rows)


# -- SPRT ---------------------------------------------------------------------------------------------
def sprt(scale: float) -> None:
    print("### SPRT probe battery (α = 0.01, β = 0.05)\n")
    policy = SprtPolicy()
    for p0 in (P_PERFECT, 0.02, 0.05):
        p1 = POLICY.baseline.p1_for(p0)
        asn0, asn1 = policy.expected_samples(p0, p1)
        print(
            f"p0 = {p0:.4f}, p1 = {p1:.4f}: Wald's ASN {asn0:.1f} (H0) and {asn1:.1f} (H1), cap "
            f"{policy.cap_for(p0, p1)}.\n"
        )
        rows = []
        for label, p in (
            ("p0", p0),
            ("(p0 + p1)/2", (p0 + p1) / 2),
            ("p1", p1),
            ("0.30", 0.30),
            ("0.50", 0.50),
        ):
            n = scaled(10_000, scale)
            degraded = truncated = 0
            samples = []
            for seed in range(n):
                rng = random.Random(seed)
                rec = policy.new_record(p0, p1, 0.0)
                while policy.observe(rec, 0.0, failed=rng.random() < p) is SprtDecision.CONTINUE:
                    pass
                degraded += rec.decision is SprtDecision.DEGRADED
                truncated += rec.truncated
                samples.append(rec.samples)
            s = RunLengthSummary.of(samples)
            rows.append(
                [
                    f"{label} = {p:.4f}",
                    str(n),
                    f"{degraded / n:.4f}",
                    fmt(s.mean),
                    fmt(s.median),
                    fmt(s.p95),
                    fmt(s.max),
                    f"{truncated / n:.4f}",
                ]
            )
        table(["true rate", "runs", "P(degraded)", "ASN", "median", "p95", "max", "truncated"], rows)


# -- Page–Hinkley -------------------------------------------------------------------------------------
def lognormal_ms(rng: random.Random) -> float:
    return 800.0 * math.exp(0.5 * rng.gauss(0.0, 1.0))


def log_t3_ms(rng: random.Random) -> float:
    chi2 = sum(rng.gauss(0.0, 1.0) ** 2 for _ in range(3))
    return 800.0 * math.exp(0.5 * rng.gauss(0.0, 1.0) / math.sqrt(chi2))


def ph_run(
    policy: PageHinkleyPolicy, draw: Callable[[random.Random], float], seed: int, n: int, factor: float
) -> int | None:
    rng = random.Random(seed)
    rec = policy.new_record()
    while rec.state is Health.WARMING_UP:
        policy.observe(rec, 0.0, draw(rng))
    observe = policy.observe
    for i in range(1, n + 1):
        observe(rec, 0.0, draw(rng) * factor)
        if rec.state is Health.DEGRADED:
            return i
    return None


def page_hinkley(scale: float) -> None:
    print("### Page–Hinkley on latencies (defaults: warm-up 500, δ = 0.5, λ = 18, two-sided)\n")
    print(
        "Latency in ms with median 800; shifts multiply every value by e^(0.5·k), i.e. k σ on the log\n"
        "scale (σ = 0.5): 1 σ is ×1.65, 0.5 σ is ×1.28.\n"
    )
    cases = (
        ("lognormal, log1p (Gaussian after the transform)", PageHinkleyPolicy(), lognormal_ms),
        ("lognormal, raw ms (skewed)", PageHinkleyPolicy(transform="identity"), lognormal_ms),
        ("log-Student-t3, log1p (heavy tails after the transform)", PageHinkleyPolicy(), log_t3_ms),
    )
    rows = []
    for label, policy, draw in cases:
        n = scaled(40, scale)
        horizon = 100_000
        false = [ph_run(policy, draw, seed, horizon, 1.0) for seed in range(n)]
        alarmed = sum(x is not None for x in false)
        cells = [label, f"{alarmed}/{n} in {horizon:,}"]
        for k in (0.5, 1.0, 2.0, 3.0):
            m = scaled(1000, scale)
            d = RunLengthSummary.of(
                [ph_run(policy, draw, 10_000 + s, 20_000, math.exp(0.5 * k)) for s in range(m)]
            )
            cells.append(f"{fmt(d.mean)} (p99 {fmt(d.p99)})")
        rows.append(cells)
    table(["signal", "false alarms", "0.5 σ", "1 σ", "2 σ", "3 σ"], rows)


# -- the gate -----------------------------------------------------------------------------------------
def binom_pmf(n: int, p: float) -> list[float]:
    return [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]


def gate() -> None:
    print("### Regression gate (one-sided Fisher exact, α = 0.05): exact size and power\n")
    print(
        "Baseline and current runs of n probes each; P(gate fails the run) summed over every outcome\n"
        "of both runs (binomial), not simulated.\n"
    )
    g = RegressionGate()
    rows = []
    for n, base in ((50, 0.05), (100, 0.05), (200, 0.05), (100, 0.02), (100, 0.10)):
        cells = [str(n), f"{base:.2f}"]
        for cur in (base, base + 0.05, base + 0.10, 0.30):
            pb, pc = binom_pmf(n, base), binom_pmf(n, cur)
            reject = [
                [g.judge(PassCounts(n - b, b), PassCounts(n - c, c)).regressed for c in range(n + 1)]
                for b in range(n + 1)
            ]
            power = sum(pb[b] * pc[c] for b in range(n + 1) for c in range(n + 1) if reject[b][c])
            cells.append(f"{power:.3f}")
        rows.append(cells)
    table(["n per run", "baseline failure rate", "same (size)", "+5 points", "+10 points", "30%"], rows)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scale", type=float, default=1.0, help="multiply every number of runs (min 10)")
    args = p.parse_args()
    started = time.perf_counter()
    sections: list[Callable[[], None]] = [
        lambda: cusum_arl0(args.scale),
        lambda: stable_targets(args.scale),
        lambda: cusum_arl1(args.scale),
        lambda: recovery(args.scale),
        lambda: online_rates(args.scale),
        lambda: sprt(args.scale),
        lambda: page_hinkley(args.scale),
        gate,
    ]
    for section in sections:
        t = time.perf_counter()
        section()
        print(f"<!-- {time.perf_counter() - t:.1f} s -->\n")
    print(f"Total {time.perf_counter() - started:.0f} s (scale {args.scale}).")


if __name__ == "__main__":
    main()
