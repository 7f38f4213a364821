"""The simulated provider over real sockets, driven by the official SDKs and by raw HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import aiohttp
import anthropic
import openai
import orjson
import pytest

from seawall.simulate import Simulator, SimulatorSettings

pytestmark = pytest.mark.integration

USER: Any = [{"role": "user", "content": "What is 17+25? Answer with the number only."}]
WEATHER_TOOL: Any = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location", "unit"],
        },
    },
}
WEATHER_ARGS = {"location": "Paris", "unit": "celsius"}
CANNED = "The quick brown fox jumps over the lazy dog while the gateway"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    async with Simulator() as simulator:
        yield simulator


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
async def oai(sim: Simulator) -> AsyncIterator[openai.AsyncOpenAI]:
    async with openai.AsyncOpenAI(base_url=sim.url + "/v1", api_key="sk-test", max_retries=0) as client:
        yield client


@pytest.fixture
async def claude(sim: Simulator) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(base_url=sim.url, api_key="sk-ant-test", max_retries=0) as client:
        yield client


def chat(content: str = "What is 17+25?", **extra: Any) -> dict[str, Any]:
    return {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": content}], **extra}


def message(content: str = "What is 17+25?", **extra: Any) -> dict[str, Any]:
    return {
        "model": "claude-sim-1",
        "max_tokens": 100,
        "messages": [{"role": "user", "content": content}],
        **extra,
    }


def gemini(text: str = "What is 17+25?", **extra: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [{"text": text}]}], **extra}


def parse_sse(raw: bytes) -> list[tuple[str | None, Any]]:
    """(event name, data) pairs; data is JSON, or the raw text when it is not."""
    events = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        name, data = None, []
        for line in block.split(b"\n"):
            if line.startswith(b"event: "):
                name = line[7:].decode()
            elif line.startswith(b"data: "):
                data.append(line[6:])
        if data:
            text = b"\n".join(data)
            try:
                events.append((name, orjson.loads(text)))
            except orjson.JSONDecodeError:
                events.append((name, text.decode()))
    return events


async def read_cut_stream(response: aiohttp.ClientResponse) -> bytes:
    """The bytes of a stream that must end without its terminal chunk (a truncated body)."""
    received = bytearray()

    async def drain() -> None:
        async for data in response.content.iter_any():
            received.extend(data)

    with pytest.raises(aiohttp.ClientPayloadError):
        await drain()
    return bytes(received)


# ---- OpenAI ------------------------------------------------------------------------------------
async def test_openai_sdk_json(oai: openai.AsyncOpenAI) -> None:
    completion = await oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert completion.choices[0].message.content == "42"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert completion.system_fingerprint == "fp_seawall_sim"
    assert completion.id.startswith("chatcmpl-")
    assert completion.usage is not None
    assert (
        completion.usage.total_tokens == completion.usage.prompt_tokens + completion.usage.completion_tokens
    )


async def test_openai_sdk_stream_with_usage(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "Tell me something"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == CANNED
    assert sum(1 for c in chunks if c.choices and c.choices[0].delta.content) == 12
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens == len(CANNED) // 4


async def test_openai_sdk_tool_call_round_trip(oai: openai.AsyncOpenAI) -> None:
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Paris?"}]
    first = await oai.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
    choice = first.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    assert choice.message.tool_calls is not None
    call = choice.message.tool_calls[0]
    assert call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == WEATHER_ARGS
    messages += [
        choice.message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "18C"},
    ]
    second = await oai.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=[WEATHER_TOOL])
    assert second.choices[0].message.content == "Tool result received: 18C"


async def test_openai_sdk_streamed_tool_call(oai: openai.AsyncOpenAI) -> None:
    stream = await oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "weather in Paris please"}],
        tools=[WEATHER_TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        stream=True,
    )
    fragments, names, finish = [], [], None
    async for chunk in stream:
        choice = chunk.choices[0]
        for delta in choice.delta.tool_calls or ():
            if delta.function and delta.function.name:
                names.append(delta.function.name)
            if delta.function and delta.function.arguments:
                fragments.append(delta.function.arguments)
        finish = choice.finish_reason or finish
    assert names == ["get_weather"]
    assert 2 <= len(fragments) <= 3
    assert json.loads("".join(fragments)) == WEATHER_ARGS
    assert finish == "tool_calls"


async def test_openai_json_schema_and_max_tokens(oai: openai.AsyncOpenAI) -> None:
    schema: dict[str, Any] = {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    structured = await oai.chat.completions.create(
        model="gpt-4o-mini",
        messages=USER,
        response_format={"type": "json_schema", "json_schema": {"name": "a", "schema": schema}},
    )
    assert json.loads(structured.choices[0].message.content or "") == {"answer": 42}
    short = await oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], max_completion_tokens=3, n=2
    )
    assert [c.message.content for c in short.choices] == ["The quick brown"] * 2
    assert short.choices[1].finish_reason == "length"


async def test_openai_echo_sees_the_system_prompt_and_the_last_turn(oai: openai.AsyncOpenAI) -> None:
    history: list[Any] = [
        {"role": "system", "content": "You are a pirate."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "arr"},
    ]
    system = await oai.chat.completions.create(
        model="m", messages=[*history, {"role": "user", "content": "echo-system:"}]
    )
    assert system.choices[0].message.content == "You are a pirate."
    echo = await oai.chat.completions.create(
        model="m", messages=[*history, {"role": "user", "content": "echo: ahoy  there"}]
    )
    assert echo.choices[0].message.content == "ahoy  there"


async def test_openai_reported_model_and_models_list(sim: Simulator, oai: openai.AsyncOpenAI) -> None:
    sim.update({"model": "gpt-4o-mini-2026-01-01", "system_fingerprint": "fp_new"})
    completion = await oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert (completion.model, completion.system_fingerprint) == ("gpt-4o-mini-2026-01-01", "fp_new")
    models = [m.id async for m in oai.models.list()]
    assert "gpt-4o-mini" in models and "gpt-4o-mini-2026-01-01" in models


async def test_openai_rate_limit_headers(sim: Simulator, http: aiohttp.ClientSession) -> None:
    async with http.post(sim.url + "/v1/chat/completions", json=chat()) as resp:
        assert resp.status == 200
        assert resp.headers["x-ratelimit-limit-requests"] == "10000"
        assert int(resp.headers["x-ratelimit-remaining-requests"]) < 10000
        assert resp.headers["x-ratelimit-reset-requests"].endswith("s")
        assert resp.headers["x-ratelimit-limit-tokens"].isdigit()
        assert resp.headers["x-request-id"].startswith("req_")


# ---- Anthropic ---------------------------------------------------------------------------------
async def test_anthropic_sdk_json(claude: anthropic.AsyncAnthropic) -> None:
    msg = await claude.messages.create(
        model="claude-sim-1", max_tokens=100, messages=[{"role": "user", "content": "What is 6 x 7?"}]
    )
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "42"
    assert msg.stop_reason == "end_turn"
    assert msg.model == "claude-sim-1"
    assert msg.usage.output_tokens == 1


async def test_anthropic_sdk_stream(claude: anthropic.AsyncAnthropic) -> None:
    async with claude.messages.stream(
        model="claude-sim-1",
        max_tokens=5,
        system="be brief",
        messages=[{"role": "user", "content": "Tell me"}],
    ) as stream:
        text = "".join([t async for t in stream.text_stream])
        final = await stream.get_final_message()
    assert text == "The quick brown fox jumps"
    assert final.stop_reason == "max_tokens"
    assert final.usage.output_tokens == len(text) // 4


async def test_anthropic_sdk_streamed_tool_use_round_trip(claude: anthropic.AsyncAnthropic) -> None:
    tool: Any = {"name": "get_weather", "input_schema": WEATHER_TOOL["function"]["parameters"]}
    messages: list[Any] = [{"role": "user", "content": "What's the weather in Paris?"}]
    async with claude.messages.stream(
        model="claude-sim-1", max_tokens=100, messages=messages, tools=[tool], tool_choice={"type": "any"}
    ) as stream:
        final = await stream.get_final_message()
    assert final.stop_reason == "tool_use"
    block = final.content[0]
    assert block.type == "tool_use"
    assert (block.name, block.input) == ("get_weather", WEATHER_ARGS)
    messages += [
        {"role": "assistant", "content": [block.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "sunny"}]},
    ]
    after = await claude.messages.create(
        model="claude-sim-1", max_tokens=100, messages=messages, tools=[tool]
    )
    assert after.content[0].type == "text"
    assert after.content[0].text == "Tool result received: sunny"


async def test_anthropic_requires_max_tokens(sim: Simulator, http: aiohttp.ClientSession) -> None:
    body = {"model": "claude-sim-1", "messages": [{"role": "user", "content": "hi"}]}
    async with http.post(sim.url + "/v1/messages", json=body) as resp:
        assert resp.status == 400
        assert await resp.json() == {
            "type": "error",
            "error": {"type": "invalid_request_error", "message": "max_tokens: Field required"},
        }


async def test_anthropic_rate_limit_headers(sim: Simulator, http: aiohttp.ClientSession) -> None:
    async with http.post(
        sim.url + "/v1/messages", json=message(), headers={"anthropic-version": "2023-06-01"}
    ) as resp:
        assert resp.status == 200
        assert resp.headers["request-id"].startswith("req_")
        assert resp.headers["anthropic-ratelimit-requests-limit"] == "10000"
        reset = datetime.fromisoformat(resp.headers["anthropic-ratelimit-requests-reset"])
        assert reset.timestamp() > time.time() - 1


# ---- Gemini ------------------------------------------------------------------------------------
async def test_gemini_generate_content(sim: Simulator, http: aiohttp.ClientSession) -> None:
    url = sim.url + "/v1beta/models/gemini-2.5-flash:generateContent"
    async with http.post(url, json=gemini(), headers={"x-goog-api-key": "k"}) as resp:
        assert resp.status == 200
        body = await resp.json()
    candidate = body["candidates"][0]
    assert candidate["content"] == {"parts": [{"text": "42"}], "role": "model"}
    assert candidate["finishReason"] == "STOP"
    assert body["modelVersion"] == "gemini-2.5-flash"
    usage = body["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]


async def test_gemini_stream_sse_matches_json(sim: Simulator, http: aiohttp.ClientSession) -> None:
    base = sim.url + "/v1beta/models/gemini-2.5-flash"
    async with http.post(base + ":streamGenerateContent?alt=sse", json=gemini("Tell me")) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        raw = await resp.read()
    assert b"\r\n\r\n" in raw
    chunks = [data for _, data in parse_sse(raw)]
    text = "".join(part.get("text", "") for c in chunks for part in c["candidates"][0]["content"]["parts"])
    assert text == CANNED
    assert chunks[-1]["candidates"][0]["finishReason"] == "STOP"
    async with http.post(base + ":generateContent", json=gemini("Tell me")) as resp:
        whole = await resp.json()
    assert chunks[-1]["usageMetadata"] == whole["usageMetadata"]


async def test_gemini_function_call_round_trip(sim: Simulator, http: aiohttp.ClientSession) -> None:
    url = sim.url + "/v1beta/models/gemini-2.5-flash:generateContent"
    declaration = {"name": "get_weather", "parameters": WEATHER_TOOL["function"]["parameters"]}
    request = gemini("weather in Paris?", tools=[{"functionDeclarations": [declaration]}])
    async with http.post(url, json=request) as resp:
        body = await resp.json()
    call = body["candidates"][0]["content"]["parts"][0]["functionCall"]
    assert call == {"name": "get_weather", "args": WEATHER_ARGS}
    request["contents"] += [
        {"role": "model", "parts": [{"functionCall": call}]},
        {
            "role": "user",
            "parts": [{"functionResponse": {"name": "get_weather", "response": {"result": "mild"}}}],
        },
    ]
    async with http.post(url, json=request) as resp:
        body = await resp.json()
    assert body["candidates"][0]["content"]["parts"][0]["text"] == "Tool result received: mild"


async def test_gemini_json_mode_and_max_tokens(sim: Simulator, http: aiohttp.ClientSession) -> None:
    url = sim.url + "/v1beta/models/gemini-2.5-flash:generateContent"
    async with http.post(url, json=gemini(generationConfig={"responseMimeType": "application/json"})) as resp:
        body = await resp.json()
    assert json.loads(body["candidates"][0]["content"]["parts"][0]["text"]) == {"answer": "42"}
    async with http.post(url, json=gemini("hi", generationConfig={"maxOutputTokens": 2})) as resp:
        body = await resp.json()
    assert body["candidates"][0]["content"]["parts"][0]["text"] == "The quick"
    assert body["candidates"][0]["finishReason"] == "MAX_TOKENS"


# ---- faults ------------------------------------------------------------------------------------
async def test_error_status_503(sim: Simulator, oai: openai.AsyncOpenAI) -> None:
    sim.update({"error_rate": 1, "error_status": 503})
    with pytest.raises(openai.InternalServerError) as info:
        await oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert info.value.status_code == 503
    assert info.value.body == {
        "message": "The server is overloaded or not ready yet.",
        "type": "server_error",
        "param": None,
        "code": None,
    }
    assert sim.stats()["by_status"] == {"503": 1}


async def test_anthropic_overloaded_529(sim: Simulator, claude: anthropic.AsyncAnthropic) -> None:
    sim.update({"error_rate": 1, "error_status": 529})
    with pytest.raises(anthropic.OverloadedError) as info:
        await claude.messages.create(**message())
    assert info.value.status_code == 529
    assert info.value.body == {
        "type": "error",
        "error": {"type": "overloaded_error", "message": "Overloaded"},
    }


async def test_rate_limited_429_in_each_dialect(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.update({"rate_limit_rate": 1, "retry_after": 2})
    async with http.post(sim.url + "/v1/chat/completions", json=chat()) as resp:
        assert resp.status == 429
        assert (resp.headers["retry-after"], resp.headers["retry-after-ms"]) == ("2", "2000")
        assert resp.headers["x-ratelimit-remaining-requests"] == "0"
        assert (await resp.json())["error"]["code"] == "rate_limit_exceeded"
    async with http.post(sim.url + "/v1/messages", json=message()) as resp:
        assert resp.status == 429
        assert resp.headers["retry-after"] == "2"
        assert resp.headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert (await resp.json())["error"]["type"] == "rate_limit_error"
    async with http.post(sim.url + "/v1beta/models/g:generateContent", json=gemini()) as resp:
        assert resp.status == 429
        error = (await resp.json())["error"]
        assert (error["code"], error["status"]) == (429, "RESOURCE_EXHAUSTED")
    assert sim.stats()["by_status"] == {"429": 3}


async def test_reset_is_a_connection_error(sim: Simulator, oai: openai.AsyncOpenAI) -> None:
    sim.update({"reset_rate": 1})
    with pytest.raises(openai.APIConnectionError):
        await oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert sim.stats()["by_status"] == {"reset": 1}


async def test_hang_times_the_client_out(sim: Simulator, oai: openai.AsyncOpenAI) -> None:
    sim.update({"hang_rate": 1})
    with pytest.raises(openai.APITimeoutError):
        await oai.chat.completions.create(model="gpt-4o-mini", messages=USER, timeout=0.2)
    assert sim.stats()["by_status"] == {"hang": 1}


async def test_stop_releases_hanging_requests(http: aiohttp.ClientSession) -> None:
    sim = Simulator(SimulatorSettings(hang_rate=1))
    await sim.start()
    request = asyncio.ensure_future(http.post(sim.url + "/v1/chat/completions", json=chat()))
    while not sim.stats()["by_status"]:  # noqa: ASYNC110 (wait until the server has parked the request)
        await asyncio.sleep(0.005)
    started = time.monotonic()
    await sim.stop()
    assert time.monotonic() - started < 0.9
    with pytest.raises(aiohttp.ClientError):
        await request


async def test_malformed_json_and_stream(
    sim: Simulator, http: aiohttp.ClientSession, oai: openai.AsyncOpenAI
) -> None:
    sim.update({"malformed_rate": 1})
    async with http.post(sim.url + "/v1/chat/completions", json=chat()) as resp:
        assert resp.status == 200
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(await resp.read())
    stream = await oai.chat.completions.create(model="gpt-4o-mini", messages=USER, stream=True)
    with pytest.raises(ValueError):  # the SDK's json.loads of the broken event
        async for _ in stream:
            pass
    await stream.close()


async def test_disconnect_cuts_streams_without_terminal_event(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    sim.update({"disconnect_rate": 1, "disconnect_after": 3})
    async with http.post(sim.url + "/v1/chat/completions", json=chat("hi", stream=True)) as resp:
        events = parse_sse(await read_cut_stream(resp))
    assert [e["choices"][0]["delta"].get("content") for _, e in events[1:]] == ["The", " quick", " brown"]
    assert all(data != "[DONE]" for _, data in events)
    async with http.post(sim.url + "/v1/messages", json=message("hi", stream=True)) as resp:
        names = [name for name, _ in parse_sse(await read_cut_stream(resp))]
    assert names.count("content_block_delta") == 3
    assert "message_stop" not in names
    async with http.post(sim.url + "/v1/chat/completions", json=chat()) as resp:  # JSON is never cut
        assert resp.status == 200
    assert sim.stats()["by_status"] == {"disconnect": 2, "200": 1}


async def test_openai_stream_error_raises_in_the_sdk(sim: Simulator, oai: openai.AsyncOpenAI) -> None:
    sim.update({"stream_error_rate": 1, "stream_error_after": 2})
    stream = await oai.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}], stream=True
    )
    received: list[str] = []

    async def consume() -> None:
        async for chunk in stream:
            received.append(chunk.choices[0].delta.content or "")  # noqa: PERF401 (keeps what came before the error)

    with pytest.raises(openai.APIError, match="error while processing"):
        await consume()
    assert "".join(received) == "The quick"


async def test_anthropic_stream_error_before_any_content(
    sim: Simulator, claude: anthropic.AsyncAnthropic
) -> None:
    sim.update({"stream_error_rate": 1, "stream_error_after": 0})
    received: list[str] = []

    async def consume() -> None:
        async with claude.messages.stream(**message("hi")) as stream:
            async for text in stream.text_stream:
                received.append(text)  # noqa: PERF401 (keeps what came before the error)

    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        await consume()
    assert received == []


async def test_gemini_stream_error_event(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.update({"stream_error_rate": 1, "stream_error_after": 1})
    url = sim.url + "/v1beta/models/g:streamGenerateContent?alt=sse"
    async with http.post(url, json=gemini("hi")) as resp:
        chunks = [data for _, data in parse_sse(await resp.read())]
    assert len(chunks) == 2
    assert chunks[0]["candidates"][0]["content"]["parts"][0]["text"] == "The"
    assert chunks[1]["error"]["status"] == "UNAVAILABLE"


async def test_wrong_answers_look_healthy(sim: Simulator, oai: openai.AsyncOpenAI) -> None:
    sim.update({"wrong_answer_rate": 1})
    completion = await oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    content = completion.choices[0].message.content or ""
    assert content.lstrip("-").isdigit()
    assert int(content) != 42
    assert abs(int(content) - 42) <= 10


async def test_blocked_in_each_dialect(
    sim: Simulator, oai: openai.AsyncOpenAI, claude: anthropic.AsyncAnthropic, http: aiohttp.ClientSession
) -> None:
    sim.update({"blocked_rate": 1})
    completion = await oai.chat.completions.create(model="gpt-4o-mini", messages=USER)
    assert completion.choices[0].finish_reason == "content_filter"
    assert completion.choices[0].message.content is None
    msg = await claude.messages.create(**message())
    assert msg.stop_reason == "refusal"
    assert msg.content == []
    async with http.post(sim.url + "/v1beta/models/g:generateContent", json=gemini()) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["promptFeedback"]["blockReason"] == "SAFETY"
    assert "candidates" not in body


async def test_context_limit_in_each_dialect(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.update({"context_limit_tokens": 10})
    long = "word " * 40
    async with http.post(sim.url + "/v1/chat/completions", json=chat(long)) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "context_length_exceeded"
    async with http.post(sim.url + "/v1/messages", json=message(long)) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["message"] == "prompt is too long: 50 tokens > 10 maximum"
    async with http.post(sim.url + "/v1beta/models/g:generateContent", json=gemini(long)) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["status"] == "INVALID_ARGUMENT"
    async with http.post(sim.url + "/v1/chat/completions", json=chat("short")) as resp:
        assert resp.status == 200


async def test_only_models_keeps_the_fallback_healthy(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.update({"error_rate": 1, "only_models": "primary"})
    url = sim.url + "/v1/chat/completions"
    async with http.post(url, json={**chat(), "model": "primary"}) as resp:
        assert resp.status == 500
    async with http.post(url, json={**chat(), "model": "fallback"}) as resp:
        assert resp.status == 200
    assert sim.stats()["by_model"] == {"primary": 1, "fallback": 1}


async def test_same_seed_same_outcomes_over_http(http: aiohttp.ClientSession) -> None:
    settings = SimulatorSettings(error_rate=0.5, error_status=503, seed=11)

    async def statuses(sim: Simulator) -> list[int]:
        out = []
        for _ in range(20):
            async with http.post(sim.url + "/v1/chat/completions", json=chat()) as resp:
                out.append(resp.status)
        return out

    async with Simulator(settings) as one, Simulator(settings) as two:
        first = await statuses(one)
        assert first == await statuses(two)
        assert {200, 503} == set(first)
        one.update({"seed": 11})  # setting the seed restarts the sequence
        assert await statuses(one) == first


async def test_latency_and_ttft_are_waited(sim: Simulator, http: aiohttp.ClientSession) -> None:
    sim.update({"latency_ms": 60, "ttft_ms": 80, "chunk_delay_ms": 1, "reply_words": 3})
    started = time.monotonic()
    async with http.post(sim.url + "/v1/chat/completions", json=chat("hi", stream=True)) as resp:
        assert time.monotonic() - started >= 0.06
        first = await resp.content.readline()
        assert b'"role":"assistant"' in first
        opened = time.monotonic()
        rest = await resp.read()
    assert time.monotonic() - opened >= 0.08
    assert rest.endswith(b"data: [DONE]\n\n")


# ---- control plane -----------------------------------------------------------------------------
async def test_control_changes_are_atomic(http: aiohttp.ClientSession) -> None:
    async with Simulator(SimulatorSettings(reply_words=5)) as sim:
        control = sim.url + "/_control"
        async with http.post(control, json={"error_rate": 1, "nope": 2}) as resp:
            assert resp.status == 400
            assert "'nope'" in (await resp.json())["error"]
        async with http.post(control, json={"error_rate": 1, "latency_ms": "slow"}) as resp:
            assert resp.status == 400
            assert "latency_ms" in (await resp.json())["error"]
        async with http.post(control, data=b"[1, 2]") as resp:
            assert resp.status == 400
        async with http.get(control) as resp:
            assert (await resp.json())["error_rate"] == 0
        async with http.post(control, json={"error_rate": 1, "error_status": 502, "reply_words": 7}) as resp:
            assert resp.status == 200
            assert (await resp.json())["error_status"] == 502
        async with http.post(sim.url + "/v1/chat/completions", json=chat()) as resp:
            assert resp.status == 502
        async with http.post(control, json={"reset": True, "latency_ms": 1}) as resp:
            settings = await resp.json()
        assert (settings["error_rate"], settings["reply_words"], settings["latency_ms"]) == (0, 5, 1)
        with pytest.raises(ValueError, match="reset"):
            sim.update({"reset": "yes"})
        assert sim.settings.latency_ms == 1


async def test_stats_count_everything_but_the_control_plane(
    sim: Simulator, http: aiohttp.ClientSession
) -> None:
    for path in ("/_control", "/_stats", "/_requests"):
        async with http.get(sim.url + path) as resp:
            assert resp.status == 200
    async with http.post(sim.url + "/v1/chat/completions", json=chat()) as resp:
        assert resp.status == 200
    async with http.post(sim.url + "/v1/messages", json=message()) as resp:
        assert resp.status == 200
    async with http.get(sim.url + "/health") as resp:
        assert await resp.json() == {"status": "ok"}
    async with http.get(sim.url + "/v1/chat/completions") as resp:
        assert resp.status == 405
    async with http.get(sim.url + "/nowhere") as resp:
        assert resp.status == 404
    async with http.get(sim.url + "/_stats") as resp:
        stats = await resp.json()
    assert stats["total"] == 5
    assert stats["by_path"] == {"/v1/chat/completions": 2, "/v1/messages": 1, "/health": 1, "/nowhere": 1}
    assert stats["by_status"] == {"200": 3, "405": 1, "404": 1}
    assert stats["by_model"] == {"gpt-4o-mini": 1, "claude-sim-1": 1}
    async with http.post(sim.url + "/_stats/reset") as resp:
        assert (await resp.json())["total"] == 0
    assert sim.requests == []


async def test_requests_log_redacts_secrets(sim: Simulator, http: aiohttp.ClientSession) -> None:
    headers = {
        "Authorization": "Bearer sk-secret",
        "x-api-key": "sk-ant-secret",
        "anthropic-version": "2023-06-01",
    }
    async with http.post(sim.url + "/v1/messages", json=message("echo: hi"), headers=headers) as resp:
        assert resp.status == 200
    url = sim.url + "/v1beta/models/gemini-2.5-flash:generateContent?key=AIza-secret"
    async with http.post(url, json=gemini(), headers={"x-goog-api-key": "AIza-other"}) as resp:
        assert resp.status == 200
    async with http.get(sim.url + "/_requests") as resp:
        log = (await resp.json())["requests"]
    assert "secret" not in json.dumps(log) and "AIza" not in json.dumps(log)
    first, second = log
    assert (first["method"], first["path"]) == ("POST", "/v1/messages")
    assert first["headers"]["authorization"] == "Bearer [REDACTED]"
    assert first["headers"]["x-api-key"] == "[REDACTED]"
    assert first["headers"]["anthropic-version"] == "2023-06-01"
    assert first["body"] == message("echo: hi")
    assert second["query"] == {"key": "[REDACTED]"}
    assert second["headers"]["x-goog-api-key"] == "[REDACTED]"
    assert sim.requests == log


async def test_lifecycle_errors() -> None:
    sim = Simulator()
    with pytest.raises(RuntimeError):
        _ = sim.url
    port = await sim.start()
    try:
        assert sim.url == f"http://127.0.0.1:{port}"
        with pytest.raises(RuntimeError):
            await sim.start()
    finally:
        await sim.stop()
    await sim.stop()


async def test_run_simulator_serves_until_sigterm(http: aiohttp.ClientSession) -> None:
    code = (
        "from seawall.simulate import SimulatorSettings, run_simulator;"
        "run_simulator('127.0.0.1', 0, SimulatorSettings(reply_words=3))"
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 10)).decode().strip()
        prefix = "seawall simulate listening on "
        assert line.startswith(prefix + "http://127.0.0.1:")
        async with http.post(line.removeprefix(prefix) + "/v1/chat/completions", json=chat("hi")) as resp:
            assert (await resp.json())["choices"][0]["message"]["content"] == "The quick brown"
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
