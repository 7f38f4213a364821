"""Page–Hinkley test for shifts in a continuous online signal (latency, TTFT, output length).

A warm-up of `warmup` observations fixes a robust baseline on the transformed values t (log1p by
default: latencies and token counts are skewed and shift multiplicatively): center c = median,
scale s = 1.4826·MAD. Each later value becomes a bounded, standardised score

    z = clip((t − c)/s, −k, k)        u = (z − m)/σ

where m and σ are the mean and standard deviation of the warm-up's clipped scores, so u has mean 0
and variance 1 under the warm-up's own distribution whatever its tails, and one wild value moves
the statistic by a bounded amount. δ and λ are therefore in standard deviations of u, and the
same defaults serve milliseconds and token counts. With the reference mean frozen at the warm-up,
Page–Hinkley (alarm when m_t − min m ≥ λ, m_t = Σ(u − δ)) is the tabular CUSUM of means:

    U ← max(0, U + u − δ)    (a rise)        D ← max(0, D − u − δ)    (a fall)

alarm at U ≥ λ or D ≥ λ (per `direction`); both are capped at λ, and the detector is healthy again
after `recover_window` consecutive observations with both at or below `recover_below`.

`PageHinkleyPolicy` steps a `ShiftRecord` (plain data; the warm-up buffer holds at most `warmup`
doubles and is emptied once the baseline is fixed) for an explicit `now`; `PageHinkley` is the
facade. Measured delays and false-alarm rates are in docs/quality-statistics.md.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from seawall._clock import Clock
from seawall.quality._detect._health import Health, HealthReason, HealthTransition, after_step
from seawall.quality._detect._stats import mad, median

Direction = Literal["up", "down", "both"]
Shift = Literal["up", "down"]
Transform = Literal["log", "identity"]


@dataclass(frozen=True, slots=True)
class ShiftBaseline:
    """A fixed baseline (learned, or carried over from an earlier record), in transformed units."""

    center: float  # median of the transformed warm-up values
    scale: float  # 1.4826 × their MAD (or a fallback; never 0)
    score_mean: float  # mean of the warm-up's clipped scores
    score_sd: float  # their standard deviation (never 0)


@dataclass(frozen=True, slots=True)
class ShiftEvidence:
    """Why a Page–Hinkley detector says what it says, for the admin API."""

    state: Health
    shift: Shift | None  # the direction of the latest alarm, while alarmed
    up: float  # U
    down: float  # D
    threshold: float  # λ
    delta: float  # δ
    recover_below: float
    calm: int
    recover_window: int
    samples: int  # observations judged since the baseline was fixed
    ignored: int  # values that could not be judged (non-finite; negative under "log")
    warmup_seen: int
    warmup: int
    baseline: ShiftBaseline | None
    typical: float | None  # the baseline's center in the signal's own units (ms, tokens)
    last_value: float | None


@dataclass(frozen=True, slots=True)
class PageHinkleyPolicy:
    """Tuning for `PageHinkley`. See `online_policy` for each online signal's defaults."""

    # Observations before the baseline is fixed; its median is then within ~0.06σ (one standard
    # error), its MAD within ~5%. An error in the center eats into δ, and ARL0 falls fast with it.
    warmup: int = 500
    transform: Transform = "log"
    clip: float = 3.0  # k: scores are clipped to ±k robust standard deviations
    # δ: half the shift (in σ of u) found fastest; λ: the threshold. Measured: a 1σ shift is found
    # in ≈ 37 observations, 2σ in ≈ 13; no false alarm in 120 runs of 100,000 observations
    # (Gaussian, skewed and heavy-tailed; docs/quality-statistics.md).
    delta: float = 0.5
    threshold: float = 18.0
    direction: Direction = "both"
    # Healthy again after 50 observations in a row with U and D ≤ λ/2 (≈ 68 after a shift ends).
    recover_below: float = 9.0
    recover_window: int = 50
    # The least scale (transformed units: 0.001 is 0.1% under "log") when the warm-up's values
    # barely vary.
    min_scale: float = 1e-3

    def __post_init__(self) -> None:
        if self.warmup < 2:
            raise ValueError(f"warmup must be >= 2, got {self.warmup}")
        if self.transform not in ("log", "identity"):
            raise ValueError(f"transform must be 'log' or 'identity', got {self.transform!r}")
        if self.direction not in ("up", "down", "both"):
            raise ValueError(f"direction must be 'up', 'down' or 'both', got {self.direction!r}")
        if not 0.0 < self.clip < math.inf:
            raise ValueError(f"clip must be > 0, got {self.clip!r}")
        if not 0.0 <= self.delta < math.inf:
            raise ValueError(f"delta must be >= 0, got {self.delta!r}")
        if not 0.0 < self.recover_below < self.threshold < math.inf:
            raise ValueError("need 0 < recover_below < threshold < inf")
        if self.recover_window < 1:
            raise ValueError(f"recover_window must be >= 1, got {self.recover_window}")
        if not self.min_scale > 0.0:
            raise ValueError(f"min_scale must be > 0, got {self.min_scale!r}")

    def baseline_from(self, values: list[float] | array[float]) -> ShiftBaseline:
        """The baseline of transformed warm-up `values`."""
        center = median(values)
        scale = 1.4826 * mad(values, center)
        if scale <= 0.0:  # over half the values equal: the mean absolute deviation instead
            scale = 1.2533 * math.fsum(abs(v - center) for v in values) / len(values)
        scale = max(scale, self.min_scale)
        scores = [self._score(v, center, scale) for v in values]
        mean = math.fsum(scores) / len(scores)
        sd = math.sqrt(math.fsum((z - mean) ** 2 for z in scores) / (len(scores) - 1))
        return ShiftBaseline(center, scale, mean, sd if sd > 1e-9 else 1.0)

    # -- steps: pure functions of (policy, record, now) -----------------------------------------------
    def new_record(self, baseline: ShiftBaseline | None = None) -> ShiftRecord:
        """A detector that warms up first or, with `baseline`, starts healthy on it."""
        r = ShiftRecord()
        if baseline is not None:
            _fix(r, baseline)
            r.declared = True
            r.state = r.last_from = Health.HEALTHY
        return r

    def observe(self, r: ShiftRecord, now: float, value: float) -> None:
        """One observation of the signal (in its own units: ms, tokens, ...)."""
        if not math.isfinite(value) or (self.transform == "log" and value < 0.0):
            r.ignored += 1
            return
        r.last_value = value
        t = math.log1p(value) if self.transform == "log" else value
        if r.state is Health.WARMING_UP:
            r.warm.append(t)
            if len(r.warm) >= self.warmup:
                _fix(r, self.baseline_from(r.warm))
                r.warm = array("d")
                _transition(r, now, Health.HEALTHY, "baseline_ready")
            return
        r.samples += 1
        u = (self._score(t, r.center, r.scale) - r.score_mean) / r.score_sd
        lam = self.threshold
        up = down = 0.0
        if self.direction != "down":
            up = r.up + u - self.delta
            up = 0.0 if up < 0.0 else up
        if self.direction != "up":
            down = r.down - u - self.delta
            down = 0.0 if down < 0.0 else down
        r.up, r.down = min(up, lam), min(down, lam)
        if up >= lam or down >= lam:
            r.calm = 0
            r.shift = "up" if up >= down else "down"
            if r.state is Health.HEALTHY:
                _transition(r, now, Health.DEGRADED, "warn")
        elif r.state is Health.DEGRADED:
            r.calm = r.calm + 1 if max(up, down) <= self.recover_below else 0
            if r.calm >= self.recover_window:
                r.calm = 0
                r.shift = None
                _transition(r, now, Health.HEALTHY, "recovered")

    def baseline_of(self, r: ShiftRecord) -> ShiftBaseline | None:
        """The record's fixed baseline (to keep and pass to `new_record` later), if any."""
        if r.state is Health.WARMING_UP:
            return None
        return ShiftBaseline(r.center, r.scale, r.score_mean, r.score_sd)

    def reset(self, r: ShiftRecord, now: float) -> None:
        """Operator action: healthy, statistics 0, the baseline kept (no effect while warming up)."""
        if r.state is Health.WARMING_UP:
            return
        r.up = r.down = 0.0
        r.calm, r.shift = 0, None
        if r.state is not Health.HEALTHY:
            _transition(r, now, Health.HEALTHY, "reset")

    def rewarm(self, r: ShiftRecord, now: float) -> None:
        """Operator action: forget the baseline and learn it again."""
        r.warm = array("d")
        r.up = r.down = 0.0
        r.calm, r.samples, r.shift, r.declared = 0, 0, None, False
        if r.state is not Health.WARMING_UP:
            _transition(r, now, Health.WARMING_UP, "rewarm")

    def evidence(self, r: ShiftRecord) -> ShiftEvidence:
        baseline = self.baseline_of(r)
        typical, seen = None, len(r.warm)
        if baseline is not None:
            typical = math.expm1(baseline.center) if self.transform == "log" else baseline.center
            seen = 0 if r.declared else self.warmup
        return ShiftEvidence(
            state=r.state,
            shift=r.shift,
            up=r.up,
            down=r.down,
            threshold=self.threshold,
            delta=self.delta,
            recover_below=self.recover_below,
            calm=r.calm,
            recover_window=self.recover_window,
            samples=r.samples,
            ignored=r.ignored,
            warmup_seen=seen,
            warmup=self.warmup,
            baseline=baseline,
            typical=typical,
            last_value=r.last_value,
        )

    def _score(self, t: float, center: float, scale: float) -> float:
        z = (t - center) / scale
        k = self.clip
        return k if z > k else -k if z < -k else z


