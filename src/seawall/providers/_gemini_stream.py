"""Gemini `GenerateContentResponse` pieces → canonical parts; the streaming decoder.

Each SSE `data:` of `streamGenerateContent?alt=sse` is a whole `GenerateContentResponse` holding
the next slice of each candidate. `GeminiStreamDecoder.feed` returns, per candidate (= choice
index): a role chunk first, then text deltas, each `functionCall` as one complete tool-call delta
(Gemini never splits a call), a finish chunk when `finishReason` arrives, and — once every
candidate seen has finished — a usage chunk with `choices: []` (the caller forwards it only for
`include_usage`). `.done` is then true. Blocked or malformed candidates raise (see
`_gemini_errors`), as does an `{"error": …}` event.

Tool-call ids: Gemini's `functionCall.id` when it sends one, else `call_<responseId>_<n>` (n counts
calls within the answer), unique across turns so histories stay valid for any later target.
A call's `thoughtSignature` is returned as `extra_content.google.thought_signature` on the tool
call, the shape Google's own OpenAI-compatible endpoint uses, so clients that echo tool calls back
hand it to `to_gemini_request`, which Gemini 3 requires for multi-turn function calling.
Thought parts (`thought: true`) are reasoning summaries and are skipped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from seawall._types import JSONDict
from seawall.errors import UpstreamBadResponse
from seawall.providers._gemini_errors import (
    FINISH_OK,
    check_gemini_candidate,
    check_prompt_feedback,
    error_from_gemini_payload,
)
from seawall.providers._wire_common import chunk, dumps_compact, int_field, now_s, openai_usage, usage_chunk


def gemini_usage(meta: JSONDict) -> JSONDict:
    """`usageMetadata` → canonical usage. Thinking tokens are billed as output, as in OpenAI."""
    prompt = int_field(meta, "promptTokenCount") + int_field(meta, "toolUsePromptTokenCount")
    thoughts = int_field(meta, "thoughtsTokenCount")
    completion = int_field(meta, "candidatesTokenCount") + thoughts
    total = int_field(meta, "totalTokenCount") or None
    cached = int_field(meta, "cachedContentTokenCount") if "cachedContentTokenCount" in meta else None
    reasoning = thoughts if "thoughtsTokenCount" in meta else None
    return openai_usage(prompt, completion, total=total, cached=cached, reasoning=reasoning)


def response_id(resp: JSONDict) -> str:
    """Gemini's `responseId`, or a fresh random one when it sent none."""
    rid = resp.get("responseId")
    return rid if isinstance(rid, str) and rid else uuid.uuid4().hex[:16]


def candidate_parts(candidate: JSONDict, *, rid: str, first_call: int) -> tuple[list[str], list[JSONDict]]:
    """A candidate's text pieces and tool calls (numbered from `first_call`)."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    texts: list[str] = []
    calls: list[JSONDict] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict) or part.get("thought") is True:
            continue
        if isinstance(part.get("text"), str):
            texts.append(part["text"])
        elif isinstance(part.get("functionCall"), dict):
            call = part["functionCall"]
            if not isinstance(call.get("name"), str):
                raise UpstreamBadResponse("gemini functionCall without a name")
            args = call.get("args") if isinstance(call.get("args"), dict) else {}
            given = call.get("id")
            tool_call: JSONDict = {
                "id": given if isinstance(given, str) and given else f"call_{rid}_{first_call + len(calls)}",
                "type": "function",
                "function": {"name": call["name"], "arguments": dumps_compact(args)},
            }
            if isinstance(part.get("thoughtSignature"), str):
                tool_call["extra_content"] = {"google": {"thought_signature": part["thoughtSignature"]}}
            calls.append(tool_call)
    return texts, calls


def finish_reason(candidate: JSONDict, *, has_calls: bool) -> str:
    """Canonical finish reason of a candidate that passed `check_gemini_candidate`."""
    reason = FINISH_OK.get(str(candidate.get("finishReason") or "STOP"), "stop")
    return "tool_calls" if has_calls and reason == "stop" else reason


@dataclass(slots=True)
class _Choice:
    calls: int = 0
    finished: bool = False


class GeminiStreamDecoder:
    """Turns one Gemini SSE stream into canonical chunks. One instance per attempt."""

    def __init__(self, *, request_model: str, created: int | None = None) -> None:
        self.done = False
        self.finish_reason: str | None = None
        self.usage: JSONDict | None = None
        self._model = request_model
        self._created = created if created is not None else now_s()
        self._id: str | None = None
        self._rid = ""
        self._choices: dict[int, _Choice] = {}

    def feed(self, data: JSONDict) -> list[JSONDict]:
        """Consume one `data:` payload; return the canonical chunks it produces."""
        if "error" in data:
            raise error_from_gemini_payload(data)
        if self.done:
            return []
        check_prompt_feedback(data)
        if self._id is None:
            self._rid = response_id(data)
            self._id = f"chatcmpl-{self._rid}"
            if isinstance(data.get("modelVersion"), str) and data["modelVersion"]:
                self._model = data["modelVersion"]
        if isinstance(data.get("usageMetadata"), dict):
            self.usage = gemini_usage(data["usageMetadata"])
        out: list[JSONDict] = []
        candidates = data.get("candidates")
        for position, candidate in enumerate(candidates if isinstance(candidates, list) else []):
            if not isinstance(candidate, dict):
                raise UpstreamBadResponse("gemini candidate is not an object")
            out += self._candidate(candidate, position, data)
        if self._choices and all(c.finished for c in self._choices.values()):
            self.done = True
            out.append(
                usage_chunk(id=self._id, created=self._created, model=self._model, usage=self._usage())
            )
        return out

    def _usage(self) -> JSONDict:
        return self.usage if self.usage is not None else openai_usage(0, 0)

    def _candidate(self, candidate: JSONDict, position: int, resp: JSONDict) -> list[JSONDict]:
        check_gemini_candidate(candidate, resp)
        index = candidate.get("index", position)
        index = index if isinstance(index, int) and not isinstance(index, bool) else position
        out: list[JSONDict] = []
        state = self._choices.get(index)
        if state is None:
            state = self._choices[index] = _Choice()
            out.append(self._chunk(index, {"role": "assistant", "content": ""}))
        if state.finished:
            return out
        texts, calls = candidate_parts(candidate, rid=self._rid, first_call=state.calls)
        text = "".join(texts)
        if text:
            out.append(self._chunk(index, {"content": text}))
        for call in calls:
            out.append(self._chunk(index, {"tool_calls": [{"index": state.calls, **call}]}))
            state.calls += 1
        if candidate.get("finishReason") is not None:
            state.finished = True
            reason = finish_reason(candidate, has_calls=state.calls > 0)
            if index == 0 or self.finish_reason is None:
                self.finish_reason = reason
            out.append(self._chunk(index, {}, reason))
        return out

    def _chunk(self, index: int, delta: JSONDict, finish: str | None = None) -> JSONDict:
        assert self._id is not None
        return chunk(
            id=self._id,
            created=self._created,
            model=self._model,
            delta=delta,
            finish_reason=finish,
            index=index,
        )
