"""The `seawall` command: serve, simulate, traces, check-config.

Holds no logic the library lacks: each command parses flags and calls into the package.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from seawall.config import GatewayConfig, TargetConfig, default_config, load_config
from seawall.errors import ConfigError

if TYPE_CHECKING:
    from seawall.trace import TraceStore

DEFAULT_STORE = "sqlite:///./seawall-traces.db"


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(2)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="seawall")
def main() -> None:
    """Seawall: an OpenAI-compatible gateway that keeps answering while providers fail."""


# -- serve -------------------------------------------------------------------------------------
@main.command()
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), help="YAML config file.")
@click.option("--host", default=None, help="Bind address (default: server.host, 127.0.0.1).")
@click.option("--port", "-p", type=int, default=None, help="Port (default: server.port, 4000).")
@click.option("--log-level", default="warning", show_default=True)
def serve(config_path: str | None, host: str | None, port: int | None, log_level: str) -> None:
    """Run the HTTP gateway. Without --config it serves built-in simulated models (no API key)."""
    import uvicorn

    from seawall._gateway import Gateway
    from seawall.server import SeawallApp

    try:
        config = load_config(config_path) if config_path else default_config()
    except ConfigError as exc:
        _fail(str(exc))
        return
    gateway = Gateway(config, source=config_path or "(built-in defaults)")
    app = SeawallApp(gateway)
    host = host or config.server.host
    port = config.server.port if port is None else port
    models = ", ".join(gateway.model_names())
    click.echo(f"seawall: serving {models} on http://{host}:{port}/v1 (config: {gateway.source})", err=True)
    try:
        import uvloop  # noqa: F401

        loop = "uvloop"
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux/macOS
        loop = "asyncio"
    uvicorn.run(
        app,
        host=host,
        port=port,
        loop=loop,
        http="httptools",
        lifespan="on",
        access_log=False,
        log_level=log_level,
        timeout_graceful_shutdown=10,
    )


# -- simulate ------------------------------------------------------------------------------------
@main.command(context_settings={"ignore_unknown_options": False})
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", "-p", type=int, default=9001, show_default=True)
@click.option(
    "--set",
    "settings",
    multiple=True,
    metavar="KEY=VALUE",
    help="A behaviour setting, e.g. --set error_rate=0.5 --set error_status=503 (repeatable).",
)
@click.option("--seed", type=int, default=None, help="Random seed (deterministic faults).")
def simulate(host: str, port: int, settings: tuple[str, ...], seed: int | None) -> None:
    """Run the simulated provider: a fake OpenAI / Anthropic / Gemini server with fault injection.

    Change its behaviour at runtime with POST /_control (JSON); read counts at GET /_stats.
    """
    from seawall.simulate import run_simulator, settings_from_mapping

    values: dict[str, Any] = {}
    for item in settings:
        key, sep, raw = item.partition("=")
        if not sep:
            _fail(f"--set expects KEY=VALUE, got {item!r}")
        try:
            values[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            values[key.strip()] = raw
    if seed is not None:
        values["seed"] = seed
    try:
        parsed = settings_from_mapping(values)
    except ValueError as exc:
        _fail(str(exc))
        return
    run_simulator(host, port, parsed)


# -- check-config ----------------------------------------------------------------------------------
@main.command("check-config")
@click.argument("path", type=click.Path(dir_okay=False))
def check_config(path: str) -> None:
    """Validate a config file and summarise it (exit status 2 on error)."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        _fail(str(exc))
        return
    click.echo(f"{path}: OK")
    click.echo(f"  providers: {', '.join(f'{p.name} ({p.kind})' for p in config.providers)}")
    for model in config.models:
        chain = " -> ".join(_target_label(t) for t in model.targets)
        click.echo(f"  model {model.name}: {chain}")
    click.echo(f"  traces: {config.traces.store}   state: {config.state}")


def _target_label(target: TargetConfig) -> str:
    extra = []
    if target.tier is not None:
        extra.append(f"tier {target.tier}")
    if target.weight != 1.0:
        extra.append(f"weight {target.weight:g}")
    return f"{target.provider}/{target.model}" + (f" ({', '.join(extra)})" if extra else "")


# -- traces --------------------------------------------------------------------------------------
def _open_store(store: str | None, config_path: str | None) -> TraceStore:
    from seawall.trace import open_store
    from seawall.trace._recorder import recover_journal

    url = store
    journal: str | None = None
    if url is None and config_path:
        try:
            cfg: GatewayConfig = load_config(config_path)
        except ConfigError as exc:
            _fail(str(exc))
            raise AssertionError from exc
        url, journal = cfg.traces.store, cfg.traces.journal_dir
    url = url or DEFAULT_STORE
    try:
        opened = open_store(url)
    except ConfigError as exc:
        _fail(str(exc))
        raise AssertionError from exc
    if opened is None:
        _fail("traces are disabled in this config (traces.store: none)")
        raise AssertionError
    if url.startswith("sqlite://"):
        path = url.removeprefix("sqlite://").removeprefix("/")
        recover_journal(opened, Path(journal or path + ".journal"))
    return opened


@main.group()
def traces() -> None:
    """Inspect recorded request traces."""


_store_opt = click.option("--store", default=None, help=f"Trace store URL (default {DEFAULT_STORE}).")
_config_opt = click.option(
    "--config", "-c", "config_path", default=None, help="Read traces.store from a config."
)


@traces.command("list")
@_store_opt
@_config_opt
@click.option("--limit", "-n", default=20, show_default=True)
@click.option("--model", default=None)
@click.option("--errors", is_flag=True, help="Only failed requests.")
def traces_list(
    store: str | None, config_path: str | None, limit: int, model: str | None, errors: bool
) -> None:
    """Newest traces first."""
    db = _open_store(store, config_path)
    rows = db.list(limit=limit, model=model, errors_only=errors)
    if not rows:
        click.echo("no traces")
        return
    click.echo(
        f"{'TRACE ID':<24} {'TIME':<19} {'MODEL':<16} {'STATUS':>6} {'MS':>9} {'ATT':>3}  ANSWERED BY / ERROR"
    )
    for r in rows:
        when = dt.datetime.fromtimestamp(r.ts).strftime("%Y-%m-%d %H:%M:%S")
        tail = r.answered_by or r.error_class or ""
        kind = " stream" if r.stream else ""
        click.echo(
            f"{r.id:<24} {when:<19} {str(r.model)[:16]:<16} {r.status!s:>6} "
            f"{r.duration_ms or 0:>9.1f} {r.attempts:>3}  {tail}{kind}"
        )


@traces.command("show")
@click.argument("trace_id")
@_store_opt
@_config_opt
@click.option("--json", "as_json", is_flag=True, help="Print the whole record as JSON.")
def traces_show(trace_id: str, store: str | None, config_path: str | None, as_json: bool) -> None:
    """Reconstruct one request: route, every attempt, and the final answer."""
    from seawall.trace._codec import to_json
    from seawall.trace._render import render_trace

    db = _open_store(store, config_path)
    record = db.get(trace_id)
    if record is None:
        _fail(f"no trace {trace_id!r}")
        return
    if as_json:
        click.echo(json.dumps(to_json(record), indent=2))
        return
    click.echo(render_trace(record))


if __name__ == "__main__":  # pragma: no cover
    main()
