"""Google Gemini on the wire: `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`.

Each answer is a `GenerateContentResponse` (`candidates[].content.parts`, `finishReason`,
`usageMetadata`, `modelVersion`, `responseId`). With ``?alt=sse`` a stream is one
``data: {...}`` event per chunk (CRLF-separated, no terminal sentinel: the last chunk carries
`finishReason` and the full usage); without it, one JSON array sent element by element. A
blocked prompt is a 200 with `promptFeedback.blockReason` and no candidates. Field names are
accepted in camelCase and snake_case, as the real API does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from seawall.simulate._model import Answer, Finish, Prompt, Tool, ToolChoice
from seawall.simulate._wire import (
    Call,
    Dialect,
    Events,
    Limits,
    Rejected,
    Reply,
    WireError,
    dumps,
    retry_after_seconds,
    texts,
)

_SEP = b"\r\n\r\n"
_FINISH = {Finish.STOP: "STOP", Finish.LENGTH: "MAX_TOKENS", Finish.TOOL_CALL: "STOP"}
_STATUS = {
    400: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
}
_MESSAGES = {
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    502: "The service is currently unavailable.",
    503: "The model is overloaded. Please try again later.",
}
_SAFETY = [
    {"category": category, "probability": probability, **({"blocked": True} if probability == "HIGH" else {})}
    for category, probability in (
        ("HARM_CATEGORY_HATE_SPEECH", "NEGLIGIBLE"),
        ("HARM_CATEGORY_DANGEROUS_CONTENT", "HIGH"),
        ("HARM_CATEGORY_HARASSMENT", "NEGLIGIBLE"),
        ("HARM_CATEGORY_SEXUALLY_EXPLICIT", "NEGLIGIBLE"),
    )
]


def _get(obj: Any, camel: str) -> Any:
    """`obj[camel]`, or its snake_case spelling."""
    if not isinstance(obj, Mapping):
        return None
    if camel in obj:
        return obj[camel]
    return obj.get("".join(f"_{c.lower()}" if c.isupper() else c for c in camel))


def _error(status: int, message: str, details: list[Any] | None = None) -> WireError:
    err: dict[str, Any] = {"code": status, "message": message, "status": _STATUS.get(status, "UNKNOWN")}
    if details:
        err["details"] = details
    return WireError(status, {"error": err})


class GeminiDialect(Dialect):
    name: ClassVar[str] = "gemini"
    json_type: ClassVar[str] = "application/json; charset=UTF-8"
    stream_type: ClassVar[str] = "text/event-stream"

    def parse(self, body: Any, *, path_model: str | None = None, stream: bool | None = None) -> Call:
        if not isinstance(body, Mapping):
            raise Rejected(self.invalid("Invalid JSON payload received. Expected an object."))
        contents = body.get("contents")
        if not isinstance(contents, list) or not contents:
            raise Rejected(_error(400, "* GenerateContentRequest.contents: contents is not specified\n"))
        instruction = _get(body, "systemInstruction")
        system = [instruction] if isinstance(instruction, str) else texts(_parts(instruction))
        chars = sum(map(len, system))
        user_text = ""
        for content in contents:
            parts = _parts(content)
            words = texts(parts)
            chars += sum(map(len, words))
            for part in parts:
                for key in ("functionCall", "functionResponse"):
                    if _get(part, key) is not None:
                        chars += len(dumps(_get(part, key)))
            if isinstance(content, Mapping) and content.get("role", "user") == "user" and words:
                user_text = "\n".join(words)
        last = contents[-1] if isinstance(contents[-1], Mapping) else {}
        results = [
            _result_text(_get(p, "functionResponse")) for p in _parts(last) if _get(p, "functionResponse")
        ]
        tools = _tools(body.get("tools"))
        chars += len(dumps([{"name": t.name, "parameters": t.schema} for t in tools])) if tools else 0
        choice, forced = _tool_choice(_get(_get(body, "toolConfig"), "functionCallingConfig"))
        config = _get(body, "generationConfig")
        schema = next(
            (
                s
                for k in ("responseJsonSchema", "responseSchema")
                if isinstance(s := _get(config, k), Mapping)
            ),
            None,
        )
        max_tokens = _get(config, "maxOutputTokens")
        prompt = Prompt(
            user_text=user_text,
            system="\n".join(system),
            tool_result="\n".join(results) if results else None,
            ends_with_user=last.get("role", "user") == "user",
            tools=tools,
            tool_choice=choice,
            forced_tool=forced,
            json_mode=_get(config, "responseMimeType") == "application/json",
            json_schema=schema,
            max_tokens=max_tokens
            if isinstance(max_tokens, int) and not isinstance(max_tokens, bool)
            else None,
            prompt_chars=chars,
        )
        return Call(model=path_model or "", prompt=prompt, stream=bool(stream))

    def invalid(self, message: str) -> WireError:
        return _error(400, message)

    def context_exceeded(self, tokens: int, limit: int) -> WireError:
        return _error(
            400, f"The input token count ({tokens}) exceeds the maximum number of tokens allowed ({limit})."
        )

    def error(self, status: int, *, retry_after: float) -> WireError:
        if status == 429:
            retry = {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after:g}s"}
            err = _error(429, _MESSAGES[429], [retry])
            return WireError(429, err.body, {"retry-after": retry_after_seconds(retry_after)})
        status = 503 if status == 529 else status
        return _error(status, _MESSAGES.get(status, _MESSAGES[500]))

    def headers(self, limits: Limits) -> dict[str, str]:
        return {"x-request-id": limits.request_id}

    def body(self, call: Call, reply: Reply) -> Any:
        answer = reply.answer
        if answer.finish is Finish.BLOCKED:
            return self._blocked(reply)
        parts = [_part(answer)] if answer.tool_call is not None or answer.text else [{"text": ""}]
        return self._response(reply, parts, _FINISH[answer.finish], _usage(answer))

    def events(self, call: Call, reply: Reply) -> Events:
        answer = reply.answer
        if answer.finish is Finish.BLOCKED:
            chunks = [self._blocked(reply)]
            return Events(b"" if call.sse else b"[", [], self._frame(call, chunks[0], first=True, last=True))
        partial = {"promptTokenCount": answer.prompt_tokens, "totalTokenCount": answer.prompt_tokens}
        if answer.tool_call is not None:
            items = [self._response(reply, [_part(answer)], None, partial)]
        else:
            items = [self._response(reply, [{"text": p}], None, partial) for p in answer.pieces]
        final = self._response(reply, [{"text": ""}], _FINISH[answer.finish], _usage(answer))
        content = [self._frame(call, item, first=i == 0) for i, item in enumerate(items)]
        return Events(
            b"" if call.sse else b"[", content, self._frame(call, final, first=not items, last=True)
        )

    def stream_error(self, call: Call, *, first: bool) -> bytes:
        return self._frame(call, _error(503, _MESSAGES[503]).body, first=first, last=True)

    def broken_event(self, call: Call, *, first: bool) -> bytes:
        broken = b'{"candidates": [{"content": {"parts": [{"te'
        if call.sse:
            return b"data: " + broken + _SEP
        return broken if first else b",\r\n" + broken

    @staticmethod
    def _frame(call: Call, obj: Any, *, first: bool, last: bool = False) -> bytes:
        if call.sse:
            return b"data: " + dumps(obj) + _SEP
        return (b"" if first else b",\r\n") + dumps(obj) + (b"]" if last else b"")

    @staticmethod
    def _response(reply: Reply, parts: list[Any], finish: str | None, usage: Any) -> dict[str, Any]:
        candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}}
        if finish is not None:
            candidate["finishReason"] = finish
        candidate["index"] = 0
        return {
            "candidates": [candidate],
            "usageMetadata": usage,
            "modelVersion": reply.model,
            "responseId": reply.token[:22],
        }

    @staticmethod
    def _blocked(reply: Reply) -> dict[str, Any]:
        tokens = reply.answer.prompt_tokens
        return {
            "promptFeedback": {"blockReason": "SAFETY", "safetyRatings": _SAFETY},
            "usageMetadata": {"promptTokenCount": tokens, "totalTokenCount": tokens},
            "modelVersion": reply.model,
            "responseId": reply.token[:22],
        }


def _part(answer: Answer) -> dict[str, Any]:
    if answer.tool_call is not None:
        return {"functionCall": {"name": answer.tool_call.name, "args": answer.tool_call.arguments}}
    return {"text": answer.text}


def _usage(answer: Answer) -> dict[str, Any]:
    return {
        "promptTokenCount": answer.prompt_tokens,
        "candidatesTokenCount": answer.completion_tokens,
        "totalTokenCount": answer.prompt_tokens + answer.completion_tokens,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": answer.prompt_tokens}],
    }


def _parts(content: Any) -> list[Any]:
    parts = content.get("parts") if isinstance(content, Mapping) else None
    return parts if isinstance(parts, list) else []


def _result_text(response: Any) -> str:
    """A function response's text: its "result"/"content"/"output" string, else its JSON."""
    payload = _get(response, "response")
    if isinstance(payload, Mapping):
        for key in ("result", "content", "output"):
            if isinstance(payload.get(key), str):
                return str(payload[key])
    return dumps(payload).decode() if payload is not None else ""


def _tools(value: Any) -> tuple[Tool, ...]:
    out: list[Tool] = []
    for tool in value if isinstance(value, list) else ():
        for fn in _get(tool, "functionDeclarations") or ():
            if isinstance(fn, Mapping) and isinstance(fn.get("name"), str):
                params = _get(fn, "parametersJsonSchema") or _get(fn, "parameters")
                description = fn.get("description")
                out.append(
                    Tool(
                        fn["name"],
                        params if isinstance(params, Mapping) else {},
                        description if isinstance(description, str) else "",
                    )
                )
    return tuple(out)


def _tool_choice(config: Any) -> tuple[ToolChoice, str | None]:
    mode = str(_get(config, "mode") or "AUTO").upper()
    if mode == "NONE":
        return ToolChoice.NONE, None
    if mode == "ANY":
        allowed = _get(config, "allowedFunctionNames")
        forced = allowed[0] if isinstance(allowed, list) and allowed and isinstance(allowed[0], str) else None
        return ToolChoice.REQUIRED, forced
    return ToolChoice.AUTO, None
