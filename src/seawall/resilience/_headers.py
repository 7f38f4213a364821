"""Reading numbers out of HTTP headers, strictly (shared by deadline and retry parsing).

Must stay forgiving of case and whitespace but strict about numbers: anything that is not a plain
non-negative decimal ("5", "0.25", "600.0") is ignored, never guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

_DECIMAL = re.compile(r"\d+(?:\.\d*)?|\.\d+")


def lowered(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers with lower-case names (HTTP names are case-insensitive)."""
    return {name.lower(): value for name, value in headers.items()}


def decimal(value: str | None) -> float | None:
    """`value` as a non-negative finite number, or `None` for anything else (signs, words, inf)."""
    if value is None:
        return None
    text = value.strip()
    if not _DECIMAL.fullmatch(text):
        return None
    number = float(text)
    return number if number < float("inf") else None
