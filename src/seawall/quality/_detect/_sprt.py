"""Wald's sequential probability ratio test, run as a probe battery after a model-identity change.

When a target starts answering as a different model (or a different snapshot, tier or fingerprint),
the scheduler fires the target's probes back to back and feeds the verdicts here. With the
(target, suite) baseline's p0 and p1, each probe adds its log-likelihood ratio to Λ, and

    Λ ≥ A = ln((1 − β)/α)   →  `degraded`  (H1: failure rate p1)
    Λ ≤ B = ln(β/(1 − α))   →  `fine`      (H0: failure rate p0)

α = 0.01 (a good model called degraded), β = 0.05 (a degraded one called fine): A = 4.554,
B = −2.986 (Wald 1945). Wald's approximation of the expected number of probes under each hypothesis
sets a cap (`cap_factor` × the larger); a battery still undecided at the cap decides by the sign of
Λ (degraded if Λ > 0: the likelihood favours p1) and says it was `truncated`. Measured error rates
and sample numbers are in docs/quality-statistics.md.

`SprtPolicy` steps an `SprtRecord` (plain data) for an explicit `now`; `SprtBattery` is the facade.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from seawall._clock import Clock


class SprtDecision(StrEnum):
    CONTINUE = "continue"  # probe again
    FINE = "fine"  # H0 accepted: the failure rate is the baseline's
    DEGRADED = "degraded"  # H1 accepted: the failure rate is p1 or worse


@dataclass(frozen=True, slots=True)
class SprtEvidence:
    """Where a battery stands, for the admin API."""

    decision: SprtDecision
    truncated: bool  # decided at the cap by the sign of the log-likelihood ratio
    llr: float
    upper: float  # A
    lower: float  # B
    samples: int
    failures: int
    cap: int
    p0: float
    p1: float
    started_at: float
    decided_at: float | None
    failed_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class SprtPolicy:
    """Error rates and truncation of a probe battery."""

    alpha: float = 0.01  # P(degraded | the failure rate is p0)
    beta: float = 0.05  # P(fine | the failure rate is p1)
    # Cap = ceil(cap_factor × max(ASN under H0, ASN under H1)), Wald's approximations. For
    # p0 = 0.0375, p1 = 0.1875 (a perfect target's warm-up) the ASNs are 28.3 and 25.5: cap 86.
    cap_factor: float = 3.0
    max_samples: int | None = None  # a fixed cap instead
    evidence_ids: int = 10

    def __post_init__(self) -> None:
        if not (0.0 < self.alpha < 0.5 and 0.0 < self.beta < 0.5):
            raise ValueError(f"alpha and beta must be in (0, 0.5), got {self.alpha!r}, {self.beta!r}")
        if not self.cap_factor >= 1.0:
            raise ValueError(f"cap_factor must be >= 1, got {self.cap_factor!r}")
        if self.max_samples is not None and self.max_samples < 1:
            raise ValueError(f"max_samples must be >= 1, got {self.max_samples}")
        if self.evidence_ids < 0:
            raise ValueError(f"evidence_ids must be >= 0, got {self.evidence_ids}")

    @property
    def upper(self) -> float:
        """A = ln((1 − β)/α): decide `degraded` at Λ ≥ A."""
        return math.log((1.0 - self.beta) / self.alpha)

    @property
    def lower(self) -> float:
        """B = ln(β/(1 − α)): decide `fine` at Λ ≤ B."""
        return math.log(self.beta / (1.0 - self.alpha))

    def expected_samples(self, p0: float, p1: float) -> tuple[float, float]:
        """Wald's approximate average sample numbers (ASN) under H0 and under H1."""
        up, down = _llrs(p0, p1)
        a, b = self.upper, self.lower
        mean0 = p0 * up + (1.0 - p0) * down
        mean1 = p1 * up + (1.0 - p1) * down
        asn0 = ((1.0 - self.alpha) * b + self.alpha * a) / mean0
        asn1 = (self.beta * b + (1.0 - self.beta) * a) / mean1
        return asn0, asn1

    def cap_for(self, p0: float, p1: float) -> int:
        """The most probes a battery for (p0, p1) takes."""
        if self.max_samples is not None:
            return self.max_samples
        return math.ceil(self.cap_factor * max(self.expected_samples(p0, p1)))

    # -- steps: pure functions of (policy, record, now) -----------------------------------------------
    def new_record(self, p0: float, p1: float, now: float) -> SprtRecord:
        """A battery testing failure rate `p0` against `p1`, started at `now`."""
        up, down = _llrs(p0, p1)
        return SprtRecord(p0=p0, p1=p1, llr_fail=up, llr_pass=down, cap=self.cap_for(p0, p1), started_at=now)

    def observe(
        self, r: SprtRecord, now: float, *, failed: bool, probe_id: str | None = None
    ) -> SprtDecision:
        """One probe's verdict; the decision after it (a decided battery ignores further probes)."""
        if r.decision is not SprtDecision.CONTINUE:
            return r.decision
        r.samples += 1
        if failed:
            r.failures += 1
            r.llr += r.llr_fail
            if probe_id is not None and self.evidence_ids:
                r.failed_ids.append(probe_id)
                if len(r.failed_ids) > self.evidence_ids:
                    del r.failed_ids[0]
        else:
            r.llr += r.llr_pass
        if r.llr >= self.upper:
            r.decision = SprtDecision.DEGRADED
        elif r.llr <= self.lower:
            r.decision = SprtDecision.FINE
        elif r.samples >= r.cap:
            r.truncated = True
            r.decision = SprtDecision.DEGRADED if r.llr > 0.0 else SprtDecision.FINE
        if r.decision is not SprtDecision.CONTINUE:
            r.decided_at = now
        return r.decision

    def evidence(self, r: SprtRecord) -> SprtEvidence:
        return SprtEvidence(
            decision=r.decision,
            truncated=r.truncated,
            llr=r.llr,
            upper=self.upper,
            lower=self.lower,
            samples=r.samples,
            failures=r.failures,
            cap=r.cap,
            p0=r.p0,
            p1=r.p1,
            started_at=r.started_at,
            decided_at=r.decided_at,
            failed_ids=tuple(r.failed_ids),
        )


