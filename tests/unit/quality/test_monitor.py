"""QualityMonitor (states from detectors, policies to routing health, batteries, identities) and the
prober's pure parts (the hourly cap, the probe order), on a manual clock with seeded draws."""

from __future__ import annotations

import random
from typing import Any

import pytest

from seawall._clock import ManualClock
from seawall._types import Target
from seawall.engine import TargetHealth
from seawall.engine._routing import candidates
from seawall.quality import builtin_suite
from seawall.quality._detect import Health, OnlineSignal
from seawall.quality._identity import Identity
from seawall.quality._monitor import QualityMonitor
from seawall.quality._prober import HourlyCap, ProbeOrder
from seawall.trace._schema import QualityEvent

A, B = "alpha/a", "beta/b"


def monitor(
    policy: str = "exclude", **kwargs: Any
) -> tuple[QualityMonitor, list[dict[str, Any]], list[QualityEvent]]:
    published: list[dict[str, Any]] = []
    events: list[QualityEvent] = []
    m = QualityMonitor(ManualClock(), warmup=50, on_health=published.append, on_event=events.append, **kwargs)
    for key in (A, B):
        m.watch(key, "builtin")
    m.route("chat", policy, (A, B))  # type: ignore[arg-type]
    return m, published, events


def feed(m: QualityMonitor, key: str, n: int, fail_rate: float, rng: random.Random) -> list[QualityEvent]:
    out: list[QualityEvent] = []
    for i in range(n):
        failed = rng.random() < fail_rate
        out += m.probe_verdict(key, "builtin", f"p{i % 74}", not failed, "wrong" if failed else "")
    return out


def test_a_target_is_warming_up_until_its_baseline_then_healthy() -> None:
    m, published, events = monitor()
    assert m.states()[A] is Health.WARMING_UP
    feed(m, A, 49, 0.0, random.Random(1))
    assert m.states()[A] is Health.WARMING_UP
    assert m.view(A)["reason"].startswith("warming up: 49 of 50")  # type: ignore[index]
    feed(m, A, 1, 0.0, random.Random(1))
    assert m.states()[A] is Health.HEALTHY
    assert [(e.kind, e.old, e.new) for e in events] == [("transition", "warming_up", "healthy")]
    assert published == []  # healthy changes nothing in routing


@pytest.mark.parametrize(
    ("policy", "status"), [("exclude", "failing"), ("demote", "degraded"), ("alert", None)]
)
def test_a_degraded_target_is_routed_by_its_models_policy(policy: str, status: str | None) -> None:
    m, published, _ = monitor(policy)
    rng = random.Random(7)
    feed(m, A, 50, 0.0, rng)
    moved = feed(m, A, 100, 0.3, rng)
    assert m.states()[A] in (Health.DEGRADED, Health.FAILING)
    alarm = next(e for e in moved if e.kind == "transition" and e.new == "degraded")
    assert alarm.detector == "suite:builtin" and "CUSUM" in alarm.reason
    if status is None:
        assert published == [] and m.health() == {}
    else:
        health = m.health()["chat"][A]
        assert health.status == status and "quality" in health.reason
        assert published[-1] == m.health()
    view = m.view(A)
    assert view is not None
    assert view["detectors"][0]["failed_probe_ids"] and view["last_failed_probes"][0]["detail"] == "wrong"


def test_a_stable_target_probed_5000_times_raises_no_alarm() -> None:
    m, published, _ = monitor()
    rng = random.Random(11)
    events = feed(m, A, 5000, 0.0, rng)
    assert m.states()[A] is Health.HEALTHY
    assert [e.new for e in events] == ["healthy"] and published == []


def test_recovery_takes_the_documented_window_of_good_probes() -> None:
    m, published, _ = monitor()
    rng = random.Random(3)
    feed(m, A, 50, 0.0, rng)
    feed(m, A, 40, 1.0, rng)
    assert m.states()[A] is Health.FAILING
    good = 0
    while m.states()[A] is not Health.HEALTHY:
        m.probe_verdict(A, "builtin", "p", True)
        good += 1
        assert good < 500
    # From the cap (h_crit 20): below h_warn after 48 good probes, healthy 20 calm probes later... bounded.
    assert 60 <= good <= 110
    assert published[-1] == {}


