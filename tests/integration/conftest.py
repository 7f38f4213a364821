from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration._procs import GatewayProc, Sim


@pytest.fixture(scope="session")
def session_tmp(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("seawall-it")


@pytest.fixture(scope="session")
def _sims(session_tmp: Path) -> Iterator[tuple[Sim, Sim]]:
    primary, secondary = Sim(session_tmp, "primary", seed=11), Sim(session_tmp, "secondary", seed=22)
    yield primary, secondary
    primary.stop()
    secondary.stop()


@pytest.fixture
def sims(_sims: tuple[Sim, Sim]) -> tuple[Sim, Sim]:
    """Two simulated upstreams, reset to healthy with zeroed counters for each test."""
    for sim in _sims:
        sim.reset()
    return _sims


def gateway_config(primary: Sim, secondary: Sim) -> dict[str, object]:
    return {
        "providers": [
            {
                "name": "primary",
                "kind": "openai",
                "base_url": primary.url + "/v1",
                "api_key": "sk-primary-SECRET",
            },
            {
                "name": "secondary",
                "kind": "openai",
                "base_url": secondary.url + "/v1",
                "api_key": "sk-second-SECRET",
            },
        ],
        "models": [
            {
                "name": "chat",
                "targets": [
                    {"provider": "primary", "model": "gpt-primary"},
                    {"provider": "secondary", "model": "gpt-secondary"},
                ],
                "attempt_timeout_s": 2,
                "first_token_timeout_s": 2,
                "idle_timeout_s": 2,
            },
            {"name": "solo", "targets": [{"provider": "primary", "model": "gpt-primary"}], "timeout_s": 3},
        ],
        # Tests of routing/fallback share one gateway: keep fleet-level protections (breaker, throttle,
        # budget) from carrying failures of one test into the next. They are tested on their own gateways.
        "resilience": {
            "retry": {"base_delay_s": 0.01, "max_delay_s": 0.05, "min_attempt_s": 0.1},
            "breaker": {"min_calls": 100000, "consecutive_failures": 0},
            "throttle": {"min_requests": 100000},
            "budget": {"min_retries_per_sec": 1000},
        },
    }


@pytest.fixture(scope="session")
def gateway(session_tmp: Path, _sims: tuple[Sim, Sim]) -> Iterator[GatewayProc]:
    gw = GatewayProc(session_tmp, gateway_config(*_sims))
    yield gw
    gw.stop()
