"""Canonical JSON: the documented form, its equivalences (hypothesis), golden hashes, refusals."""

from __future__ import annotations

import hashlib
import json
import random
import re
import struct
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from seawall.context import MAX_DEPTH, UnencodableJSON, canonical_json, content_hash, hash_bytes, parse_hash
from seawall.context._canonical import format_float, format_path

JSON_INT = st.integers(min_value=-(2**63), max_value=2**64 - 1)  # what a JSON parser keeps as an int
FLOATS = st.floats(allow_nan=False, allow_infinity=False)
SCALARS = st.none() | st.booleans() | JSON_INT | FLOATS | st.text()
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=8), inner, max_size=5),
    max_leaves=30,
)
# the documented number grammar: integer, plain decimal, or d[.ddd]e±x
NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]*[1-9])?|-?[1-9](\.[0-9]*[1-9])?e[+-][1-9][0-9]*")


def shuffled(value: Any, rng: random.Random) -> Any:
    """`value` with every object's members in another insertion order."""
    if isinstance(value, dict):
        items = [(k, shuffled(v, rng)) for k, v in value.items()]
        rng.shuffle(items)
        return dict(items)
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


def escape(text: str) -> str:
    """The documented string escaping, written out independently."""
    short = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}
    return "".join(short.get(c, f"\\u{ord(c):04x}" if ord(c) < 0x20 else c) for c in text)


# -- properties --------------------------------------------------------------------------------------


@given(JSON, st.randoms(use_true_random=False))
def test_key_order_does_not_matter(value: Any, rng: random.Random) -> None:
    assert canonical_json(shuffled(value, rng)) == canonical_json(value)


@given(JSON, st.sampled_from([None, 0, 2, "\t"]), st.booleans())
def test_whitespace_and_escapes_in_the_text_do_not_matter(value: Any, indent: Any, ascii_only: bool) -> None:
    text = json.dumps(value, indent=indent, ensure_ascii=ascii_only, separators=(", ", " : "))
    assert canonical_json(orjson.loads(text)) == canonical_json(value)


@given(JSON)
def test_the_form_is_compact_sorted_and_reads_back_as_itself(value: Any) -> None:
    out = canonical_json(value)
    out.decode("utf-8")  # valid UTF-8
    again = json.loads(out)
    assert canonical_json(again) == out

    def check(v: Any) -> None:
        if isinstance(v, dict):
            assert list(v) == sorted(v)  # code point order
            for item in v.values():
                check(item)
        elif isinstance(v, list):
            for item in v:
                check(item)

    check(again)


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_an_integral_float_is_the_integer(n: int) -> None:
    assert canonical_json(float(n)) == canonical_json(n) == str(n).encode()
    spellings = [
        f"{n}.0",
        f"{n}e0",
        f"{n}.000E+0",
        f"{n * 10}e-1" if n else "0e-1",
        f"{n}00E-2" if n else "-0.0",
    ]
    for spelling in spellings:
        assert canonical_json(orjson.loads(spelling)) == str(n).encode(), spelling


@given(FLOATS)
def test_a_float_is_its_shortest_round_trip_spelling(x: float) -> None:
    text = canonical_json(x).decode()
    assert NUMBER.fullmatch(text), text
    assert float(text) == x
    digits = re.sub(r"e.*|[-.]", "", text).strip("0")
    shortest = re.sub(r"e.*|[-.]", "", repr(abs(x))).strip("0")
    assert len(digits) == len(shortest) or x == 0
    # every other spelling of the same float gives the same form
    for spelling in (repr(x), f"{x:.17g}", f"{x:.17e}", f"{x:.20e}".upper()):
        assert canonical_json(float(spelling)) == text.encode()


def test_negative_zero_is_zero() -> None:
    assert canonical_json(-0.0) == canonical_json(0.0) == canonical_json(0) == b"0"
    assert canonical_json([-0.0, {"a": -0.0}]) == b'[0,{"a":0}]'


@given(st.text())
def test_strings_are_utf8_with_only_the_required_escapes(text: str) -> None:
    assert canonical_json(text) == f'"{escape(text)}"'.encode()


