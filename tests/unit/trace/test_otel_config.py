"""`traces.otlp`: validation that names the key, the effective endpoint, and headers that stay secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from seawall.config import load_config, validate
from seawall.errors import ConfigError

BASE: dict[str, Any] = {
    "providers": [{"name": "sim", "kind": "simulated"}],
    "models": [{"name": "chat", "targets": [{"provider": "sim", "model": "m"}]}],
}


def _otlp(otlp: Any) -> Any:
    config = validate({**BASE, "traces": {"otlp": otlp}}, "cfg.yaml", {})
    return config.traces.otlp


def _err(otlp: Any) -> str:
    with pytest.raises(ConfigError) as info:
        _otlp(otlp)
    return str(info.value)


def test_off_unless_configured() -> None:
    assert validate(BASE, "cfg.yaml", {}).traces.otlp is None


def test_defaults_and_effective_endpoint() -> None:
    otlp = _otlp({"endpoint": "http://collector:4318"})
    assert (otlp.protocol, otlp.service_name, otlp.timeout_s, otlp.queue_size) == (
        "http/protobuf",
        "seawall",
        10.0,
        2048,
    )
    assert otlp.url() == "http://collector:4318/v1/traces"  # a base URL gets the traces path
    assert _otlp({"endpoint": "https://c:4318/"}).url() == "https://c:4318/v1/traces"
    assert _otlp({"endpoint": "https://c/otlp/v1/traces"}).url() == "https://c/otlp/v1/traces"  # as given
    assert _otlp({"endpoint": "http://c:4317", "protocol": "grpc"}).url() == "http://c:4317"


@pytest.mark.parametrize(
    ("otlp", "expected"),
    [
        ({}, "cfg.yaml: traces.otlp.endpoint: required key is missing"),
        (
            {"endpoint": "collector:4318"},
            "cfg.yaml: traces.otlp.endpoint: expected an http:// or https:// URL",
        ),
        (
            {"endpoint": "http://c/v1/traces?x=1"},
            "cfg.yaml: traces.otlp.endpoint: the endpoint takes no query",
        ),
        (
            {"endpoint": "http://c:4317/v1/traces", "protocol": "grpc"},
            "cfg.yaml: traces.otlp.endpoint: a gRPC endpoint has no path",
        ),
        (
            {"endpoint": "http://c", "protocol": "http/json"},
            "cfg.yaml: traces.otlp.protocol: got 'http/json', expected one of 'http/protobuf' or 'grpc'",
        ),
        (
            {"endpoint": "http://c", "timeout_s": 0},
            "cfg.yaml: traces.otlp.timeout_s: Input should be greater",
        ),
        (
            {"endpoint": "http://c", "queue_size": 0},
            "cfg.yaml: traces.otlp.queue_size: Input should be greater",
        ),
        ({"endpoint": "http://c", "service_name": ""}, "cfg.yaml: traces.otlp.service_name: String should"),
        (
            {"endpoint": "http://c", "headers": {"bad name": "x"}},
            "cfg.yaml: traces.otlp.headers: 'bad name' is not",
        ),
        ({"endpoint": "http://c", "headers": ["x"]}, "cfg.yaml: traces.otlp.headers: expected a mapping"),
        ({"endpoint": "http://c", "sampler": "always"}, "cfg.yaml: traces.otlp.sampler: unknown key"),
    ],
)
def test_errors_name_the_key(otlp: Any, expected: str) -> None:
    assert _err(otlp).startswith(expected)


def test_header_values_are_secrets(tmp_path: Path) -> None:
    path = tmp_path / "seawall.yaml"
    path.write_text(
        """
providers: [{name: sim, kind: simulated}]
models: [{name: chat, targets: [{provider: sim, model: m}]}]
traces:
  otlp:
    endpoint: http://collector:4318
    headers: {authorization: "Bearer ${OTLP_TOKEN}"}
"""
    )
    config = load_config(path, env={"OTLP_TOKEN": "tok-SECRET-1"})
    assert config.traces.otlp is not None
    assert config.traces.otlp.headers["authorization"].get_secret_value() == "Bearer tok-SECRET-1"
    assert "tok-SECRET-1" not in repr(config) and "tok-SECRET-1" not in str(config)
    assert "tok-SECRET-1" not in config.model_dump_json()
    # a value of the wrong type is reported without echoing it
    message = _err({"endpoint": "http://c", "headers": {"authorization": 98765432}})
    assert "authorization" in message and "98765432" not in message
    message = _err({"endpoint": "http://c", "headers": {"x-token": "tok-SECRET-2\nInjected: 1"}})
    assert "one line" in message and "tok-SECRET-2" not in message
