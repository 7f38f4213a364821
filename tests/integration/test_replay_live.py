"""Live re-run end to end: a gateway (library mode) records requests answered by a standalone
`seawall simulate` process over real sockets; then each is re-run live against the same simulator,
before and after its reported model identity is switched at runtime through `/_control`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from click.testing import CliRunner

import seawall
from seawall._exchange import Relay
from seawall.config import validate
from seawall.ingress import ANTHROPIC, OPENAI
from seawall.replay import render_diff, replay_live_command, rerun_live
from seawall.trace._schema import TraceRecord
from tests.integration._dialects import ANTHROPIC_TOOLS, OPENAI_TOOLS, QUESTION, UPSTREAM_MODEL
from tests.integration._procs import Sim

pytestmark = pytest.mark.integration

KINDS = ("openai", "anthropic", "gemini")


@pytest.fixture
def sim(sims: tuple[Sim, Sim]) -> Iterator[Sim]:
    """The session's first simulator, healthy; put back as found after a test switched it."""
    yield sims[0]
    sims[0].reset()


def gateway_config(sim: Sim, tmp: Path, **extra: Any) -> dict[str, Any]:
    """One provider per upstream dialect, all on the one simulator (it speaks all three)."""
    roots = {"openai": sim.url + "/v1", "anthropic": sim.url, "gemini": sim.url}
    return {
        "providers": [
            {"name": kind, "kind": kind, "base_url": roots[kind], "api_key": "sk-SECRET"} for kind in KINDS
        ],
        "models": [
            {"name": f"m-{kind}", "targets": [{"provider": kind, "model": UPSTREAM_MODEL[kind]}]}
            for kind in KINDS
        ],
        "traces": {"store": f"sqlite:///{tmp / 'traces.db'}"},
        **extra,
    }


async def _discard(data: bytes) -> None:
    return None


async def ask(
    gw: seawall.Gateway, ingress: str, model: str, *, stream: bool = False, tools: bool = False
) -> str:
    """One request through the gateway's request lifecycle, as the server would make it; its trace id."""
    messages = [{"role": "user", "content": QUESTION if tools else "Tell me something."}]
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": stream}
    if ingress == "anthropic":
        body["max_tokens"] = 200
    elif stream:
        body["stream_options"] = {"include_usage": True}
    if tools:
        body["tools"] = ANTHROPIC_TOOLS if ingress == "anthropic" else OPENAI_TOOLS
    exchange = gw.exchange(ANTHROPIC if ingress == "anthropic" else OPENAI, orjson.dumps(body), {})
    if stream:
        relay = await exchange.open_stream()
        assert isinstance(relay, Relay), relay
        await relay.pump(_discard)
        await relay.close()
    else:
        reply = await exchange.complete()
        assert reply.status == 200, reply.body
    return exchange.trace.id


async def recorded(config: dict[str, Any], *requests: tuple[str, str, bool, bool]) -> list[TraceRecord]:
    """Make `requests` (ingress, model, stream, tools) through a gateway; their trace records."""
    async with seawall.Gateway.from_config(config) as gw:
        ids = [
            await ask(gw, ingress, model, stream=stream, tools=tools)
            for ingress, model, stream, tools in requests
        ]
        assert gw.recorder.flush(5)
        assert gw.store is not None
        records = [gw.store.get(trace_id) for trace_id in ids]
    assert all(records)
    return [r for r in records if r is not None]


async def test_every_dialect_and_shape_reruns_identical_when_nothing_changed(
    sim: Sim, tmp_path: Path
) -> None:
    cases = [
        (ingress, f"m-{kind}", stream, tools)
        for ingress in ("openai", "anthropic")
        for kind in KINDS
        for stream in (False, True)
        for tools in (False, True)
    ]
    raw = gateway_config(sim, tmp_path)
    records = await recorded(raw, *cases)
    config = validate(raw, "(test)")
    problems = []
    for case, rec in zip(cases, records, strict=True):
        result = await rerun_live(rec, config)
        live, old = result.live, result.recorded
        ok = (
            not result.diff.differs
            and live.error is None
            and (live.tool_calls if case[3] else live.text)
            and live.input_tokens
            and live.latency_ms is not None
            and (live.ttft_ms is not None) == case[2]
        )
        if not ok:
            problems.append(f"{case}:\n{render_diff(result.diff)}")
        if case[3]:
            assert old.tool_calls[0].name == "get_weather" and old.tool_calls[0].arguments == {
                "city": "Paris"
            }
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize(
    ("kind", "stream", "changed"),
    [
        ("openai", False, ("response_model", "system_fingerprint")),
        ("openai", True, ("response_model", "system_fingerprint")),
        ("anthropic", True, ("response_model",)),  # Anthropic reports no fingerprint
        ("gemini", False, ("response_model",)),  # nor Gemini: its modelVersion is the model
    ],
)
async def test_a_model_switched_at_runtime_is_called_out(
    sim: Sim, tmp_path: Path, kind: str, stream: bool, changed: tuple[str, ...]
) -> None:
    raw = gateway_config(sim, tmp_path)
    (rec,) = await recorded(raw, ("openai", f"m-{kind}", stream, False))
    sim.control(system_fingerprint="fp_v2", model="silently-updated-model")
    result = await rerun_live(rec, validate(raw, "(test)"))
    assert result.diff.changed == changed and result.diff.identity_changed
    assert result.live.response_model == "silently-updated-model"
    view = render_diff(result.diff)
    assert view.startswith(
        f"model identity changed: {UPSTREAM_MODEL[kind]} -> silently-updated-model (response model)"
    )
    if "system_fingerprint" in changed:
        assert "\nmodel identity changed: fp_seawall_sim -> fp_v2 (system_fingerprint)\n" in view


