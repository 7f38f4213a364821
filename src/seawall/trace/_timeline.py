"""A record as a timeline: everything that happened to a request, in time order, as offsets from
its arrival (`seawall traces show`).

From the record alone: the admission queue (`queued`, `admitted`, `shed`), each resilience decision
(`gate`: what the gate said of a target and whether the attempt went ahead, after what backoff, or why
not), skips, demotions, backoffs, hedges, breaker changes, each attempt's start, headers, first byte
and end, the first byte the client got, the client's stream writes (time, byte offset and size; long
runs shown as the first and last few) and how the response ended. Events at the same instant keep a
causal order (an attempt starts before its headers arrive; a breaker changes once the attempt ended).
"""

from __future__ import annotations

from typing import Any

from seawall.trace._schema import (
    Admitted,
    AnyEvent,
    AttemptCancelled,
    Backoff,
    BreakerChanged,
    Demoted,
    Gated,
    Hedged,
    HedgeDelay,
    Queued,
    Shed,
    Skipped,
    StreamFailed,
    TraceRecord,
)

SHOWN_WRITES = 5
"""A stream's first and last writes shown; those between are counted."""

# order among entries at the same offset (lower first)
_ARRIVE, _ADMISSION, _DECIDE, _START, _HEAD, _FIRST, _WRITE, _END, _AFTER, _DONE = range(10)


def timeline(record: TraceRecord, shown_writes: int = SHOWN_WRITES) -> list[str]:
    """The timeline's lines (`+12.3 ms  what`), oldest first."""
    entries: list[tuple[float, int, int, str]] = []

    def add(t_ms: float, rank: int, text: str) -> None:
        entries.append((t_ms, rank, len(entries), text))

    add(
        0.0,
        _ARRIVE,
        f"arrived: {record.ingress} request for {record.model}" + (" (stream)" if record.stream else ""),
    )
    for event in record.events:
        rank, text = _event(event)
        add(event.t_ms, rank, text)
    for a in record.attempts:
        target = f"{a.provider}/{a.model}"
        flags = "".join(f" ({name})" for name, on in (("retry", a.retry), ("hedge", a.hedge)) if on)
        add(a.started_ms, _START, f"attempt #{a.index} to {target} started{flags}")
        if a.head_ms is not None:
            add(a.head_ms, _HEAD, f"attempt #{a.index} headers: status {a.status}")
        if a.ttft_ms is not None:
            add(a.started_ms + a.ttft_ms, _FIRST, f"attempt #{a.index} first content from upstream")
        outcome = "ok" if a.error_class is None else a.error_class
        status = "no status" if a.status is None else f"status {a.status}"
        add(
            a.started_ms + a.latency_ms,
            _END,
            f"attempt #{a.index} ended: {outcome}, {status} ({a.latency_ms:.1f} ms)",
        )
    if record.ttft_ms is not None:
        add(record.ttft_ms, _FIRST, "first byte to the client")
    _writes(record, add, shown_writes)
    ended = record.response.terminal
    add(record.duration_ms, _DONE, f"end: status {record.status}" + (f", stream {ended}" if ended else ""))
    entries.sort()
    return [f"{t_ms:>9.1f} ms  {text}" for t_ms, _rank, _seq, text in entries]


def _writes(record: TraceRecord, add: Any, shown: int) -> None:
    writes = record.response.writes
    if not writes:
        return
    offset = 0
    skipped_from: float | None = None
    skipped = skipped_bytes = 0
    last = len(writes) - 1
    for i, (t_ms, size) in enumerate(writes):
        if i < shown or i > last - shown:
            if skipped:
                add(skipped_from, _WRITE, f"… {skipped} more writes, {skipped_bytes} bytes")
                skipped = 0
            add(t_ms, _WRITE, f"write {i + 1}/{len(writes)}: {size} bytes at byte {offset}")
        else:
            if not skipped:
                skipped_from, skipped_bytes = t_ms, 0
            skipped += 1
            skipped_bytes += size
        offset += size


def _event(event: AnyEvent) -> tuple[int, str]:
    if isinstance(event, Queued):
        return _ADMISSION, f"queued for admission ({event.priority}; {event.queued} queued)"
    if isinstance(event, Admitted):
        return _ADMISSION, f"admitted after waiting {event.waited_ms:.1f} ms"
    if isinstance(event, Shed):
        after = "" if event.retry_after_s is None else f", retry after {event.retry_after_s:g} s"
        return _ADMISSION, f"shed by admission control ({event.priority}{after})"
    if isinstance(event, Gated):
        return _DECIDE, _gate(event)
    if isinstance(event, Skipped):
        return _DECIDE, f"skip {event.target}: {event.reason} [{event.code}]"
    if isinstance(event, Demoted):
        return _DECIDE, f"demoted {event.target}: {event.reason}"
    if isinstance(event, Backoff):
        return _DECIDE, f"backoff {event.delay_ms:.1f} ms before retrying {event.target}"
    if isinstance(event, HedgeDelay):
        when = "never" if event.delay_ms is None else f"after {event.delay_ms:.1f} ms"
        return _DECIDE, f"hedge {event.target}: {when}"
    if isinstance(event, Hedged):
        return _DECIDE, f"hedge sent to {event.target} (after {event.after_ms:.1f} ms)"
    if isinstance(event, AttemptCancelled):
        return _END, f"attempt to {event.target} cancelled"
    if isinstance(event, BreakerChanged):
        return _AFTER, f"breaker {event.target}: {event.old} -> {event.new} ({event.reason})"
    if isinstance(event, StreamFailed):
        return _AFTER, f"stream failed after commit: {event.error_class}: {event.message}"
    return _AFTER, "client disconnected"  # ClientDisconnected: the last of `AnyEvent`


def _gate(event: Gated) -> str:
    limit = "unlimited" if event.limit is None else str(event.limit)
    state = f"breaker {event.breaker}, {event.inflight}/{limit} in flight"
    if event.reject_p:
        state += f", reject p {event.reject_p:.2f}"
    if event.budget is not None:  # consulted by a retry or hedge only
        state += f", budget {event.budget:g}"
    if event.go is None:
        wait = f", clears in {event.wait_ms:.0f} ms" if event.wait_ms else ""
        return f"gate {event.target}: {event.result}{wait} ({state})"
    if event.go:
        backoff = f" after {event.delay_ms:.1f} ms backoff" if event.delay_ms else ""
        return f"gate {event.target}: go{backoff} ({state})"
    why = event.reason or event.code or "refused"
    late = ", out of time" if event.out_of_time else ""
    return f"gate {event.target}: no, {why}{late} ({state})"


__all__ = ["SHOWN_WRITES", "timeline"]
