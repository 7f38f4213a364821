"""Shared mutable state behind one interface: resilience records and exact shared primitives.

`StateBackend` is the seam. Policy code (`seawall.resilience`) steps plain records and never
sees a backend; `seawall.engine.ResilienceState` asks the backend for each target's and provider's
records and tells it when a step changed one. `MemoryBackend` keeps everything in this process
(one node: today's behaviour). A Redis backend for many replicas plugs in here: records kept
locally and reconciled in the background (bounded staleness), and the exact primitives
(`set_if_absent`, `add`, ...) done atomically in Redis for quotas, conversation bindings and the
response cache. Backend types must not leak out of this package.
"""

from seawall.state._backend import StateBackend
from seawall.state._memory import MemoryBackend
from seawall.state._records import assign_record

__all__ = ["MemoryBackend", "StateBackend", "assign_record"]
