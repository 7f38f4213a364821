"""Canonical (OpenAI Chat Completions) ⇄ Anthropic Messages, for Anthropic *targets*. Pure, no I/O.

`to_anthropic_request` builds the wire body, `from_anthropic_response` reads a whole answer,
`AnthropicStreamDecoder` (in `_anthropic_stream`) reads a stream, and `classify_anthropic_error` /
`parse_anthropic_ratelimit` (in `_anthropic_errors`) read failures. All are re-exported here.

Request fields, and what happens to each. A field not listed raises `UnsupportedFeature`: a new
OpenAI field is never dropped silently until someone decides what it means for Anthropic.

    canonical                      Anthropic wire
    ------------------------------ ---------------------------------------------------------------
    system / developer messages    top-level `system`: a string when there is exactly one plain
                                   text, else text blocks (`cache_control` kept). Mid-conversation
                                   system messages are hoisted too, in order.
    user / assistant messages      `messages`; consecutive same-role turns merged; empty text
                                   skipped; an assistant message left with no blocks is dropped
    text part                      `text` block (`cache_control` kept)
    `image_url` data: / http(s)    `image` block with a `base64` / `url` source (`detail` dropped:
                                   Anthropic has no such knob)
    `file` part, PDF data URL      `document` block, `base64` source (`filename` → `title`)
    assistant `tool_calls`         `tool_use` blocks; arguments JSON-parsed (`""` → `{}`; not an
                                   object → InvalidRequest)
    assistant `refusal`            a `text` block (the words the model said)
    `role: tool` messages          `tool_result` blocks in one user turn, before other user content
    `tools[].function`             `{name, description, input_schema, strict}`; a tool-level
                                   `cache_control` (Seawall extension) is kept
    `tool_choice`                  auto → `{type: auto}`, none → `{type: none}`, required →
                                   `{type: any}`, named → `{type: tool, name}`
    `parallel_tool_calls: false`   `tool_choice.disable_parallel_tool_use: true`
    `max_completion_tokens`,       `max_tokens` (the former wins); `default_max_tokens` when
    `max_tokens`                   neither is given
    `temperature` (0–2)            `temperature` clamped to Anthropic's 0–1. Both scales put the
                                   default at 1 and "more random" above it, so >1 asks for "as
                                   random as the target allows"; rejecting would break fallback.
    `top_p`, `top_k` (extension)   `top_p`, `top_k`. With `sampling_params=False` (models that
                                   reject sampling knobs, e.g. Claude Opus 4.7+) temperature,
                                   top_p and top_k are omitted: they tune randomness, not the
                                   answer's contract, and such models 400 on them.
    `stop` (string or list)        `stop_sequences`
    `response_format` json_schema  `output_config.format = {type: json_schema, schema}` (native
                                   structured outputs; the answer stays plain text)
    `reasoning_effort`             `output_config.effort` (none, minimal → low; others kept)
    `user`, `safety_identifier`    `metadata.user_id` (`user` wins)
    `stream: true`                 `stream: true` (`stream_options` is the caller's business:
                                   Anthropic always reports usage)
    `cache_control` (extension)    top-level `cache_control` (automatic prompt caching)

Raise `UnsupportedFeature` (the param names the field): `n` > 1, `logprobs`, `top_logprobs`,
`logit_bias`, `audio`, non-text `modalities`, `web_search_options`, legacy `functions` /
`function_call` / `role: function`, `response_format` json_object (Anthropic has no schema-less
JSON mode; a forced tool would change the answer's shape), non-function tools and tool choices,
`input_audio` parts, `file_id` files, non-PDF files, images other than jpeg/png/gif/webp.

Dropped, with the reason:
- `seed`, `presence_penalty`, `frequency_penalty`, `verbosity`: sampling/style hints with no
  Anthropic knob and no effect on the answer's shape (OpenAI itself calls `seed` best-effort).
- `store`, `metadata`, `service_tier`, `prompt_cache_key`, `prompt_cache_retention`, `prediction`,
  message `name`: OpenAI platform features (stored completions, billing tier, cache routing,
  latency hints) or labels that do not change the answer.

Response: text blocks joined; `tool_use` → `tool_calls` (arguments as compact JSON); thinking
blocks dropped (Chat Completions hides reasoning too); `stop_reason` via `FINISH_REASON`;
`usage.prompt_tokens` = input + cache writes + cache reads, `prompt_tokens_details.cached_tokens` =
cache reads.
"""

