"""Snapshot validation: what a snapshot is, its hash and limit, and errors naming the JSON path."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from seawall.context import (
    DEFAULT_MAX_BYTES,
    InvalidSnapshot,
    Snapshot,
    SnapshotTooLarge,
    UnknownSnapshot,
    content_hash,
)
from seawall.errors import InvalidRequest, PayloadTooLarge

VALUE = {
    "documents": [
        {"id": "a", "content": "first", "score": 0.9, "source": {"index": "kb", "version": 7}},
        {"id": "b", "content": "second", "score": 0.5},
    ],
    "retriever": {"k": 2, "model": "bge-small"},
}


def test_a_snapshot_has_its_canonical_bytes_hash_and_document_count() -> None:
    snap = Snapshot.from_value(VALUE)
    assert snap.hash == content_hash(VALUE)
    assert snap.documents == 2
    assert orjson.loads(snap.canonical) == VALUE == snap.value()


def test_the_same_content_spelled_differently_is_the_same_snapshot() -> None:
    pretty = b"""{
      "retriever": {"model": "bge-small", "k": 2.0},
      "documents": [
        {"score": 0.90, "content": "first", "id": "a", "source": {"version": 7e0, "index": "kb"}},
        {"id": "b", "content": "second", "score": 5e-1}
      ]
    }"""
    assert Snapshot.from_json(pretty).hash == Snapshot.from_value(VALUE).hash
    assert Snapshot.from_json(pretty.decode()) == Snapshot.from_value(VALUE)


def test_document_order_matters_and_extra_fields_are_free_form() -> None:
    swapped = {**VALUE, "documents": VALUE["documents"][::-1]}
    assert Snapshot.from_value(swapped).hash != Snapshot.from_value(VALUE).hash
    assert Snapshot.from_value({"documents": [], "anything": [1, {"x": None}]}).documents == 0


@pytest.mark.parametrize(
    ("value", "param", "message"),
    [
        ([], None, "a snapshot must be a JSON object, got array"),
        ("x", None, "got string"),
        ({"docs": []}, "documents", "documents: Field required"),
        ({"documents": {"id": "a"}}, "documents", "must be an array of objects, got object"),
        ({"documents": None}, "documents", "got null"),
        (
            {"documents": [{"id": "a"}, {"id": "b"}, 3]},
            "documents[2]",
            "a document must be an object, got number",
        ),
        (
            {"documents": [{"id": "a"}, {"content": "x"}]},
            "documents[1].id",
            "documents[1].id: Field required",
        ),
        ({"documents": [{"id": 7}]}, "documents[0].id", "must be a non-empty string, got number"),
        ({"documents": [{"id": ""}]}, "documents[0].id", "got an empty string"),
        (
            {"documents": [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "a"}]},
            "documents[3].id",
            "'a' is already the id of documents[0]; ids must be unique",
        ),
        (
            {"documents": [{"id": "a", "score": float("nan")}]},
            "documents[0].score",
            "nan is not a JSON number",
        ),
        ({"documents": [], "meta": {"bad": "\udc00"}}, "meta.bad", "lone surrogate"),
    ],
)
def test_invalid_snapshots_name_the_path(value: Any, param: str | None, message: str) -> None:
    with pytest.raises(InvalidSnapshot) as info:
        Snapshot.from_value(value)
    error = info.value
    assert error.param == param
    assert message in error.message
    assert (error.status, error.type, error.code) == (400, "invalid_request_error", "invalid_snapshot")
    assert isinstance(error, InvalidRequest)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "not valid JSON"),
        (b'{"documents": [}', "not valid JSON"),
        (b'{"documents": [NaN]}', "not valid JSON"),
        (b"[1, 2]", "must be a JSON object"),
    ],
)
def test_malformed_bodies_are_400(raw: bytes, message: str) -> None:
    with pytest.raises(InvalidSnapshot, match=message):
        Snapshot.from_json(raw)


def test_the_size_limit_is_on_canonical_bytes() -> None:
    doc = {"documents": [{"id": "a", "content": "x" * 1000}]}
    size = len(Snapshot.from_value(doc).canonical)
    assert Snapshot.from_value(doc, max_bytes=size).documents == 1
    with pytest.raises(SnapshotTooLarge) as info:
        Snapshot.from_value(doc, max_bytes=size - 1)
    assert info.value.status == 413
    assert info.value.code == "snapshot_too_large"
    assert f"{size:,} bytes" in info.value.message
    assert isinstance(info.value, PayloadTooLarge)
    # whitespace in the text does not count against the limit...
    padded = orjson.dumps(doc, option=orjson.OPT_INDENT_2).replace(b"\n", b"\n" + b" " * 200)
    assert len(padded) > size
    assert Snapshot.from_json(padded, max_bytes=size).hash == Snapshot.from_value(doc).hash
    # ...but a text far over it is refused before parsing
    with pytest.raises(SnapshotTooLarge, match="body is"):
        Snapshot.from_json(b" " * (4 * size + 1) + b"{}", max_bytes=size)


def test_the_default_limit_is_one_mebibyte() -> None:
    assert DEFAULT_MAX_BYTES == 1 << 20
    big = {"documents": [{"id": str(i), "content": "y" * 1000} for i in range(1100)]}
    with pytest.raises(SnapshotTooLarge):
        Snapshot.from_value(big)


def test_unknown_snapshot_is_a_400() -> None:
    error = UnknownSnapshot("no snapshot sha256:…", param="x-seawall-context-snapshot")
    assert (error.status, error.code) == (400, "unknown_snapshot")
