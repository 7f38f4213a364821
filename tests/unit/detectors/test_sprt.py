"""Wald's SPRT probe battery: bounds, Wald's sample numbers, each step, truncation, and its error
rates and average sample numbers measured by simulation (fixed seeds)."""

from __future__ import annotations

import math
import random
import statistics

import pytest

from seawall._clock import ManualClock
from seawall.quality._detect import SprtBattery, SprtDecision, SprtPolicy, SprtRecord

P0 = 0.03750113514024633  # a perfect target's warm-up baseline
P1 = P0 + 0.15
T0 = 1000.0


def test_bounds_and_wald_sample_numbers() -> None:
    p = SprtPolicy()
    assert (p.alpha, p.beta, p.cap_factor, p.max_samples) == (0.01, 0.05, 3.0, None)
    assert p.upper == pytest.approx(math.log(95.0)) == pytest.approx(4.5539, abs=1e-4)
    assert p.lower == pytest.approx(math.log(0.05 / 0.99)) == pytest.approx(-2.9857, abs=1e-4)
    # The team's reference: 0.05 against 0.15 needs about 57–59 probes on average.
    asn0, asn1 = p.expected_samples(0.05, 0.15)
    assert (round(asn0, 1), round(asn1, 1)) == (57.4, 59.5)
    assert p.cap_for(0.05, 0.15) == 179
    assert [round(x, 1) for x in p.expected_samples(P0, P1)] == [28.3, 25.5]
    assert p.cap_for(P0, P1) == 86
    assert SprtPolicy(max_samples=40).cap_for(P0, P1) == 40


@pytest.mark.parametrize(
    "kwargs", [{"alpha": 0.0}, {"beta": 0.5}, {"cap_factor": 0.5}, {"max_samples": 0}, {"evidence_ids": -1}]
)
def test_rejects_bad_tuning(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        SprtPolicy(**kwargs)  # type: ignore[arg-type]


def test_rejects_p1_not_above_p0() -> None:
    with pytest.raises(ValueError):
        SprtPolicy().new_record(0.2, 0.1, T0)


def test_three_failures_decide_degraded() -> None:
    p = SprtPolicy()
    r = p.new_record(0.02, 0.17, T0)  # a failure adds ln(8.5) = 2.14
    assert p.observe(r, T0 + 1, failed=True, probe_id="a") is SprtDecision.CONTINUE
    assert p.observe(r, T0 + 2, failed=True, probe_id="b") is SprtDecision.CONTINUE  # 4.28 < 4.55
    assert p.observe(r, T0 + 3, failed=True, probe_id="c") is SprtDecision.DEGRADED
    assert (r.samples, r.failures, r.truncated, r.decided_at) == (3, 3, False, T0 + 3)
    assert r.llr == pytest.approx(3 * math.log(8.5))
    assert p.observe(r, T0 + 4, failed=False) is SprtDecision.DEGRADED  # decided: ignored
    assert r.samples == 3
    assert p.evidence(r).failed_ids == ("a", "b", "c")


def test_eighteen_passes_decide_fine() -> None:
    p = SprtPolicy()
    r = p.new_record(0.02, 0.17, T0)  # a pass adds ln(0.83/0.98) = -0.1661
    for _ in range(17):
        assert p.observe(r, T0, failed=False) is SprtDecision.CONTINUE  # -2.824
    assert p.observe(r, T0 + 5, failed=False) is SprtDecision.FINE  # -2.990 <= -2.986
    assert (r.samples, r.decided_at) == (18, T0 + 5)


@pytest.mark.parametrize(
    ("first_failed", "decision"), [(True, SprtDecision.DEGRADED), (False, SprtDecision.FINE)]
)
def test_at_the_cap_the_sign_of_the_likelihood_ratio_decides(
    first_failed: bool, decision: SprtDecision
) -> None:
    p = SprtPolicy(max_samples=4)
    r = p.new_record(0.02, 0.17, T0)
    p.observe(r, T0, failed=first_failed)  # +2.14 or -0.17
    for _ in range(2):
        assert p.observe(r, T0, failed=False) is SprtDecision.CONTINUE
    assert p.observe(r, T0 + 1, failed=False) is decision
    assert (r.truncated, r.samples) == (True, 4)
    e = p.evidence(r)
    assert (e.decision, e.truncated, e.cap, e.samples, e.decided_at) == (decision, True, 4, 4, T0 + 1)


def test_the_facade_reports_the_decision_once() -> None:
    clock = ManualClock()
    decisions: list[SprtDecision] = []
    battery = SprtBattery("alpha/gpt|arith", clock, 0.02, 0.17, on_decision=decisions.append)
    assert battery.evidence().started_at == clock.now()
    for _ in range(3):
        clock.advance(1.0)
        battery.record(True, "q")
    battery.record(False)
    assert battery.decision is SprtDecision.DEGRADED
    assert decisions == [SprtDecision.DEGRADED]
    assert battery.evidence().decided_at == 1003.0
    assert battery.policy == SprtPolicy()
    rec = SprtPolicy().new_record(0.02, 0.17, 0.0)
    assert SprtBattery("k", clock, 0.5, 0.6, record=rec).state_record is rec


# -- by simulation --------------------------------------------------------------------------------------
def battery(p: float, seed: int) -> SprtRecord:
    policy = SprtPolicy()
    rng = random.Random(seed)
    r = policy.new_record(P0, P1, 0.0)
    while policy.observe(r, 0.0, failed=rng.random() < p) is SprtDecision.CONTINUE:
        pass
    return r


def test_error_rates_and_sample_numbers_by_simulation() -> None:
    """2,000 batteries at each rate (p0 = 0.0375, p1 = 0.1875, 30%). Measured with these seeds:
    α 0.009, β 0.056, 30% called fine 0.002; ASN 29.0, 29.2 and 14.5; 1.6% truncated at the cap
    of 86. benchmarks/detector_run_lengths.py runs more seeds (docs/quality-statistics.md)."""
    runs = 2000
    fine = [battery(P0, seed) for seed in range(runs)]
    bad = [battery(P1, 10_000 + seed) for seed in range(runs)]
    worse = [battery(0.30, 20_000 + seed) for seed in range(runs)]
    alpha = sum(r.decision is SprtDecision.DEGRADED for r in fine) / runs
    beta = sum(r.decision is SprtDecision.FINE for r in bad) / runs
    missed = sum(r.decision is SprtDecision.FINE for r in worse) / runs
    asn0 = statistics.mean(r.samples for r in fine)
    asn1 = statistics.mean(r.samples for r in bad)
    asn30 = statistics.mean(r.samples for r in worse)
    truncated = sum(r.truncated for r in fine + bad) / (2 * runs)
    assert alpha <= 0.02  # α = 0.01 (Wald's bound: α/(1 − β) ≈ 0.0105)
    assert beta <= 0.07  # β = 0.05
    assert missed <= 0.005
    assert 24.0 <= asn0 <= 34.0  # Wald: 28.3
    assert 22.0 <= asn1 <= 34.0  # Wald: 25.5
    assert asn30 <= 18.0
    assert truncated <= 0.03
    assert max(r.samples for r in fine + bad + worse) <= 86
