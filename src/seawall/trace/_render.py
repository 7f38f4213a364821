"""Human-readable rendering of a trace record (`seawall traces show`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import orjson


def _short(text: str | None, limit: int = 300) -> str:
    if text is None:
        return "-"
    text = text.replace("\n", "\\n")
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def _assembled(chunks: list[list[Any]]) -> str:
    """The text a streamed answer delivered, joined from its recorded chunks."""
    out = []
    for _t, raw in chunks:
        try:
            data = orjson.loads(raw)
        except orjson.JSONDecodeError:
            continue
        for choice in data.get("choices") or ():
            piece = (choice.get("delta") or {}).get("content")
            if piece:
                out.append(piece)
    return "".join(out)


def render_trace(rec: dict[str, Any]) -> str:
    when = dt.datetime.fromtimestamp(rec["ts"]).isoformat(sep=" ", timespec="milliseconds")
    lines = [
        f"trace {rec['id']}  {when}",
        f"  model {rec['model']}  ingress {rec['ingress']}  stream {rec['stream']}  "
        f"status {rec['status']}  {rec['duration_ms']:.1f} ms"
        + (f"  first token {rec['ttft_ms']:.1f} ms" if rec.get("ttft_ms") is not None else ""),
    ]
    route = rec.get("route") or {}
    if route:
        lines.append(
            f"  route: {' -> '.join(route.get('targets', []))}  deadline {route.get('deadline_ms')} ms  "
            f"max attempts {route.get('max_attempts')}"
        )
    lines.append(f"  request: {_short((rec.get('request') or {}).get('body'))}")
    lines.append(f"  attempts ({len(rec.get('attempts') or [])}):")
    for a in rec.get("attempts") or []:
        outcome = "ok" if a.get("error_class") is None else a["error_class"]
        ttft = f" ttft {a['ttft_ms']:.1f} ms" if a.get("ttft_ms") is not None else ""
        backoff = f" after {a['backoff_ms']:.0f} ms backoff" if a.get("backoff_ms") else ""
        where = f"{a['provider']}/{a['model']} [{a['kind']}] at +{a['started_ms']:.1f} ms{backoff}"
        lines.append(
            f"    #{a['index']} {where}: {outcome} status={a.get('status')} {a['latency_ms']:.1f} ms{ttft}"
        )
        if a.get("error"):
            lines.append(f"       error: {_short(a['error'], 200)}")
        if a.get("response_model") or a.get("system_fingerprint"):
            lines.append(f"       model {a.get('response_model')}  fingerprint {a.get('system_fingerprint')}")
        if a.get("usage"):
            lines.append(f"       usage {a['usage']}")
        if a.get("retry_after_s") is not None:
            lines.append(f"       retry-after {a['retry_after_s']} s")
    for t, kind, detail in rec.get("events") or []:
        lines.append(f"  event +{t:.1f} ms {kind} {detail}")
    err = rec.get("error")
    if err:
        lines.append(
            f"  error: {err.get('status')} {err.get('type')} {err.get('code') or ''}: {err.get('message')}"
        )
    resp = rec.get("response") or {}
    if rec.get("stream"):
        chunks = resp.get("chunks") or []
        lines.append(f"  stream: {len(chunks)} chunks, ended: {resp.get('terminal')}")
        lines.append(f"  answer: {_short(_assembled(chunks))}")
    else:
        lines.append(f"  response: {_short(resp.get('body'))}")
    if rec.get("answered_by"):
        lines.append(f"  answered by {rec['answered_by']}")
    return "\n".join(lines)
