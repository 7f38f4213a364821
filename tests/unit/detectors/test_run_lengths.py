"""Run lengths of the Bernoulli CUSUM's defaults, by simulation with fixed seeds.

ARL0: probes until a false alarm at a stable failure rate; ARL1: probes until the alarm after a
shift. The long runs (ARL0 ≈ 3×10⁶) use `_runlength.first_alarm`, which walks the gaps between
failures; the first test checks it alarms on exactly the probe the policy does. The full tables
(more seeds) are in docs/quality-statistics.md, from benchmarks/detector_run_lengths.py.
"""

from __future__ import annotations

import math
import random

import pytest

from seawall.quality._detect import ONLINE_RATE_POLICY, BernoulliCusumPolicy, CusumRecord, Health
from seawall.quality._detect._runlength import RunLengthSummary, failure_gaps, first_alarm, outcomes

POLICY = BernoulliCusumPolicy()
P0 = POLICY.baseline.p0_from(0, 50)  # a perfect target's warm-up: 0.0375
ARMED = POLICY.new_record(p0=P0)  # its log-likelihood ratios


def policy_alarm(policy: BernoulliCusumPolicy, p0: float, verdicts: list[bool]) -> int | None:
    r = policy.new_record(p0=p0)
    for i, failed in enumerate(verdicts, 1):
        policy.observe(r, 0.0, failed=failed)
        if r.state is not Health.HEALTHY:
            return i
    return None


@pytest.mark.parametrize(
    ("p0", "p", "h_warn"),
    [
        (P0, P0, 12.0),
        (P0, 0.3, 12.0),
        (0.05, 0.05, 4.0),
        (0.05, 0.15, 4.0),
        (0.02, 0.02, 3.0),
        (0.2, 0.5, 6.0),
    ],
)
def test_the_gap_walk_alarms_on_the_same_probe_as_the_policy(p0: float, p: float, h_warn: float) -> None:
    policy = BernoulliCusumPolicy(h_warn=h_warn, h_crit=h_warn, recover_below=h_warn / 2)
    r = policy.new_record(p0=p0)
    alarms = 0
    for seed in range(40):
        gaps = [g for g, _ in zip(failure_gaps(p, random.Random(seed)), range(60), strict=False)]
        verdicts = outcomes(gaps)
        expected = policy_alarm(policy, p0, verdicts)
        assert first_alarm(gaps, r.llr_fail, r.llr_pass, h=h_warn, limit=len(verdicts)) == expected
        alarms += expected is not None
    assert alarms > 0 or h_warn == 12.0  # only the default threshold stays quiet at p0


def test_the_gap_walk_reproduces_the_teams_reference_run_lengths() -> None:
    """p0 = 0.05, p1 = 0.15, h = 4: the team's notes measured ARL0 ≈ 1,630 and ARL1 ≈ 50 by
    simulation; the Markov-chain value (Brook & Evans, fine grid) is ARL0 1,536, ARL1 49.4."""
    up, down = math.log(0.15 / 0.05), math.log(0.85 / 0.95)
    arl0 = RunLengthSummary.of(
        [first_alarm(failure_gaps(0.05, random.Random(s)), up, down, h=4.0, limit=10**7) for s in range(1000)]
    )
    arl1 = RunLengthSummary.of(
        [first_alarm(failure_gaps(0.15, random.Random(s)), up, down, h=4.0, limit=10**7) for s in range(1000)]
    )
    assert arl0.censored == arl1.censored == 0
    assert 1420 <= arl0.mean <= 1660
    assert 46 <= arl1.mean <= 53


# -- the defaults -----------------------------------------------------------------------------------
def test_arl0_of_the_defaults_is_millions_of_probes() -> None:
    """20 runs at a true failure rate equal to a perfect target's learned p0 (0.0375): the chain
    gives ARL0 = 2.95×10⁶ probes (2.8 years at 30 s); the benchmark's 200 runs measure 2.86×10⁶."""
    runs = [
        first_alarm(failure_gaps(P0, random.Random(s)), ARMED.llr_fail, ARMED.llr_pass, h=12.0, limit=10**9)
        for s in range(20)
    ]
    summary = RunLengthSummary.of(runs)
    assert summary.censored == 0
    assert 1.5e6 <= summary.mean <= 5e6


