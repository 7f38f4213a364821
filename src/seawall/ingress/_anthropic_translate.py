"""The Anthropic Messages dialect at Seawall's *ingress* (`POST /v1/messages`). Pure, no I/O.

Clients speaking Anthropic are translated into the canonical (OpenAI Chat Completions) request,
routed to any target, and answered in Anthropic's shapes: `anthropic_response_from_canonical`
for a whole answer, `AnthropicStreamEncoder` (in `_anthropic_encoder`, re-exported) for a stream,
`anthropic_error_body` / `anthropic_error_type` for failures.

Validation mirrors Anthropic's own: `model`, `max_tokens` and `messages` are required, types are
checked, and an unknown top-level field is rejected ("Extra inputs are not permitted"); each raises
`InvalidRequest` naming the parameter.

    Anthropic request              canonical
    ------------------------------ ---------------------------------------------------------------
    `system` (string / blocks)     one leading system message: a string for a string or a lone
                                   plain block, else text parts (`cache_control` kept as a
                                   Seawall extension)
    user text / image / document   user message parts: text, `image_url` (data: URL from base64,
                                   or the URL), `file` (PDF as a data URL, `title` → filename);
                                   text `citations` are dropped (the text itself is kept)
    user `tool_result` blocks      `role: tool` messages, placed before the rest of that turn;
                                   `is_error` is dropped (the result text still says what failed)
    assistant text / `tool_use`    assistant `content` (one string) and `tool_calls` (arguments
                                   as compact JSON text)
    assistant thinking blocks      dropped: thinking is not enabled on translated requests, and
                                   Anthropic itself ignores thinking from earlier turns
    `tools` (custom)               `{"type": "function", "function": {name, description,
                                   parameters, strict}}`; `cache_control` kept
    `tool_choice`                  auto / any → required / tool → named / none;
                                   `disable_parallel_tool_use` → `parallel_tool_calls: false`
    `max_tokens`                   `max_tokens` (understood by every OpenAI-compatible server)
    `stop_sequences`               `stop`
    `temperature`, `top_p`         same values (both dialects default to 1; Anthropic's 0–1 range
                                   is validated here)
    `top_k`                        `top_k`, a Seawall extension (OpenAI has no equivalent;
                                   Anthropic and Gemini targets translate it back)
    `metadata.user_id`             `user`
    `stream`                       `stream` + `stream_options.include_usage` (Anthropic streams
                                   always report usage, so it is always asked for)
    `output_config.format`         `response_format` json_schema (`strict: true`)
    `output_config.effort`         `reasoning_effort` (max → xhigh, OpenAI's highest)
    `cache_control` (top level)    `cache_control` (Seawall extension)
    `thinking` disabled            omitted (the default)
    `service_tier`, `speed`        dropped: billing/latency preferences that do not change the answer

Raise `UnsupportedFeature`: `thinking` enabled/adaptive (canonical answers cannot carry thinking
blocks and signatures back), server tools and their blocks, `container`, `mcp_servers`,
`context_management`, `inference_geo` (a data-residency promise we cannot check), `diagnostics`,
`user_profile_id`, `workspace_id`, `file` image/document sources, non-PDF documents, images in
tool results, tool `defer_loading` / `allowed_callers` / `input_examples`.
"""

from __future__ import annotations

from typing import Any

from seawall._types import JSONDict
from seawall.errors import InvalidRequest, UnsupportedFeature, UpstreamBadResponse
from seawall.ingress._anthropic_encoder import (
    STOP_REASON,
    AnthropicStreamEncoder,
    anthropic_error_body,
    anthropic_usage_from_canonical,
    message_id,
)
from seawall.providers._wire_common import (
    dumps_compact,
    expect_dict,
    expect_int,
    expect_list,
    expect_number,
    expect_str,
    parse_upstream_arguments,
)

#: HTTP status → Anthropic error `type` (any other 4xx is `invalid_request_error`, 5xx `api_error`).
ANTHROPIC_ERROR_TYPES: dict[int, str] = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "billing_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    502: "api_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}

_TOP_LEVEL = frozenset(
    {
        "model", "messages", "max_tokens", "system", "stop_sequences", "stream", "temperature",
        "top_p", "top_k", "metadata", "tools", "tool_choice", "output_config", "cache_control",
        "thinking", "service_tier", "speed",
    }
)  # fmt: skip
_UNSUPPORTED_TOP_LEVEL = frozenset(
    {
        "container", "mcp_servers", "context_management", "inference_geo", "diagnostics",
        "user_profile_id", "workspace_id",
    }
)  # fmt: skip
_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}
#: Every top-level request field this module knows (translated, dropped, or refused by name).
KNOWN_FIELDS = _TOP_LEVEL | _UNSUPPORTED_TOP_LEVEL


