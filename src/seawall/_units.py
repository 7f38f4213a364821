"""Human units: durations (`90s`, `15m`, `2h`, `7d`, `1h30m`) and sizes (`500MB`, `2GB`, `1.5GiB`).

Used by config (`traces.retention`) and by the trace filters (`--since 2h`). Each parser raises
`ValueError` with a message that says what was expected; callers add where the value came from.
"""

from __future__ import annotations

import math
import re

_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION_PART = r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)"
_DURATION = re.compile(_DURATION_PART, re.IGNORECASE)
_DURATIONS = re.compile(rf"(?:\s*{_DURATION_PART})+\s*", re.IGNORECASE)
_SIZE_UNITS = {
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}
_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)", re.IGNORECASE)

DURATION_HELP = "a duration like 90s, 15m, 2h, 7d or 1h30m (units ms, s, m, h, d, w)"
SIZE_HELP = "a size like 500MB, 2GB or 1.5GiB (kB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB of 1024)"


def parse_duration(value: str | float) -> float:
    """Seconds, from `15m`, `2h`, `7d`, `1h30m`, `250ms`, or a plain number of seconds (> 0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected {DURATION_HELP}, got {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        text = value.strip()
        if _is_number(text):
            seconds = float(text)
        elif _DURATIONS.fullmatch(text):
            seconds = sum(
                float(number) * _DURATION_UNITS[unit.lower()] for number, unit in _DURATION.findall(text)
            )
        else:
            raise ValueError(f"expected {DURATION_HELP}, got {value!r}")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"expected {DURATION_HELP} greater than zero, got {value!r}")
    return seconds


def parse_size(value: str | float) -> int:
    """Bytes, from `500MB`, `2GB`, `1.5GiB`, `4096` (a plain number is bytes; > 0)."""
    if isinstance(value, bool):
        raise ValueError(f"expected {SIZE_HELP}, got {value!r}")
    if isinstance(value, int | float):
        size = float(value)
    else:
        match = _SIZE.fullmatch(value.strip())
        unit = match.group(2).lower() if match else None
        if match is None or (unit and unit not in _SIZE_UNITS):
            raise ValueError(f"expected {SIZE_HELP}, got {value!r}")
        size = float(match.group(1)) * _SIZE_UNITS[unit or "b"]
    if not math.isfinite(size) or size < 1:
        raise ValueError(f"expected {SIZE_HELP} of at least one byte, got {value!r}")
    return int(size)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


__all__ = ["DURATION_HELP", "SIZE_HELP", "parse_duration", "parse_size"]