from __future__ import annotations

from typing import Any

from seawall._types import JSONDict
from seawall.errors import InvalidRequest, UnsupportedFeature, UpstreamBadResponse
from seawall.providers._anthropic_errors import (
    classify_anthropic_error,
    error_from_anthropic_event,
    parse_anthropic_ratelimit,
)
from seawall.providers._anthropic_stream import FINISH_REASON, AnthropicStreamDecoder, anthropic_usage
from seawall.providers._wire_common import (
    dumps_compact,
    expect_dict,
    expect_int,
    expect_list,
    expect_number,
    expect_str,
    now_s,
    parse_data_url,
    parse_tool_arguments,
    stop_list,
    text_of_parts,
)

IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})

_TRANSLATED = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
        "stop", "stream", "stream_options", "tools", "tool_choice", "parallel_tool_calls",
        "response_format", "reasoning_effort", "user", "safety_identifier", "cache_control",
        "n", "logprobs", "top_logprobs", "logit_bias", "modalities",
    }
)  # fmt: skip
_DROPPED = frozenset(
    {
        "seed", "presence_penalty", "frequency_penalty", "verbosity", "store", "metadata",
        "service_tier", "prompt_cache_key", "prompt_cache_retention", "prediction",
    }
)  # fmt: skip
_EFFORT = {
    "none": "low",
    "minimal": "low",
    "low": "low",
    "medium": "medium",
    "high": "high",
    "xhigh": "xhigh",
}


def to_anthropic_request(
    body: JSONDict, model: str, *, default_max_tokens: int = 4096, sampling_params: bool = True
) -> JSONDict:
    """Translate a canonical request into an Anthropic Messages request body for `model`.

    Raises `UnsupportedFeature` for what Anthropic cannot honour and `InvalidRequest` for
    malformed input, each naming the parameter.
    """
    body = expect_dict(body, "body")
    _reject_unsupported(body)
    system, messages = _messages(body.get("messages"))
    out: JSONDict = {"model": model, "messages": messages}
    if system is not None:
        out["system"] = system
    out["max_tokens"] = _max_tokens(body, default_max_tokens)
    if sampling_params:
        if body.get("temperature") is not None:
            out["temperature"] = min(expect_number(body["temperature"], "temperature", low=0, high=2), 1)
        if body.get("top_p") is not None:
            out["top_p"] = expect_number(body["top_p"], "top_p", low=0, high=1)
        if body.get("top_k") is not None:
            out["top_k"] = expect_int(body["top_k"], "top_k", minimum=0)
    stops = stop_list(body.get("stop"))
    if stops:
        out["stop_sequences"] = stops
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
    choice = _tool_choice(body.get("tool_choice"), body.get("parallel_tool_calls"), has_tools=bool(tools))
    if choice is not None:
        out["tool_choice"] = choice
    output_config = _output_config(body)
    if output_config:
        out["output_config"] = output_config
    user = body.get("user") if body.get("user") is not None else body.get("safety_identifier")
    if user is not None:
        out["metadata"] = {"user_id": expect_str(user, "user")}
    if body.get("stream") is True:
        out["stream"] = True
    if body.get("cache_control") is not None:
        out["cache_control"] = expect_dict(body["cache_control"], "cache_control")
    return out


def from_anthropic_response(msg: JSONDict, *, request_model: str, created: int | None = None) -> JSONDict:
    """Translate an Anthropic `message` into a canonical `chat.completion`."""
    content = msg.get("content") if isinstance(msg, dict) else None
    if not isinstance(content, list):
        raise UpstreamBadResponse("anthropic response has no content array")
    texts: list[str] = []
    tool_calls: list[JSONDict] = []
    for block in content:
        if not isinstance(block, dict):
            raise UpstreamBadResponse("anthropic response content block is not an object")
        if block.get("type") == "text" and isinstance(block.get("text"), str):
            texts.append(block["text"])
        elif block.get("type") == "tool_use":
            arguments = block.get("input") if isinstance(block.get("input"), dict) else {}
            tool_calls.append(
                {
                    "id": block.get("id"),
                    "type": "function",
                    "function": {"name": block.get("name"), "arguments": dumps_compact(arguments)},
                }
            )
        # thinking / redacted_thinking: reasoning stays hidden, as in Chat Completions.
    message: JSONDict = {
        "role": "assistant",
        "content": "".join(texts) if texts else (None if tool_calls else ""),
        "refusal": None,
    }
    if tool_calls:
        message["tool_calls"] = tool_calls
    stop_reason = msg.get("stop_reason")
    finish = FINISH_REASON.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"
    usage = msg.get("usage")
    return {
        "id": msg.get("id"),
        "object": "chat.completion",
        "created": created if created is not None else now_s(),
        "model": msg.get("model") or request_model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": finish}],
        "usage": anthropic_usage(usage if isinstance(usage, dict) else {}),
    }


