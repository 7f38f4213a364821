"""Model identity: a change is an identity not seen recently at the target, so answers that
alternate between a provider's known backends raise nothing, and a new model or fingerprint does."""

from __future__ import annotations

import pytest

from seawall.quality._identity import Identity, IdentityPolicy, IdentityTracker

A = Identity("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "fp_a", "default")
B = Identity("gpt-4o-mini", "gpt-4o-mini-2024-07-18", "fp_b", "default")
NEW_MODEL = Identity("gpt-4o-mini", "gpt-4o-mini-2025-01-01", "fp_a", "default")


def test_the_first_identity_is_initial_and_not_counted() -> None:
    tracker = IdentityTracker()
    first = tracker.observe("up/m", A, 0.0)
    assert first is not None and first.initial and first.old is None
    assert tracker.observe("up/m", A, 1.0) is None
    assert tracker.targets["up/m"].changes == 0


def test_a_new_fingerprint_or_model_is_a_change_naming_what_changed() -> None:
    tracker = IdentityTracker()
    tracker.observe("up/m", A, 0.0)
    change = tracker.observe("up/m", B, 5.0)
    assert change is not None and not change.initial
    assert (change.old, change.new, change.at, change.fields_changed()) == (A, B, 5.0, ("fingerprint",))
    change = tracker.observe("up/m", NEW_MODEL, 6.0)
    assert change is not None and change.fields_changed() == ("model", "fingerprint")
    assert tracker.targets["up/m"].changes == 2


def test_alternating_known_backends_raise_nothing() -> None:
    tracker = IdentityTracker()
    tracker.observe("up/m", A, 0.0)
    tracker.observe("up/m", B, 1.0)
    assert [tracker.observe("up/m", (A, B)[i % 2], 2.0 + i) for i in range(1000)] == [None] * 1000
    assert tracker.targets["up/m"].changes == 1


def test_targets_are_tracked_apart() -> None:
    tracker = IdentityTracker()
    tracker.observe("one/m", A, 0.0)
    first = tracker.observe("two/m", B, 0.0)
    assert first is not None and first.initial


def test_an_identity_forgotten_or_pushed_out_is_new_again() -> None:
    tracker = IdentityTracker(IdentityPolicy(max_known=2, forget_after_s=100.0))
    tracker.observe("up/m", A, 0.0)
    tracker.observe("up/m", B, 1.0)
    assert tracker.observe("up/m", A, 50.0) is None  # known, seen 50 s ago
    assert tracker.observe("up/m", A, 140.0) is None  # seen at 50: still within 100 s
    assert tracker.observe("up/m", B, 500.0) is not None  # last seen at 1: forgotten
    tracker.observe("up/m", NEW_MODEL, 501.0)  # a third identity pushes out the least recent (A)
    assert len(tracker.targets["up/m"].known) == 2
    assert tracker.observe("up/m", A, 502.0) is not None


def test_the_admin_view_shows_the_current_identity_and_the_last_change() -> None:
    tracker = IdentityTracker()
    assert tracker.view("up/m") is None
    tracker.observe("up/m", A, 0.0)
    tracker.observe("up/m", B, 9.0)
    view = tracker.view("up/m")
    assert view is not None
    assert (view["response_model"], view["system_fingerprint"], view["changes"]) == (
        "gpt-4o-mini-2024-07-18",
        "fp_b",
        1,
    )
    assert view["last_change"] == {
        "at": 9.0,
        "fields": ["fingerprint"],
        "old": "gpt-4o-mini-2024-07-18, fingerprint fp_a, tier default",
        "new": "gpt-4o-mini-2024-07-18, fingerprint fp_b, tier default",
    }


def test_bad_policies_are_refused() -> None:
    with pytest.raises(ValueError, match="max_known"):
        IdentityPolicy(max_known=0)
    with pytest.raises(ValueError, match="forget_after_s"):
        IdentityPolicy(forget_after_s=0)
