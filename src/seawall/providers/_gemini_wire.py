"""Canonical (OpenAI Chat Completions) ⇄ Gemini `generateContent`, for Gemini *targets*. Pure, no I/O.

`to_gemini_request` builds the body (the model and `stream` go in the URL, which is the adapter's
business), `from_gemini_response` reads a whole answer, `GeminiStreamDecoder` (in `_gemini_stream`)
reads `streamGenerateContent?alt=sse`, and `classify_gemini_error` (in `_gemini_errors`) reads
failures. All are re-exported here. Schemas go through `gemini_schema` (rules in `_gemini_schema`).

Request fields (a field not listed raises `UnsupportedFeature`):

    canonical                      Gemini wire
    ------------------------------ ---------------------------------------------------------------
    system / developer messages    `systemInstruction.parts` (text), hoisted in order
    user messages                  `contents[{role: user}]`: text → `text`; `image_url` data: URL
                                   → `inlineData`, http(s)/gs:// URL → `fileData.fileUri` (mime
                                   type from the extension when recognisable); `file` data URL →
                                   `inlineData`; `input_audio` → `inlineData` audio/wav|mp3
    assistant messages             `contents[{role: model}]`: text, refusal as text, `tool_calls`
                                   → `functionCall {name, args}` carrying the call's
                                   `extra_content.google.thought_signature` as `thoughtSignature`.
                                   A turn with no signature at all gets Google's documented
                                   "skip_thought_signature_validator" on its first call (history
                                   from another model), unless `thought_signature_fallback=False`.
    `role: tool` messages          `functionResponse {name, response}` parts, consecutive ones in
                                   one user turn; the name comes from the earlier assistant call
                                   with that id. `response` is the content when it is a JSON
                                   object, else `{"output": <text>}` (Gemini's documented key).
    `tools[].function`             `tools[{functionDeclarations: [{name, description,
                                   parameters}]}]`, parameters through `gemini_schema`; omitted
                                   for parameterless functions (Gemini rejects empty OBJECTs)
    `tool_choice`                  `toolConfig.functionCallingConfig.mode` AUTO / NONE / ANY;
                                   named → ANY + `allowedFunctionNames`
    `max_completion_tokens`,       `generationConfig.maxOutputTokens` (the former wins)
    `max_tokens`
    `temperature` (0–2), `top_p`,  `temperature` (same 0–2 scale), `topP`, `topK`, `seed`,
    `top_k` (extension), `seed`,   `presencePenalty`, `frequencyPenalty`
    penalties
    `stop`                         `stopSequences`
    `n`                            `candidateCount` (each candidate becomes a choice)
    `response_format`              json_object → `responseMimeType: application/json`;
                                   json_schema → that plus `responseSchema`
    `reasoning_effort`             `thinkingConfig.thinkingLevel` (none → minimal, xhigh → high)

Raise `UnsupportedFeature`: `logprobs`/`top_logprobs`, `logit_bias`, `audio`, non-text
`modalities`, `web_search_options`, legacy `functions`/`function_call`/`role: function`,
non-function tools and tool choices, `file_id` files.

Dropped, with the reason:
- `parallel_tool_calls`: Gemini has no switch; the answer's shape (a list of calls) is unchanged.
- `user`, `safety_identifier`: end-user ids for abuse monitoring; Gemini has no such field.
- `cache_control` (extension): Anthropic's caching hint; Gemini caches implicitly.
- `store`, `metadata`, `service_tier`, `prompt_cache_key`, `prompt_cache_retention`, `prediction`,
  `verbosity`, `stream_options`, message `name`, image `detail`: OpenAI platform features,
  latency/style hints or labels that do not change the answer.
"""

from __future__ import annotations

import json
from typing import Any

from seawall._types import JSONDict
from seawall.errors import InvalidRequest, UnsupportedFeature, UpstreamBadResponse
from seawall.providers._gemini_errors import (
    check_gemini_candidate,
    check_prompt_feedback,
    classify_gemini_error,
    error_from_gemini_payload,
)
from seawall.providers._gemini_schema import gemini_schema
from seawall.providers._gemini_stream import (
    GeminiStreamDecoder,
    candidate_parts,
    finish_reason,
    gemini_usage,
    response_id,
)
from seawall.providers._wire_common import (
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

SKIP_THOUGHT_SIGNATURE = "skip_thought_signature_validator"

_TRANSLATED = frozenset(
    {
        "model", "messages", "max_tokens", "max_completion_tokens", "temperature", "top_p", "top_k",
        "seed", "presence_penalty", "frequency_penalty", "stop", "n", "response_format", "tools",
        "tool_choice", "reasoning_effort", "stream", "logprobs", "top_logprobs", "logit_bias",
        "modalities",
    }
)  # fmt: skip
_DROPPED = frozenset(
    {
        "parallel_tool_calls", "user", "safety_identifier", "cache_control", "store", "metadata",
        "service_tier", "prompt_cache_key", "prompt_cache_retention", "prediction", "verbosity",
        "stream_options",
    }
)  # fmt: skip
_THINKING = {"none": "minimal", "minimal": "minimal", "low": "low", "medium": "medium", "high": "high"}
_THINKING["xhigh"] = "high"
_MIME_BY_EXTENSION = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".heic": "image/heic",
    ".heif": "image/heif",
    ".pdf": "application/pdf",
}


