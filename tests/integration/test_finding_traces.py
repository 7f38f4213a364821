"""Finding traces over real sockets: `seawall serve` in front of two simulators, the admin API's
filters (`GET /admin/traces`), the same filters and the timeline from `seawall traces`, and
retention running in the background of a serving gateway."""

from __future__ import annotations

import datetime as dt
import json
import math
import time
import urllib.error
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.integration._procs import GatewayProc, Sim, http_json
from tests.integration.conftest import gateway_config


@pytest.fixture(scope="module")
def served(session_tmp: Path, _sims: tuple[Sim, Sim]) -> Iterator[tuple[GatewayProc, dict[str, str]]]:
    """A gateway with retention on, and the ids of a few requests of each kind it served."""
    for sim in _sims:
        sim.reset()
    config = gateway_config(*_sims)
    config["traces"] = {
        "store": f"sqlite:///{session_tmp / 'gw-find' / 'traces.db'}",
        "retention": {"max_age": "30d", "max_bytes": "1GB", "interval": "1s"},
    }
    gw = GatewayProc(session_tmp, config, name="gw-find")
    primary, _secondary = _sims
    ids: dict[str, str] = {}
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0) as oai:

        def ask(name: str, model: str, text: str, conversation: str | None = None, **kw: Any) -> None:
            headers = {"x-seawall-conversation-id": conversation} if conversation else {}
            raw = oai.chat.completions.with_raw_response.create(
                model=model, messages=[{"role": "user", "content": text}], extra_headers=headers, **kw
            )
            if kw.get("stream"):
                list(raw.parse())
            ids[name] = raw.headers["x-seawall-trace-id"]

        ask("plain", "chat", "Where is parcel ORD-7781 today?", "conv-it-1")
        ask("streamed", "chat", "echo: the aardvark sleeps", "conv-it-1", stream=True)
        primary.control(error_rate=1, error_status=503)
        ask("fell_back", "chat", "What is 2+3?", "conv-it-2")  # primary 503, secondary answers
        with pytest.raises(openai.APIStatusError) as failed:
            ask("failed", "solo", "What is 4+4?")  # solo has only primary
        ids["failed"] = failed.value.response.headers["x-seawall-trace-id"]
        primary.control(reset=True)
    yield gw, ids
    gw.stop()


def admin(gw: GatewayProc, **params: str) -> dict[str, Any]:
    result: dict[str, Any] = http_json("GET", f"{gw.url}/admin/traces?{urllib.parse.urlencode(params)}")
    return result


def listed(gw: GatewayProc, **params: str) -> list[str]:
    return [row["id"] for row in admin(gw, **params)["data"]]


def test_every_filter_of_the_admin_api(served: tuple[GatewayProc, dict[str, str]]) -> None:
    gw, ids = served
    newest_first = [ids["failed"], ids["fell_back"], ids["streamed"], ids["plain"]]
    assert listed(gw) == newest_first
    assert listed(gw, model="solo") == [ids["failed"]]
    # any attempt's target: the fallback tried primary first
    assert listed(gw, target="primary/gpt-primary") == newest_first
    assert listed(gw, target="secondary/gpt-secondary") == [ids["fell_back"]]
    assert listed(gw, status="5xx") == [ids["failed"]]
    assert listed(gw, status="ok", model="chat") == [ids["fell_back"], ids["streamed"], ids["plain"]]
    assert listed(gw, errors="1") == [ids["failed"]]
    assert listed(gw, error_class="server_error") == [ids["failed"], ids["fell_back"]]  # any attempt's
    assert listed(gw, error_class="server_error", status="error") == [ids["failed"]]
    assert listed(gw, conversation_id="conv-it-1") == [ids["streamed"], ids["plain"]]
    assert listed(gw, q="ORD-7781") == [ids["plain"]]  # in the request
    assert listed(gw, q="aardvark sleeps") == [ids["streamed"]]  # in the request, and the streamed answer
    answer = gw.trace(ids["plain"])["response"]["body"]
    word = json.loads(answer)["choices"][0]["message"]["content"].split()[1]
    assert ids["plain"] in listed(gw, q=word)  # in a JSON answer
    rows = admin(gw, conversation_id="conv-it-2")["data"]
    assert [(r["id"], r["conversation_id"], r["answered_by"]) for r in rows] == [
        (ids["fell_back"], "conv-it-2", "secondary/gpt-secondary")
    ]


