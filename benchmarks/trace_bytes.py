"""Bytes recorded per request: the journal line (copied on the event loop), what the SQLite store
keeps (the row's record plus blobs) and the database file's pages in use (rows, indexes, search index
and blobs, divided by the requests), for a JSON request and a 13-event stream.

Runs the same in-process harness as `inprocess.py` (a stub upstream, every resilience policy on),
so it also runs on an older checkout: `PYTHON=<its venv>/bin/python benchmarks/trace_bytes.py`.

    .venv/bin/python benchmarks/trace_bytes.py --requests 200
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

from inprocess import BODY, StubProvider, stub_openai_provider

from seawall._gateway import Gateway
from seawall.server import SeawallApp


async def measure(mode: str, requests: int) -> dict[str, float]:
    folder = Path(tempfile.mkdtemp(prefix="seawall-bytes-"))
    config: dict[str, Any] = {
        "providers": [{"name": "up", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "api_key": "k"}],
        "models": [{"name": "gpt-4o-mini", "targets": [{"provider": "up", "model": "gpt-4o-mini"}]}],
        "traces": {"store": f"sqlite:///{folder}/traces.db", "journal_dir": str(folder / "journal")},
    }
    gateway = Gateway.from_config(config)
    await gateway.start()
    assert gateway.engine is not None
    body = BODY
    if mode == "json":
        gateway.engine.providers["up"] = StubProvider()  # type: ignore[assignment]
    else:
        gateway.engine.providers["up"] = stub_openai_provider()
        body = BODY[:-1] + b',"stream":true,"stream_options":{"include_usage":true}}'
    app = SeawallApp(gateway)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        "query_string": b"",
    }
    journal = 0
    original = gateway.recorder.record

    def record(rec: Any) -> None:  # count the bytes the recorder copies into its journal
        nonlocal journal
        before = gateway.recorder._size
        original(rec)
        journal += max(0, gateway.recorder._size - before)

    gateway.recorder.record = record  # type: ignore[method-assign]

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        return None

    for _ in range(requests):
        await app(scope, receive, send)
    assert gateway.recorder.flush(60)
    await gateway.aclose()
    db = sqlite3.connect(folder / "traces.db")
    rows, record_bytes = db.execute("SELECT COUNT(*), SUM(LENGTH(record)) FROM traces").fetchone()
    blob_bytes = db.execute("SELECT COALESCE(SUM(LENGTH(data)), 0) FROM blobs").fetchone()[0]
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    pages = db.execute("PRAGMA page_count").fetchone()[0] - db.execute("PRAGMA freelist_count").fetchone()[0]
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    db.close()
    return {
        "journal": journal / requests,
        "record": record_bytes / rows,
        "blobs (all requests)": float(blob_bytes),
        "file": pages * page_size / rows,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    for mode in ("json", "stream"):
        result = asyncio.run(measure(mode, args.requests))
        parts = ", ".join(f"{k} {v:,.0f} B" for k, v in result.items())
        print(f"{mode:6s}: per request {parts}")


if __name__ == "__main__":
    main()
