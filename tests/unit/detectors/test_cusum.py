"""Baseline and Bernoulli CUSUM: each step, the state machine, evidence, the facade."""

from __future__ import annotations

import math

import pytest

from seawall._clock import ManualClock
from seawall.quality._detect import (
    ONLINE_RATE_POLICY,
    BaselinePolicy,
    BernoulliCusum,
    BernoulliCusumPolicy,
    CusumRecord,
    Health,
    HealthTransition,
)

P0 = 0.03750113514024633  # Jeffreys 95% bound after 0 failures in 50 probes
T0 = 1000.0


def warmed(policy: BernoulliCusumPolicy, failures: int = 0) -> CusumRecord:
    r = policy.new_record()
    for i in range(policy.baseline.warmup):
        policy.observe(r, T0, failed=i < failures)
    return r


# -- baseline ---------------------------------------------------------------------------------------
def test_baseline_defaults_and_p1() -> None:
    b = BaselinePolicy()
    assert (b.warmup, b.bound, b.floor, b.p0_max, b.shift, b.ratio) == (50, 0.95, 0.02, 0.5, 0.15, 2.0)
    assert b.p1_for(0.02) == pytest.approx(0.17)  # the shift wins
    assert b.p1_for(0.2) == pytest.approx(0.4)  # the ratio wins
    assert b.p1_for(0.5) == pytest.approx(0.95)  # capped at p1_max


def test_baseline_learns_an_upper_bound_not_the_observed_rate() -> None:
    b = BaselinePolicy()
    r = b.new_record()
    for i in range(49):
        assert not b.observe(r, failed=i < 2)
    assert r.p0 is None
    assert b.observe(r, failed=False)
    assert (r.seen, r.failures, r.declared) == (50, 2, False)
    assert r.p0 == pytest.approx(b.p0_from(2, 50))
    assert 2 / 50 < r.p0 < 0.2
    assert r.p1 == pytest.approx(r.p0 + 0.15)
    assert not b.observe(r, failed=True)  # a ready baseline ignores probes
    assert r.seen == 50


def test_baseline_floor_and_cap() -> None:
    b = BaselinePolicy(warmup=1000)
    assert b.p0_from(0, 1000) == 0.02  # the Jeffreys bound (0.0019) is below the floor
    assert b.p0_from(900, 1000) == 0.5
    declared = b.new_record(0.0)
    assert (declared.p0, declared.declared) == (0.02, True)
    assert declared.p1 == pytest.approx(0.17)
    with pytest.raises(ValueError):
        b.new_record(1.5)


