"""Bernoulli CUSUM on probe failures, per (target, suite), with two thresholds and slow recovery.

After the baseline's warm-up (`_baseline.py`), each probe adds its log-likelihood ratio of p1
against p0 to a statistic that cannot go below 0 (Page 1954; Reynolds & Stoumbos 1999):

    W ← max(0, W + x·ln(p1/p0) + (1 − x)·ln((1 − p1)/(1 − p0)))      x = 1 for a failed probe

`healthy` → `degraded` at W ≥ `h_warn`, → `failing` at W ≥ `h_crit`; `failing` → `degraded` once W
falls below `h_warn` again. Back to `healthy` only after `recover_window` consecutive probes with
W ≤ `recover_below` (hysteresis: a target hovering near a threshold cannot flap). W is capped at
`h_crit`, so the evidence of a long outage does not pile up and recovery takes a bounded number of
good probes. One statistic with two thresholds rather than two detectors: `failing` means the same
shift seen for longer, or a larger shift seen sooner, and the two alarms can never disagree.

`BernoulliCusumPolicy` steps a `CusumRecord` (plain data: O(1) memory, the last `evidence_ids`
failed probe ids included) for an explicit `now`, which only stamps transitions; `BernoulliCusum`
is the facade that adds a clock and observers. Measured run lengths of the defaults are in
docs/quality-statistics.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from seawall._clock import Clock
from seawall.quality._detect._baseline import BaselinePolicy, BaselineRecord
from seawall.quality._detect._health import Health, HealthReason, HealthTransition, after_step


@dataclass(frozen=True, slots=True)
class CusumEvidence:
    """Why a CUSUM says what it says, for the admin API."""

    state: Health
    statistic: float
    h_warn: float
    h_crit: float
    recover_below: float
    calm: int  # consecutive probes with the statistic at or below `recover_below` (while not healthy)
    recover_window: int
    samples: int  # probes judged since the baseline was ready
    failures: int  # of which failed
    p0: float | None  # None while warming up
    p1: float | None
    declared: bool  # p0 was declared, not learned
    warmup_seen: int
    warmup: int
    failed_ids: tuple[str, ...]  # the latest failed probes' ids, oldest first


@dataclass(frozen=True, slots=True)
class BernoulliCusumPolicy:
    """Tuning for `BernoulliCusum`. Defaults for canary probes; `ONLINE_RATE_POLICY` for traffic."""

    baseline: BaselinePolicy = field(default_factory=BaselinePolicy)
    # From a warm-up of a perfect target (p0 = 0.0375, p1 = 0.1875): ARL0 ≈ 2.9×10⁶ probes at a true
    # rate of p0 (2.7 years at 30 s a probe); a jump to 30% failures is found in 33 probes on
    # average, within 100 in 9,996 of 10,000 runs (at most 107). docs/quality-statistics.md.
    h_warn: float = 12.0
    # 8 more: at 30% failures `failing` comes ≈ 22 probes after `degraded` (ARL 56 against 34); a
    # dead target (every probe failing) is `degraded` after 8 probes and `failing` after 13.
    h_crit: float = 20.0
    # Half of h_warn, held for 20 probes: from the cap (h_crit) a perfect target is `degraded` again
    # after 48 passed probes and healthy after 102 (51 minutes at 30 s a probe).
    recover_below: float = 6.0
    recover_window: int = 20
    # Failed probe ids kept as evidence (the newest ones).
    evidence_ids: int = 10

    def __post_init__(self) -> None:
        if not 0.0 < self.recover_below < self.h_warn <= self.h_crit < math.inf:
            raise ValueError("need 0 < recover_below < h_warn <= h_crit < inf")
        if self.recover_window < 1:
            raise ValueError(f"recover_window must be >= 1, got {self.recover_window}")
        if self.evidence_ids < 0:
            raise ValueError(f"evidence_ids must be >= 0, got {self.evidence_ids}")

    # -- steps: pure functions of (policy, record, now) -----------------------------------------------
    def new_record(self, p0: float | None = None) -> CusumRecord:
        """A detector that warms up first or, with `p0`, starts healthy on a declared baseline."""
        r = CusumRecord(self.baseline.new_record(p0))
        if r.baseline.p0 is not None:
            _arm(r)
            r.state = r.last_from = Health.HEALTHY
        return r

    def observe(self, r: CusumRecord, now: float, *, failed: bool, probe_id: str | None = None) -> None:
        """One probe's verdict (`failed`: the answer was wrong, empty, or an error)."""
        if failed and probe_id is not None and self.evidence_ids:
            ids = r.failed_ids
            ids.append(probe_id)
            if len(ids) > self.evidence_ids:
                del ids[0]
        if r.state is Health.WARMING_UP:
            if self.baseline.observe(r.baseline, failed=failed):
                _arm(r)
                _transition(r, now, Health.HEALTHY, "baseline_ready")
            return
        r.samples += 1
        r.failures += failed
        raw = r.statistic + (r.llr_fail if failed else r.llr_pass)
        raw = 0.0 if raw < 0.0 else raw
        r.statistic = min(raw, self.h_crit)
        state = r.state
        if raw >= self.h_crit:
            r.calm = 0
            if state is not Health.FAILING:
                _transition(r, now, Health.FAILING, "crit")
        elif raw >= self.h_warn:
            r.calm = 0
            if state is Health.HEALTHY:
                _transition(r, now, Health.DEGRADED, "warn")
        elif state is not Health.HEALTHY:
            r.calm = r.calm + 1 if raw <= self.recover_below else 0
            if r.calm >= self.recover_window:
                r.calm = 0
                _transition(r, now, Health.HEALTHY, "recovered")
            elif state is Health.FAILING:
                _transition(r, now, Health.DEGRADED, "eased")

    def escalate(self, r: CusumRecord, now: float) -> None:
        """Mark a ready, healthy detector `degraded` on outside evidence (a probe battery that
        failed after a model change): the statistic is raised to `h_warn`, so the usual recovery
        rule decides when it is healthy again. No effect while warming up or already alarmed."""
        if r.state is Health.HEALTHY:
            r.statistic = max(r.statistic, self.h_warn)
            r.calm = 0
            _transition(r, now, Health.DEGRADED, "escalated")

    def reset(self, r: CusumRecord, now: float) -> None:
        """Operator action: healthy, statistic 0, the baseline kept (no effect while warming up)."""
        if r.state is Health.WARMING_UP:
            return
        r.statistic, r.calm = 0.0, 0
        if r.state is not Health.HEALTHY:
            _transition(r, now, Health.HEALTHY, "reset")

    def rewarm(self, r: CusumRecord, now: float, p0: float | None = None) -> None:
        """Operator action: forget the baseline and learn it again (or take a declared `p0`), e.g.
        when a changed model is accepted as the new normal. Evidence ids are kept."""
        r.baseline = self.baseline.new_record(p0)
        r.statistic, r.calm, r.samples, r.failures = 0.0, 0, 0, 0
        r.llr_fail = r.llr_pass = 0.0
        if r.baseline.p0 is not None:
            _arm(r)
            if r.state is not Health.HEALTHY:
                _transition(r, now, Health.HEALTHY, "rewarm")
        elif r.state is not Health.WARMING_UP:
            _transition(r, now, Health.WARMING_UP, "rewarm")

    def evidence(self, r: CusumRecord) -> CusumEvidence:
        b = r.baseline
        return CusumEvidence(
            state=r.state,
            statistic=r.statistic,
            h_warn=self.h_warn,
            h_crit=self.h_crit,
            recover_below=self.recover_below,
            calm=r.calm,
            recover_window=self.recover_window,
            samples=r.samples,
            failures=r.failures,
            p0=b.p0,
            p1=b.p1,
            declared=b.declared,
            warmup_seen=b.seen,
            warmup=self.baseline.warmup,
            failed_ids=tuple(r.failed_ids),
        )


