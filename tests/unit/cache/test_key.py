"""Cache keys: every part changes the key, and a key shows its parts but never the body."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import seawall.cache
from seawall.cache import (
    ANONYMOUS_TENANT,
    KEY_VERSION,
    CacheKey,
    cache_key,
    normalized_request,
    request_digest,
)
from seawall.cache import _key as key_module

from .requests import bodies

PARTS: dict[str, Any] = {
    "target": "openai/gpt-4o",
    "identity": ("gpt-4o-2024-08-06", "fp_1"),
    "snapshot": "sha256:" + "a" * 64,
    "tenant": ANONYMOUS_TENANT,
}

OTHER = st.one_of(
    st.tuples(st.just("target"), st.sampled_from(["openai/gpt-4o-mini", "azure/gpt-4o", "openai/gpt-4o "])),
    st.tuples(
        st.just("identity"),
        st.sampled_from(
            [None, (None, None), ("gpt-4o-2024-08-06", None), ("gpt-4o-2024-08-06", "fp_2"), ("x", "fp_1")]
        ),
    ),
    st.tuples(st.just("snapshot"), st.sampled_from([None, "sha256:" + "b" * 64])),
    st.tuples(st.just("tenant"), st.sampled_from(["acme", "other", "--"])),
)


def _key(body: dict[str, Any], **parts: Any) -> CacheKey:
    return cache_key(normalized=normalized_request(body), **{**PARTS, **parts})


@settings(max_examples=300)
@given(bodies(), OTHER)
def test_every_part_changes_the_key(body: dict[str, Any], change: tuple[str, Any]) -> None:
    name, value = change
    assert _key(body, **{name: value}).digest != _key(body).digest


@given(bodies())
def test_the_version_changes_the_key(body: dict[str, Any]) -> None:
    before = _key(body)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(key_module, "KEY_VERSION", KEY_VERSION + 1)
        after = _key(body)
    assert after.digest != before.digest
    assert after.request == before.request


@given(bodies())
def test_parts_are_exposed_without_the_body(body: dict[str, Any]) -> None:
    key = _key(body)
    parts = key.parts()
    assert parts == {
        "digest": key.digest,
        "request": request_digest(normalized_request(body)),
        "target": "openai/gpt-4o",
        "identity": ["gpt-4o-2024-08-06", "fp_1"],
        "snapshot": PARTS["snapshot"],
        "tenant": "-",
        "version": KEY_VERSION,
    }
    assert key.digest.startswith("sha256:")
    assert len(key.digest) == len("sha256:") + 64
    for message in body["messages"]:
        if len(message["content"]) > 8:
            assert message["content"] not in repr(key)


def test_under_rekeys_for_the_target_that_answered() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    primary = _key(body)
    fallback = primary.under("azure/gpt-4o", ("gpt-4o", None))
    assert fallback == _key(body, target="azure/gpt-4o", identity=("gpt-4o", None))
    assert fallback.digest != primary.digest
    assert primary.under(primary.target, primary.identity) == primary


def test_identity_from_json_keys_like_the_tuple() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert _key(body, identity=["gpt-4o-2024-08-06", "fp_1"]) == _key(body)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"too many values|not enough values"):
        _key(body, identity=("a", "b", "c"))


@pytest.mark.parametrize(("part", "value"), [("target", ""), ("tenant", ""), ("snapshot", "")])
def test_empty_parts_are_refused(part: str, value: str) -> None:
    with pytest.raises(ValueError, match=part):
        _key({"model": "m", "messages": []}, **{part: value})


def test_public_names_are_sorted_and_resolve() -> None:
    names = seawall.cache.__all__
    assert list(names) == sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n))
    for name in names:
        assert hasattr(seawall.cache, name)
