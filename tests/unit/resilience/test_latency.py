from __future__ import annotations

import math
import random

import pytest

from seawall._clock import ManualClock
from seawall.resilience import LatencyWindow, TargetStats


def test_empty_window_has_no_quantiles() -> None:
    window = LatencyWindow(ManualClock())
    assert (window.count(), window.quantile(0.5)) == (0, None)


def test_nearest_rank_quantiles() -> None:
    window = LatencyWindow(ManualClock())
    samples = list(range(1, 101))
    random.Random(7).shuffle(samples)
    for s in samples:
        window.add(float(s))
    assert [window.quantile(q) for q in (0.01, 0.5, 0.95, 0.99, 1.0)] == [1.0, 50.0, 95.0, 99.0, 100.0]


def test_keeps_only_the_latest_max_samples() -> None:
    window = LatencyWindow(ManualClock(), max_samples=4)
    for s in (100.0, 1.0, 2.0, 3.0, 4.0):
        window.add(s)
    assert window.count() == 4
    assert window.quantile(1.0) == 4.0


def test_samples_age_out() -> None:
    clock = ManualClock()
    window = LatencyWindow(clock, max_age_s=60.0)
    window.add(9.0)
    clock.advance(30.0)
    window.add(1.0)
    assert window.quantile(1.0) == 9.0
    clock.advance(30.5)
    assert (window.count(), window.quantile(1.0)) == (1, 1.0)
    clock.advance(30.0)
    assert (window.count(), window.quantile(0.5)) == (0, None)


def test_cached_quantiles_follow_new_samples() -> None:
    window = LatencyWindow(ManualClock())
    window.add(1.0)
    assert window.quantile(0.99) == 1.0
    window.add(5.0)
    assert window.quantile(0.99) == 5.0


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan])
def test_invalid_samples_are_ignored(bad: float) -> None:
    window = LatencyWindow(ManualClock())
    window.add(bad)
    assert window.count() == 0


@pytest.mark.parametrize("q", [0.0, 1.5])
def test_quantile_must_be_in_range(q: float) -> None:
    with pytest.raises(ValueError, match="q must be"):
        LatencyWindow(ManualClock()).quantile(q)


def test_constructor_validation() -> None:
    with pytest.raises(ValueError, match="max_samples"):
        LatencyWindow(ManualClock(), max_samples=0)
    with pytest.raises(ValueError, match="max_age_s"):
        LatencyWindow(ManualClock(), max_age_s=0.0)
    with pytest.raises(ValueError, match="window_s"):
        TargetStats(ManualClock(), window_s=0.0)


def test_target_stats_snapshot() -> None:
    clock = ManualClock()
    stats = TargetStats(clock, window_s=60.0)
    for i in range(1, 21):
        stats.record(ok=True, duration_s=float(i), ttft_s=i / 10)
    for _ in range(5):
        stats.record(ok=False, duration_s=999.0)  # failures do not distort latency
    snap = stats.snapshot()
    assert (snap.requests, snap.errors, snap.error_rate) == (25, 5, 0.2)
    assert (snap.duration_p50, snap.duration_p95, snap.duration_p99) == (10.0, 19.0, 20.0)
    assert (snap.ttft_p50, snap.ttft_p95, snap.ttft_p99) == (1.0, 1.9, 2.0)


def test_target_stats_forget_after_the_window() -> None:
    clock = ManualClock()
    stats = TargetStats(clock, window_s=60.0)
    stats.record(ok=False)
    stats.record(ok=True, duration_s=1.0, ttft_s=0.1)
    clock.advance(61.0)
    snap = stats.snapshot()
    assert (snap.requests, snap.error_rate, snap.duration_p50, snap.ttft_p99) == (0, 0.0, None, None)