# Online rate signals (empty answers, finish_reason=length, refusals, invalid JSON, invalid tool
# arguments), one detector per target and signal, fed by client traffic. Traffic is plentiful, so
# the warm-up is longer, the floor lower (these rates are usually well under 1%), and the
# thresholds higher: at 10 requests/s per target, ARL0 ≈ 5×10⁸ requests is 1.6 years, where the
# probe defaults' 3×10⁶ would be 3.5 days. At a stable 0.5% the warm-up learns p0 ≈ 1.2% (p1 ≈ 6%),
# and a rise to 10% is found in ≈ 150 requests.
ONLINE_RATE_POLICY = BernoulliCusumPolicy(
    baseline=BaselinePolicy(warmup=500, floor=0.005, shift=0.05, ratio=2.0),
    h_warn=16.0,
    h_crit=24.0,
    recover_below=8.0,
    recover_window=50,
)


@dataclass(slots=True)
class CusumRecord:
    """One Bernoulli CUSUM's state: plain data a state backend can store, copy or ship.

    `transitions` counts state changes and the `last_*` fields describe the latest one (`last_at` is
    a `Clock.now` reading of the stepping process), so whoever steps the record can tell that and
    why it moved without a callback inside the step.
    """

    baseline: BaselineRecord
    state: Health = Health.WARMING_UP
    statistic: float = 0.0
    llr_fail: float = 0.0  # ln(p1/p0), set once the baseline is ready
    llr_pass: float = 0.0  # ln((1 − p1)/(1 − p0)), negative
    samples: int = 0
    failures: int = 0
    calm: int = 0
    failed_ids: list[str] = field(default_factory=list)
    transitions: int = 0
    last_from: Health = Health.WARMING_UP
    last_reason: HealthReason | None = None
    last_at: float = 0.0