@pytest.mark.parametrize(
    "kwargs",
    [{"warmup": 0}, {"bound": 0.4}, {"floor": 0.0}, {"floor": 0.6}, {"shift": 0.0}, {"ratio": 0.5}],
)
def test_baseline_rejects_bad_tuning(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BaselinePolicy(**kwargs)  # type: ignore[arg-type]


# -- CUSUM steps ------------------------------------------------------------------------------------
def test_cusum_defaults() -> None:
    p = BernoulliCusumPolicy()
    assert (p.h_warn, p.h_crit, p.recover_below, p.recover_window, p.evidence_ids) == (
        12.0,
        20.0,
        6.0,
        20,
        10,
    )
    o = ONLINE_RATE_POLICY
    assert (o.baseline.warmup, o.baseline.floor, o.baseline.shift) == (500, 0.005, 0.05)
    assert (o.h_warn, o.h_crit, o.recover_below, o.recover_window) == (16.0, 24.0, 8.0, 50)


@pytest.mark.parametrize(
    "kwargs",
    [{"recover_below": 0.0}, {"recover_below": 12.0}, {"h_crit": 11.0}, {"recover_window": 0}],
)
def test_cusum_rejects_bad_tuning(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        BernoulliCusumPolicy(**kwargs)  # type: ignore[arg-type]


def test_warm_up_then_healthy_with_the_log_likelihood_ratios() -> None:
    p = BernoulliCusumPolicy()
    r = p.new_record()
    assert r.state is Health.WARMING_UP
    for _ in range(49):
        p.observe(r, T0, failed=False)
    assert (r.state, r.transitions) == (Health.WARMING_UP, 0)
    p.observe(r, T0 + 1, failed=False)
    assert (r.state, r.last_reason, r.last_at, r.transitions) == (Health.HEALTHY, "baseline_ready", T0 + 1, 1)
    assert r.baseline.p0 == pytest.approx(P0)
    assert r.llr_fail == pytest.approx(math.log((P0 + 0.15) / P0))
    assert r.llr_pass == pytest.approx(math.log((1 - P0 - 0.15) / (1 - P0)))
    assert (r.samples, r.statistic) == (0, 0.0)  # warm-up probes are not judged


def test_a_declared_p0_starts_healthy() -> None:
    p = BernoulliCusumPolicy()
    r = p.new_record(p0=0.05)
    assert (r.state, r.transitions, r.baseline.p0, r.baseline.p1) == (Health.HEALTHY, 0, 0.05, 0.2)
    assert r.llr_fail == pytest.approx(math.log(4.0))


def test_each_step_adds_its_log_likelihood_ratio_and_never_goes_below_zero() -> None:
    p = BernoulliCusumPolicy()
    r = p.new_record(p0=0.02)
    a, b = math.log(0.17 / 0.02), math.log(0.83 / 0.98)
    p.observe(r, T0, failed=False)
    assert r.statistic == 0.0
    p.observe(r, T0, failed=True)
    assert r.statistic == pytest.approx(a)
    p.observe(r, T0, failed=False)
    assert r.statistic == pytest.approx(a + b)
    for _ in range(100):
        p.observe(r, T0, failed=False)
    assert r.statistic == 0.0
    assert (r.samples, r.failures) == (103, 1)


def test_warn_then_crit_then_capped() -> None:
    p = BernoulliCusumPolicy()
    r = p.new_record(p0=0.02)  # a failure adds ln(8.5) = 2.14
    for _ in range(5):
        p.observe(r, T0, failed=True)
    assert r.state is Health.HEALTHY  # 10.7
    p.observe(r, T0 + 1, failed=True)  # 12.8
    assert (r.state, r.last_reason, r.last_at) == (Health.DEGRADED, "warn", T0 + 1)
    for _ in range(3):
        p.observe(r, T0 + 2, failed=True)  # 19.3
    assert r.state is Health.DEGRADED
    p.observe(r, T0 + 3, failed=True)
    assert (r.state, r.last_from, r.last_reason, r.statistic) == (
        Health.FAILING,
        Health.DEGRADED,
        "crit",
        20.0,
    )
    for _ in range(50):
        p.observe(r, T0 + 4, failed=True)
    assert (r.statistic, r.transitions) == (20.0, 2)  # capped: the outage does not pile up evidence


def test_a_jump_straight_past_both_thresholds_goes_to_failing() -> None:
    p = BernoulliCusumPolicy(h_warn=1.0, h_crit=2.0, recover_below=0.5)
    r = p.new_record(p0=0.02)
    p.observe(r, T0, failed=True)  # + 2.14
    assert (r.state, r.last_from, r.last_reason, r.transitions) == (Health.FAILING, Health.HEALTHY, "crit", 1)


def test_recovery_needs_the_window_below_the_recovery_level() -> None:
    p = BernoulliCusumPolicy()
    r = p.new_record(p0=0.02)
    b = -math.log(0.83 / 0.98)  # 0.166 per passed probe
    for _ in range(10):
        p.observe(r, T0, failed=True)
    assert (r.state, r.statistic) == (Health.FAILING, 20.0)
    passes = 0
    while r.state is Health.FAILING:
        p.observe(r, T0, failed=False)
        passes += 1
    assert (r.state, r.last_reason) == (Health.DEGRADED, "eased")
    assert passes == math.ceil(8.0 / b) == 49  # 20 - 49 × 0.166 < 12
    assert r.calm == 0
    while r.statistic > 6.0:
        p.observe(r, T0, failed=False)
        passes += 1
    assert passes == math.ceil(14.0 / b) == 85
    assert r.calm == 1
    for _ in range(18):
        p.observe(r, T0, failed=False)
    assert (r.state, r.calm) == (Health.DEGRADED, 19)
    p.observe(r, T0 + 9, failed=False)
    assert (r.state, r.last_reason, r.last_at, r.calm) == (Health.HEALTHY, "recovered", T0 + 9, 0)
    assert passes + 19 == 104  # a perfect target, declared p0 = 0.02: 104 probes from the cap


def test_a_failure_above_the_recovery_level_restarts_the_window() -> None:
    p = BernoulliCusumPolicy()
    r = p.new_record(p0=0.02)
    for _ in range(6):
        p.observe(r, T0, failed=True)
    while r.statistic > 6.0:
        p.observe(r, T0, failed=False)
    for _ in range(10):
        p.observe(r, T0, failed=False)
    assert (r.state, r.calm) == (Health.DEGRADED, 11)
    p.observe(r, T0, failed=True)  # back above 6, still below 12
    assert (r.state, r.calm) == (Health.DEGRADED, 0)


def test_failing_recovers_straight_to_healthy_when_the_window_is_one_probe() -> None:
    p = BernoulliCusumPolicy(h_warn=2.0, h_crit=4.0, recover_below=1.5, recover_window=1)
    r = p.new_record(p0=0.02)
    p.observe(r, T0, failed=True)
    p.observe(r, T0, failed=True)
    assert (r.state, r.statistic) == (Health.FAILING, 4.0)
    while r.state is Health.FAILING:
        p.observe(r, T0, failed=False)
    # the step that took it below h_warn also found it calm: one transition, not two
    assert r.state in (Health.DEGRADED, Health.HEALTHY)
    while r.state is not Health.HEALTHY:
        p.observe(r, T0, failed=False)
    assert r.last_reason == "recovered"


def test_escalate_reset_rewarm() -> None:
    p = BernoulliCusumPolicy()
    r = warmed(p)
    p.escalate(r, T0)
    assert (r.state, r.last_reason, r.statistic) == (Health.DEGRADED, "escalated", 12.0)
    p.escalate(r, T0)
    assert r.transitions == 2  # an alarmed detector is not escalated again
    p.reset(r, T0)
    assert (r.state, r.last_reason, r.statistic) == (Health.HEALTHY, "reset", 0.0)
    p.rewarm(r, T0)
    assert (r.state, r.last_reason, r.baseline.p0, r.samples) == (Health.WARMING_UP, "rewarm", None, 0)
    p.escalate(r, T0)
    p.reset(r, T0)
    assert r.state is Health.WARMING_UP  # neither acts while warming up
    p.rewarm(r, T0, p0=0.1)
    assert (r.state, r.baseline.p0, r.baseline.declared) == (Health.HEALTHY, 0.1, True)
    assert r.llr_fail == pytest.approx(math.log(2.5))


def test_evidence_keeps_the_latest_failed_probe_ids() -> None:
    p = BernoulliCusumPolicy(evidence_ids=3)
    r = p.new_record()
    for i in range(50):
        p.observe(r, T0, failed=i % 10 == 0, probe_id=f"w{i}")
    for i in range(4):
        p.observe(r, T0, failed=True, probe_id=f"p{i}")
    p.observe(r, T0, failed=False, probe_id="ok")
    p.observe(r, T0, failed=True)  # no id: counted, not listed
    e = p.evidence(r)
    assert e.failed_ids == ("p1", "p2", "p3")
    assert (e.samples, e.failures, e.warmup_seen, e.warmup, e.declared) == (6, 5, 50, 50, False)
    assert (e.h_warn, e.h_crit, e.recover_below, e.recover_window) == (12.0, 20.0, 6.0, 20)
    assert e.p0 == pytest.approx(p.baseline.p0_from(5, 50))
    assert e.statistic == r.statistic
    assert e.state is r.state


# -- facade -----------------------------------------------------------------------------------------
def test_facade_reports_transitions_with_the_clock() -> None:
    clock = ManualClock()
    events: list[HealthTransition] = []
    changes: list[int] = []
    det = BernoulliCusum(
        "alpha/gpt|arith", clock, p0=0.02, on_transition=events.append, on_change=lambda: changes.append(1)
    )
    assert det.state is Health.HEALTHY
    for _ in range(5):
        assert det.record(True, "q1") is Health.HEALTHY
    clock.advance(30.0)
    assert det.record(True, "q2") is Health.DEGRADED
    assert events == [
        HealthTransition(
            "alpha/gpt|arith", Health.HEALTHY, Health.DEGRADED, "warn", 1030.0, det.evidence().statistic
        )
    ]
    assert len(changes) == 6
    det.reset()
    det.escalate()
    det.rewarm()
    assert [e.reason for e in events] == ["warn", "reset", "escalated", "rewarm"]
    assert det.state is Health.WARMING_UP
    assert det.evidence().failed_ids == ("q1",) * 5 + ("q2",)
    assert det.state_record is det.state_record
    assert det.policy == BernoulliCusumPolicy()


def test_facade_steps_a_record_it_is_given() -> None:
    p = BernoulliCusumPolicy()
    rec = p.new_record(p0=0.02)
    det = BernoulliCusum("k", ManualClock(), p, record=rec)
    det.record(True)
    assert rec.failures == 1
    assert det.state_record is rec
