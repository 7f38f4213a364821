"""Human units: durations and sizes, as config and the trace filters read them."""

from __future__ import annotations

import pytest

from seawall._units import parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90.0),
        ("15m", 900.0),
        ("2h", 7200.0),
        ("7d", 604800.0),
        ("1w", 604800.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("250ms", 0.25),
        ("1.5h", 5400.0),
        ("2H", 7200.0),
        ("60", 60.0),
        (60, 60.0),
        (0.5, 0.5),
    ],
)
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2x", "h", "-5m", "0", "0s", "2 GB", "nan", "inf", "1h-30m", True])
def test_bad_durations_say_what_is_expected(text: str | float) -> None:
    with pytest.raises(ValueError, match="expected a duration like 90s, 15m, 2h, 7d"):
        parse_duration(text)


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("2GB", 2_000_000_000),
        ("500MB", 500_000_000),
        ("1.5GiB", 1_610_612_736),
        ("64 KiB", 65_536),
        ("10kb", 10_000),
        ("4096", 4096),
        ("4096B", 4096),
        (1024, 1024),
    ],
)
def test_sizes(text: str | float, size: int) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["", "GB", "2G", "2 gigabytes", "-1MB", "0", "0.1", "nan", False])
def test_bad_sizes_say_what_is_expected(text: str | float) -> None:
    with pytest.raises(ValueError, match=r"expected a size like 500MB, 2GB or 1\.5GiB"):
        parse_size(text)
