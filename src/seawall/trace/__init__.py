"""Request traces: the record model, the durable write-behind recorder, and stores."""

from seawall.trace._record import Trace, body_text
from seawall.trace._recorder import TraceRecorder
from seawall.trace._store import TraceStore, open_store

__all__ = ["Trace", "TraceRecorder", "TraceStore", "body_text", "open_store"]
