"""Run-length simulation of the Bernoulli CUSUM: how many probes until the first alarm.

For tests and benchmarks (benchmarks/detector_run_lengths.py). Between two failures the statistic
only falls, so the first alarm can only come on a failure, and simulating the gaps between
failures (geometric) instead of every probe gives the same run-length distribution at p times the
cost: ARL0 ≈ 3×10⁶ probes at p = 0.04 is ~10⁵ steps. `first_alarm` walks those gaps exactly as
`BernoulliCusumPolicy.observe` walks the probes (the tests check this on shared sequences).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass


def failure_gaps(p: float, rng: random.Random) -> Iterator[int]:
    """Passed probes before each failure, for probes failing independently with probability `p`."""
    if not 0.0 < p <= 1.0:
        raise ValueError(f"p must be in (0, 1], got {p!r}")
    if p == 1.0:
        while True:
            yield 0
    log_q = math.log1p(-p)
    while True:
        yield int(math.log(1.0 - rng.random()) / log_q)


def first_alarm(
    gaps: Iterable[int], llr_fail: float, llr_pass: float, *, h: float, limit: int, start: float = 0.0
) -> int | None:
    """The probe (1-based) at which W ← max(0, W + llr) first reaches `h`, or `None` if not within
    `limit` probes. `gaps[i]` passed probes come before the i-th failure."""
    w, t = start, 0
    for gap in gaps:
        if t + gap + 1 > limit:
            return None
        if gap:
            w += gap * llr_pass
            w = 0.0 if w < 0.0 else w
        t += gap + 1
        w += llr_fail
        if w >= h:
            return t
    return None


def outcomes(gaps: Sequence[int]) -> list[bool]:
    """The probe verdicts (True = failed) that `gaps` describe."""
    out: list[bool] = []
    for gap in gaps:
        out.extend([False] * gap)
        out.append(True)
    return out


@dataclass(frozen=True, slots=True)
class RunLengthSummary:
    """Run lengths of `runs` simulations; `censored` of them did not alarm within the limit."""

    runs: int
    censored: int
    mean: float  # of the uncensored run lengths (a lower bound of the ARL when censored > 0)
    median: float
    p95: float
    p99: float
    max: int

    @classmethod
    def of(cls, lengths: Sequence[int | None]) -> RunLengthSummary:
        done = sorted(x for x in lengths if x is not None)
        if not done:
            return cls(len(lengths), len(lengths), math.nan, math.nan, math.nan, math.nan, 0)

        def q(f: float) -> float:
            return float(done[min(len(done) - 1, math.ceil(f * len(done)) - 1)])

        return cls(
            len(lengths), len(lengths) - len(done), sum(done) / len(done), q(0.5), q(0.95), q(0.99), done[-1]
        )
