"""The response cache end to end: the official SDKs against `seawall serve`, simulated upstreams over
real sockets. Hits, misses and bypasses; answers never served across snapshots, parameters,
targets (a fallback's answer) or model identities; streamed hits are valid streams for both SDKs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest

import seawall
from seawall.ingress import OPENAI
from tests.integration._procs import GatewayProc, Sim

pytestmark = pytest.mark.integration

ASK = [{"role": "user", "content": "What is 17 + 25?"}]


def cached_config(tmp_path: Path, **sim: Any) -> dict[str, Any]:
    return {
        "providers": [
            {"name": "alpha", "kind": "simulated", "simulate": {"seed": 1, **sim}},
            {"name": "beta", "kind": "simulated", "simulate": {"seed": 2}},
        ],
        "models": [
            {
                "name": "chat",
                "targets": [
                    {"provider": "alpha", "model": "alpha-model"},
                    {"provider": "beta", "model": "beta-model"},
                ],
                "cache": {"mode": "exact", "ttl_s": 600},
            },
            {"name": "plain", "targets": [{"provider": "alpha", "model": "alpha-model"}]},
        ],
        "traces": {"store": f"sqlite:///{tmp_path / 't.db'}"},
    }


async def ask(
    gw: seawall.Gateway, headers: dict[str, str] | None = None, **body: Any
) -> tuple[str | None, Any]:
    """(x-seawall-cache, the answer) of one non-streamed request through the gateway's lifecycle."""
    import orjson

    payload = {"model": "chat", "messages": ASK, **body}
    exchange = gw.exchange(OPENAI, orjson.dumps(payload), headers or {})
    reply = await exchange.complete()
    found = dict(reply.headers).get(b"x-seawall-cache")
    return (found.decode() if found else None), orjson.loads(reply.body)


async def test_same_request_hits_and_every_part_of_the_key_can_miss(tmp_path: Path) -> None:
    async with seawall.Gateway.from_config(cached_config(tmp_path)) as gw:
        h1 = await gw.put_snapshot({"documents": [{"id": "a", "content": "one"}]})
        h2 = await gw.put_snapshot({"documents": [{"id": "a", "content": "two"}]})
        assert (await ask(gw))[0] == "miss"
        status, answer = await ask(gw)
        assert status == "hit" and answer["model"] == "alpha-model"
        assert (await ask(gw, temperature=0.5))[0] == "miss"  # another parameter
        assert (await ask(gw, temperature=1))[0] == "hit"  # the documented default: the same request
        assert (await ask(gw, {"x-seawall-context-snapshot": h1}))[0] == "miss"  # another context
        assert (await ask(gw, {"x-seawall-context-snapshot": h1}))[0] == "hit"
        assert (await ask(gw, {"x-seawall-context-snapshot": h2}))[0] == "miss"
        assert (await ask(gw, {"cache-control": "no-cache"}))[0] == "bypass"
        assert (await ask(gw, n=2))[0] == "bypass"  # n > 1 is never cached
        import orjson

        plain = await gw.exchange(OPENAI, orjson.dumps({"model": "plain", "messages": ASK}), {}).complete()
        assert b"x-seawall-cache" not in dict(plain.headers)  # a model without `cache`
        metrics = gw.metrics.render().decode()
        assert 'seawall_cache_requests_total{model="chat",result="hit"} 3.0' in metrics


async def test_a_fallbacks_answer_is_not_served_once_the_primary_answers_again(tmp_path: Path) -> None:
    async with seawall.Gateway.from_config(cached_config(tmp_path, error_rate=1.0)) as gw:
        status, answer = await ask(gw)
        assert (
            status == "miss" and answer["model"] == "beta-model"
        )  # alpha failed: beta answered, stored as beta's
        gw._simulators[0].update({"error_rate": 0.0})
        status, answer = await ask(gw)
        assert status == "miss" and answer["model"] == "alpha-model"  # alpha first again: not beta's answer
        assert (await ask(gw))[0] == "hit"