def test_an_identity_change_starts_a_battery_that_a_wrong_target_fails() -> None:
    m, _, events = monitor()
    rng = random.Random(5)
    feed(m, A, 50, 0.0, rng)
    first = Identity("a", "a-2025", "fp_1", None)
    assert m.identity(A, first) == []  # the initial identity is not a change
    assert m.identity(A, first) == []
    changed = m.identity(A, Identity("a", "a-2025", "fp_2", None))
    assert [e.kind for e in changed] == ["identity"] and "fingerprint" in changed[0].reason
    assert m.battery_due(A) == ("builtin", "model identity changed: a-2025, fingerprint fp_2")
    decided: list[QualityEvent] = []
    n = 0
    while m.battery_due(A) is not None:
        decided += m.probe_verdict(A, "builtin", f"p{n}", False, "wrong", battery=True)
        n += 1
    assert n <= 10  # every probe failing: the SPRT decides within a few
    battery = next(e for e in decided if e.kind == "battery")
    assert battery.new == "degraded"
    assert m.states()[A] is Health.DEGRADED  # escalated by the battery
    assert m.view(A)["last_battery"]["decision"] == "degraded"  # type: ignore[index]
    assert m.identity_changes == {A: 1}
    assert any(e.kind == "identity" for e in events)


def test_no_battery_before_a_baseline() -> None:
    m, _, _ = monitor()
    m.identity(A, Identity("a", "x", "fp_1", None))
    assert m.identity(A, Identity("a", "x", "fp_2", None))  # a change, reported
    assert m.battery_due(A) is None  # but nothing to test it against yet


def test_online_rate_alarms_route_and_latency_shifts_do_not() -> None:
    m, _, _ = monitor()
    feed(m, A, 50, 0.0, random.Random(1))
    for _ in range(600):
        m.online(A, [(OnlineSignal.EMPTY_ANSWER, False)], [(OnlineSignal.LATENCY_MS, 100.0)])
    assert m.states()[A] is Health.HEALTHY
    for _ in range(400):
        m.online(A, [], [(OnlineSignal.LATENCY_MS, 5000.0)])
    assert m.states()[A] is Health.HEALTHY  # slower is the resilience layer's business
    latency = next(d for d in m.view(A)["detectors"] if d.get("signal") == "latency_ms")  # type: ignore[index]
    assert latency["state"] != "healthy" and latency["routes"] is False
    for _ in range(400):
        m.online(A, [(OnlineSignal.EMPTY_ANSWER, True)], [])
    assert m.states()[A] in (Health.DEGRADED, Health.FAILING)
    assert m.view(A)["detector"] == "online:empty_answer"  # type: ignore[index]


def test_an_observer_that_raises_does_not_break_detection() -> None:
    def broken(event: QualityEvent) -> None:
        raise RuntimeError("webhook down")

    m = QualityMonitor(ManualClock(), warmup=5, on_event=broken)
    m.watch(A, "s")
    for i in range(5):
        m.probe_verdict(A, "s", f"p{i}", True)
    assert m.states()[A] is Health.HEALTHY


def test_exclude_keeps_targets_when_nothing_else_is_left() -> None:
    a, b = Target("alpha", "a"), Target("beta", "b")
    health = {a.key: TargetHealth("failing", "bad"), b.key: TargetHealth("failing", "worse")}
    plan = candidates((a, b), health)
    assert plan.order == (a, b) and plan.excluded == ()
    assert [why for _, why in plan.demoted] == [
        "bad (kept: no other target left)",
        "worse (kept: no other target left)",
    ]
    only_a = candidates((a, b), {a.key: TargetHealth("failing", "bad")})
    assert only_a.order == (b,) and only_a.excluded == ((a, "bad"),)


def test_the_hourly_cap_counts_a_sliding_hour() -> None:
    cap = HourlyCap(3)
    for t in (0.0, 10.0, 20.0):
        assert cap.wait(t) == 0.0
        cap.take(t)
    assert cap.wait(30.0) == pytest.approx(3570.0)
    assert cap.wait(3600.5) == 0.0  # the probe at 0 left the window
    with pytest.raises(ValueError, match="per_hour"):
        HourlyCap(0)


def test_every_probe_is_asked_once_per_pass_in_a_shuffled_order() -> None:
    suite = builtin_suite()
    order = ProbeOrder(suite, random.Random(2))
    first = [order.next().id for _ in suite.probes]
    second = [order.next().id for _ in suite.probes]
    assert sorted(first) == sorted(p.id for p in suite.probes) == sorted(second)
    assert first != second and first != [p.id for p in suite.probes]


def test_operator_reset_and_rewarm() -> None:
    m, published, _ = monitor()
    rng = random.Random(9)
    feed(m, A, 50, 0.0, rng)
    feed(m, A, 40, 1.0, rng)
    assert m.states()[A] is Health.FAILING and published[-1]
    moved = m.reset(A)
    assert m.states()[A] is Health.HEALTHY and [e.new for e in moved] == ["healthy"]
    assert published[-1] == {}  # routing back to normal at once
    feed(m, A, 40, 1.0, rng)
    assert m.states()[A] is Health.FAILING
    m.rewarm(A)  # the new behaviour accepted as normal: learn it again
    assert m.states()[A] is Health.WARMING_UP
    feed(m, A, 50, 0.0, rng)
    assert m.states()[A] is Health.HEALTHY
    with pytest.raises(KeyError):
        m.reset("nobody/watched")
