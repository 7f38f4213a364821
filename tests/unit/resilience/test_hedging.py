from __future__ import annotations

import pytest

from seawall._clock import ManualClock
from seawall.resilience import HedgePolicy, LatencyWindow


def window_with(n: int) -> LatencyWindow:
    window = LatencyWindow(ManualClock())
    for i in range(1, n + 1):
        window.add(i / 100)
    return window


def test_off_by_default() -> None:
    assert HedgePolicy().hedge_delay(window_with(1000)) is None


def test_hedges_after_the_p95_once_there_are_enough_samples() -> None:
    policy = HedgePolicy(enabled=True)
    assert policy.hedge_delay(window_with(99)) is None
    assert policy.hedge_delay(window_with(100)) == 0.95
    assert policy.hedge_delay(window_with(200)) == 1.9


def test_quantile_and_sample_floor_are_configurable() -> None:
    policy = HedgePolicy(enabled=True, quantile=0.5, min_samples=10)
    assert policy.hedge_delay(window_with(10)) == 0.05


def test_zero_hedges_means_never() -> None:
    assert HedgePolicy(enabled=True, max_hedges=0).hedge_delay(window_with(1000)) is None


@pytest.mark.parametrize(("field", "value"), [("quantile", 1.0), ("min_samples", 0), ("max_hedges", -1)])
def test_validation_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        HedgePolicy(**{field: value})  # type: ignore[arg-type]
