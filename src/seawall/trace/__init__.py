"""Request traces: the typed record (`_schema`), the collector (`Trace`), the codec that owns the
record's encoded forms, the durable write-behind recorder, and stores."""

from seawall.trace._codec import decode, encode, summary, to_json
from seawall.trace._record import Trace, body_text
from seawall.trace._recorder import TraceRecorder
from seawall.trace._schema import SCHEMA_VERSION, TraceRecord, TraceSummary
from seawall.trace._store import TraceStore, open_store

__all__ = [
    "SCHEMA_VERSION",
    "Trace",
    "TraceRecord",
    "TraceRecorder",
    "TraceStore",
    "TraceSummary",
    "body_text",
    "decode",
    "encode",
    "open_store",
    "summary",
    "to_json",
]
