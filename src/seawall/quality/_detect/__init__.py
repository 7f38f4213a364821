"""Detectors of silent degradation: pure statistics on probe verdicts and online signals.

* `BaselinePolicy`: a failure-rate baseline p0 per (target, suite), learned in a warm-up (an upper
  Jeffreys bound, floored) or declared, and the alternative p1 the tests look for;
* `BernoulliCusumPolicy` / `BernoulliCusum`: canary probes, continuously; healthy → degraded →
  failing on two thresholds, healthy again only after a window of calm (`ONLINE_RATE_POLICY` for the
  online rate signals);
* `SprtPolicy` / `SprtBattery`: Wald's SPRT, a probe battery after a model-identity change;
* `PageHinkleyPolicy` / `PageHinkley`: shifts in latency, TTFT and output length, robustly scaled;
* `RegressionGate`, `fisher_worse`, `probe_breakdown`: `seawall canary run`'s gate against a saved
  baseline (one-sided Fisher exact test);
* `_runlength`: run-length simulation for tests and benchmarks.

Like `seawall.resilience`: each detector is a frozen policy, a plain record (numbers, enums,
strings, lists and arrays only, O(1) memory) and pure steps on an explicit `now`, with a facade that
binds a clock and observers. Formulas, defaults and measured run lengths: docs/quality-statistics.md.
"""

from seawall.quality._detect._baseline import BaselinePolicy, BaselineRecord
from seawall.quality._detect._cusum import (
    ONLINE_RATE_POLICY,
    BernoulliCusum,
    BernoulliCusumPolicy,
    CusumEvidence,
    CusumRecord,
)
from seawall.quality._detect._gate import (
    GateResult,
    PassCounts,
    ProbeBreakdown,
    RegressionGate,
    fisher_worse,
    probe_breakdown,
)
from seawall.quality._detect._health import Health, HealthReason, HealthTransition
from seawall.quality._detect._hinkley import (
    PageHinkley,
    PageHinkleyPolicy,
    ShiftBaseline,
    ShiftEvidence,
    ShiftRecord,
)
from seawall.quality._detect._online import RATE_SIGNALS, OnlineSignal, online_policy
from seawall.quality._detect._sprt import SprtBattery, SprtDecision, SprtEvidence, SprtPolicy, SprtRecord

__all__ = [
    "ONLINE_RATE_POLICY",
    "RATE_SIGNALS",
    "BaselinePolicy",
    "BaselineRecord",
    "BernoulliCusum",
    "BernoulliCusumPolicy",
    "CusumEvidence",
    "CusumRecord",
    "GateResult",
    "Health",
    "HealthReason",
    "HealthTransition",
    "OnlineSignal",
    "PageHinkley",
    "PageHinkleyPolicy",
    "PassCounts",
    "ProbeBreakdown",
    "RegressionGate",
    "ShiftBaseline",
    "ShiftEvidence",
    "ShiftRecord",
    "SprtBattery",
    "SprtDecision",
    "SprtEvidence",
    "SprtPolicy",
    "SprtRecord",
    "fisher_worse",
    "online_policy",
    "probe_breakdown",
]
