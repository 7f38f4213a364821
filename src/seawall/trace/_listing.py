"""A listing of traces for a person (`seawall traces list`) or a program (`--json`)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

import msgspec

from seawall.trace._schema import TraceSummary

HEADER = (
    f"{'TRACE ID':<24} {'TIME':<19} {'MODEL':<16} {'STATUS':>6} {'MS':>9} {'ATT':>3}  ANSWERED BY / ERROR"
)


def table_row(row: TraceSummary) -> str:
    """One line: id, local time, model, status, duration, attempts, then who answered (or the
    error's class), `stream`, and the conversation when the client named one."""
    when = dt.datetime.fromtimestamp(row.ts).strftime("%Y-%m-%d %H:%M:%S")
    tail = row.answered_by or row.error_class or ""
    if row.stream:
        tail += " stream"
    if row.conversation_id:
        tail += f"  conversation {row.conversation_id}"
    return (
        f"{row.id:<24} {when:<19} {str(row.model)[:16]:<16} {row.status!s:>6} "
        f"{row.duration_ms or 0:>9.1f} {row.attempts:>3}  {tail.strip()}"
    )


def json_lines(rows: Iterable[TraceSummary]) -> list[str]:
    """One JSON object per summary (the admin API's `data` items)."""
    return [msgspec.json.encode(row).decode() for row in rows]


__all__ = ["HEADER", "json_lines", "table_row"]
