"""A baseline failure rate p0 per (target, suite), and the rate p1 the detectors test it against.

Learned from the first `warmup` probes (or declared), as an upper Jeffreys bound rather than the raw
ratio: a CUSUM tuned to p0 false-alarms within days when the true rate is above p0, and 0 failures in
50 probes does not show a rate below 2%. Floored, so a perfect target still has a usable p0 (the
log-likelihood ratio of a failure, ln(p1/p0), is infinite at p0 = 0), and capped, so p1 stays below 1.
`BaselinePolicy` steps a `BaselineRecord`; pure, no clock (the warm-up counts probes, not seconds).
"""

from __future__ import annotations

from dataclasses import dataclass

from seawall.quality._detect._stats import jeffreys_upper


@dataclass(frozen=True, slots=True)
class BaselinePolicy:
    """How p0 is learned and how p1 follows from it."""

    # Probes before p0 is fixed. At 30 s a probe, 25 minutes. A target failing 5% of the time passes
    # all 50 in 8% of warm-ups; with p0 = the observed rate (floored at 0.02) the CUSUM would then
    # alarm after ~3,400 probes. Learning the upper bound below, under 1% of stable targets alarm
    # within 5,000 probes, against 22% with the observed rate (docs/quality-statistics.md).
    warmup: int = 50
    # p0 = the `bound`-quantile of the Jeffreys posterior Beta(f + 1/2, n - f + 1/2): 0 failures in
    # 50 → 0.0375; 1 → 0.076; 5 → 0.186. 0.5 gives about the observed rate.
    bound: float = 0.95
    # The least p0 (declared or learned). A perfect target still gets a finite ln(p1/p0).
    floor: float = 0.02
    # A suite failing more often than this is not a usable canary; p0 is capped here.
    p0_max: float = 0.5
    # p1 = min(p1_max, max(p0 + shift, p0 × ratio)): the failure rate the tests are tuned to find.
    # From the warm-up's p0 of a perfect target (0.0375) p1 = 0.1875; from the floor, 0.17.
    shift: float = 0.15
    ratio: float = 2.0
    p1_max: float = 0.95

    def __post_init__(self) -> None:
        if self.warmup < 1:
            raise ValueError(f"warmup must be >= 1, got {self.warmup}")
        if not 0.5 <= self.bound < 1.0:
            raise ValueError(f"bound must be in [0.5, 1), got {self.bound!r}")
        if not 0.0 < self.floor <= self.p0_max < self.p1_max < 1.0:
            raise ValueError("need 0 < floor <= p0_max < p1_max < 1")
        if not 0.0 < self.shift < 1.0:
            raise ValueError(f"shift must be in (0, 1), got {self.shift!r}")
        if not self.ratio >= 1.0:
            raise ValueError(f"ratio must be >= 1, got {self.ratio!r}")

    def p0_from(self, failures: int, probes: int) -> float:
        """The baseline for `failures` in `probes` warm-up probes (floored and capped)."""
        return self._clamp(jeffreys_upper(failures, probes, self.bound))

    def p1_for(self, p0: float) -> float:
        """The alternative the detectors test p0 against."""
        return min(self.p1_max, max(p0 + self.shift, p0 * self.ratio))

    # -- steps: pure functions of (policy, record) ---------------------------------------------------
    def new_record(self, p0: float | None = None) -> BaselineRecord:
        """A warm-up to run, or, with `p0`, a declared baseline (floored and capped) ready at once."""
        if p0 is None:
            return BaselineRecord()
        if not 0.0 <= p0 <= 1.0:
            raise ValueError(f"p0 must be in [0, 1], got {p0!r}")
        value = self._clamp(p0)
        return BaselineRecord(p0=value, p1=self.p1_for(value), declared=True)

    def observe(self, r: BaselineRecord, *, failed: bool) -> bool:
        """Count one warm-up probe; `True` when this one completed the warm-up (p0, p1 now set).
        A ready baseline ignores further probes."""
        if r.p0 is not None:
            return False
        r.seen += 1
        r.failures += failed
        if r.seen < self.warmup:
            return False
        r.p0 = self.p0_from(r.failures, r.seen)
        r.p1 = self.p1_for(r.p0)
        return True

    def _clamp(self, p0: float) -> float:
        return min(self.p0_max, max(self.floor, p0))


@dataclass(slots=True)
class BaselineRecord:
    """A baseline being learned (`p0 is None`) or fixed. Plain data."""

    seen: int = 0  # warm-up probes counted
    failures: int = 0  # of which failed
    p0: float | None = None
    p1: float | None = None
    declared: bool = False  # p0 was given, not learned
