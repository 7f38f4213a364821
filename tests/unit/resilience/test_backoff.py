from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.errors import ErrorClass
from seawall.resilience import RetryPolicy, parse_retry_after

from ._fakes import FixedRandom

POLICY = RetryPolicy()


def test_defaults() -> None:
    assert (POLICY.max_attempts, POLICY.base_delay_s, POLICY.throttle_base_delay_s) == (3, 0.5, 1.0)
    assert (POLICY.max_delay_s, POLICY.max_retry_after_s) == (8.0, 60.0)


def test_backoff_sequence_with_rng_at_its_maximum() -> None:
    # botocore's test: with random() stubbed to 1 the sequence is exactly the caps.
    rng = FixedRandom(1.0)
    transient = [POLICY.backoff(n, throttled=False, rng=rng) for n in range(7)]
    throttled = [POLICY.backoff(n, throttled=True, rng=rng) for n in range(6)]
    assert transient == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert throttled == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]


def test_backoff_with_rng_at_zero_is_zero() -> None:
    assert POLICY.backoff(3, throttled=False, rng=FixedRandom(0.0)) == 0.0


@given(n=st.integers(min_value=0, max_value=2000), throttled=st.booleans(), seed=st.integers())
def test_every_backoff_sample_lies_in_zero_to_cap_n(n: int, throttled: bool, seed: int) -> None:
    cap_n = POLICY.backoff_cap(n, throttled=throttled)
    assert cap_n == min(8.0, (1.0 if throttled else 0.5) * 2.0 ** min(n, 64))
    assert 0.0 <= POLICY.backoff(n, throttled=throttled, rng=random.Random(seed)) <= cap_n


def test_backoff_is_roughly_uniform() -> None:
    # botocore: a 10,000-sample histogram is uniform within 20%.
    rng = random.Random(42)
    counts = [0] * 10
    for _ in range(10_000):
        counts[min(9, int(POLICY.backoff(4, throttled=False, rng=rng) / 8.0 * 10))] += 1
    assert all(800 <= c <= 1200 for c in counts), counts


def test_negative_attempt_index_is_rejected() -> None:
    with pytest.raises(ValueError, match="attempt_index"):
        POLICY.backoff(-1, throttled=False, rng=random.Random())


def test_delay_for_uses_throttle_base_for_429_only() -> None:
    rng = FixedRandom(1.0)
    assert POLICY.delay_for(0, error_class=ErrorClass.RATE_LIMITED, retry_after_s=None, rng=rng) == 1.0
    for cls in (ErrorClass.OVERLOADED, ErrorClass.SERVER_ERROR, ErrorClass.TIMEOUT):
        assert POLICY.delay_for(0, error_class=cls, retry_after_s=None, rng=rng) == 0.5


def test_delay_for_honours_retry_after_never_earlier_and_jittered_up_to_ten_percent() -> None:
    low = POLICY.delay_for(0, error_class=ErrorClass.RATE_LIMITED, retry_after_s=20.0, rng=FixedRandom(0.0))
    high = POLICY.delay_for(0, error_class=ErrorClass.RATE_LIMITED, retry_after_s=20.0, rng=FixedRandom(1.0))
    assert low == 20.0
    assert high == pytest.approx(22.0)
    assert (
        POLICY.delay_for(5, error_class=ErrorClass.SERVER_ERROR, retry_after_s=0.0, rng=FixedRandom(1.0))
        == 0.0
    )


def test_delay_for_refuses_retry_after_beyond_the_clamp() -> None:
    rng = random.Random(0)
    assert POLICY.delay_for(0, error_class=ErrorClass.RATE_LIMITED, retry_after_s=60.0, rng=rng) is not None
    assert POLICY.delay_for(0, error_class=ErrorClass.RATE_LIMITED, retry_after_s=60.5, rng=rng) is None


def test_fits_never_starts_an_attempt_that_cannot_finish() -> None:
    assert POLICY.fits(remaining_s=5.0, delay_s=2.0)  # 2 + 1 <= 5
    assert POLICY.fits(remaining_s=3.0, delay_s=2.0)
    assert not POLICY.fits(remaining_s=2.9, delay_s=2.0)
    assert not POLICY.fits(remaining_s=5.0, delay_s=2.0, min_attempt_s=3.5)
    assert POLICY.fits(remaining_s=float("inf"), delay_s=8.0, min_attempt_s=600)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_attempts", 0),
        ("base_delay_s", 0.0),
        ("throttle_base_delay_s", -1.0),
        ("max_delay_s", float("nan")),
        ("max_retry_after_s", -1.0),
        ("retry_after_jitter", 1.5),
        ("min_attempt_s", -0.1),
    ],
)
def test_validation_names_the_field(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=field):
        RetryPolicy(**{field: value})  # type: ignore[arg-type]


NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After-Ms": "250.5"}, 0.2505),
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "2.5"}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after-ms": "100", "retry-after": "30"}, 0.1),  # ms first
        ({"retry-after-ms": "soon", "retry-after": "30"}, 30.0),  # garbage ms falls through
        ({"retry-after": "3600"}, 3600.0),  # unclamped: clamping is RetryPolicy.delay_for's job
        ({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}, 30.0),
        ({"retry-after": format_datetime(datetime(2026, 1, 1, 12, 2, tzinfo=UTC), usegmt=True)}, 120.0),
        ({"retry-after": "Thu, 01 Jan 2026 11:59:00 GMT"}, 0.0),  # in the past: now
        ({}, None),
        ({"retry-after": "-5"}, None),
        ({"retry-after-ms": "-5"}, None),
        ({"retry-after": "soon"}, None),
        ({"retry-after": "inf"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": ""}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers, now_epoch=NOW) == expected


def test_http_dates_need_a_wall_clock_reading() -> None:
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}) is None
    assert parse_retry_after({"retry-after": "12"}) == 12.0