def _arm(r: CusumRecord) -> None:
    p0, p1 = r.baseline.p0, r.baseline.p1
    assert p0 is not None
    assert p1 is not None
    r.llr_fail = math.log(p1 / p0)
    r.llr_pass = math.log((1.0 - p1) / (1.0 - p0))


def _transition(r: CusumRecord, now: float, new: Health, reason: HealthReason) -> None:
    r.last_from, r.last_reason, r.last_at = r.state, reason, now
    r.transitions += 1
    r.state = new


class BernoulliCusum:
    """One (target, suite)'s CUSUM: a `BernoulliCusumPolicy` stepping a `CusumRecord` on a clock.

    Call `record(failed, probe_id)` for every judged probe. Observers are called synchronously after
    the state has changed; `on_change` after every step (a shared state backend publishes it then).
    Pass `p0` to declare the baseline, or `record` to step an existing record.
    """

    __slots__ = ("_clock", "_on_change", "_on_transition", "_policy", "_rec", "key")

    def __init__(
        self,
        key: str,
        clock: Clock,
        policy: BernoulliCusumPolicy | None = None,
        *,
        p0: float | None = None,
        record: CusumRecord | None = None,
        on_transition: Callable[[HealthTransition], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.key = key
        self._clock = clock
        self._policy = policy or BernoulliCusumPolicy()
        self._rec = record or self._policy.new_record(p0)
        self._on_transition = on_transition
        self._on_change = on_change

    @property
    def policy(self) -> BernoulliCusumPolicy:
        return self._policy

    @property
    def state_record(self) -> CusumRecord:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    @property
    def state(self) -> Health:
        return self._rec.state

    def evidence(self) -> CusumEvidence:
        return self._policy.evidence(self._rec)

    def record(self, failed: bool, probe_id: str | None = None) -> Health:
        """One probe's verdict; the state after it."""
        seen = self._rec.transitions
        self._policy.observe(self._rec, self._clock.now(), failed=failed, probe_id=probe_id)
        self._done(seen)
        return self._rec.state

    def escalate(self) -> None:
        """Outside evidence (a failed probe battery): healthy → degraded."""
        seen = self._rec.transitions
        self._policy.escalate(self._rec, self._clock.now())
        self._done(seen)

    def reset(self) -> None:
        """Operator action: healthy, statistic 0, baseline kept."""
        seen = self._rec.transitions
        self._policy.reset(self._rec, self._clock.now())
        self._done(seen)

    def rewarm(self, p0: float | None = None) -> None:
        """Operator action: learn the baseline again (or take a declared `p0`)."""
        seen = self._rec.transitions
        self._policy.rewarm(self._rec, self._clock.now(), p0)
        self._done(seen)

    def _done(self, seen: int) -> None:
        r = self._rec
        after_step(
            self.key, r, seen, r.statistic, on_change=self._on_change, on_transition=self._on_transition
        )
