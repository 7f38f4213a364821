"""The errors of retrieval snapshots and conversation state, each mapping to one OpenAI-shaped 4xx.

    SeawallError
    ├── RequestError
    │   ├── InvalidRequest
    │   │   ├── InvalidSnapshot      400 a snapshot body that is not a valid snapshot (`param`: JSON path)
    │   │   └── UnknownSnapshot      400 a request names a snapshot hash the store does not hold
    │   └── PayloadTooLarge
    │       └── SnapshotTooLarge     413 a snapshot whose canonical JSON exceeds the limit
    └── ContextConflict              409 (`seawall.errors`): made by `conflict_error` from a `BindResult`

Malformed control values (a bad hash, version or conversation id) are `ValueError`s from the
`parse_*` functions; the gateway turns them into `InvalidRequest` naming the header or body field
they came from, which only it knows.
"""

from __future__ import annotations

from seawall.errors import InvalidRequest, PayloadTooLarge


class InvalidSnapshot(InvalidRequest):
    """Raised when a snapshot body is not a JSON object with a valid `documents` list; `param` is the
    JSON path of the first problem (`documents[3].id`)."""

    code = "invalid_snapshot"


class UnknownSnapshot(InvalidRequest):
    """Raised when a request names a snapshot hash that is not stored (never, or no longer)."""

    code = "unknown_snapshot"


class SnapshotTooLarge(PayloadTooLarge):
    """Raised when a snapshot's canonical JSON is larger than the configured limit."""

    code = "snapshot_too_large"
