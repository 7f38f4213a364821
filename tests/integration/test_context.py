"""Consistent context over HTTP: snapshot endpoints, conversation state bound to one snapshot
(strict refuses, warn flags), stale versions flagged, unknown snapshots refused — with the official
SDKs (`extra_body` and headers) against `seawall serve` and a `seawall simulate` upstream."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import openai
import pytest

import seawall
from tests.integration._procs import GatewayProc, Sim, http_json

pytestmark = pytest.mark.integration

ASK = [{"role": "user", "content": "Summarise the context."}]


def snapshot(n: int) -> dict[str, Any]:
    return {
        "documents": [{"id": f"doc-{n}", "content": f"retrieved text {n}", "score": 0.5 + n / 1000}],
        "index_version": "2026-12-01",
        "retriever": {"k": 1},
    }


@pytest.fixture
def served(tmp_path: Path) -> Any:
    sim = Sim(tmp_path, "up", seed=7)
    gw = GatewayProc(
        tmp_path,
        {
            "providers": [{"name": "up", "kind": "openai", "base_url": sim.url + "/v1"}],
            "models": [
                {
                    "name": "strict",
                    "targets": [{"provider": "up", "model": "m"}],
                    "context": {"consistency": "strict"},
                },
                {
                    "name": "warn",
                    "targets": [{"provider": "up", "model": "m"}],
                    "context": {"consistency": "warn"},
                },
            ],
            "context": {"max_snapshot_bytes": "4KB"},
        },
    )
    yield gw
    gw.stop()
    sim.stop()


def post(url: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_snapshots_are_content_addressed_immutable_and_fetchable(served: GatewayProc) -> None:
    url = served.url + "/v1/context/snapshots"
    status, first = post(url, json.dumps(snapshot(1)).encode())
    assert status == 201 and first["hash"].startswith("sha256:") and first["created"] is True
    reordered = json.dumps(dict(reversed(list(snapshot(1).items()))), indent=2).encode()
    status, again = post(url, reordered)
    assert status == 201 and again == {"hash": first["hash"], "created": False}  # same content, same hash
    assert http_json("GET", f"{url}/{first['hash']}") == snapshot(1)
    for body, code, param in (
        (b"{not json", 400, None),
        (json.dumps({"docs": []}).encode(), 400, "documents"),
        (json.dumps({"documents": [{"id": "a"}, {"id": "a"}]}).encode(), 400, "documents[1].id"),
        (json.dumps({"documents": [{"id": "x", "content": "y" * 5000}]}).encode(), 413, None),
    ):
        status, error = post(url, body)
        assert status == code and "error" in error, (body[:40], error)
        if param is not None:
            assert error["error"]["param"] == param
    for digest, code in (("sha256:" + "0" * 64, 404), ("sha256:nothex", 400)):
        with pytest.raises(urllib.error.HTTPError) as missing:
            http_json("GET", f"{url}/{digest}")
        missing.value.close()
        assert missing.value.code == code


def test_two_services_two_snapshots_one_state_is_refused_or_flagged(served: GatewayProc) -> None:
    url = served.url + "/v1/context/snapshots"
    a = post(url, json.dumps(snapshot(10)).encode())[1]["hash"]
    b = post(url, json.dumps(snapshot(11)).encode())[1]["hash"]
    client = openai.OpenAI(base_url=served.url + "/v1", api_key="unused", max_retries=0)
    try:
        state = {"conversation_id": "conv-1", "state_version": 4}
        ok = client.chat.completions.create(
            model="strict", messages=ASK, extra_body={"seawall": {**state, "context_snapshot": a}}
        )
        assert ok.choices[0].message.content
        with pytest.raises(openai.APIStatusError) as info:  # service two, another snapshot, same state
            client.chat.completions.create(
                model="strict",
                messages=ASK,
                extra_headers={
                    "x-seawall-conversation-id": "conv-1",
                    "x-seawall-state-version": "4",
                    "x-seawall-context-snapshot": b,
                },
            )
        assert info.value.status_code == 409
        assert a in info.value.message and b in info.value.message
        # warn: served, but the trace says so
        client.chat.completions.create(
            model="warn", messages=ASK, extra_body={"seawall": {**state, "context_snapshot": a}}
        )
        warned = client.chat.completions.with_raw_response.create(
            model="warn",
            messages=ASK,
            extra_body={"seawall": {"conversation_id": "conv-1", "state_version": 4, "context_snapshot": b}},
        )
        assert warned.status_code == 200
        record = served.trace(warned.headers["x-seawall-trace-id"])
        assert record["context"]["binding"] == "conflict" and record["context"]["bound_snapshot"] == a
        # an older version than one already seen: served, flagged
        stale = client.chat.completions.with_raw_response.create(
            model="warn",
            messages=ASK,
            extra_body={"seawall": {"conversation_id": "conv-1", "state_version": 2, "context_snapshot": a}},
        )
        assert served.trace(stale.headers["x-seawall-trace-id"])["context"]["newest_version"] == 4
        with pytest.raises(openai.BadRequestError) as unknown:
            client.chat.completions.create(
                model="strict",
                messages=ASK,
                extra_headers={"x-seawall-context-snapshot": "sha256:" + "9" * 64},
            )
        assert "Unknown context snapshot" in unknown.value.message
        metrics = urllib.request.urlopen(served.url + "/metrics").read().decode()
        assert 'seawall_context_requests_total{model="strict",outcome="conflict"} 1.0' in metrics
        assert 'seawall_context_requests_total{model="warn",outcome="stale"} 1.0' in metrics
        shown = served.cli("traces", "show", warned.headers["x-seawall-trace-id"])
        assert "binding: conflict" in shown and a in shown
        refused = served.cli("traces", "list", "--model", "strict", "--status", "409", "--json")
        refused_id = json.loads(refused.splitlines()[0])["id"]
        for trace_id in (
            warned.headers["x-seawall-trace-id"],
            stale.headers["x-seawall-trace-id"],
            refused_id,
        ):
            assert served.cli("replay", trace_id).strip().endswith("identical")  # the verdict, as recorded
    finally:
        client.close()


async def test_racing_clients_bind_exactly_one_snapshot_every_round(tmp_path: Path) -> None:
    cfg = {
        "providers": [{"name": "a", "kind": "simulated", "simulate": {"seed": 1}}],
        "models": [{"name": "chat", "targets": [{"provider": "a", "model": "x"}]}],
        "traces": {"store": "none"},
    }
    async with seawall.Gateway.from_config(cfg) as gw:
        hashes = [await gw.put_snapshot(snapshot(n)) for n in range(4)]
        assert await gw.get_snapshot(hashes[0]) == snapshot(0)

        async def one(version: int, digest: str) -> str:
            try:
                await gw.chat(
                    model="chat",
                    messages=ASK,
                    seawall={"conversation_id": "race", "state_version": version, "context_snapshot": digest},
                )
                return digest
            except seawall.SeawallError as exc:
                if exc.status != 409:
                    raise
                return "refused"

        for version in range(60):
            outcomes = await asyncio.gather(*(one(version, h) for h in hashes))
            winners = [o for o in outcomes if o != "refused"]
            assert len(winners) == 1, outcomes  # exactly one binding wins, whatever the interleaving
            again = await one(version, winners[0])
            assert again == winners[0]  # the bound snapshot keeps being served
