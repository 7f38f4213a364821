from pathlib import Path

import pytest

from seawall.config import default_config, load_config, validate
from seawall.errors import ConfigError

MINIMAL = {
    "providers": [
        {"name": "alpha", "kind": "openai", "base_url": "http://127.0.0.1:9001/v1", "api_key": "k"}
    ],
    "models": [{"name": "chat", "targets": [{"provider": "alpha", "model": "gpt-4o-mini"}]}],
}


def _err(data: object, env: dict[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        validate(data, "cfg.yaml", env or {})
    return str(info.value)


def test_design_example_shape_loads(tmp_path: Path) -> None:
    path = tmp_path / "seawall.yaml"
    path.write_text(
        """
providers:
  - name: alpha
    kind: openai
    base_url: http://127.0.0.1:9001/v1
    api_key: ${ALPHA_API_KEY}
  - name: beta
    kind: simulated
models:
  - name: chat
    targets:
      - provider: alpha
        model: gpt-4o-mini
      - provider: beta
        model: claude-sonnet-4-5
traces:
  store: sqlite:///./seawall-traces.db
state: memory
"""
    )
    config = load_config(path, env={"ALPHA_API_KEY": "sk-secret"})
    assert config.providers[0].api_key is not None
    assert config.providers[0].api_key.get_secret_value() == "sk-secret"
    assert "sk-secret" not in repr(config)
    assert [t.provider for t in config.models[0].targets] == ["alpha", "beta"]


def test_env_default_and_missing() -> None:
    data = {**MINIMAL, "providers": [{**MINIMAL["providers"][0], "base_url": "${URL:-http://h:1/v1}"}]}
    assert validate(data, "cfg.yaml", {}).providers[0].base_url == "http://h:1/v1"
    data["providers"][0]["api_key"] = "${NOPE}"
    message = _err(data)
    assert message.startswith("cfg.yaml: providers[0].api_key: environment variable NOPE is not set")


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"trace": {}}, "cfg.yaml: trace: unknown key"),
        ({"state": "mongo://x"}, "cfg.yaml: state: expected 'memory'"),
        (
            {"state": "redis://127.0.0.1:6379/0"},
            "cfg.yaml: state: shared state in Redis is not available yet",
        ),
        (
            {"traces": {"store": "postgresql://h/db"}},
            "cfg.yaml: traces.store: the PostgreSQL trace store is not",
        ),
        ({"server": {"port": "eighty"}}, "cfg.yaml: server.port: Input should be a valid integer"),
        ({"server": {"max_body_bytes": 10}}, "cfg.yaml: server.max_body_bytes: Input should be greater than"),
        ({"traces": {"store": "mysql://x"}}, "cfg.yaml: traces.store: expected sqlite:///PATH or none"),
        ({"models": []}, "cfg.yaml: models: List should have at least 1 item"),
    ],
)
def test_errors_name_file_key_and_expectation(patch: dict[str, object], expected: str) -> None:
    assert _err({**MINIMAL, **patch}).startswith(expected)


def test_unknown_provider_reference_names_the_target() -> None:
    data = {
        **MINIMAL,
        "models": [
            {"name": "m", "targets": [{"provider": "alpha", "model": "a"}, {"provider": "b", "model": "x"}]}
        ],
    }
    assert (
        _err(data) == "cfg.yaml: models[0].targets[1].provider: unknown provider 'b' (expected one of: alpha)"
    )


def test_duplicate_names() -> None:
    data = {**MINIMAL, "providers": MINIMAL["providers"] * 2}
    assert "providers[1].name: duplicate provider name 'alpha'" in _err(data)


def test_wrong_kind_lists_choices() -> None:
    data = {**MINIMAL, "providers": [{**MINIMAL["providers"][0], "kind": "opena"}]}
    assert (
        "providers[0].kind: got 'opena', expected one of 'openai', 'anthropic', 'gemini' or 'simulated'"
        in _err(data)
    )


def test_openai_needs_base_url() -> None:
    data = {**MINIMAL, "providers": [{"name": "alpha", "kind": "openai"}]}
    assert "providers[0]: base_url is required for kind 'openai'" in _err(data)


def test_bad_yaml_reports_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("providers:\n  - name: a\n   kind: x\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: not valid YAML \(line 3"):
        load_config(path)


