"""SimulatorSettings validation and settings_from_mapping."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import seawall.simulate
from seawall.simulate import SimulatorSettings, settings_from_mapping


def test_public_surface_is_sorted_and_complete() -> None:
    assert seawall.simulate.__all__ == sorted(seawall.simulate.__all__)
    assert set(seawall.simulate.__all__) == {
        "Simulator",
        "SimulatorSettings",
        "run_simulator",
        "settings_from_mapping",
    }


def test_defaults_are_a_healthy_fast_provider() -> None:
    s = SimulatorSettings()
    assert s.latency_ms == 0 and s.error_rate == 0 and s.hang_rate == 0
    assert s.reply_words == 12
    assert s.error_status == 500
    assert s.only_models == ()
    for f in dataclasses.fields(SimulatorSettings):
        assert f.metadata["help"], f.name


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("error_rate", 1.5),
        ("error_rate", -0.1),
        ("hang_rate", "0.5"),
        ("latency_ms", -1),
        ("latency_ms", float("nan")),
        ("ttft_ms", True),
        ("reply_words", 0),
        ("reply_words", 2.5),
        ("error_status", 404),
        ("retry_after", -1),
        ("disconnect_after", -1),
        ("stream_error_after", -2),
        ("context_limit_tokens", -5),
        ("model", 3),
        ("only_models", "gpt-4o"),  # the constructor wants a sequence (the mapping splits a string)
        ("only_models", ["ok", ""]),
        ("only_models", 7),
        ("seed", "7"),
    ],
)
def test_bad_values_name_the_field(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        SimulatorSettings(**{name: value})
    if not (name == "only_models" and isinstance(value, str)):
        with pytest.raises(ValueError, match=name):
            settings_from_mapping({name: value})


def test_ints_are_accepted_for_float_fields() -> None:
    s = settings_from_mapping({"error_rate": 1, "latency_ms": 20})
    assert s.error_rate == 1.0 and isinstance(s.error_rate, float)
    assert s.latency_ms == 20.0


def test_unknown_key_is_named() -> None:
    with pytest.raises(ValueError, match="'errror_rate'"):
        settings_from_mapping({"errror_rate": 1})


def test_only_models_accepts_a_list_or_a_comma_string() -> None:
    assert settings_from_mapping({"only_models": ["a", "b"]}).only_models == ("a", "b")
    assert settings_from_mapping({"only_models": "a, b,"}).only_models == ("a", "b")
    assert settings_from_mapping({"only_models": ""}).only_models == ()


def test_changes_apply_on_top_of_a_base() -> None:
    base = SimulatorSettings(error_rate=0.5, seed=3)
    changed = settings_from_mapping({"error_status": 503}, base=base)
    assert (changed.error_rate, changed.error_status, changed.seed) == (0.5, 503, 3)


def test_as_dict_round_trips() -> None:
    s = SimulatorSettings(only_models=("x",), model="m", error_rate=0.25)
    d = s.as_dict()
    assert d["only_models"] == ["x"]
    assert settings_from_mapping(d) == s


def test_settings_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        SimulatorSettings().error_rate = 1.0  # type: ignore[misc]
