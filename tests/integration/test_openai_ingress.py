"""The OpenAI dialect through a real gateway process, with the official `openai` SDK."""

from __future__ import annotations

import json

import openai
import pytest

from tests.integration._procs import GatewayProc, Sim

USER = [{"role": "user", "content": "What is 17+25? Answer with the number only."}]


def client(gw: GatewayProc) -> openai.OpenAI:
    return openai.OpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def aclient(gw: GatewayProc) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=gw.url + "/v1", api_key="unused", max_retries=0)


def test_sync_completion_has_answer_and_trace_header(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    with client(gateway) as c:
        raw = c.chat.completions.with_raw_response.create(model="chat", messages=USER)
    completion = raw.parse()
    assert completion.choices[0].message.content == "42"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.total_tokens > 0
    trace_id = raw.headers["x-seawall-trace-id"]
    assert raw.headers["x-seawall-target"] == "primary/gpt-primary"
    record = gateway.trace(trace_id)
    assert record["status"] == 200
    assert [a["error_class"] for a in record["attempts"]] == [None]
    assert record["attempts"][0]["response_model"] == completion.model
    assert sims[0].calls() == 1
    assert sims[1].calls() == 0


async def test_async_stream_with_usage(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    async with aclient(gateway) as c:
        stream = await c.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "Tell me about foxes."}],
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert len(text.split()) >= 5
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert finishes == ["stop"]


def test_sync_stream_without_usage_has_no_usage_chunk(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    with client(gateway) as c:
        chunks = list(c.chat.completions.create(model="chat", messages=USER, stream=True))
    assert all(ch.choices for ch in chunks)
    assert "".join(ch.choices[0].delta.content or "" for ch in chunks) == "42"


async def test_async_completion(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    async with aclient(gateway) as c:
        completion = await c.chat.completions.create(model="solo", messages=USER)
    assert completion.choices[0].message.content == "42"


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Weather for a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}, "unit": {"type": "string", "enum": ["c", "f"]}},
                "required": ["city", "unit"],
            },
        },
    }
]


@pytest.mark.parametrize("stream", [False, True])
def test_tool_call_round_trip(gateway: GatewayProc, sims: tuple[Sim, Sim], stream: bool) -> None:
    messages: list[dict[str, object]] = [{"role": "user", "content": "What is the weather in Paris?"}]
    with client(gateway) as c:
        if stream:
            calls: dict[int, dict[str, str]] = {}
            for chunk in c.chat.completions.create(model="chat", messages=messages, tools=TOOLS, stream=True):
                for tc in (chunk.choices[0].delta.tool_calls or []) if chunk.choices else []:
                    entry = calls.setdefault(tc.index, {"id": "", "name": "", "arguments": ""})
                    entry["id"] += tc.id or ""
                    entry["name"] += (tc.function.name or "") if tc.function else ""
                    entry["arguments"] += (tc.function.arguments or "") if tc.function else ""
            call = calls[0]
        else:
            first = c.chat.completions.create(model="chat", messages=messages, tools=TOOLS)
            assert first.choices[0].finish_reason == "tool_calls"
            tc = first.choices[0].message.tool_calls[0]  # type: ignore[index]
            call = {"id": tc.id, "name": tc.function.name, "arguments": tc.function.arguments}  # type: ignore[union-attr]
        assert call["name"] == "get_weather"
        args = json.loads(call["arguments"])
        assert args["unit"] == "c"
        assert isinstance(args["city"], str)
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call["id"],
                        "type": "function",
                        "function": {"name": call["name"], "arguments": call["arguments"]},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": call["id"], "content": "18C and sunny"})
        second = c.chat.completions.create(model="chat", messages=messages, tools=TOOLS)
    assert second.choices[0].message.content is not None
    assert "18C and sunny" in second.choices[0].message.content


def test_json_mode(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    with client(gateway) as c:
        completion = c.chat.completions.create(
            model="chat",
            messages=[{"role": "user", "content": "Give me a JSON object."}],
            response_format={"type": "json_object"},
        )
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


def test_parameters_and_unknown_fields_pass_through(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    with client(gateway) as c:
        c.chat.completions.create(
            model="chat",
            messages=USER,
            temperature=0.3,
            max_completion_tokens=50,
            stop=["\n\n"],
            seed=7,
            user="user-123",
            extra_body={"x_vendor_knob": {"depth": 2}, "top_k": 5},
        )
    received = sims[0].requests()[-1]["body"]
    assert received["model"] == "gpt-primary"
    for key, value in {
        "temperature": 0.3,
        "max_completion_tokens": 50,
        "stop": ["\n\n"],
        "seed": 7,
        "user": "user-123",
        "x_vendor_knob": {"depth": 2},
        "top_k": 5,
    }.items():
        assert received[key] == value, key


def test_upstream_never_sees_client_auth_and_gets_its_own_key(
    gateway: GatewayProc, sims: tuple[Sim, Sim]
) -> None:
    with openai.OpenAI(base_url=gateway.url + "/v1", api_key="sk-client-key", max_retries=0) as c:
        c.chat.completions.create(model="chat", messages=USER)
    headers = {k.lower(): v for k, v in sims[0].requests()[-1]["headers"].items()}
    assert "sk-client-key" not in json.dumps(headers)


def test_models_endpoint_lists_configured_names(gateway: GatewayProc) -> None:
    with client(gateway) as c:
        assert sorted(m.id for m in c.models.list()) == ["chat", "solo"]


def test_health(gateway: GatewayProc) -> None:
    from tests.integration._procs import http_json

    assert http_json("GET", gateway.url + "/health/live") == {"status": "live"}
    assert http_json("GET", gateway.url + "/health/ready")["status"] == "ready"


def test_metrics_count_requests_and_attempts(gateway: GatewayProc, sims: tuple[Sim, Sim]) -> None:
    import urllib.request

    sims[0].control(error_rate=1, error_status=503)
    with client(gateway) as c:
        c.chat.completions.create(model="chat", messages=USER)
    text = urllib.request.urlopen(gateway.url + "/metrics", timeout=5).read().decode()
    assert 'seawall_upstream_attempts_total{outcome="server_error",target="primary/gpt-primary"}' in text
    assert 'seawall_fallbacks_total{model="chat"}' in text
    assert 'seawall_request_duration_seconds_bucket{le="+Inf",model="chat"}' in text
    assert "SECRET" not in text
    # the trace recorder's own health: what it accepted, its backlog, failed store writes
    values = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line[:1] != "#"}
    assert values["seawall_traces_recorded_total"] >= 1
    assert 0 <= values["seawall_trace_backlog"] <= values["seawall_traces_recorded_total"]
    assert values["seawall_trace_store_failures_total"] == 0
