"""The regression gate of `seawall canary run`: is this run's pass rate worse than the baseline's?

One-sided Fisher exact test on the 2×2 table (baseline passes, baseline failures, current passes,
current failures): conditional on the margins, the current run's failures are hypergeometric under
"same pass rate", and the p-value is the chance of at least as many. The run is a regression when
p ≤ α (0.05 by default). Exact at any size (no normal approximation), and conservative: at small
counts the actual false-alarm rate is below α.

`probe_breakdown` lists what changed probe by probe. When both runs hold the same probes, its
McNemar exact p-value (discordant pairs only: probes that now fail against probes that now pass)
is a paired alternative; the gate's decision is Fisher's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from seawall.quality._detect._stats import binomial_sf_half, hypergeom_sf


@dataclass(frozen=True, slots=True)
class PassCounts:
    """How many probes passed and failed in one run of a suite (or of all suites)."""

    passed: int
    failed: int

    def __post_init__(self) -> None:
        if self.passed < 0 or self.failed < 0:
            raise ValueError(f"counts must be >= 0, got {self.passed}, {self.failed}")

    @property
    def total(self) -> int:
        return self.passed + self.failed

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.total if self.total else None


def fisher_worse(baseline: PassCounts, current: PassCounts) -> float:
    """One-sided Fisher exact p-value for "the current pass rate is below the baseline's"."""
    population = baseline.total + current.total
    failures = baseline.failed + current.failed
    return hypergeom_sf(current.failed, population, failures, current.total)


@dataclass(frozen=True, slots=True)
class GateResult:
    """The gate's verdict on one run."""

    regressed: bool  # p_value <= alpha: exit non-zero
    p_value: float
    alpha: float
    baseline: PassCounts
    current: PassCounts


@dataclass(frozen=True, slots=True)
class RegressionGate:
    """The one-sided exact test at level `alpha`."""

    alpha: float = 0.05

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha must be in (0, 1), got {self.alpha!r}")

    def judge(self, baseline: PassCounts, current: PassCounts) -> GateResult:
        """Whether `current` is significantly worse than `baseline`. An empty run never is."""
        p = fisher_worse(baseline, current) if baseline.total and current.total else 1.0
        return GateResult(p <= self.alpha, p, self.alpha, baseline, current)


@dataclass(frozen=True, slots=True)
class ProbeBreakdown:
    """Probe-by-probe differences between a baseline run and the current one (ids sorted)."""

    regressed: tuple[str, ...]  # passed in the baseline, fail now
    fixed: tuple[str, ...]  # failed in the baseline, pass now
    still_failing: tuple[str, ...]
    added: tuple[str, ...]  # only in the current run
    removed: tuple[str, ...]  # only in the baseline
    mcnemar_p: float  # one-sided exact McNemar p-value: P(Bin(r + f, 1/2) >= r)


def probe_breakdown(baseline: Mapping[str, bool], current: Mapping[str, bool]) -> ProbeBreakdown:
    """Compare two runs given as probe id → passed."""
    both = baseline.keys() & current.keys()
    regressed = sorted(p for p in both if baseline[p] and not current[p])
    fixed = sorted(p for p in both if not baseline[p] and current[p])
    return ProbeBreakdown(
        regressed=tuple(regressed),
        fixed=tuple(fixed),
        still_failing=tuple(sorted(p for p in both if not baseline[p] and not current[p])),
        added=tuple(sorted(current.keys() - baseline.keys())),
        removed=tuple(sorted(baseline.keys() - current.keys())),
        mcnemar_p=binomial_sf_half(len(regressed), len(regressed) + len(fixed)),
    )