def to_gemini_request(body: JSONDict, *, thought_signature_fallback: bool = True) -> JSONDict:
    """Translate a canonical request into a Gemini `generateContent` body."""
    body = expect_dict(body, "body")
    _reject_unsupported(body)
    system, contents = _contents(body.get("messages"), fallback=thought_signature_fallback)
    out: JSONDict = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    declarations = _declarations(body.get("tools"))
    if declarations:
        out["tools"] = [{"functionDeclarations": declarations}]
    config = _tool_config(body.get("tool_choice"), has_tools=bool(declarations))
    if config is not None:
        out["toolConfig"] = {"functionCallingConfig": config}
    generation = _generation_config(body)
    if generation:
        out["generationConfig"] = generation
    return out


def from_gemini_response(resp: JSONDict, *, request_model: str, created: int | None = None) -> JSONDict:
    """Translate a `GenerateContentResponse` into a canonical `chat.completion`."""
    if not isinstance(resp, dict):
        raise UpstreamBadResponse("gemini response is not an object")
    if "error" in resp:
        raise error_from_gemini_payload(resp)
    check_prompt_feedback(resp)
    candidates = resp.get("candidates")
    if not isinstance(candidates, list) or not candidates:
        raise UpstreamBadResponse("gemini response has no candidates")
    rid = response_id(resp)
    choices = []
    for position, candidate in enumerate(candidates):
        if not isinstance(candidate, dict):
            raise UpstreamBadResponse("gemini candidate is not an object")
        check_gemini_candidate(candidate, resp)
        texts, calls = candidate_parts(candidate, rid=rid, first_call=0)
        message: JSONDict = {
            "role": "assistant",
            "content": "".join(texts) if texts else (None if calls else ""),
            "refusal": None,
        }
        if calls:
            message["tool_calls"] = calls
        index = candidate.get("index", position)
        choices.append(
            {
                "index": index if isinstance(index, int) else position,
                "message": message,
                "logprobs": None,
                "finish_reason": finish_reason(candidate, has_calls=bool(calls)),
            }
        )
    usage = resp.get("usageMetadata")
    return {
        "id": f"chatcmpl-{rid}",
        "object": "chat.completion",
        "created": created if created is not None else now_s(),
        "model": resp.get("modelVersion") or request_model,
        "choices": choices,
        "usage": gemini_usage(usage if isinstance(usage, dict) else {}),
    }


def _reject_unsupported(body: JSONDict) -> None:
    for key in body:
        if key not in _TRANSLATED and key not in _DROPPED:
            raise UnsupportedFeature(f"`{key}` is not supported for Gemini targets", param=key)
    for key in ("logprobs", "top_logprobs"):
        if body.get(key):
            raise UnsupportedFeature("log probabilities are not supported for Gemini targets", param=key)
    if body.get("logit_bias"):
        raise UnsupportedFeature("Gemini has no logit bias", param="logit_bias")
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise UnsupportedFeature("Gemini targets produce text only through Seawall", param="modalities")


def _contents(raw: Any, *, fallback: bool) -> tuple[list[JSONDict], list[JSONDict]]:
    messages = expect_list(raw, "messages")
    if not messages:
        raise InvalidRequest("`messages` must not be empty", param="messages")
    system: list[JSONDict] = []
    contents: list[JSONDict] = []
    names: dict[str, str] = {}  # tool_call_id → function name, from earlier assistant turns
    last_was_tool = False
    for i, item in enumerate(messages):
        param = f"messages[{i}]"
        msg = expect_dict(item, param)
        role = msg.get("role")
        is_tool = role == "tool"
        if role in ("system", "developer"):
            for j, part in enumerate(text_of_parts(msg.get("content"), f"{param}.content")):
                if part.get("type") != "text":
                    raise InvalidRequest(
                        "system messages may only contain text", param=f"{param}.content[{j}]"
                    )
                if part.get("text"):
                    system.append({"text": expect_str(part["text"], f"{param}.content[{j}].text")})
        elif role == "user":
            contents.append({"role": "user", "parts": _user_parts(msg.get("content"), f"{param}.content")})
        elif role == "assistant":
            parts = _model_parts(msg, param, names, fallback=fallback)
            if parts:
                contents.append({"role": "model", "parts": parts})
        elif is_tool:
            part = _function_response(msg, param, names)
            if last_was_tool:
                contents[-1]["parts"].append(part)
            else:
                contents.append({"role": "user", "parts": [part]})
        elif role == "function":
            raise UnsupportedFeature("legacy `function` messages are not supported; use tools", param=param)
        else:
            raise InvalidRequest(f"unknown message role {role!r}", param=f"{param}.role")
        last_was_tool = is_tool
    return system, contents


