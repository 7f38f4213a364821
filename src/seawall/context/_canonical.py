"""Canonical JSON and content hashes: one byte string per JSON value, so equal content hashes equal.

The canonical form of a value (what `canonical_json` returns and `content_hash` hashes):

* **Encoding**: UTF-8, no byte order mark, no whitespace between tokens.
* **Objects**: members sorted by key, comparing keys by Unicode code point (which is also the
  order of their UTF-8 bytes). Keys must be strings. A Python dict cannot repeat a key, so
  duplicates never reach this module (a JSON text that repeats one keeps the last, as parsed).
* **Arrays**: elements in their order. Python lists and tuples are both arrays.
* **Strings**: `"` and `\\` escaped as `\\"` and `\\\\`; U+0008, U+0009, U+000A, U+000C, U+000D as
  `\\b \\t \\n \\f \\r`; every other code point below U+0020 as `\\u00xx` (lowercase hex); everything
  else, including `/`, U+007F, U+2028 and all non-ASCII text, written as itself. A lone surrogate
  cannot be written in UTF-8 and is refused.
* **Literals**: `true`, `false`, `null`.
* **Numbers**: a number is a value, not a spelling.
  - An integer (Python `int`: JSON text with no fraction or exponent, as parsed) is written in
    plain decimal, exactly, whatever its size: `-12`, `18446744073709551615`.
  - A float (IEEE-754 binary64) is written as ECMAScript's `Number.prototype.toString` writes it,
    the form RFC 8785 (JCS) uses: the shortest digits that read back as the same float; plain
    notation when the decimal exponent allows (`0.000001`, `123.456`, `100000000000000000000`),
    exponent notation otherwise (`1e-7`, `1.5e+300`, `1e+21`).
  - Hence an integral float below 10^21 is written as an integer: `1.0`, `1e0` and `10E-1` all
    read as `1` and hash like the integer `1` (JavaScript clients cannot tell them apart
    either); `-0.0` is written `0`, like `0`.
  - NaN and ±Infinity are not JSON and are refused.

For every value whose integers lie within ±2^53 and whose object keys are in the Basic
Multilingual Plane this is byte for byte RFC 8785. Beyond that it departs on purpose: integers
stay exact (JCS rounds them through binary64, so two different ids would hash alike), and keys
sort by code point (JCS compares UTF-16 code units; the two orders differ only for keys holding
characters above U+FFFF against U+E000–U+FFFF).

Nesting is limited to `MAX_DEPTH` arrays and objects. Values that cannot be written raise
`UnencodableJSON` (a `ValueError`) naming the JSON path (`documents[3].score`); values of a type
JSON has no form for raise `TypeError`, also naming the path.

orjson does the writing (sorted keys, escaping); this module only rewrites numbers orjson would
spell differently (every float, integers outside 64 bits) as pre-encoded fragments. It does no
I/O and knows nothing of snapshots.
"""

from __future__ import annotations

import hashlib
import math
import re

import orjson

MAX_DEPTH = 128
"""The deepest nesting of arrays and objects a canonical value may have."""

HASH_PREFIX = "sha256:"
_HEX_DIGITS = 64
_INT_MIN, _INT_MAX = -(2**63), 2**64 - 1  # what orjson writes itself
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_LOWER_HEX = re.compile(r"[0-9a-f]*\Z")


class UnencodableJSON(ValueError):
    """Raised when a value has no canonical JSON form (NaN, a lone surrogate, too deep); `path`
    names where, e.g. `documents[3].score` (`""` for the value itself)."""

    def __init__(self, problem: str, path: str) -> None:
        where = f"at {path}" if path else "at the top level"
        super().__init__(f"{problem} {where}")
        self.problem = problem
        self.path = path


