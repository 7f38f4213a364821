from __future__ import annotations

import math

import pytest

from seawall._clock import ManualClock
from seawall.resilience import Deadline, parse_client_timeout


def test_after_counts_down_and_expires() -> None:
    clock = ManualClock()
    deadline = Deadline.after(clock, 2.0)
    assert deadline.remaining() == 2.0
    assert not deadline.expired
    clock.advance(1.5)
    assert deadline.remaining() == pytest.approx(0.5)
    clock.advance(0.5)
    assert deadline.expired
    clock.advance(10)
    assert deadline.remaining() == 0.0  # never negative


def test_never_has_infinite_time() -> None:
    clock = ManualClock()
    deadline = Deadline.never(clock)
    clock.advance(1e9)
    assert deadline.remaining() == math.inf
    assert not deadline.expired


def test_zero_seconds_is_already_expired() -> None:
    assert Deadline.after(ManualClock(), 0.0).expired


@pytest.mark.parametrize("seconds", [-1.0, math.nan])
def test_after_rejects_negative_and_nan(seconds: float) -> None:
    with pytest.raises(ValueError, match="seconds"):
        Deadline.after(ManualClock(), seconds)


def test_earliest_and_min_pick_the_first_to_expire() -> None:
    clock = ManualClock()
    a, b, never = Deadline.after(clock, 5), Deadline.after(clock, 3), Deadline.never(clock)
    assert Deadline.earliest(a, b, never) is b
    assert min(a, never) is a
    assert Deadline.earliest(never) is never
    with pytest.raises(ValueError, match="at least one"):
        Deadline.earliest()


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"x-seawall-timeout-ms": "1500"}, 1.5),
        ({"X-Stainless-Read-Timeout": "600.0"}, 600.0),
        ({"x-stainless-timeout": "30"}, 30.0),
        (
            {"x-seawall-timeout-ms": "90000", "x-stainless-read-timeout": "60", "x-stainless-timeout": "120"},
            60.0,
        ),
        ({"x-seawall-timeout-ms": "250", "x-stainless-timeout": "600"}, 0.25),
        ({"x-seawall-timeout-ms": " 2000 "}, 2.0),
    ],
)
def test_parse_client_timeout_takes_the_shortest(headers: dict[str, str], expected: float | None) -> None:
    assert parse_client_timeout(headers) == expected


@pytest.mark.parametrize("bad", ["-5", "0", "abc", "", "inf", "nan", "1e3", "1_000", "5s", "1" * 400])
def test_parse_client_timeout_ignores_garbage(bad: str) -> None:
    assert parse_client_timeout({"x-seawall-timeout-ms": bad}) is None
    assert parse_client_timeout({"x-seawall-timeout-ms": bad, "x-stainless-timeout": "7"}) == 7.0


def test_only_seawall_header_bounds_a_whole_stream() -> None:
    from seawall.resilience import parse_stream_deadline

    assert parse_stream_deadline({"X-Seawall-Timeout-Ms": "1500"}) == 1.5
    assert parse_stream_deadline({"x-stainless-read-timeout": "600", "x-stainless-timeout": "60"}) is None
    assert parse_stream_deadline({"x-seawall-timeout-ms": "0"}) is None
    assert parse_stream_deadline({"x-seawall-timeout-ms": "-5"}) is None