def _reject_unsupported(body: JSONDict) -> None:
    for key in body:
        if key not in _TRANSLATED and key not in _DROPPED:
            if key in ("functions", "function_call"):
                raise UnsupportedFeature(
                    f"legacy `{key}` is not supported for Anthropic targets; use `tools`", param=key
                )
            raise UnsupportedFeature(f"`{key}` is not supported for Anthropic targets", param=key)
    n = body.get("n")
    if n is not None and expect_int(n, "n", minimum=1) > 1:
        raise UnsupportedFeature("Anthropic returns one choice per request; `n` must be 1", param="n")
    if body.get("logprobs"):
        raise UnsupportedFeature("Anthropic does not return log probabilities", param="logprobs")
    if body.get("top_logprobs"):
        raise UnsupportedFeature("Anthropic does not return log probabilities", param="top_logprobs")
    if body.get("logit_bias"):
        raise UnsupportedFeature("Anthropic has no logit bias", param="logit_bias")
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise UnsupportedFeature("Anthropic targets produce text only", param="modalities")


def _max_tokens(body: JSONDict, default: int) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        if body.get(key) is not None:
            return expect_int(body[key], key, minimum=1)
    return default


def _messages(raw: Any) -> tuple[str | list[JSONDict] | None, list[JSONDict]]:
    messages = expect_list(raw, "messages")
    if not messages:
        raise InvalidRequest("`messages` must not be empty", param="messages")
    system: list[JSONDict] = []
    turns: list[JSONDict] = []
    for i, item in enumerate(messages):
        param = f"messages[{i}]"
        msg = expect_dict(item, param)
        role = msg.get("role")
        if role in ("system", "developer"):
            system.extend(_system_blocks(msg.get("content"), f"{param}.content"))
        elif role == "user":
            _append(turns, "user", _user_blocks(msg.get("content"), f"{param}.content"))
        elif role == "assistant":
            blocks = _assistant_blocks(msg, param)
            if blocks:
                _append(turns, "assistant", blocks)
        elif role == "tool":
            _append(turns, "user", [_tool_result(msg, param)])
        elif role == "function":
            raise UnsupportedFeature("legacy `function` messages are not supported; use tools", param=param)
        else:
            raise InvalidRequest(f"unknown message role {role!r}", param=f"{param}.role")
    wire: list[JSONDict] = []
    for turn in turns:
        blocks = turn["content"]
        if turn["role"] == "user":
            # Anthropic wants a turn's tool_result blocks before anything else in it.
            blocks = [b for b in blocks if b["type"] == "tool_result"] + [
                b for b in blocks if b["type"] != "tool_result"
            ]
        wire.append({"role": turn["role"], "content": _collapse(blocks)})
    if not system:
        return None, wire
    if len(system) == 1 and "cache_control" not in system[0]:
        return system[0]["text"], wire
    return system, wire


def _append(turns: list[JSONDict], role: str, blocks: list[JSONDict]) -> None:
    if turns and turns[-1]["role"] == role:
        turns[-1]["content"].extend(blocks)
    else:
        turns.append({"role": role, "content": list(blocks)})


def _collapse(blocks: list[JSONDict]) -> str | list[JSONDict]:
    if not blocks:
        return ""
    if len(blocks) == 1 and blocks[0]["type"] == "text" and "cache_control" not in blocks[0]:
        text: str = blocks[0]["text"]
        return text
    return blocks


def _text_block(part: JSONDict, param: str) -> JSONDict | None:
    text = expect_str(part.get("text"), f"{param}.text")
    if not text:
        return None  # Anthropic rejects empty text blocks
    block: JSONDict = {"type": "text", "text": text}
    if part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def _system_blocks(content: Any, param: str) -> list[JSONDict]:
    blocks = []
    for j, part in enumerate(text_of_parts(content, param)):
        if part.get("type") != "text":
            raise InvalidRequest("system messages may only contain text", param=f"{param}[{j}]")
        block = _text_block(part, f"{param}[{j}]")
        if block is not None:
            blocks.append(block)
    return blocks