def _user_parts(content: Any, param: str) -> list[JSONDict]:
    parts: list[JSONDict] = []
    for j, part in enumerate(text_of_parts(content, param)):
        p = f"{param}[{j}]"
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                parts.append({"text": expect_str(part["text"], f"{p}.text")})
        elif kind == "image_url":
            image = part.get("image_url")
            url = expect_str(image.get("url") if isinstance(image, dict) else image, f"{p}.image_url.url")
            parts.append(_media(url, f"{p}.image_url.url"))
        elif kind == "file":
            file = expect_dict(part.get("file"), f"{p}.file")
            if file.get("file_data") is None:
                raise UnsupportedFeature(
                    "Gemini targets need file contents inline (`file_data`)", param=f"{p}.file"
                )
            parts.append(_media(expect_str(file["file_data"], f"{p}.file.file_data"), f"{p}.file.file_data"))
        elif kind == "input_audio":
            audio = expect_dict(part.get("input_audio"), f"{p}.input_audio")
            fmt = expect_str(audio.get("format"), f"{p}.input_audio.format")
            data = expect_str(audio.get("data"), f"{p}.input_audio.data")
            parts.append({"inlineData": {"mimeType": f"audio/{fmt}", "data": data}})
        else:
            raise InvalidRequest(f"unknown content part type {kind!r}", param=f"{p}.type")
    return parts


def _media(url: str, param: str) -> JSONDict:
    data_url = parse_data_url(url)
    if data_url is not None:
        return {"inlineData": {"mimeType": data_url[0], "data": data_url[1]}}
    if url.startswith(("https://", "http://", "gs://")):
        file_data: JSONDict = {"fileUri": url}
        path = url.split("?", 1)[0].lower()
        for extension, mime in _MIME_BY_EXTENSION.items():
            if path.endswith(extension):
                file_data["mimeType"] = mime
        return {"fileData": file_data}
    raise InvalidRequest("media URL must be a data:, http(s) or gs:// URL", param=param)


def _model_parts(msg: JSONDict, param: str, names: dict[str, str], *, fallback: bool) -> list[JSONDict]:
    if msg.get("audio") is not None:
        raise UnsupportedFeature("Gemini targets do not accept assistant audio", param=f"{param}.audio")
    if msg.get("function_call") is not None:
        raise UnsupportedFeature("legacy `function_call` is not supported; use tool_calls", param=param)
    parts: list[JSONDict] = []
    for j, part in enumerate(text_of_parts(msg.get("content"), f"{param}.content")):
        kind = part.get("type")
        if kind not in ("text", "refusal"):
            raise InvalidRequest("assistant content may only contain text", param=f"{param}.content[{j}]")
        text = part.get("text") if kind == "text" else part.get("refusal")
        if text:
            parts.append({"text": expect_str(text, f"{param}.content[{j}]")})
    if isinstance(msg.get("refusal"), str) and msg["refusal"] and not parts:
        parts.append({"text": msg["refusal"]})
    calls: list[JSONDict] = []
    for k, item in enumerate(expect_list(msg.get("tool_calls") or [], f"{param}.tool_calls")):
        p = f"{param}.tool_calls[{k}]"
        call = expect_dict(item, p)
        if call.get("type", "function") != "function":
            raise UnsupportedFeature("only function tool calls can be sent to Gemini", param=f"{p}.type")
        function = expect_dict(call.get("function"), f"{p}.function")
        name = expect_str(function.get("name"), f"{p}.function.name")
        names[expect_str(call.get("id"), f"{p}.id")] = name
        args = parse_tool_arguments(function.get("arguments"), param=f"{p}.function.arguments")
        wire: JSONDict = {"functionCall": {"name": name, "args": args}}
        extra = call.get("extra_content")
        google = extra.get("google") if isinstance(extra, dict) else None
        if isinstance(google, dict) and isinstance(google.get("thought_signature"), str):
            wire["thoughtSignature"] = google["thought_signature"]
        calls.append(wire)
    if calls and fallback and not any("thoughtSignature" in c for c in calls):
        calls[0]["thoughtSignature"] = SKIP_THOUGHT_SIGNATURE
    return parts + calls