async def test_no_entry_is_served_after_the_model_identity_changed(tmp_path: Path) -> None:
    async with seawall.Gateway.from_config(cached_config(tmp_path)) as gw:
        assert (await ask(gw))[0] == "miss"
        assert (await ask(gw))[0] == "hit"
        gw._simulators[0].update({"system_fingerprint": "fp_new"})
        other = await ask(gw, messages=[{"role": "user", "content": "What is 2 + 2?"}])
        assert other[0] == "miss" and other[1]["system_fingerprint"] == "fp_new"  # the change is seen
        status, answer = await ask(gw)
        assert status == "miss" and answer["system_fingerprint"] == "fp_new"  # the old entry is unreachable
        assert (await ask(gw))[0] == "hit"


async def test_no_store_is_neither_served_nor_stored(tmp_path: Path) -> None:
    async with seawall.Gateway.from_config(cached_config(tmp_path)) as gw:
        assert (await ask(gw, {"cache-control": "no-store"}))[0] == "bypass"
        assert (await ask(gw))[0] == "miss"  # nothing was stored by the no-store request
        assert (await ask(gw, {"cache-control": "no-cache"}))[0] == "bypass"
        assert (await ask(gw))[0] == "hit"


def test_streamed_hits_are_valid_streams_for_both_sdks(tmp_path: Path) -> None:
    alpha = Sim(tmp_path, "alpha", seed=5)
    try:
        gw = GatewayProc(
            tmp_path,
            {
                "providers": [{"name": "alpha", "kind": "openai", "base_url": alpha.url + "/v1"}],
                "models": [
                    {
                        "name": "chat",
                        "targets": [{"provider": "alpha", "model": "alpha-model"}],
                        "cache": {"mode": "exact", "ttl_s": 600},
                    }
                ],
            },
        )
        oa = openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)
        an = anthropic.Anthropic(base_url=gw.url, api_key="unused", max_retries=0)
        try:
            texts, statuses = [], []
            for _ in range(2):
                raw = oa.chat.completions.with_raw_response.create(
                    model="chat", messages=ASK, stream=True, stream_options={"include_usage": True}
                )
                chunks = list(raw.parse())
                statuses.append(raw.headers.get("x-seawall-cache"))
                texts.append("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
                assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0
                assert any(c.choices and c.choices[0].finish_reason == "stop" for c in chunks)
            assert statuses == ["miss", "hit"] and texts[0] == texts[1] == "42"
            json_hit = oa.chat.completions.with_raw_response.create(model="chat", messages=ASK)
            assert (
                json_hit.headers.get("x-seawall-cache") == "hit"
            )  # a streamed answer serves a JSON request too
            assert json_hit.parse().choices[0].message.content == "42"
            calls = alpha.calls()
            anthropic_texts = []
            for _ in range(2):
                with an.messages.stream(model="chat", max_tokens=64, messages=ASK) as stream:
                    anthropic_texts.append(stream.get_final_text())
                    assert stream.get_final_message().stop_reason == "end_turn"
            assert anthropic_texts == ["42", "42"]
            assert alpha.calls() == calls + 1  # the second Anthropic stream was a hit
            trace_id = json_hit.headers["x-seawall-trace-id"]
            shown = gw.cli("traces", "show", trace_id)
            assert "cache: hit" in shown and "target: alpha/alpha-model" in shown
            replayed = subprocess.run(
                [sys.executable, "-m", "seawall.cli", "replay", trace_id, "--store", f"sqlite:///{gw.db}"],
                capture_output=True,
                text=True,
                check=False,
            )
            assert replayed.returncode == 2 and "answered from the response cache" in replayed.stderr
            rows = [
                json.loads(line) for line in gw.cli("traces", "list", "--json").splitlines() if line.strip()
            ]
            first = min(rows, key=lambda row: row["ts"])["id"]  # the first stream: a miss, stored
            assert gw.cli("replay", first).strip().endswith("identical")
        finally:
            oa.close()
            an.close()
            gw.stop()
    finally:
        alpha.stop()
