"""The command-line face of a live re-run: `seawall replay TRACE_ID --live [--target P/M] [--fail-on-diff]`.

`run_live_cli` is the whole command as a function returning its exit status, for the `replay`
command in `seawall.cli` to call when `--live` is given:

- **0**: the live call was made, whatever it showed (a changed answer and a live upstream error are
  results too);
- **1**: with `fail_on_diff`, the live answer differs from the recorded one (timing aside), for
  scripts that watch a provider;
- **2**: the call could not be made: a bad config, no such trace, no target to re-run, a target not
  in the config, a request the target cannot express. The message goes to stderr, never a traceback.

The trace store is the one the config names (`traces.store`), opened as `seawall traces` opens it:
journal segments left by dead gateway processes are moved into it first, so a request a gateway
answered just before it was killed can be re-run. `replay_live_command` is the same as a click
command of its own (for tests, and until the offline `replay` command takes `--live`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import click

from seawall.config import GatewayConfig, default_config, load_config
from seawall.errors import ConfigError
from seawall.replay._diff import render_diff
from seawall.replay._live import LiveResult, ReplayError, rerun_live
from seawall.trace._schema import TraceRecord
from seawall.trace._store import TraceStore, open_store


def open_trace_store(config: GatewayConfig) -> TraceStore:
    """The config's trace store, with journal segments of dead processes recovered into it first.
    Raises `ReplayError` when traces are disabled (`traces.store: none`), `ConfigError` for a store
    URL Seawall cannot open."""
    from seawall.trace._recorder import recover_journal

    url = config.traces.store
    store = open_store(url)
    if store is None:
        raise ReplayError(
            "traces are disabled in this config (traces.store: none): there is nothing to re-run"
        )
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://").removeprefix("/")
        recover_journal(store, Path(config.traces.journal_dir or path + ".journal"))
    return store


def load_record(config: GatewayConfig, trace_id: str) -> TraceRecord:
    """One trace from the config's store (an id prefix of 6+ characters works); `ReplayError` if
    there is no such trace."""
    store = open_trace_store(config)
    try:
        record = store.get(trace_id)
    finally:
        store.close()
    if record is None:
        raise ReplayError(f"no trace {trace_id!r} in {config.traces.store}")
    return record


def run_live_cli(
    trace_id: str, config_path: str | None, target: str | None = None, fail_on_diff: bool = False
) -> int:
    """Re-run trace `trace_id` live and print the side-by-side diff; returns the exit status (see
    the module docstring). Without `config_path`, the built-in default config (and its store)."""
    try:
        config = load_config(config_path) if config_path else default_config()
        record = load_record(config, trace_id)
        result = asyncio.run(rerun_live(record, config, target=target))
    except (ConfigError, ReplayError) as exc:
        click.echo(f"error: {exc}", err=True)
        return 2
    for line in render_live(record, result).split("\n"):
        loud = line.startswith("model identity changed")
        click.echo(click.style(line, fg="yellow", bold=True) if loud else line)  # styles: terminals only
    return 1 if fail_on_diff and result.diff.differs else 0


def render_live(record: TraceRecord, result: LiveResult, *, width: int = 100) -> str:
    """The report: what was re-run and where, then the diff (`render_diff`)."""
    when = dt.datetime.fromtimestamp(record.ts).isoformat(sep=" ", timespec="seconds")
    kind = "streamed" if result.stream else "not streamed"
    lines = [
        f"live re-run of trace {record.id}: model {record.model}, {record.ingress} ingress, {kind}",
        f"  recorded: {result.recorded_target or '-'} at {when}",
        f"  live:     {result.target.key}, one attempt (no retry, no fallback)",
        "",
        render_diff(result.diff, width=width),
    ]
    return "\n".join(lines)


@click.command("replay")
@click.argument("trace_id")
@click.option(
    "--config", "-c", "config_path", type=click.Path(dir_okay=False), default=None, help="YAML config file."
)
@click.option("--live", is_flag=True, help="Re-send the recorded request now and diff the answers.")
@click.option("--target", default=None, metavar="PROVIDER/MODEL", help="Re-run against this target instead.")
@click.option("--fail-on-diff", is_flag=True, help="Exit 1 when the live answer differs (timing aside).")
@click.pass_context
def replay_live_command(
    ctx: click.Context,
    *,
    trace_id: str,
    config_path: str | None,
    live: bool,
    target: str | None,
    fail_on_diff: bool,
) -> None:
    """Re-send a recorded request now and show how the answer changed (`--live`)."""
    if not live:
        click.echo("error: this command re-runs traces live only: pass --live", err=True)
        ctx.exit(2)
    ctx.exit(run_live_cli(trace_id, config_path, target, fail_on_diff))


__all__ = ["load_record", "open_trace_store", "render_live", "replay_live_command", "run_live_cli"]