def with_stream(body: JSONDict, out: JSONDict) -> JSONDict:
    """`out` with the canonical stream fields when `body` asks for a stream (usage always on: an
    Anthropic stream always ends with it)."""
    stream = body.get("stream")
    if stream is not None and not isinstance(stream, bool):
        raise InvalidRequest("stream: must be a boolean", param="stream")
    if stream:
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    return out


def anthropic_error_type(status: int) -> str:
    """The Anthropic error `type` for an HTTP status."""
    if status in ANTHROPIC_ERROR_TYPES:
        return ANTHROPIC_ERROR_TYPES[status]
    return "invalid_request_error" if 400 <= status < 500 else "api_error"


def canonical_from_anthropic_request(body: JSONDict) -> JSONDict:
    """Translate an Anthropic Messages request into a canonical request."""
    body = expect_dict(body, "body")
    for key in body:
        if key in _UNSUPPORTED_TOP_LEVEL:
            raise UnsupportedFeature(f"`{key}` is not supported through Seawall", param=key)
        if key not in _TOP_LEVEL:
            raise InvalidRequest(f"{key}: Extra inputs are not permitted", param=key)
    for key in ("model", "max_tokens", "messages"):
        if body.get(key) is None:
            raise InvalidRequest(f"{key}: Field required", param=key)
    model = expect_str(body["model"], "model")
    if not model:
        raise InvalidRequest("model: must not be empty", param="model")
    out: JSONDict = {"model": model, "messages": []}
    if body.get("system") is not None:
        out["messages"].append(_system_message(body["system"]))
    messages = expect_list(body["messages"], "messages")
    if not messages:
        raise InvalidRequest("messages: at least one message is required", param="messages")
    for i, msg in enumerate(messages):
        out["messages"].extend(_message(expect_dict(msg, f"messages[{i}]"), f"messages[{i}]"))
    out["max_tokens"] = expect_int(body["max_tokens"], "max_tokens", minimum=1)
    if body.get("stop_sequences") is not None:
        stops = expect_list(body["stop_sequences"], "stop_sequences")
        out["stop"] = [expect_str(s, f"stop_sequences[{i}]") for i, s in enumerate(stops)]
    if body.get("temperature") is not None:
        out["temperature"] = expect_number(body["temperature"], "temperature", low=0, high=1)
    if body.get("top_p") is not None:
        out["top_p"] = expect_number(body["top_p"], "top_p", low=0, high=1)
    if body.get("top_k") is not None:
        out["top_k"] = expect_int(body["top_k"], "top_k", minimum=0)
    if body.get("metadata") is not None:
        user = expect_dict(body["metadata"], "metadata").get("user_id")
        if user is not None:
            out["user"] = expect_str(user, "metadata.user_id")
    raw_tools = expect_list(body.get("tools") or [], "tools")
    tools = [_tool(expect_dict(t, f"tools[{i}]"), f"tools[{i}]") for i, t in enumerate(raw_tools)]
    if tools:
        out["tools"] = tools
    if body.get("tool_choice") is not None:
        out.update(_tool_choice(expect_dict(body["tool_choice"], "tool_choice"), has_tools=bool(tools)))
    if body.get("output_config") is not None:
        out.update(_output_config(expect_dict(body["output_config"], "output_config")))
    if body.get("thinking") is not None:
        kind = expect_dict(body["thinking"], "thinking").get("type")
        if kind != "disabled":
            raise UnsupportedFeature(
                "extended thinking cannot be carried through Seawall's canonical format", param="thinking"
            )
    if body.get("cache_control") is not None:
        out["cache_control"] = expect_dict(body["cache_control"], "cache_control")
    return with_stream(body, out)


def anthropic_response_from_canonical(completion: JSONDict, *, model: str) -> JSONDict:
    """Translate a canonical `chat.completion` into an Anthropic `message`."""
    choices = completion.get("choices") if isinstance(completion, dict) else None
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise UpstreamBadResponse("completion has no choices")
    choice = choices[0]
    message = choice.get("message")
    if not isinstance(message, dict):
        raise UpstreamBadResponse("completion choice has no message")
    content: list[JSONDict] = []
    text = _message_text(message.get("content")) or message.get("refusal")
    if isinstance(text, str) and text:
        content.append({"type": "text", "text": text})
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict):
            raise UpstreamBadResponse("tool call without a function")
        content.append(
            {
                "type": "tool_use",
                "id": call.get("id"),
                "name": function.get("name"),
                "input": parse_upstream_arguments(function.get("arguments")),
            }
        )
    finish = choice.get("finish_reason")
    raw_usage = completion.get("usage")
    usage: JSONDict = raw_usage if isinstance(raw_usage, dict) else {}
    return {
        "id": message_id(completion.get("id")),
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": STOP_REASON.get(finish, "end_turn") if isinstance(finish, str) else "end_turn",
        "stop_sequence": None,
        "usage": anthropic_usage_from_canonical(usage),
    }