def _llrs(p0: float, p1: float) -> tuple[float, float]:
    if not 0.0 < p0 < p1 < 1.0:
        raise ValueError(f"need 0 < p0 < p1 < 1, got {p0!r}, {p1!r}")
    return math.log(p1 / p0), math.log((1.0 - p1) / (1.0 - p0))


@dataclass(slots=True)
class SprtRecord:
    """One battery: plain data. `started_at` and `decided_at` are `Clock.now` readings."""

    p0: float
    p1: float
    llr_fail: float  # ln(p1/p0)
    llr_pass: float  # ln((1 − p1)/(1 − p0))
    cap: int
    started_at: float
    llr: float = 0.0  # Λ
    samples: int = 0
    failures: int = 0
    decision: SprtDecision = SprtDecision.CONTINUE
    truncated: bool = False
    decided_at: float | None = None
    failed_ids: list[str] = field(default_factory=list)


class SprtBattery:
    """One probe battery: an `SprtPolicy` stepping an `SprtRecord` on a clock.

    Feed every probe's verdict to `record()` until it returns something other than `CONTINUE`
    (at most `cap` probes). `on_decision` (if given) is called once, with the decision.
    """

    __slots__ = ("_clock", "_on_decision", "_policy", "_rec", "key")

    def __init__(
        self,
        key: str,
        clock: Clock,
        p0: float,
        p1: float,
        policy: SprtPolicy | None = None,
        *,
        record: SprtRecord | None = None,
        on_decision: Callable[[SprtDecision], None] | None = None,
    ) -> None:
        self.key = key
        self._clock = clock
        self._policy = policy or SprtPolicy()
        self._rec = record or self._policy.new_record(p0, p1, clock.now())
        self._on_decision = on_decision

    @property
    def policy(self) -> SprtPolicy:
        return self._policy

    @property
    def state_record(self) -> SprtRecord:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    @property
    def decision(self) -> SprtDecision:
        return self._rec.decision

    def evidence(self) -> SprtEvidence:
        return self._policy.evidence(self._rec)

    def record(self, failed: bool, probe_id: str | None = None) -> SprtDecision:
        """One probe's verdict; the decision after it."""
        before = self._rec.decision
        decision = self._policy.observe(self._rec, self._clock.now(), failed=failed, probe_id=probe_id)
        if before is SprtDecision.CONTINUE and decision is not before and self._on_decision is not None:
            self._on_decision(decision)
        return decision