@given(st.dictionaries(st.text(), st.integers(), max_size=8))
def test_keys_sort_by_code_point(value: dict[str, int]) -> None:
    out = canonical_json(value)
    assert list(json.loads(out)) == sorted(value)
    assert [k.encode() for k in json.loads(out)] == sorted(k.encode() for k in value)


@given(st.integers())
def test_integers_are_exact_at_any_size(n: int) -> None:
    assert canonical_json(n) == str(n).encode()


# -- fixed values ------------------------------------------------------------------------------------

# RFC 8785 appendix B: IEEE-754 bit patterns and their ECMAScript (JCS) spelling.
JCS_NUMBERS = [
    (0x0000000000000000, "0"),
    (0x8000000000000000, "0"),
    (0x0000000000000001, "5e-324"),
    (0x8000000000000001, "-5e-324"),
    (0x7FEFFFFFFFFFFFFF, "1.7976931348623157e+308"),
    (0xFFEFFFFFFFFFFFFF, "-1.7976931348623157e+308"),
    (0x4340000000000000, "9007199254740992"),
    (0xC340000000000000, "-9007199254740992"),
    (0x4430000000000000, "295147905179352830000"),
    (0x44B52D02C7E14AF5, "9.999999999999997e+22"),
    (0x44B52D02C7E14AF6, "1e+23"),
    (0x44B52D02C7E14AF7, "1.0000000000000001e+23"),
    (0x444B1AE4D6E2EF4E, "999999999999999700000"),
    (0x444B1AE4D6E2EF4F, "999999999999999900000"),
    (0x444B1AE4D6E2EF50, "1e+21"),
    (0x3EB0C6F7A0B5ED8C, "9.999999999999997e-7"),
    (0x3EB0C6F7A0B5ED8D, "0.000001"),
    (0x41B3DE4355555553, "333333333.3333332"),
    (0x41B3DE4355555554, "333333333.33333325"),
    (0x41B3DE4355555555, "333333333.3333333"),
    (0x41B3DE4355555556, "333333333.3333334"),
    (0x41B3DE4355555557, "333333333.33333343"),
    (0xBECBF647612F3696, "-0.0000033333333333333333"),
    (0x43143FF3C1CB0959, "1424953923781206.2"),
]


@pytest.mark.parametrize(("bits", "text"), JCS_NUMBERS, ids=[t for _, t in JCS_NUMBERS])
def test_floats_are_spelled_as_rfc_8785(bits: int, text: str) -> None:
    x = struct.unpack(">d", bits.to_bytes(8, "big"))[0]
    assert format_float(x) == text
    assert canonical_json(x) == text.encode()


def test_a_worked_example() -> None:
    value = {
        "b": [1.0, -0.0, 2**70, 1e-7, 1e21, 0.1, True, None],
        "a": {"z": 'é\n"\\/\x00\x7f\u2028'},
        "\U0001f600": 1,
        "\uffff": 2,
    }
    assert canonical_json(value) == (
        b'{"a":{"z":"\xc3\xa9\\n\\"\\\\/\\u0000\x7f\xe2\x80\xa8"},'
        b'"b":[1,0,1180591620717411303424,1e-7,1e+21,0.1,true,null],'
        b'"\xef\xbf\xbf":2,"\xf0\x9f\x98\x80":1}'
    )


SNAPSHOT = {
    "documents": [{"id": "doc-1", "content": "Seawall keeps AI features answering.", "score": 0.87}],
    "index_version": "2026-01-07",
    "retriever": {"k": 1, "model": "bge-small"},
}


@pytest.mark.parametrize(
    ("value", "digest"),
    [
        ({}, "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"),
        ({"documents": []}, "f332a4181af7c4a82f09927e71369910957b21632a21eb990216dbd59c728dd3"),
        (SNAPSHOT, "2c76159ce5f9f82f18c857681076129d7407152e01d28f992faa85c743765e9f"),
        (
            [1.0, -0.0, 1e-7, "é😀", None, True, 2**64],
            "a853394e3c64b94c67defc891de96eff77688357aec6973778cd2d373f857633",
        ),
    ],
)
def test_hashes_are_stable(value: Any, digest: str) -> None:
    """Pinned: a change here changes every stored snapshot's hash (and every binding naming one)."""
    assert content_hash(value) == f"sha256:{digest}"
    assert hash_bytes(canonical_json(value)) == "sha256:" + hashlib.sha256(canonical_json(value)).hexdigest()