def canonical_json(value: object) -> bytes:
    """The canonical JSON form of `value` (see the module docstring)."""
    prepared = _prepare(value, 0)
    try:
        return orjson.dumps(prepared, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:
        _diagnose(value, [])  # raises, naming the path
        raise  # pragma: no cover - _diagnose found nothing: let orjson's own error through


def hash_bytes(canonical: bytes) -> str:
    """The content hash of bytes that already are canonical JSON: `sha256:<64 lowercase hex>`."""
    return HASH_PREFIX + hashlib.sha256(canonical).hexdigest()


def content_hash(value: object) -> str:
    """The content hash of `value`: SHA-256 over its canonical JSON, as `sha256:<64 lowercase hex>`."""
    return hash_bytes(canonical_json(value))


def parse_hash(text: object) -> str:
    """`text` if it is a content hash as `content_hash` writes it, else `ValueError` saying what is wrong.

    Only one spelling is accepted (`sha256:`, then 64 lowercase hex digits, nothing around them),
    so a hash compares equal to itself as a string wherever it is stored.
    """
    if not isinstance(text, str):
        raise ValueError(f"a snapshot hash must be a string, got {_kind(text)}")
    if not text:
        raise ValueError("a snapshot hash must not be empty; expected 'sha256:<64 lowercase hex digits>'")
    if not text.startswith(HASH_PREFIX):
        algorithm, colon, _ = text.partition(":")
        if colon and algorithm.lower() == "sha256":
            raise ValueError(f"a snapshot hash starts with lowercase 'sha256:', got {algorithm + ':'!r}")
        if colon and 0 < len(algorithm) <= 16:
            raise ValueError(
                f"unsupported hash algorithm {algorithm!r}; expected 'sha256:<64 lowercase hex digits>'"
            )
        raise ValueError(f"a snapshot hash starts with 'sha256:', got {_excerpt(text)}")
    digits = text[len(HASH_PREFIX) :]
    if len(digits) != _HEX_DIGITS:
        raise ValueError(f"a snapshot hash has 64 hex digits after 'sha256:', got {len(digits)}")
    if _LOWER_HEX.match(digits) is None:
        at = next(i for i, c in enumerate(digits) if c not in "0123456789abcdef")
        raise ValueError(
            f"a snapshot hash has lowercase hex digits (0-9, a-f) after 'sha256:'; "
            f"found {digits[at]!r} at digit {at + 1}"
        )
    return text


def format_float(x: float) -> str:
    """`x` as canonical JSON writes it (ECMAScript's Number-to-String; `-0.0` is `0`)."""
    if not math.isfinite(x):
        raise ValueError(f"{x!r} is not a JSON number")
    if x == 0:
        return "0"
    # repr() gives the shortest digits that read back as `x` (the nearest of them on a tie), as
    # ECMAScript requires; only the notation is redone here. Value = 0.<digits> × 10^n.
    mantissa, _, exponent = repr(abs(x)).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    n = len(whole) + (int(exponent) if exponent else 0) - (len(whole) + len(fraction) - len(digits))
    digits = digits.rstrip("0")
    k = len(digits)
    if k <= n <= 21:
        text = digits + "0" * (n - k)
    elif 0 < n <= 21:
        text = f"{digits[:n]}.{digits[n:]}"
    elif -6 < n <= 0:
        text = "0." + "0" * -n + digits
    else:
        e = n - 1
        text = f"{digits[0]}{'.' + digits[1:] if k > 1 else ''}e{'+' if e > 0 else '-'}{abs(e)}"
    return "-" + text if x < 0 else text


def format_path(segments: list[str | int]) -> str:
    """A JSON path as error messages and `param` write it: `documents[3].id`, `meta["a b"]`."""
    out: list[str] = []
    for segment in segments:
        if isinstance(segment, int):
            out.append(f"[{segment}]")
        elif _IDENTIFIER.match(segment):
            out.append(f".{segment}" if out else segment)
        else:
            out.append(f"[{orjson.dumps(segment).decode()}]" if _encodable(segment) else f"[{segment!r}]")
    return "".join(out)


# -- internals ---------------------------------------------------------------------------------------


class _Bad(Exception):
    """A problem found while preparing; each level of the walk adds its path segment on the way out."""

    def __init__(self, problem: str, error: type[Exception] = UnencodableJSON) -> None:
        super().__init__(problem)
        self.problem = problem
        self.error = error
        self.segments: list[str | int] = []


def _prepare(value: object, depth: int) -> object:
    """`value` with what orjson would spell differently replaced by fragments (the same object when
    nothing needs replacing), raising `UnencodableJSON`/`TypeError` with the path."""
    try:
        return _walk(value, depth)
    except _Bad as bad:
        path = format_path(bad.segments[::-1])
        if bad.error is UnencodableJSON:
            raise UnencodableJSON(bad.problem, path) from None
        raise TypeError(f"{bad.problem} at {path or 'the top level'}") from None


def _walk(value: object, depth: int) -> object:
    if value is None or value is True or value is False or type(value) is str:
        return value
    if type(value) is int:
        return value if _INT_MIN <= value <= _INT_MAX else orjson.Fragment(str(value).encode())
    if type(value) is float:
        if not math.isfinite(value):
            raise _Bad(f"{value!r} is not a JSON number")
        return orjson.Fragment(format_float(value).encode())
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            raise _Bad(f"nesting deeper than {MAX_DEPTH} levels")
        changed: dict[str, object] | None = None
        for key, item in value.items():
            if not isinstance(key, str):
                raise _Bad(f"object key {key!r} is not a string", TypeError)
            try:
                new = _walk(item, depth + 1)
            except _Bad as bad:
                bad.segments.append(key)
                raise
            if new is not item:
                if changed is None:
                    changed = dict(value)
                changed[key] = new
        return value if changed is None else changed
    if isinstance(value, list | tuple):
        if depth >= MAX_DEPTH:
            raise _Bad(f"nesting deeper than {MAX_DEPTH} levels")
        items: list[object] | None = None
        for i, item in enumerate(value):
            try:
                new = _walk(item, depth + 1)
            except _Bad as bad:
                bad.segments.append(i)
                raise
            if new is not item:
                if items is None:
                    items = list(value)
                items[i] = new
        return value if items is None else items
    if isinstance(value, bool | int | float | str):  # subclasses (IntEnum, StrEnum): as their base type
        return _walk(_base(value), depth)
    raise _Bad(f"a value of type {type(value).__name__} has no JSON form", TypeError)


def _base(value: bool | float | str) -> object:
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    return str(value)


def _diagnose(value: object, segments: list[str | int]) -> None:
    """Find what orjson refused after `_prepare` passed (a lone surrogate) and raise naming it."""
    if isinstance(value, str):
        if not _encodable(value):
            raise UnencodableJSON("a string holding a lone surrogate", format_path(segments))
    elif isinstance(value, dict):
        for key, item in value.items():
            if not _encodable(key):
                raise UnencodableJSON("an object key holding a lone surrogate", format_path(segments))
            _diagnose(item, [*segments, key])
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _diagnose(item, [*segments, i])


def _encodable(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _excerpt(text: str) -> str:
    return repr(text if len(text) <= 80 else text[:77] + "...")
