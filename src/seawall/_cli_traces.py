"""`seawall traces`: list (with filters), show (with a timeline) and export recorded traces.

Like the rest of the CLI, it parses flags and calls into the package (`seawall.trace`); what it
adds is how a person reads the answer, and exit statuses: 2 for a bad flag or an unusable store, 1
for a trace that is not there.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click
import msgspec

from seawall.config import GatewayConfig, load_config
from seawall.errors import ConfigError

if TYPE_CHECKING:
    from seawall.trace import TraceStore

DEFAULT_STORE = "sqlite:///./seawall-traces.db"


def fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


def open_trace_store(store: str | None, config_path: str | None) -> TraceStore:
    from seawall.trace import open_store
    from seawall.trace._recorder import recover_journal

    url = store
    journal: str | None = None
    if url is None and config_path:
        try:
            cfg: GatewayConfig = load_config(config_path)
        except ConfigError as exc:
            fail(str(exc))
            raise AssertionError from exc
        url, journal = cfg.traces.store, cfg.traces.journal_dir
    url = url or DEFAULT_STORE
    try:
        opened = open_store(url)
    except ConfigError as exc:
        fail(str(exc))
        raise AssertionError from exc
    if opened is None:
        fail("traces are disabled in this config (traces.store: none)")
        raise AssertionError
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://").removeprefix("/")
        recover_journal(opened, Path(journal or path + ".journal"))
    return opened


@click.group()
def traces() -> None:
    """Inspect recorded request traces."""


store_option = click.option("--store", default=None, help=f"Trace store URL (default {DEFAULT_STORE}).")
config_option = click.option(
    "--config", "-c", "config_path", default=None, help="Read traces.store from a config."
)


_OPTION_OF = {"q": "--search", "error_class": "--error-class", "conversation_id": "--conversation"}


@traces.command("list")
@store_option
@config_option
@click.option("--since", help="Arrived at or after: 15m, 2h, 7d (ago), an ISO time or epoch seconds.")
@click.option("--until", help="Arrived before (same forms as --since).")
@click.option("--model", default=None, help="The model the client asked for.")
@click.option("--target", help="provider/model: some attempt went to it (not only the one that answered).")
@click.option(
    "--status", help="503, 4xx, 5xx, error (>= 400) or ok (< 400); comma-separated for any of them."
)
@click.option("--error-class", help="The class of the error the client got: timeout, server_error, ...")
@click.option("--conversation", help="The x-seawall-conversation-id the client sent.")
@click.option("--search", "-s", help='Words in the request or the answer (all of them; "a phrase", pre*).')
@click.option("--before", help="Only traces older than this id (the next page).")
@click.option("--limit", "-n", default=20, show_default=True)
@click.option("--errors", is_flag=True, help="Only failed requests (--status error).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per trace.")
def traces_list(  # noqa: PLR0917 (click passes every option by name)
    store: str | None,
    config_path: str | None,
    since: str | None,
    until: str | None,
    model: str | None,
    target: str | None,
    status: str | None,
    error_class: str | None,
    conversation: str | None,
    search: str | None,
    before: str | None,
    limit: int,
    errors: bool,
    as_json: bool,
) -> None:
    """Newest traces first, filtered (every filter given must hold)."""
    import time

    from seawall.trace._listing import HEADER, json_lines, table_row
    from seawall.trace._query import QueryError, query_from_params

    params = {
        "since": since,
        "until": until,
        "model": model,
        "target": target,
        "status": status,
        "error_class": error_class,
        "conversation_id": conversation,
        "q": search,
        "before": before,
        "limit": str(limit),
        "errors": "1" if errors else None,
    }
    try:
        query = query_from_params(
            {k: v for k, v in params.items() if v is not None}, now=time.time(), max_limit=1_000_000
        )
    except QueryError as exc:
        fail(f"{_OPTION_OF.get(exc.param, '--' + exc.param)}: {exc.message}")
        return
    db = open_trace_store(store, config_path)
    if query.model or query.target or query.conversation_id or query.text:
        _index_older(db)
    try:
        rows = db.list(msgspec.structs.replace(query, limit=query.limit + 1))
    except QueryError as exc:
        fail(f"{_OPTION_OF.get(exc.param, '--' + exc.param)}: {exc.message}")
        return
    more = len(rows) > query.limit
    rows = rows[: query.limit]
    if as_json:
        for line in json_lines(rows):
            click.echo(line)
    elif not rows:
        click.echo("no traces")
    else:
        click.echo(HEADER)
        for row in rows:
            click.echo(table_row(row))
    if more:
        click.echo(f"(more: add --before {rows[-1].id})", err=True)


def _index_older(db: TraceStore) -> None:
    """Index what the store has not indexed yet (traces from before its migration, and those the
    gateway's maintenance thread has not reached), so the filters that need it see them; the
    listing would do it too, this says so first."""
    pending = db.unindexed()
    if not pending:
        return
    click.echo(f"indexing {pending} traces not indexed yet (once)...", err=True)
    while db.maintain(1024):
        pass


@traces.command("show")
@click.argument("trace_id")
@store_option
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
def traces_show(trace_id: str, store: str | None, config_path: str | None, as_json: bool) -> None:
    """Reconstruct one request: route, every attempt, the answer, then its timeline."""
    from seawall.trace._codec import to_json
    from seawall.trace._render import render_trace

    db = open_trace_store(store, config_path)
    try:
        record = db.get(trace_id)
    except ValueError as exc:  # a torn record, or one from a newer schema
        click.echo(f"error: trace {trace_id!r} is stored but cannot be read: {exc}", err=True)
        sys.exit(1)
    if record is None:
        click.echo(f"error: no trace {trace_id!r} (an id, or a prefix of 6+ characters of one)", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(to_json(record), indent=2))
        return
    click.echo(render_trace(record))


@traces.command("export")
@click.argument("trace_ids", nargs=-1, required=True)
@click.option(
    "--output", "-o", required=True, type=click.Path(dir_okay=False), help="Cassette file to write."
)
@store_option
@config_option
def traces_export(
    trace_ids: tuple[str, ...], output: str, store: str | None, config_path: str | None
) -> None:
    """Write traces as a cassette: a self-contained fixture for `seawall.testing` (no network)."""
    from seawall.replay._cassette import export

    db = open_trace_store(store, config_path)
    records = []
    for trace_id in trace_ids:
        try:
            record = db.get(trace_id)
        except Exception as exc:  # a torn or unreadable record: say so, never a traceback
            fail(f"trace {trace_id!r} cannot be read: {exc}")
            return
        if record is None:
            fail(f"no trace {trace_id!r} in the store")
            return
        records.append(record)
    configs = {}
    for record in records:
        data = db.blob(record.config_hash) if record.config_hash else None
        if data is not None and record.config_hash is not None:
            configs[record.config_hash] = data
    Path(output).write_bytes(export(records, configs))
    click.echo(f"{output}: {len(records)} trace(s), {len(configs)} config(s)")


__all__ = ["DEFAULT_STORE", "config_option", "fail", "open_trace_store", "store_option", "traces"]