async def test_a_live_upstream_error_is_shown_beside_the_recorded_answer(sim: Sim, tmp_path: Path) -> None:
    raw = gateway_config(sim, tmp_path)
    (rec,) = await recorded(raw, ("anthropic", "m-anthropic", True, False))
    sim.control(error_rate=1, error_status=529)
    result = await rerun_live(rec, validate(raw, "(test)"))
    assert sim.calls() == 2  # the recording and one live attempt: no retry
    assert result.live.status == 529 and result.live.error is not None
    assert result.live.error.startswith("overloaded: ")
    assert result.diff.changed == ("status", "error") and result.recorded.text


async def test_an_embedded_simulated_provider_is_started_for_the_rerun(tmp_path: Path) -> None:
    raw = {
        "providers": [
            {"name": "local", "kind": "simulated", "dialect": "anthropic", "simulate": {"seed": 3}}
        ],
        "models": [{"name": "demo", "targets": [{"provider": "local", "model": "claude-sim"}]}],
        "traces": {"store": f"sqlite:///{tmp_path / 'traces.db'}"},
    }
    (rec,) = await recorded(raw, ("openai", "demo", True, True))
    result = await rerun_live(rec, validate(raw, "(test)"))
    assert not result.diff.differs, render_diff(result.diff)
    assert result.attempt.url.startswith("http://127.0.0.1:") and result.live.tool_calls


# -- the command line ------------------------------------------------------------------------------
def _cli_setup(sim: Sim, tmp: Path) -> tuple[str, str]:
    """A config file, and the id of one streamed request recorded in its store."""
    raw = gateway_config(sim, tmp)
    path = tmp / "seawall.yaml"
    path.write_text(yaml.safe_dump(raw))
    (rec,) = asyncio.run(recorded(raw, ("openai", "m-openai", True, False)))
    return str(path), rec.id


def test_the_cli_entry(sim: Sim, tmp_path: Path) -> None:
    config, trace_id = _cli_setup(sim, tmp_path)
    runner = CliRunner()

    same = runner.invoke(replay_live_command, [trace_id, "--live", "--config", config])
    assert same.exit_code == 0, same.output
    assert same.stdout.startswith(
        f"live re-run of trace {trace_id}: model m-openai, openai ingress, streamed\n"
    )
    assert "  live:     openai/gpt-4o-mini, one attempt (no retry, no fallback)\n" in same.stdout
    assert same.stdout.endswith("no difference (timing aside)\n")
    assert (
        runner.invoke(replay_live_command, [trace_id, "--live", "-c", config, "--fail-on-diff"]).exit_code
        == 0
    )

    sim.control(system_fingerprint="fp_v2")
    # options before the id, and an id prefix, as `seawall traces show` takes
    changed = runner.invoke(replay_live_command, ["--live", "--config", config, trace_id[:10]])
    assert changed.exit_code == 0, changed.output
    assert "\nmodel identity changed: fp_seawall_sim -> fp_v2 (system_fingerprint)\n" in changed.stdout
    assert changed.stdout.endswith("differs: model identity\n")
    failing = runner.invoke(replay_live_command, ["--live", "--fail-on-diff", "--config", config, trace_id])
    assert failing.exit_code == 1

    sim.control(error_rate=1, error_status=503)
    errored = runner.invoke(replay_live_command, [trace_id, "--live", "--config", config])
    assert errored.exit_code == 0  # the live call was made: its error is the result
    assert "live error: server_error: upstream 503: " in errored.stdout

    elsewhere = runner.invoke(
        replay_live_command, [trace_id, "--live", "--config", config, "--target", "anthropic/claude-x"]
    )
    assert elsewhere.exit_code == 0, elsewhere.output
    assert "  live:     anthropic/claude-x, one attempt" in elsewhere.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope123456", "--live"], "error: no trace 'nope123456' in sqlite:///"),
        (["TRACE", "--live", "--target", "gone/model"], "error: target 'gone/model' is not in the config"),
        (["TRACE"], "error: this command re-runs traces live only: pass --live"),
    ],
)
def test_the_cli_says_what_went_wrong(sim: Sim, tmp_path: Path, args: list[str], message: str) -> None:
    config, trace_id = _cli_setup(sim, tmp_path)
    argv = [trace_id if arg == "TRACE" else arg for arg in args] + ["--config", config]
    result = CliRunner().invoke(replay_live_command, argv)
    assert result.exit_code == 2
    assert result.stderr.startswith(message) and result.stdout == ""
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_a_bad_config_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("providers: []\nmodels: []\n")
    code = "from seawall.replay import replay_live_command; replay_live_command()"
    run = subprocess.run(
        [sys.executable, "-c", code, "0123456789ab", "--live", "--config", str(bad)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.startswith(f"error: {bad}: providers: List should have at least 1 item")
    assert "Traceback" not in run.stderr