def test_time_windows_and_pages(served: tuple[GatewayProc, dict[str, str]]) -> None:
    gw, ids = served
    everything = listed(gw)
    ts = {row["id"]: row["ts"] for row in admin(gw)["data"]}
    assert listed(gw, since="1h") == everything
    assert listed(gw, until="1h") == []
    # to the millisecond, rounded down (microseconds rounded half-even could land after `ts`)
    iso = dt.datetime.fromtimestamp(math.floor(ts[ids["fell_back"]] * 1000) / 1000, dt.UTC).isoformat()
    assert listed(gw, since=iso) == [ids["failed"], ids["fell_back"]]
    assert listed(gw, until=str(ts[ids["fell_back"]])) == [ids["streamed"], ids["plain"]]
    first = admin(gw, limit="3")
    assert first["has_more"] is True and first["enabled"] is True and first["object"] == "list"
    second = admin(gw, limit="3", before=first["data"][-1]["id"])
    assert second["has_more"] is False
    assert [r["id"] for r in first["data"] + second["data"]] == everything


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("since=yesterday", "since"),
        ("status=6xx", "status"),
        ("error_class=explosion", "error_class"),
        ("target=just-a-model", "target"),
        ("limit=many", "limit"),
        ("q=%22%22", "q"),
        ("stauts=500", "stauts"),
    ],
)
def test_a_bad_parameter_is_a_400_naming_it(
    served: tuple[GatewayProc, dict[str, str]], query: str, param: str
) -> None:
    gw, _ids = served
    with pytest.raises(urllib.error.HTTPError) as caught:
        http_json("GET", f"{gw.url}/admin/traces?{query}")
    assert caught.value.code == 400
    error = json.loads(caught.value.read())["error"]
    caught.value.close()
    assert error["param"] == param and error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"Invalid {param}: ")


def test_one_trace_and_an_unknown_one(served: tuple[GatewayProc, dict[str, str]]) -> None:
    gw, ids = served
    assert gw.trace(ids["fell_back"][:16])["id"] == ids["fell_back"]  # a unique prefix
    with pytest.raises(urllib.error.HTTPError) as caught:
        gw.trace("0000000000000000deadbeef")
    assert caught.value.code == 404
    caught.value.close()


def test_the_cli_filters_and_timeline_read_the_same_store(served: tuple[GatewayProc, dict[str, str]]) -> None:
    gw, ids = served
    out = gw.cli("traces", "list", "--target", "secondary/gpt-secondary", "--conversation", "conv-it-2")
    assert out.splitlines()[1].startswith(ids["fell_back"])
    assert "secondary/gpt-secondary  conversation conv-it-2" in out
    shown = gw.cli("traces", "show", ids["fell_back"])
    timeline = shown[shown.index("timeline (since arrival):") :]
    order = [
        "arrived: openai request for chat",
        "gate primary/gpt-primary: go",
        "attempt #0 to primary/gpt-primary started",
        "attempt #0 ended: server_error, status 503",
        "gate secondary/gpt-secondary: go",
        "attempt #1 to secondary/gpt-secondary started",
        "attempt #1 ended: ok, status 200",
        "end: status 200",
    ]
    positions = [timeline.index(step) for step in order]
    assert positions == sorted(positions)
    streamed = gw.cli("traces", "show", ids["streamed"])
    assert (
        "first byte to the client" in streamed
        and "write 1/" in streamed
        and "end: status 200, stream done" in streamed
    )


def test_retention_passes_run_while_the_gateway_serves(served: tuple[GatewayProc, dict[str, str]]) -> None:
    gw, _ids = served
    deadline = time.monotonic() + 10
    while True:  # interval 1s: a pass has measured the store
        metrics = _metrics(gw)
        if metrics.get("seawall_trace_store_bytes", 0) > 0:
            break
        assert time.monotonic() < deadline, metrics
        time.sleep(0.1)
    assert metrics["seawall_trace_retention_deleted_total"] == 0  # nothing is 30 days old
    with openai.OpenAI(base_url=gw.url + "/v1", api_key="x", max_retries=0) as oai:
        for _ in range(20):
            oai.chat.completions.create(model="chat", messages=[{"role": "user", "content": "What is 1+1?"}])


def _metrics(gw: GatewayProc) -> dict[str, float]:
    with urllib.request.urlopen(gw.url + "/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        line.split()[0]: float(line.split()[1])
        for line in text.splitlines()
        if line.startswith("seawall_trace") and "{" not in line
    }