def _user_blocks(content: Any, param: str) -> list[JSONDict]:
    blocks: list[JSONDict] = []
    for j, part in enumerate(text_of_parts(content, param)):
        p = f"{param}[{j}]"
        kind = part.get("type")
        if kind == "text":
            block = _text_block(part, p)
        elif kind == "image_url":
            block = _image_block(part, p)
        elif kind == "file":
            block = _document_block(part, p)
        elif kind == "input_audio":
            raise UnsupportedFeature("Anthropic targets do not accept audio input", param=p)
        else:
            raise InvalidRequest(f"unknown content part type {kind!r}", param=f"{p}.type")
        if block is not None:
            blocks.append(block)
    return blocks


def _image_block(part: JSONDict, param: str) -> JSONDict:
    image = part.get("image_url")
    url = image.get("url") if isinstance(image, dict) else image
    url = expect_str(url, f"{param}.image_url.url")
    data_url = parse_data_url(url)
    if data_url is not None:
        media_type, data = data_url
        if media_type not in IMAGE_MEDIA_TYPES:
            raise UnsupportedFeature(
                f"Anthropic accepts jpeg, png, gif and webp images, not {media_type}",
                param=f"{param}.image_url",
            )
        source: JSONDict = {"type": "base64", "media_type": media_type, "data": data}
    elif url.startswith(("https://", "http://")):
        source = {"type": "url", "url": url}
    else:
        raise InvalidRequest("image URL must be a data: URL or http(s) URL", param=f"{param}.image_url.url")
    block: JSONDict = {"type": "image", "source": source}
    if part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def _document_block(part: JSONDict, param: str) -> JSONDict:
    file = expect_dict(part.get("file"), f"{param}.file")
    if file.get("file_data") is None:
        raise UnsupportedFeature(
            "Anthropic targets need file contents inline (`file_data`)", param=f"{param}.file"
        )
    data_url = parse_data_url(expect_str(file["file_data"], f"{param}.file.file_data"))
    if data_url is None or data_url[0] != "application/pdf":
        raise UnsupportedFeature("Anthropic targets accept PDF files only", param=f"{param}.file.file_data")
    block: JSONDict = {
        "type": "document",
        "source": {"type": "base64", "media_type": data_url[0], "data": data_url[1]},
    }
    if isinstance(file.get("filename"), str) and file["filename"]:
        block["title"] = file["filename"]
    if part.get("cache_control") is not None:
        block["cache_control"] = part["cache_control"]
    return block


def _assistant_blocks(msg: JSONDict, param: str) -> list[JSONDict]:
    if msg.get("audio") is not None:
        raise UnsupportedFeature("Anthropic targets do not accept assistant audio", param=f"{param}.audio")
    if msg.get("function_call") is not None:
        raise UnsupportedFeature("legacy `function_call` is not supported; use tool_calls", param=param)
    blocks: list[JSONDict] = []
    for j, part in enumerate(text_of_parts(msg.get("content"), f"{param}.content")):
        p = f"{param}.content[{j}]"
        kind = part.get("type")
        if kind not in ("text", "refusal"):
            raise InvalidRequest("assistant content may only contain text or refusal parts", param=p)
        block = _text_block({"text": part.get("refusal")} if kind == "refusal" else part, p)
        if block is not None:
            blocks.append(block)
    refusal = msg.get("refusal")
    if isinstance(refusal, str) and refusal and not blocks:
        blocks.append({"type": "text", "text": refusal})
    for k, item in enumerate(expect_list(msg.get("tool_calls") or [], f"{param}.tool_calls")):
        p = f"{param}.tool_calls[{k}]"
        call = expect_dict(item, p)
        if call.get("type", "function") != "function":
            raise UnsupportedFeature("only function tool calls can be sent to Anthropic", param=f"{p}.type")
        function = expect_dict(call.get("function"), f"{p}.function")
        blocks.append(
            {
                "type": "tool_use",
                "id": expect_str(call.get("id"), f"{p}.id"),
                "name": expect_str(function.get("name"), f"{p}.function.name"),
                "input": parse_tool_arguments(function.get("arguments"), param=f"{p}.function.arguments"),
            }
        )
    return blocks


