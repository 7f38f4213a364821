from __future__ import annotations

import pytest

from seawall._clock import ManualClock
from seawall.resilience._window import BucketWindow


def test_counts_expire_bucket_by_bucket() -> None:
    clock = ManualClock()
    window = BucketWindow(clock, bucket_s=1.0, buckets=3, fields=2)
    window.add(0)
    clock.advance(1.0)
    window.add(0, 5)
    window.add(1)
    assert window.totals() == (6, 1)
    clock.advance(2.0)  # the first bucket leaves
    assert window.totals() == (5, 1)
    clock.advance(1.0)
    assert window.totals() == (0, 0)


def test_a_long_gap_clears_everything() -> None:
    clock = ManualClock()
    window = BucketWindow(clock, bucket_s=0.5, buckets=4, fields=1)
    window.add(0, 7)
    clock.advance(1_000_000.0)
    assert window.total(0) == 0
    window.add(0)
    assert window.total(0) == 1


def test_clear() -> None:
    window = BucketWindow(ManualClock(), bucket_s=1.0, buckets=2, fields=1)
    window.add(0, 3)
    window.clear()
    assert window.total(0) == 0


def test_validation() -> None:
    with pytest.raises(ValueError, match="bucket_s"):
        BucketWindow(ManualClock(), bucket_s=0.0, buckets=1, fields=1)
