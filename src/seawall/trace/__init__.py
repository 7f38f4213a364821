"""Request traces: the typed record, the collector, the durable write-behind recorder, and stores."""

from typing import Any

from seawall.trace._record import Trace, body_text
from seawall.trace._recorder import TraceRecorder
from seawall.trace._schema import SCHEMA_VERSION, TraceRecord
from seawall.trace._store import TraceStore, open_store


def to_json(record: Any) -> Any:  # TODO(merge): the codec's to_json
    return record


__all__ = [
    "SCHEMA_VERSION",
    "Trace",
    "TraceRecord",
    "TraceRecorder",
    "TraceStore",
    "body_text",
    "open_store",
    "to_json",
]
