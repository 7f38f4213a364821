"""One stored form for streamed and non-streamed answers: assembling a stream, replaying it as chunks.

The cache keeps a completed answer as one canonical `chat.completion` object, whichever form produced
it (docs/cache.md, "Streams"). A streamed miss is assembled here from its canonical chunks once it has
ended cleanly; a streamed hit is replayed as canonical chunks, which the client's dialect encodes as
SSE like any other stream. Only complete answers assemble: a stream without a finish reason for every
choice, or with an error event, gives None and is not stored.

Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from seawall._types import JSONDict

_META = ("system_fingerprint", "service_tier")


@dataclass(slots=True)
class _Choice:
    role: str = "assistant"
    content: list[str] = field(default_factory=list)
    refusal: list[str] = field(default_factory=list)
    calls: dict[int, JSONDict] = field(default_factory=dict)
    finish: str | None = None

    def add(self, delta: Mapping[str, Any]) -> bool:
        """Fold one delta in; False when it holds something this form cannot keep."""
        if isinstance(delta.get("role"), str):
            self.role = delta["role"]
        if isinstance(delta.get("content"), str):
            self.content.append(delta["content"])
        if isinstance(delta.get("refusal"), str):
            self.refusal.append(delta["refusal"])
        if delta.get("function_call") is not None or delta.get("audio") is not None:
            return False
        return all(self._call(piece) for piece in delta.get("tool_calls") or ())

    def _call(self, piece: Any) -> bool:
        if not isinstance(piece, dict) or not isinstance(piece.get("index"), int):
            return False
        call = self.calls.setdefault(piece["index"], {"id": None, "type": "function", "name": "", "args": []})
        if piece.get("id"):
            call["id"] = piece["id"]
        fn = piece.get("function") or {}
        call["name"] += fn.get("name") or ""
        call["args"].append(fn.get("arguments") or "")
        return True

    def message(self) -> JSONDict:
        text = "".join(self.content)
        message: JSONDict = {
            "role": self.role,
            "content": text if text or not self.calls else None,  # as OpenAI: null beside tool calls
            "refusal": "".join(self.refusal) if self.refusal else None,
        }
        if self.calls:
            message["tool_calls"] = [
                {
                    "id": c["id"],
                    "type": c["type"],
                    "function": {"name": c["name"], "arguments": "".join(c["args"])},
                }
                for _, c in sorted(self.calls.items())
            ]
        return message


def completion_from_chunks(chunks: Iterable[Mapping[str, Any]]) -> JSONDict | None:
    """The `chat.completion` a stream of canonical chunks amounts to, or None when the stream is not a
    complete answer (an error event, a choice without a finish reason, no choice at all, or content
    this form does not keep: audio, legacy `function_call`)."""
    head: JSONDict = {}
    choices: dict[int, _Choice] = {}
    usage: Any = None
    for data in chunks:
        if "error" in data:
            return None
        for name in ("id", "created", "model", *_META):
            if data.get(name) is not None:
                head[name] = data[name]
        if data.get("usage") is not None:
            usage = data["usage"]
        for raw in data.get("choices") or ():
            choice = choices.setdefault(raw.get("index", 0), _Choice())
            if not choice.add(raw.get("delta") or {}):
                return None
            if raw.get("finish_reason"):
                choice.finish = raw["finish_reason"]
    if not choices or any(c.finish is None for c in choices.values()):
        return None
    body: JSONDict = {
        "id": head.get("id"),
        "object": "chat.completion",
        "created": head.get("created"),
        "model": head.get("model"),
        "choices": [
            {"index": i, "message": c.message(), "logprobs": None, "finish_reason": c.finish}
            for i, c in sorted(choices.items())
        ],
        "usage": usage,
    }
    body.update({name: head[name] for name in _META if name in head})
    return body


def _deltas(message: Mapping[str, Any]) -> list[JSONDict]:
    """A message as the deltas a stream carries: the role opening, text, refusal, each tool call."""
    deltas: list[JSONDict] = [{"role": message.get("role") or "assistant", "content": ""}]
    if message.get("content"):
        deltas.append({"content": message["content"]})
    if message.get("refusal"):
        deltas.append({"refusal": message["refusal"]})
    for i, call in enumerate(message.get("tool_calls") or ()):
        deltas.append({"tool_calls": [{"index": i, **call}]})
    return deltas


def chunks_from_completion(completion: Mapping[str, Any], *, include_usage: bool) -> list[JSONDict]:
    """A stored `chat.completion` replayed as canonical `chat.completion.chunk`s: per choice the role
    opening, its text, refusal and tool calls whole, then its finish reason; with `include_usage`, every
    chunk has `usage: null` and a last chunk (`choices: []`) carries the usage, as OpenAI streams do."""
    head: JSONDict = {
        "id": completion.get("id"),
        "object": "chat.completion.chunk",
        "created": completion.get("created"),
        "model": completion.get("model"),
    }
    head.update({name: completion[name] for name in _META if completion.get(name) is not None})
    if include_usage:
        head["usage"] = None
    out: list[JSONDict] = []
    for choice in completion.get("choices") or ():
        index = choice.get("index", 0)
        steps: list[tuple[JSONDict, str | None]] = [(d, None) for d in _deltas(choice.get("message") or {})]
        steps.append(({}, choice.get("finish_reason") or "stop"))
        out.extend(
            {**head, "choices": [{"index": index, "delta": d, "logprobs": None, "finish_reason": f}]}
            for d, f in steps
        )
    if include_usage:
        out.append({**head, "choices": [], "usage": completion.get("usage")})
    return out


__all__ = ["chunks_from_completion", "completion_from_chunks"]