def _tool_result(msg: JSONDict, param: str) -> JSONDict:
    block: JSONDict = {
        "type": "tool_result",
        "tool_use_id": expect_str(msg.get("tool_call_id"), f"{param}.tool_call_id"),
    }
    content = msg.get("content")
    if isinstance(content, str):
        if content:
            block["content"] = content
        return block
    parts = []
    for j, part in enumerate(text_of_parts(content, f"{param}.content")):
        if part.get("type") != "text":
            raise InvalidRequest("tool messages may only contain text", param=f"{param}.content[{j}]")
        text_block = _text_block(part, f"{param}.content[{j}]")
        if text_block is not None:
            parts.append(text_block)
    if parts:
        block["content"] = parts
    return block


def _tools(raw: Any) -> list[JSONDict]:
    tools: list[JSONDict] = []
    for i, item in enumerate(expect_list(raw or [], "tools")):
        param = f"tools[{i}]"
        tool = expect_dict(item, param)
        if tool.get("type") != "function":
            raise UnsupportedFeature("only function tools can be sent to Anthropic", param=f"{param}.type")
        function = expect_dict(tool.get("function"), f"{param}.function")
        schema = function.get("parameters")
        wire: JSONDict = {
            "name": expect_str(function.get("name"), f"{param}.function.name"),
            "input_schema": expect_dict(schema, f"{param}.function.parameters")
            if schema is not None
            else {"type": "object", "properties": {}},
        }
        if function.get("description"):
            wire["description"] = expect_str(function["description"], f"{param}.function.description")
        if function.get("strict") is True:
            wire["strict"] = True
        if tool.get("cache_control") is not None:
            wire["cache_control"] = tool["cache_control"]
        tools.append(wire)
    return tools


def _tool_choice(raw: Any, parallel: Any, *, has_tools: bool) -> JSONDict | None:
    if raw is None:
        choice: JSONDict | None = {"type": "auto"} if has_tools and parallel is False else None
    elif raw == "auto":
        choice = {"type": "auto"} if has_tools else None
    elif raw == "none":
        choice = {"type": "none"} if has_tools else None
    elif raw == "required":
        choice = {"type": "any"}
    elif isinstance(raw, dict) and raw.get("type") == "function":
        function = expect_dict(raw.get("function"), "tool_choice.function")
        choice = {"type": "tool", "name": expect_str(function.get("name"), "tool_choice.function.name")}
    elif isinstance(raw, dict):
        raise UnsupportedFeature(
            f"tool_choice type {raw.get('type')!r} is not supported", param="tool_choice"
        )
    else:
        raise InvalidRequest("`tool_choice` must be auto, none, required or a function", param="tool_choice")
    if choice is not None and choice["type"] in ("any", "tool") and not has_tools:
        raise InvalidRequest("`tool_choice` requires `tools`", param="tool_choice")
    if choice is not None and parallel is False and choice["type"] != "none":
        choice["disable_parallel_tool_use"] = True
    return choice


def _output_config(body: JSONDict) -> JSONDict:
    config: JSONDict = {}
    response_format = body.get("response_format")
    if response_format is not None:
        response_format = expect_dict(response_format, "response_format")
        kind = response_format.get("type")
        if kind == "json_schema":
            spec = expect_dict(response_format.get("json_schema"), "response_format.json_schema")
            schema = expect_dict(spec.get("schema"), "response_format.json_schema.schema")
            config["format"] = {"type": "json_schema", "schema": schema}
        elif kind == "json_object":
            raise UnsupportedFeature(
                "Anthropic has no schema-less JSON mode; use response_format json_schema",
                param="response_format",
            )
        elif kind != "text":
            raise InvalidRequest(f"unknown response_format type {kind!r}", param="response_format.type")
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in _EFFORT:
            raise InvalidRequest(f"unknown reasoning_effort {effort!r}", param="reasoning_effort")
        config["effort"] = _EFFORT[effort]
    return config


__all__ = [
    "FINISH_REASON",
    "IMAGE_MEDIA_TYPES",
    "AnthropicStreamDecoder",
    "anthropic_usage",
    "classify_anthropic_error",
    "error_from_anthropic_event",
    "from_anthropic_response",
    "parse_anthropic_ratelimit",
    "to_anthropic_request",
]
