"""`QualityMonitor`: every target's quality state, from its detectors, and what it does to routing.

Per target it keeps one Bernoulli CUSUM per canary suite (fed by probe verdicts), the online
signal detectors (fed by client traffic), the model identities it answered with, and at most one
running SPRT battery (started by an identity change). A target's state is the worst of its
detectors that route (`failing` > `degraded` > `healthy`; `warming_up` while no suite has a baseline
yet); latency and TTFT shifts are reported as evidence but never move routing, because a slower
provider is the resilience layer's business and demoting on load would move load around.

The monitor turns states into `Engine.health` with each model's policy (`alert`: nothing;
`demote`: degraded and failing targets go last; `exclude`: they are left out unless nothing else is
left) and hands the new mapping to `on_health` whenever it changes. Every conclusion (a transition, a
battery's decision, an identity change) is returned to the caller (who puts it in the trace that
caused it) and handed to `on_event` (log, metrics, webhook).

Thread-safe: probes arrive on the event loop, online signals from the feed's thread; one lock.
Memory per target is bounded (detectors are O(1), identities and evidence are capped).
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from seawall._clock import Clock
from seawall.config._quality import QualityPolicy
from seawall.engine import TargetHealth
from seawall.quality._detect import (
    ONLINE_RATE_POLICY,
    RATE_SIGNALS,
    BaselinePolicy,
    BernoulliCusumPolicy,
    CusumRecord,
    Health,
    OnlineSignal,
    PageHinkleyPolicy,
    ShiftRecord,
    SprtDecision,
    SprtPolicy,
    SprtRecord,
    online_policy,
)
from seawall.quality._identity import Identity, IdentityChange, IdentityTracker
from seawall.trace._schema import QualityEvent

log = logging.getLogger("seawall.quality")

_RANK = {Health.WARMING_UP: 0, Health.HEALTHY: 1, Health.DEGRADED: 2, Health.FAILING: 3}
_ROUTING_SIGNALS = RATE_SIGNALS | {OnlineSignal.OUTPUT_TOKENS}
"""Online signals whose alarms move routing (latency and TTFT shifts are evidence only)."""
FAILED_KEPT = 10


@dataclass(slots=True)
class _Battery:
    suite: str
    reason: str
    record: SprtRecord
    started: float


@dataclass(slots=True)
class _Target:
    key: str
    suites: dict[str, CusumRecord] = field(default_factory=dict)
    online: dict[OnlineSignal, CusumRecord | ShiftRecord] = field(default_factory=dict)
    battery: _Battery | None = None
    last_battery: dict[str, Any] | None = None
    failed: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=FAILED_KEPT))
    counts: dict[str, int] = field(default_factory=lambda: {"passed": 0, "failed": 0, "no_verdict": 0})
    state: Health = Health.WARMING_UP
    reason: str = "warming up: no baseline yet"
    detector: str | None = None
    since: float = 0.0


class QualityMonitor:
    """Quality states of every watched target (see the module docstring)."""

    def __init__(
        self,
        clock: Clock,
        *,
        warmup: int = 50,
        cusum: BernoulliCusumPolicy | None = None,
        sprt: SprtPolicy | None = None,
        identities: IdentityTracker | None = None,
        on_health: Callable[[dict[str, dict[str, TargetHealth]]], None] | None = None,
        on_event: Callable[[QualityEvent], None] | None = None,
    ) -> None:
        self.clock = clock
        base = cusum or BernoulliCusumPolicy()
        self.cusum = BernoulliCusumPolicy(
            baseline=BaselinePolicy(
                warmup=warmup,
                bound=base.baseline.bound,
                floor=base.baseline.floor,
                p0_max=base.baseline.p0_max,
                shift=base.baseline.shift,
                ratio=base.baseline.ratio,
                p1_max=base.baseline.p1_max,
            ),
            h_warn=base.h_warn,
            h_crit=base.h_crit,
            recover_below=base.recover_below,
            recover_window=base.recover_window,
            evidence_ids=base.evidence_ids,
        )
        self.sprt = sprt or SprtPolicy()
        self.identities = identities or IdentityTracker()
        self.on_health = on_health
        self.on_event = on_event
        self._lock = threading.Lock()
        self._targets: dict[str, _Target] = {}
        self._models: dict[str, tuple[QualityPolicy, tuple[str, ...]]] = {}
        self._health: dict[str, dict[str, TargetHealth]] = {}
        self.counters: dict[tuple[str, str, str], int] = {}
        """(target, suite, result) → probes: result `passed`, `failed` or `no_verdict`."""
        self.transitions: dict[tuple[str, str], int] = {}
        """(target, new state) → transitions."""
        self.identity_changes: dict[str, int] = {}

    # -- setup --------------------------------------------------------------------------------------
    def watch(self, target: str, suite: str, *, p0: float | None = None) -> None:
        """Probe `target` with `suite` (a declared `p0` skips the warm-up)."""
        with self._lock:
            t = self._target(target)
            if suite not in t.suites:
                t.suites[suite] = self.cusum.new_record(p0)
                self._settle(t, "suite:" + suite, [])

    def route(self, model: str, policy: QualityPolicy, targets: Iterable[str]) -> None:
        """Model `model` routes its `targets` by their quality with `policy`."""
        with self._lock:
            self._models[model] = (policy, tuple(targets))

    def watched(self) -> list[str]:
        with self._lock:
            return list(self._targets)

    def _target(self, key: str) -> _Target:
        t = self._targets.get(key)
        if t is None:
            t = self._targets[key] = _Target(key, since=self.clock.wall())
        return t

    # -- evidence in ------------------------------------------------------------------------------------
    def probe_verdict(
        self,
        target: str,
        suite: str,
        probe_id: str,
        passed: bool | None,
        detail: str = "",
        *,
        battery: bool = False,
    ) -> list[QualityEvent]:
        """One probe's verdict (`passed` None: no verdict, the attempt failed). Returns what was
        concluded (transitions, a battery's decision)."""
        events: list[QualityEvent] = []
        with self._lock:
            t = self._targets.get(target)
            if t is None or suite not in t.suites:
                return events
            result = "no_verdict" if passed is None else ("passed" if passed else "failed")
            t.counts[result] += 1
            key = (target, suite, result)
            self.counters[key] = self.counters.get(key, 0) + 1
            if passed is None:
                return events
            now = self.clock.now()
            if not passed:
                t.failed.append(
                    {"suite": suite, "probe": probe_id, "detail": detail, "at": self.clock.wall()}
                )
            rec = t.suites[suite]
            self.cusum.observe(rec, now, failed=not passed, probe_id=probe_id)
            b = t.battery
            if battery and b is not None and b.suite == suite:
                decision = self.sprt.observe(b.record, now, failed=not passed, probe_id=probe_id)
                if decision is not SprtDecision.CONTINUE:
                    events.append(self._battery_done(t, b, decision))
            self._settle(t, "suite:" + suite, events)
        self._emit(events)
        return events

    def _battery_done(self, t: _Target, b: _Battery, decision: SprtDecision) -> QualityEvent:
        t.battery = None
        ev = self.sprt.evidence(b.record)
        t.last_battery = {
            "suite": b.suite,
            "reason": b.reason,
            "decision": decision.value,
            "llr": round(ev.llr, 3),
            "upper": round(ev.upper, 3),
            "lower": round(ev.lower, 3),
            "samples": ev.samples,
            "failures": ev.failures,
            "cap": ev.cap,
            "truncated": ev.truncated,
            "failed_ids": list(ev.failed_ids),
        }
        if decision is SprtDecision.DEGRADED:
            self.cusum.escalate(t.suites[b.suite], self.clock.now())
        return QualityEvent(
            kind="battery",
            target=t.key,
            new=decision.value,
            reason=f"{b.reason}: {ev.failures} of {ev.samples} probes failed"
            + (" (truncated)" if ev.truncated else ""),
            detector="sprt:" + b.suite,
        )

    def identity(self, target: str, identity: Identity) -> list[QualityEvent]:
        """`target` answered as `identity`. A change (not the target's first identity) is an event
        and starts a probe battery for each of its suites that has a baseline."""
        events: list[QualityEvent] = []
        with self._lock:
            change = self.identities.observe(target, identity, self.clock.wall())
            if change is None or change.initial:
                return events
            self.identity_changes[target] = self.identity_changes.get(target, 0) + 1
            events.append(_identity_event(change))
            t = self._targets.get(target)
            if t is not None:
                self._start_battery(t, "model identity changed: " + change.new.describe())
        self._emit(events)
        return events

    def start_battery(self, target: str, reason: str) -> bool:
        """Start a probe battery for `target` (an operator's request); False when none can run."""
        with self._lock:
            t = self._targets.get(target)
            return t is not None and self._start_battery(t, reason)

    def _start_battery(self, t: _Target, reason: str) -> bool:
        for suite, rec in t.suites.items():
            p0, p1 = rec.baseline.p0, rec.baseline.p1
            if p0 is not None and p1 is not None:
                t.battery = _Battery(
                    suite, reason, self.sprt.new_record(p0, p1, self.clock.now()), self.clock.wall()
                )
                return True
        return False

    def reset(self, target: str) -> list[QualityEvent]:
        """Operator action: every detector of `target` healthy again, baselines kept (no effect on
        detectors still warming up)."""
        return self._operate(target, rewarm=False)

    def rewarm(self, target: str) -> list[QualityEvent]:
        """Operator action: forget `target`'s baselines and learn them again (accept a changed model
        as the new normal). Declared baselines stay declared."""
        return self._operate(target, rewarm=True)

    def _operate(self, target: str, *, rewarm: bool) -> list[QualityEvent]:
        events: list[QualityEvent] = []
        with self._lock:
            t = self._targets.get(target)
            if t is None:
                raise KeyError(target)
            now = self.clock.now()
            for rec in t.suites.values():
                if rewarm:
                    self.cusum.rewarm(rec, now, rec.baseline.p0 if rec.baseline.declared else None)
                else:
                    self.cusum.reset(rec, now)
            for signal, orec in t.online.items():
                if isinstance(orec, CusumRecord):
                    (ONLINE_RATE_POLICY.rewarm if rewarm else ONLINE_RATE_POLICY.reset)(orec, now)
                else:
                    policy = online_policy(signal)
                    assert isinstance(policy, PageHinkleyPolicy)
                    (policy.rewarm if rewarm else policy.reset)(orec, now)
            t.battery = None
            self._settle(t, "operator", events)
        self._emit(events)
        return events

    def battery_due(self, target: str) -> tuple[str, str] | None:
        """The suite a battery of `target` is running and why, if one is (the prober runs it now)."""
        with self._lock:
            t = self._targets.get(target)
            return None if t is None or t.battery is None else (t.battery.suite, t.battery.reason)

    def online(
        self,
        target: str,
        rates: Iterable[tuple[OnlineSignal, bool]],
        values: Iterable[tuple[OnlineSignal, float]],
    ) -> list[QualityEvent]:
        """One client answer's online signals."""
        events: list[QualityEvent] = []
        with self._lock:
            t = self._targets.get(target)
            if t is None:
                return events
            now = self.clock.now()
            moved: list[str] = []
            for signal, seen in rates:
                rec = t.online.get(signal)
                if rec is None:
                    rec = t.online[signal] = ONLINE_RATE_POLICY.new_record()
                assert isinstance(rec, CusumRecord)
                before = rec.transitions
                ONLINE_RATE_POLICY.observe(rec, now, failed=seen)
                if rec.transitions != before:
                    moved.append("online:" + signal.value)
            for signal, value in values:
                policy = online_policy(signal)
                assert isinstance(policy, PageHinkleyPolicy)
                srec = t.online.get(signal)
                if srec is None:
                    srec = t.online[signal] = policy.new_record()
                assert isinstance(srec, ShiftRecord)
                before = srec.transitions
                policy.observe(srec, now, value)
                if srec.transitions != before:
                    moved.append("online:" + signal.value)
            for detector in moved:
                self._settle(t, detector, events)
        self._emit(events)
        return events

    # -- state ----------------------------------------------------------------------------------------
    def _settle(self, t: _Target, detector: str, events: list[QualityEvent]) -> None:
        """Recompute `t`'s state after `detector` stepped; a change is an event and new health."""
        state, why, source = self._worst(t)
        if state is t.state and why == t.reason:
            return
        old = t.state
        t.reason, t.detector = why, source
        if state is old:
            return
        t.state, t.since = state, self.clock.wall()
        key = (t.key, state.value)
        self.transitions[key] = self.transitions.get(key, 0) + 1
        events.append(
            QualityEvent(
                kind="transition",
                target=t.key,
                old=old.value,
                new=state.value,
                reason=why,
                detector=source or detector,
            )
        )
        self._publish_health()

    def _worst(self, t: _Target) -> tuple[Health, str, str | None]:
        best: tuple[Health, str, str | None] = (Health.WARMING_UP, "warming up: no baseline yet", None)
        ready = False
        for suite, rec in t.suites.items():
            if rec.state is Health.WARMING_UP:
                if not ready:
                    best = (
                        Health.WARMING_UP,
                        f"warming up: {rec.baseline.seen} of {self.cusum.baseline.warmup} probes"
                        f" of suite {suite!r}",
                        None,
                    )
                continue
            if not ready:
                ready = True
                best = (Health.HEALTHY, "every detector is below its threshold", None)
            if _RANK[rec.state] > _RANK[best[0]]:
                best = (rec.state, self._cusum_reason(suite, rec), "suite:" + suite)
        for signal, orec in t.online.items():
            if signal not in _ROUTING_SIGNALS or orec.state in (Health.WARMING_UP, Health.HEALTHY):
                continue
            if _RANK[orec.state] > _RANK[best[0]]:
                stat = orec.statistic if isinstance(orec, CusumRecord) else max(orec.up, orec.down)
                best = (
                    orec.state,
                    f"online signal {signal.value}: statistic {stat:.2f} above its threshold",
                    "online:" + signal.value,
                )
        return best

    def _cusum_reason(self, suite: str, rec: CusumRecord) -> str:
        c = self.cusum
        level = c.h_crit if rec.state is Health.FAILING else c.h_warn
        ids = ", ".join(rec.failed_ids[-5:])
        return (
            f"suite {suite!r}: CUSUM {rec.statistic:.2f} >= {level:g} after {rec.samples} probes "
            f"({rec.failures} failed; p0 {rec.baseline.p0:.3f}, p1 {rec.baseline.p1:.3f})"
            + (f"; last failed: {ids}" if ids else "")
        )

    def _publish_health(self) -> None:
        health: dict[str, dict[str, TargetHealth]] = {}
        for model, (policy, keys) in self._models.items():
            if policy == "alert":
                continue
            entry: dict[str, TargetHealth] = {}
            for key in keys:
                t = self._targets.get(key)
                if t is None or t.state not in (Health.DEGRADED, Health.FAILING):
                    continue
                entry[key] = TargetHealth(
                    "degraded" if policy == "demote" else "failing", f"quality {t.state.value}: {t.reason}"
                )
            if entry:
                health[model] = entry
        if health != self._health:
            self._health = health
            if self.on_health is not None:
                self.on_health(health)

    def health(self) -> dict[str, dict[str, TargetHealth]]:
        with self._lock:
            return dict(self._health)

    def states(self) -> dict[str, Health]:
        with self._lock:
            return {k: t.state for k, t in self._targets.items()}

    def _emit(self, events: list[QualityEvent]) -> None:
        for event in events:
            _log(event)
            if self.on_event is not None:
                try:
                    self.on_event(event)
                except Exception:  # an observer never breaks detection
                    log.exception("quality event observer failed")

    # -- views ----------------------------------------------------------------------------------------
    def view(self, target: str) -> dict[str, Any] | None:
        """What `/admin/targets` shows of `target`'s quality (None: not watched)."""
        with self._lock:
            t = self._targets.get(target)
            if t is None:
                return None
            c = self.cusum
            detectors: list[dict[str, Any]] = []
            for suite, rec in t.suites.items():
                ev = c.evidence(rec)
                detectors.append(
                    {
                        "detector": "cusum",
                        "suite": suite,
                        "state": ev.state.value,
                        "statistic": round(ev.statistic, 3),
                        "threshold": ev.h_crit if ev.state is Health.FAILING else ev.h_warn,
                        "h_warn": ev.h_warn,
                        "h_crit": ev.h_crit,
                        "samples": ev.samples,
                        "failures": ev.failures,
                        "p0": None if ev.p0 is None else round(ev.p0, 4),
                        "p1": None if ev.p1 is None else round(ev.p1, 4),
                        "baseline_declared": ev.declared,
                        "warmup": {"seen": ev.warmup_seen, "of": ev.warmup},
                        "recovery": {"calm": ev.calm, "window": ev.recover_window, "below": ev.recover_below},
                        "failed_probe_ids": list(ev.failed_ids),
                    }
                )
            for signal, orec in t.online.items():
                if isinstance(orec, CusumRecord):
                    oev = ONLINE_RATE_POLICY.evidence(orec)
                    detectors.append(
                        {
                            "detector": "online_rate",
                            "signal": signal.value,
                            "state": oev.state.value,
                            "statistic": round(oev.statistic, 3),
                            "threshold": oev.h_warn,
                            "samples": oev.samples,
                            "warmup": {"seen": oev.warmup_seen, "of": oev.warmup},
                            "failures": oev.failures,
                            "p0": None if oev.p0 is None else round(oev.p0, 4),
                            "routes": signal in _ROUTING_SIGNALS,
                        }
                    )
                else:
                    policy = online_policy(signal)
                    assert isinstance(policy, PageHinkleyPolicy)
                    sev = policy.evidence(orec)
                    detectors.append(
                        {
                            "detector": "page_hinkley",
                            "signal": signal.value,
                            "state": sev.state.value,
                            "statistic": round(max(sev.up, sev.down), 3),
                            "threshold": sev.threshold,
                            "samples": sev.samples,
                            "routes": signal in _ROUTING_SIGNALS,
                        }
                    )
            battery = None
            if t.battery is not None:
                bev = self.sprt.evidence(t.battery.record)
                battery = {
                    "suite": t.battery.suite,
                    "reason": t.battery.reason,
                    "llr": round(bev.llr, 3),
                    "upper": round(bev.upper, 3),
                    "lower": round(bev.lower, 3),
                    "samples": bev.samples,
                    "failures": bev.failures,
                    "cap": bev.cap,
                }
            return {
                "state": t.state.value,
                "reason": t.reason,
                "detector": t.detector,
                "since": round(t.since, 3),
                "probes": dict(t.counts),
                "detectors": detectors,
                "last_failed_probes": list(t.failed),
                "battery": battery,
                "last_battery": t.last_battery,
            }

    def identity_view(self, target: str) -> dict[str, Any] | None:
        with self._lock:
            return self.identities.view(target)


def _identity_event(change: IdentityChange) -> QualityEvent:
    return QualityEvent(
        kind="identity",
        target=change.target,
        old=None if change.old is None else change.old.describe(),
        new=change.new.describe(),
        reason="changed: " + ", ".join(change.fields_changed()),
        detector="identity",
    )


def _log(event: QualityEvent) -> None:
    if event.kind == "transition":
        level = logging.INFO if event.new in ("healthy", "warming_up") else logging.WARNING
        log.log(level, "quality: %s %s -> %s (%s)", event.target, event.old, event.new, event.reason)
    elif event.kind == "identity":
        log.warning(
            "model identity changed at %s: %s -> %s; probe battery started",
            event.target,
            event.old,
            event.new,
        )
    else:
        log.warning("quality: battery at %s decided %s (%s)", event.target, event.new, event.reason)