def _message_text(content: Any) -> str | None:
    if isinstance(content, str) or content is None:
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    raise UpstreamBadResponse("completion message content is neither text nor parts")


def _system_message(system: Any) -> JSONDict:
    if isinstance(system, str):
        return {"role": "system", "content": system}
    parts = [
        _text_part(expect_dict(b, f"system[{i}]"), f"system[{i}]")
        for i, b in enumerate(expect_list(system, "system"))
    ]
    if len(parts) == 1 and "cache_control" not in parts[0]:
        return {"role": "system", "content": parts[0]["text"]}
    return {"role": "system", "content": parts}


def _text_part(block: JSONDict, param: str) -> JSONDict:
    if block.get("type") != "text":
        raise InvalidRequest("expected a text block", param=f"{param}.type")
    part: JSONDict = {"type": "text", "text": expect_str(block.get("text"), f"{param}.text")}
    if block.get("cache_control") is not None:
        part["cache_control"] = block["cache_control"]
    return part


def _message(msg: JSONDict, param: str) -> list[JSONDict]:
    role = msg.get("role")
    content = msg.get("content")
    if role not in ("user", "assistant"):
        raise InvalidRequest(f"role must be 'user' or 'assistant', not {role!r}", param=f"{param}.role")
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    blocks = [
        expect_dict(b, f"{param}.content[{j}]")
        for j, b in enumerate(expect_list(content, f"{param}.content"))
    ]
    if role == "assistant":
        return [_assistant(blocks, f"{param}.content")]
    tool_messages: list[JSONDict] = []
    parts: list[JSONDict] = []
    for j, block in enumerate(blocks):
        p = f"{param}.content[{j}]"
        kind = block.get("type")
        if kind == "tool_result":
            tool_messages.append(_tool_message(block, p))
        elif kind == "text":
            parts.append(_text_part(block, p))
        elif kind == "image":
            parts.append(_image_part(block, p))
        elif kind == "document":
            parts.append(_file_part(block, p))
        else:
            raise UnsupportedFeature(f"content block type {kind!r} is not supported through Seawall", param=p)
    return tool_messages + ([{"role": "user", "content": parts}] if parts or not tool_messages else [])


def _assistant(blocks: list[JSONDict], param: str) -> JSONDict:
    texts: list[JSONDict] = []
    calls: list[JSONDict] = []
    for j, block in enumerate(blocks):
        p = f"{param}[{j}]"
        kind = block.get("type")
        if kind == "text":
            texts.append(_text_part(block, p))
        elif kind == "tool_use":
            calls.append(
                {
                    "id": expect_str(block.get("id"), f"{p}.id"),
                    "type": "function",
                    "function": {
                        "name": expect_str(block.get("name"), f"{p}.name"),
                        "arguments": dumps_compact(expect_dict(block.get("input"), f"{p}.input")),
                    },
                }
            )
        elif kind not in ("thinking", "redacted_thinking"):
            raise UnsupportedFeature(f"content block type {kind!r} is not supported through Seawall", param=p)
    content: str | list[JSONDict] | None
    if any("cache_control" in t for t in texts):
        content = texts
    elif texts:
        content = "".join(t["text"] for t in texts)
    else:
        content = None if calls else ""
    message: JSONDict = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = calls
    return message


def _tool_message(block: JSONDict, param: str) -> JSONDict:
    content = block.get("content")
    message: JSONDict = {
        "role": "tool",
        "tool_call_id": expect_str(block.get("tool_use_id"), f"{param}.tool_use_id"),
    }
    if content is None or isinstance(content, str):
        message["content"] = content or ""
        return message
    parts = []
    for j, item in enumerate(expect_list(content, f"{param}.content")):
        p = f"{param}.content[{j}]"
        if expect_dict(item, p).get("type") != "text":
            raise UnsupportedFeature("tool results may only carry text through Seawall", param=p)
        parts.append(_text_part(item, p))
    message["content"] = parts
    return message