def _function_response(msg: JSONDict, param: str, names: dict[str, str]) -> JSONDict:
    call_id = expect_str(msg.get("tool_call_id"), f"{param}.tool_call_id")
    if call_id not in names:
        raise InvalidRequest(
            "tool message does not answer any earlier assistant tool call", param=f"{param}.tool_call_id"
        )
    content = msg.get("content")
    if not isinstance(content, str):
        pieces = text_of_parts(content, f"{param}.content")
        for j, piece in enumerate(pieces):
            if piece.get("type") != "text":
                raise InvalidRequest("tool messages may only contain text", param=f"{param}.content[{j}]")
        content = "".join(str(piece.get("text", "")) for piece in pieces)
    try:
        parsed = json.loads(content)
    except ValueError:
        parsed = None
    response = parsed if isinstance(parsed, dict) else {"output": content}
    return {"functionResponse": {"name": names[call_id], "response": response}}


def _declarations(raw: Any) -> list[JSONDict]:
    declarations = []
    for i, item in enumerate(expect_list(raw or [], "tools")):
        param = f"tools[{i}]"
        tool = expect_dict(item, param)
        if tool.get("type") != "function":
            raise UnsupportedFeature("only function tools can be sent to Gemini", param=f"{param}.type")
        function = expect_dict(tool.get("function"), f"{param}.function")
        declaration: JSONDict = {"name": expect_str(function.get("name"), f"{param}.function.name")}
        if function.get("description"):
            declaration["description"] = expect_str(function["description"], f"{param}.function.description")
        if function.get("parameters") is not None:
            schema = gemini_schema(function["parameters"], param=f"{param}.function.parameters")
            if schema.get("properties") or schema.get("type") not in ("OBJECT", None):
                declaration["parameters"] = schema
        declarations.append(declaration)
    return declarations


def _tool_config(raw: Any, *, has_tools: bool) -> JSONDict | None:
    if raw is None:
        return None
    if raw in ("auto", "none"):
        return {"mode": raw.upper()} if has_tools else None
    if not has_tools:
        raise InvalidRequest("`tool_choice` requires `tools`", param="tool_choice")
    if raw == "required":
        return {"mode": "ANY"}
    if isinstance(raw, dict) and raw.get("type") == "function":
        function = expect_dict(raw.get("function"), "tool_choice.function")
        return {
            "mode": "ANY",
            "allowedFunctionNames": [expect_str(function.get("name"), "tool_choice.function.name")],
        }
    if isinstance(raw, dict):
        raise UnsupportedFeature(
            f"tool_choice type {raw.get('type')!r} is not supported", param="tool_choice"
        )
    raise InvalidRequest("`tool_choice` must be auto, none, required or a function", param="tool_choice")


def _generation_config(body: JSONDict) -> JSONDict:
    config: JSONDict = {}
    for key in ("max_completion_tokens", "max_tokens"):
        if body.get(key) is not None:
            config["maxOutputTokens"] = expect_int(body[key], key, minimum=1)
            break
    numbers = (
        ("temperature", "temperature", 0, 2),
        ("top_p", "topP", 0, 1),
        ("presence_penalty", "presencePenalty", -2, 2),
        ("frequency_penalty", "frequencyPenalty", -2, 2),
    )
    for key, wire, low, high in numbers:
        if body.get(key) is not None:
            config[wire] = expect_number(body[key], key, low=low, high=high)
    if body.get("top_k") is not None:
        config["topK"] = expect_int(body["top_k"], "top_k", minimum=0)
    if body.get("seed") is not None:
        config["seed"] = expect_int(body["seed"], "seed")
    stops = stop_list(body.get("stop"))
    if stops:
        config["stopSequences"] = stops
    if body.get("n") is not None and expect_int(body["n"], "n", minimum=1) > 1:
        config["candidateCount"] = body["n"]
    response_format = body.get("response_format")
    if response_format is not None:
        kind = expect_dict(response_format, "response_format").get("type")
        if kind in ("json_object", "json_schema"):
            config["responseMimeType"] = "application/json"
        if kind == "json_schema":
            spec = expect_dict(response_format.get("json_schema"), "response_format.json_schema")
            config["responseSchema"] = gemini_schema(
                expect_dict(spec.get("schema"), "response_format.json_schema.schema"),
                param="response_format.json_schema.schema",
            )
        elif kind not in ("text", "json_object"):
            raise InvalidRequest(f"unknown response_format type {kind!r}", param="response_format.type")
    effort = body.get("reasoning_effort")
    if effort is not None:
        if effort not in _THINKING:
            raise InvalidRequest(f"unknown reasoning_effort {effort!r}", param="reasoning_effort")
        config["thinkingConfig"] = {"thinkingLevel": _THINKING[effort]}
    return config


__all__ = [
    "SKIP_THOUGHT_SIGNATURE",
    "GeminiStreamDecoder",
    "classify_gemini_error",
    "from_gemini_response",
    "gemini_schema",
    "gemini_usage",
    "to_gemini_request",
]