def warm_then(policy: BernoulliCusumPolicy, rng: random.Random, p: float) -> CusumRecord:
    """A detector warmed up on a target failing with probability `p`."""
    r = policy.new_record()
    while r.state is Health.WARMING_UP:
        policy.observe(r, 0.0, failed=rng.random() < p)
    return r


@pytest.mark.parametrize("p", [0.0, 0.02, 0.05, 0.10])
def test_a_stable_target_probed_5000_times_raises_no_alarm(p: float) -> None:
    """The policy itself, seed 0: warm-up on the target's own probes, then 5,000 more."""
    rng = random.Random(0)
    r = warm_then(POLICY, rng, p)
    for _ in range(5000):
        POLICY.observe(r, 0.0, failed=rng.random() < p)
    assert (r.state, r.transitions) == (Health.HEALTHY, 1)
    assert r.samples == 5000


@pytest.mark.parametrize(("p", "most"), [(0.02, 0), (0.05, 10), (0.10, 20), (0.20, 20)])
def test_how_many_of_1000_stable_targets_alarm_within_5000_probes(p: float, most: int) -> None:
    """Each seed: a fresh 50-probe warm-up (so a learned p0 that happens to be low is included),
    then 5,000 probes. The chain predicts 0.0%, 0.25%, 0.86% and 0.90% (20,000 other seeds measure
    0.25% and 0.86% at 5% and 10%); with these seeds 0, 6, 9 and 5 of 1,000 alarm."""
    alarms = 0
    for seed in range(1000):
        rng = random.Random(seed)
        failures = sum(rng.random() < p for _ in range(50))
        r = POLICY.new_record(p0=POLICY.baseline.p0_from(failures, 50))
        alarms += first_alarm(failure_gaps(p, rng), r.llr_fail, r.llr_pass, h=12.0, limit=5000) is not None
    assert alarms <= most


def test_30_percent_wrong_answers_are_found_within_100_probes() -> None:
    """1,000 perfect targets (warm-up of 50 passes) switched to 30% wrong answers. The chain:
    ARL1 33.7, P(more than 100 probes) = 3×10⁻⁴. Measured with these seeds: mean 33.3, max 83."""
    delays = []
    for seed in range(1000):
        rng = random.Random(seed)
        r = warm_then(POLICY, rng, 0.0)
        n = 0
        while r.state is Health.HEALTHY:
            n += 1
            POLICY.observe(r, 0.0, failed=rng.random() < 0.30)
        assert r.state is Health.DEGRADED
        delays.append(n)
    summary = RunLengthSummary.of(delays)
    assert 31.0 <= summary.mean <= 36.0
    assert summary.max <= 100
    assert summary.p99 <= 75


def test_30_percent_from_a_declared_floor() -> None:
    """Declared p0 = 0 (floored to 0.02, p1 = 0.17): the chain's ARL1 is 23.9."""
    r = POLICY.new_record(p0=0.0)
    runs = [
        first_alarm(failure_gaps(0.30, random.Random(s)), r.llr_fail, r.llr_pass, h=12.0, limit=100)
        for s in range(1000)
    ]
    summary = RunLengthSummary.of(runs)
    assert summary.censored == 0
    assert 22.0 <= summary.mean <= 26.0


def test_online_rate_defaults() -> None:
    """Online rate signals (warm-up 500, floor 0.5%, p1 = p0 + 5%, h = 16): 200 targets at a stable
    0.5% (learned p0 ≈ 1.3%) raise no alarm in 100,000 requests; a jump to 10% is found in 146
    requests on average with these seeds (at most 431)."""
    policy = ONLINE_RATE_POLICY
    quiet = 0
    found = []
    for seed in range(200):
        rng = random.Random(seed)
        r = warm_then(policy, rng, 0.005)
        h = policy.h_warn
        quiet += first_alarm(failure_gaps(0.005, rng), r.llr_fail, r.llr_pass, h=h, limit=100_000) is None
        found.append(first_alarm(failure_gaps(0.10, rng), r.llr_fail, r.llr_pass, h=h, limit=10_000))
    assert quiet == 200
    summary = RunLengthSummary.of(found)
    assert summary.censored == 0
    assert 120.0 <= summary.mean <= 170.0
    assert summary.max <= 500