@dataclass(slots=True)
class ShiftRecord:
    """One Page–Hinkley detector's state: plain data a state backend can store, copy or ship."""

    warm: array[float] = field(default_factory=lambda: array("d"))  # transformed warm-up values
    center: float = 0.0
    scale: float = 1.0
    score_mean: float = 0.0
    score_sd: float = 1.0
    declared: bool = False
    up: float = 0.0  # U
    down: float = 0.0  # D
    state: Health = Health.WARMING_UP
    shift: Shift | None = None  # while alarmed
    samples: int = 0
    ignored: int = 0
    calm: int = 0
    last_value: float | None = None
    transitions: int = 0
    last_from: Health = Health.WARMING_UP
    last_reason: HealthReason | None = None
    last_at: float = 0.0


def _fix(r: ShiftRecord, b: ShiftBaseline) -> None:
    r.center, r.scale, r.score_mean, r.score_sd = b.center, b.scale, b.score_mean, b.score_sd


def _transition(r: ShiftRecord, now: float, new: Health, reason: HealthReason) -> None:
    r.last_from, r.last_reason, r.last_at = r.state, reason, now
    r.transitions += 1
    r.state = new


class PageHinkley:
    """One (target, signal)'s shift detector: a `PageHinkleyPolicy` stepping a `ShiftRecord`.

    Call `record(value)` for every observation (non-finite values, and negative ones under "log",
    are counted and ignored). Observers are called synchronously after the state has changed;
    `on_change` after every step. Pass `baseline` to skip the warm-up, or `record` to step an
    existing record.
    """

    __slots__ = ("_clock", "_on_change", "_on_transition", "_policy", "_rec", "key")

    def __init__(
        self,
        key: str,
        clock: Clock,
        policy: PageHinkleyPolicy | None = None,
        *,
        baseline: ShiftBaseline | None = None,
        record: ShiftRecord | None = None,
        on_transition: Callable[[HealthTransition], None] | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self.key = key
        self._clock = clock
        self._policy = policy or PageHinkleyPolicy()
        self._rec = record or self._policy.new_record(baseline)
        self._on_transition = on_transition
        self._on_change = on_change

    @property
    def policy(self) -> PageHinkleyPolicy:
        return self._policy

    @property
    def state_record(self) -> ShiftRecord:
        """The record this facade steps (the live object, not a copy)."""
        return self._rec

    @property
    def state(self) -> Health:
        return self._rec.state

    def evidence(self) -> ShiftEvidence:
        return self._policy.evidence(self._rec)

    def record(self, value: float) -> Health:
        """One observation; the state after it."""
        seen = self._rec.transitions
        self._policy.observe(self._rec, self._clock.now(), value)
        self._done(seen)
        return self._rec.state

    def reset(self) -> None:
        """Operator action: healthy, statistics 0, baseline kept."""
        seen = self._rec.transitions
        self._policy.reset(self._rec, self._clock.now())
        self._done(seen)

    def rewarm(self) -> None:
        """Operator action: learn the baseline again."""
        seen = self._rec.transitions
        self._policy.rewarm(self._rec, self._clock.now())
        self._done(seen)

    def _done(self, seen: int) -> None:
        r = self._rec
        after_step(
            self.key, r, seen, max(r.up, r.down), on_change=self._on_change, on_transition=self._on_transition
        )