def test_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_config(tmp_path / "nope.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    with pytest.raises(ConfigError, match="the file is empty"):
        load_config(empty)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level, got list"):
        load_config(listy)


def test_default_config_is_simulated_and_keyless() -> None:
    config = default_config()
    assert {p.kind for p in config.providers} == {"simulated"}
    assert all(p.api_key is None for p in config.providers)
    assert config.models[0].name == "demo"


def test_trace_retention_reads_human_units() -> None:
    traces = {"retention": {"max_age": "7d", "max_bytes": "2GB", "interval": "30s"}}
    retention = validate({**MINIMAL, "traces": traces}, "seawall.yaml").traces.retention
    assert retention is not None
    assert (retention.max_age, retention.max_bytes, retention.interval) == (604800.0, 2_000_000_000, 30.0)
    only_size = validate(
        {**MINIMAL, "traces": {"retention": {"max_bytes": "1.5GiB"}}}, "s.yaml"
    ).traces.retention
    assert only_size is not None and (only_size.max_age, only_size.max_bytes) == (None, 1_610_612_736)
    assert validate(MINIMAL, "s.yaml").traces.retention is None  # keep every trace


@pytest.mark.parametrize(
    ("retention", "expected"),
    [
        ({"max_age": "a week"}, "traces.retention.max_age: expected a duration like 90s, 15m, 2h, 7d"),
        ({"max_bytes": "2G"}, "traces.retention.max_bytes: expected a size like 500MB, 2GB or 1.5GiB"),
        ({"max_bytes": 0}, "traces.retention.max_bytes: expected a size"),
        ({"max_age": "1d", "interval": "100ms"}, "traces.retention.interval: must be at least 1s"),
        ({}, "traces.retention: set max_age, max_bytes or both"),
        ({"max_days": 7}, "traces.retention.max_days: unknown key"),
    ],
)
def test_a_bad_retention_names_its_key(retention: dict[str, object], expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        validate({**MINIMAL, "traces": {"retention": retention}}, "seawall.yaml")
    assert f"seawall.yaml: {expected}" in str(caught.value)


def _quality(model_quality: object, quality: object = None) -> dict[str, object]:
    data: dict[str, object] = {
        "providers": [{"name": "a", "kind": "simulated"}],
        "models": [{"name": "m", "targets": [{"provider": "a", "model": "x"}], "quality": model_quality}],
    }
    if quality is not None:
        data["quality"] = quality
    return data


@pytest.mark.parametrize(
    ("model_quality", "quality", "expected"),
    [
        ({"suite": "nope"}, None, "models[0].quality.suite: unknown suite 'nope' (expected one of: builtin"),
        ({"policy": "drop"}, None, "models[0].quality.policy: got 'drop', expected one of 'alert', 'demote'"),
        ({"baseline_failure_rate": 2}, None, "models[0].quality.baseline_failure_rate: "),
        ({}, {"probe_interval_s": 0}, "quality.probe_interval_s: "),
        ({}, {"suites": {"builtin": "x.yaml"}}, "quality.suites: 'builtin' is the shipped suite's name"),
        ({}, {"webhook_url": "ftp://x"}, "quality.webhook_url: expected an http:// or https:// URL"),
        ({}, {"max_probes_per_hour": 0}, "quality.max_probes_per_hour: "),
        ({}, {"probe_interval": 5}, "quality.probe_interval: unknown key"),
    ],
)
def test_a_bad_quality_section_names_its_key(model_quality: object, quality: object, expected: str) -> None:
    assert expected in _err(_quality(model_quality, quality))


def test_suite_files_are_read_from_the_config_folder_and_checked_on_load(tmp_path: Path) -> None:
    (tmp_path / "suites").mkdir()
    (tmp_path / "suites" / "arith.yaml").write_text(
        "suite: arith\nprobes:\n  - {id: a, prompt: '1+1?', expect: {number: 2}}\n"
    )
    (tmp_path / "seawall.yaml").write_text(
        "providers: [{name: a, kind: simulated}]\n"
        "models: [{name: m, targets: [{provider: a, model: x}], quality: {suite: arith, policy: demote}}]\n"
        "quality: {suites: {arith: suites/arith.yaml}, probe_interval_s: 10}\n"
    )
    config = load_config(tmp_path / "seawall.yaml")
    assert config.quality is not None
    assert config.quality.suites["arith"] == str(tmp_path / "suites" / "arith.yaml")  # anchored, absolute
    assert config.quality.hourly_cap() == 720  # twice the scheduled rate by default
    (tmp_path / "suites" / "arith.yaml").write_text(
        "suite: arith\nprobes:\n  - {id: a, prompt: x, expect: {number: two}}\n"
    )
    with pytest.raises(
        ConfigError, match=r"arith.yaml: probes\[0\] \(id 'a'\): expect.number: expected a number"
    ):
        load_config(tmp_path / "seawall.yaml")
    assert (
        load_config(tmp_path / "seawall.yaml", check_suites=False).quality is not None
    )  # replay reads no suite