def _image_part(block: JSONDict, param: str) -> JSONDict:
    source = expect_dict(block.get("source"), f"{param}.source")
    kind = source.get("type")
    if kind == "base64":
        media_type = expect_str(source.get("media_type"), f"{param}.source.media_type")
        data = expect_str(source.get("data"), f"{param}.source.data")
        url = f"data:{media_type};base64,{data}"
    elif kind == "url":
        url = expect_str(source.get("url"), f"{param}.source.url")
    else:
        raise UnsupportedFeature(f"image source type {kind!r} is not supported", param=f"{param}.source.type")
    part: JSONDict = {"type": "image_url", "image_url": {"url": url}}
    if block.get("cache_control") is not None:
        part["cache_control"] = block["cache_control"]
    return part


def _file_part(block: JSONDict, param: str) -> JSONDict:
    source = expect_dict(block.get("source"), f"{param}.source")
    if source.get("type") != "base64" or source.get("media_type") != "application/pdf":
        raise UnsupportedFeature("only base64 PDF documents are supported", param=f"{param}.source")
    data = expect_str(source.get("data"), f"{param}.source.data")
    file: JSONDict = {"file_data": f"data:application/pdf;base64,{data}"}
    if isinstance(block.get("title"), str) and block["title"]:
        file["filename"] = block["title"]
    part: JSONDict = {"type": "file", "file": file}
    if block.get("cache_control") is not None:
        part["cache_control"] = block["cache_control"]
    return part


def _tool(tool: JSONDict, param: str) -> JSONDict:
    if tool.get("type") not in (None, "custom"):
        raise UnsupportedFeature(f"server tool {tool.get('type')!r} is not supported", param=f"{param}.type")
    for key in ("defer_loading", "allowed_callers", "input_examples"):
        if tool.get(key) is not None:
            raise UnsupportedFeature(f"tool `{key}` is not supported through Seawall", param=f"{param}.{key}")
    function: JSONDict = {
        "name": expect_str(tool.get("name"), f"{param}.name"),
        "parameters": expect_dict(tool.get("input_schema"), f"{param}.input_schema"),
    }
    if tool.get("description") is not None:
        function["description"] = expect_str(tool["description"], f"{param}.description")
    if tool.get("strict") is True:
        function["strict"] = True
    out: JSONDict = {"type": "function", "function": function}
    if tool.get("cache_control") is not None:
        out["cache_control"] = tool["cache_control"]
    return out


def _tool_choice(choice: JSONDict, *, has_tools: bool) -> JSONDict:
    kind = choice.get("type")
    out: JSONDict
    if kind == "auto":
        out = {"tool_choice": "auto"}
    elif kind == "any":
        out = {"tool_choice": "required"}
    elif kind == "none":
        out = {"tool_choice": "none"}
    elif kind == "tool":
        name = expect_str(choice.get("name"), "tool_choice.name")
        out = {"tool_choice": {"type": "function", "function": {"name": name}}}
    else:
        raise InvalidRequest(f"unknown tool_choice type {kind!r}", param="tool_choice.type")
    if not has_tools:
        if kind in ("any", "tool"):
            raise InvalidRequest("tool_choice requires tools", param="tool_choice")
        return {}
    if choice.get("disable_parallel_tool_use") is True and kind != "none":
        out["parallel_tool_calls"] = False
    return out


def _output_config(config: JSONDict) -> JSONDict:
    out: JSONDict = {}
    for key, value in config.items():
        if value is None:
            continue
        if key == "effort":
            if value not in _EFFORT:
                raise InvalidRequest(f"unknown effort {value!r}", param="output_config.effort")
            out["reasoning_effort"] = _EFFORT[value]
        elif key == "format":
            spec = expect_dict(value, "output_config.format")
            if spec.get("type") != "json_schema":
                raise InvalidRequest(
                    "output_config.format.type must be json_schema", param="output_config.format"
                )
            schema = expect_dict(spec.get("schema"), "output_config.format.schema")
            out["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": True},
            }
        else:
            raise InvalidRequest(
                f"output_config.{key}: Extra inputs are not permitted", param=f"output_config.{key}"
            )
    return out


__all__ = [
    "ANTHROPIC_ERROR_TYPES",
    "KNOWN_FIELDS",
    "AnthropicStreamEncoder",
    "anthropic_error_body",
    "anthropic_error_type",
    "anthropic_response_from_canonical",
    "anthropic_usage_from_canonical",
    "canonical_from_anthropic_request",
    "message_id",
    "with_stream",
]