def test_the_snapshot_example_canonical_bytes() -> None:
    assert canonical_json(SNAPSHOT) == (
        b'{"documents":[{"content":"Seawall keeps AI features answering.","id":"doc-1","score":0.87}],'
        b'"index_version":"2026-01-07","retriever":{"k":1,"model":"bge-small"}}'
    )


def test_tuples_are_arrays_and_subclasses_their_base_type() -> None:
    import enum

    class Colour(enum.StrEnum):
        RED = "red"

    class Level(enum.IntEnum):
        HIGH = 3

    assert canonical_json((1, Colour.RED, Level.HIGH, {"k": (True,)})) == b'[1,"red",3,{"k":[true]}]'


# -- refusals ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "path", "problem"),
    [
        (float("nan"), "", "nan is not a JSON number"),
        (
            {"documents": [{"id": "a"}, {"id": "b", "score": float("inf")}]},
            "documents[1].score",
            "inf is not",
        ),
        ({"x y": [0, float("-inf")]}, '["x y"][1]', "-inf is not"),
        ({"k": ["ok", "\ud800"]}, "k[1]", "lone surrogate"),
        ({"a": {"\udfff": 1}}, "a", "object key holding a lone surrogate"),
    ],
)
def test_unencodable_values_name_their_path(value: Any, path: str, problem: str) -> None:
    with pytest.raises(UnencodableJSON) as info:
        canonical_json(value)
    assert info.value.path == path
    assert problem in str(info.value)
    assert isinstance(info.value, ValueError)
    assert str(info.value).endswith(f"at {path}" if path else "at the top level")


def test_nesting_is_limited() -> None:
    ok: Any = []
    for _ in range(MAX_DEPTH - 1):
        ok = [ok]
    canonical_json(ok)
    with pytest.raises(UnencodableJSON, match=f"deeper than {MAX_DEPTH}") as info:
        canonical_json({"a": [ok]})
    assert info.value.path.startswith("a[0]")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"d": [{1: 2}]}, "object key 1 is not a string at d[0]"),
        ({"o": object()}, "a value of type object has no JSON form at o"),
        ({b"k": 1}, "object key b'k' is not a string at the top level"),
        ({"s": {1, 2}}, "type set has no JSON form at s"),
    ],
)
def test_values_of_other_types_are_type_errors_naming_their_path(value: Any, message: str) -> None:
    with pytest.raises(TypeError, match=re.escape(message)):
        canonical_json(value)


def test_format_path() -> None:
    assert format_path([]) == ""
    assert format_path(["documents", 3, "id"]) == "documents[3].id"
    assert format_path([0, "a b", "_x1"]) == '[0]["a b"]._x1'
    assert format_path(["é"]) == '["é"]'


# -- hashes ------------------------------------------------------------------------------------------


def test_parse_hash_accepts_exactly_the_written_form() -> None:
    digest = content_hash(SNAPSHOT)
    assert parse_hash(digest) == digest


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "must not be empty"),
        (None, "must be a string, got null"),
        (12, "must be a string, got int"),
        (
            "2c76159ce5f9f82f18c857681076129d7407152e01d28f992faa85c743765e9f",
            "starts with 'sha256:', got '2c76",
        ),
        ("SHA256:" + "a" * 64, "starts with lowercase 'sha256:', got 'SHA256:'"),
        ("md5:" + "a" * 32, "unsupported hash algorithm 'md5'"),
        ("sha256:" + "a" * 63, "64 hex digits after 'sha256:', got 63"),
        ("sha256:" + "a" * 65, "got 65"),
        ("sha256: " + "a" * 63, "found ' ' at digit 1"),
        ("sha256:" + "a" * 10 + "G" + "a" * 53, "found 'G' at digit 11"),
        ("sha256:" + "A" * 64, "lowercase hex digits"),
    ],
)
def test_parse_hash_says_what_is_wrong(text: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_hash(text)
