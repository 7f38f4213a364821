"""Hedging decision: when to send a second copy of a slow request ("The Tail at Scale").

Only the *when*: the engine decides which requests are hedge-safe (short, non-streamed,
idempotent), withdraws each hedge from the target's `RetryBudget`, and cancels the loser. Must not
send, sleep or read a clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from seawall.resilience._latency import LatencyWindow


@dataclass(frozen=True, slots=True)
class HedgePolicy:
    """When to hedge. Off by default: every hedge is paid for in tokens."""

    enabled: bool = False
    # Dean & Barroso, "The Tail at Scale" (CACM 2013): hedge after the p95, costing ~5% extra load.
    quantile: float = 0.95
    # Our choice: at 100 samples the p95 rests on 5 observations above it; fewer is noise.
    min_samples: int = 100
    # Extra copies per request. gRPC hedging example uses up to 4 attempts; tokens make 1 the default.
    max_hedges: int = 1

    def __post_init__(self) -> None:
        if not 0.0 < self.quantile < 1.0:
            raise ValueError(f"quantile must be in (0, 1), got {self.quantile!r}")
        if self.min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {self.min_samples}")
        if self.max_hedges < 0:
            raise ValueError(f"max_hedges must be >= 0, got {self.max_hedges}")

    def hedge_delay(self, latency: LatencyWindow) -> float | None:
        """Seconds after which to send a hedge, or `None`: do not hedge (off, or too few samples)."""
        if not self.enabled or self.max_hedges == 0 or latency.count() < self.min_samples:
            return None
        return latency.quantile(self.quantile)
