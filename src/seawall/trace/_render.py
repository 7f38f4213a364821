"""Human-readable rendering of a trace record (`seawall traces show`): what it was, each attempt, the
answer, then the timeline (`_timeline`)."""

from __future__ import annotations

import datetime as dt

from seawall.trace._schema import Attempt, ContextNote, Text, TraceRecord
from seawall.trace._text import conversation_id, sse_data, stream_parts
from seawall.trace._timeline import timeline


def _short(text: Text, limit: int = 300) -> str:
    if not isinstance(text, str):
        return "-"
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def answer_text(body: str) -> str:
    """The text a streamed answer delivered, from the SSE body the client got: the `content` deltas
    of OpenAI chunks and the `text_delta`s of Anthropic `content_block_delta` events."""
    return stream_parts(body)[0]


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
    conversation = conversation_id(rec)
    if conversation:
        lines.append(f"  conversation {conversation}")
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
    context = rec.context
    if context is not None:
        lines.extend(_context_lines(context))
    quality = rec.quality
    if quality is not None:
        probe = quality.probe
        if probe is not None:
            verdict = "no verdict" if probe.passed is None else ("passed" if probe.passed else "FAILED")
            why = f" ({probe.detail})" if probe.detail else ""
            battery = f"; battery: {probe.battery}" if probe.battery else ""
            lines.append(
                f"  canary probe {probe.suite}/{probe.probe} of {probe.target}: {verdict}{why}{battery}"
            )
        for event in quality.events:
            moved = f"{event.old} -> {event.new}" if event.old is not None else event.new
            lines.append(f"  quality {event.kind} at {event.target}: {moved} ({event.reason})")
    lines.append("  timeline (since arrival):")
    lines.extend(f"  {line}" for line in timeline(rec))
    return "\n".join(lines)


def _context_lines(c: ContextNote) -> list[str]:
    out = []
    if c.conversation is not None or c.snapshot is not None:
        state = f"conversation {c.conversation}" if c.conversation is not None else "no conversation"
        if c.version is not None:
            state += f" version {c.version}"
        snapshot = c.snapshot or "none"
        binding = f"; binding: {c.binding}" if c.binding else ""
        if c.bound_snapshot:
            binding += f" (bound to {c.bound_snapshot})"
        if c.newest_version is not None:
            binding += f" (newest version seen: {c.newest_version})"
        out.append(f"  context: {state}, snapshot {snapshot}{binding}")
    if c.cache is not None:
        why = f" ({c.cache_reason})" if c.cache_reason else ""
        stored = ", answer stored" if c.cache_stored else ""
        out.append(f"  cache: {c.cache}{why}{stored}" + (f", key {c.cache_key}" if c.cache_key else ""))
        for part, value in (c.cache_parts or {}).items():
            out.append(f"    {part}: {value}")
    return out


__all__ = ["answer_text", "render_trace", "sse_data"]
