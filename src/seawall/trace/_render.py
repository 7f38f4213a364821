"""Human-readable rendering of a trace record (`seawall traces show`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import msgspec
import orjson

from seawall.trace._schema import AnyEvent, Attempt, Text, TraceRecord


def _short(text: Text, limit: int = 300) -> str:
    if not isinstance(text, str):
        return "-"
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def sse_data(body: str) -> Iterator[str]:
    """The `data` of each event of an SSE body (its `data:` lines joined, as a client reads them)."""
    for block in body.replace("\r\n", "\n").split("\n\n"):
        lines = [line[5:].removeprefix(" ") for line in block.split("\n") if line.startswith("data:")]
        if lines:
            yield "\n".join(lines)


def answer_text(body: str) -> str:
    """The text a streamed answer delivered, from the SSE body the client got: the `content` deltas
    of OpenAI chunks and the `text_delta`s of Anthropic `content_block_delta` events."""
    out: list[str] = []
    for data in sse_data(body):
        try:
            event = orjson.loads(data)
        except orjson.JSONDecodeError:
            continue  # `[DONE]`, or not JSON
        if not isinstance(event, dict):
            continue
        if event.get("type") == "content_block_delta":
            delta = event.get("delta")
            if isinstance(delta, dict) and delta.get("type") == "text_delta":
                out.append(str(delta.get("text") or ""))
            continue
        for choice in event.get("choices") or ():
            piece = (choice.get("delta") or {}).get("content") if isinstance(choice, dict) else None
            if piece:
                out.append(str(piece))
    return "".join(out)


def _event(event: AnyEvent) -> str:
    fields: dict[str, Any] = msgspec.structs.asdict(event)
    t_ms = fields.pop("t_ms")
    kind = type(event).__struct_config__.tag  # the event's `type`
    detail = "  ".join(f"{key}={value}" for key, value in fields.items())
    return f"  event +{t_ms:.1f} ms {kind}" + (f"  {detail}" if detail else "")


def _attempt(a: Attempt) -> list[str]:
    outcome = "ok" if a.error_class is None else a.error_class
    ttft = f" ttft {a.ttft_ms:.1f} ms" if a.ttft_ms is not None else ""
    backoff = f" after {a.backoff_ms:.0f} ms backoff" if a.backoff_ms else ""
    flags = "".join(f" ({name})" for name, on in (("retry", a.retry), ("hedge", a.hedge)) if on)
    where = f"{a.provider}/{a.model} [{a.kind}] at +{a.started_ms:.1f} ms{backoff}{flags}"
    lines = [f"    #{a.index} {where}: {outcome} status={a.status} {a.latency_ms:.1f} ms{ttft}"]
    if a.error:
        lines.append(f"       error: {_short(a.error, 200)}")
    if a.response_model or a.system_fingerprint:
        lines.append(f"       model {a.response_model}  fingerprint {a.system_fingerprint}")
    if a.usage:
        lines.append(f"       usage {a.usage}")
    if a.retry_after_s is not None:
        lines.append(f"       retry-after {a.retry_after_s} s")
    if a.reads is not None:
        head = f"headers at +{a.head_ms:.1f} ms, " if a.head_ms is not None else ""
        lines.append(f"       upstream: {head}{len(a.reads)} reads, {sum(n for _t, n in a.reads)} bytes")
    return lines


def render_trace(rec: TraceRecord) -> str:
    when = dt.datetime.fromtimestamp(rec.ts).isoformat(sep=" ", timespec="milliseconds")
    lines = [
        f"trace {rec.id}  {when}",
        f"  model {rec.model}  ingress {rec.ingress}  stream {rec.stream}  "
        f"status {rec.status}  {rec.duration_ms:.1f} ms"
        + (f"  first token {rec.ttft_ms:.1f} ms" if rec.ttft_ms is not None else ""),
    ]
    route = rec.route
    if route is not None:
        lines.append(
            f"  route: {' -> '.join(route.targets)}  deadline {route.deadline_ms} ms  "
            f"max attempts {route.max_attempts}  priority {route.priority}"
        )
    lines.append(f"  request: {_short(rec.request.body)}")
    lines.append(f"  attempts ({len(rec.attempts)}):")
    for attempt in rec.attempts:
        lines.extend(_attempt(attempt))
    lines.extend(_event(event) for event in rec.events)
    err = rec.error
    if err is not None:
        lines.append(f"  error: {err.status} {err.type} {err.code or ''}: {err.message}")
    resp = rec.response
    if rec.stream:
        body = resp.body if isinstance(resp.body, str) else None
        if body is None:
            lines.append(f"  stream: not recorded, ended: {resp.terminal}")
        else:
            writes = len(resp.writes or ())
            size = len(body.encode("utf-8", "surrogatepass"))
            lines.append(f"  stream: {writes} writes, {size} bytes, ended: {resp.terminal}")
            lines.append(f"  answer: {_short(answer_text(body))}")
    else:
        lines.append(f"  response: {_short(resp.body)}")
    if rec.answered_by:
        lines.append(f"  answered by {rec.answered_by}")
    return "\n".join(lines)
