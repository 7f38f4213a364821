"""The `seawall` command: serve, simulate, traces, check-config.

Holds no logic the library lacks: each command parses flags and calls into the package.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from seawall._cli_canary import canary
from seawall._cli_traces import fail as _fail
from seawall._cli_traces import open_trace_store, store_option, traces
from seawall.config import GatewayConfig, TargetConfig, default_config, load_config
from seawall.errors import ConfigError


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
    if config.quality is not None:
        watched = [f"{m.name} ({m.quality.suite}, {m.quality.policy})" for m in config.models if m.quality]
        suites = ", ".join(["builtin", *config.quality.suites])
        click.echo(
            f"  quality: suites {suites}; a probe every {config.quality.probe_interval_s:g}s per target,"
            f" at most {config.quality.hourly_cap()}/hour; models: {', '.join(watched) or 'none'}"
        )


def _target_label(target: TargetConfig) -> str:
    extra = []
    if target.tier is not None:
        extra.append(f"tier {target.tier}")
    if target.weight != 1.0:
        extra.append(f"weight {target.weight:g}")
    return f"{target.provider}/{target.model}" + (f" ({', '.join(extra)})" if extra else "")


# -- replay --------------------------------------------------------------------------------------
def _replay_config(config_path: str | None, record: Any, db: Any) -> GatewayConfig:
    """The config to replay under: `--config` (a what-if when it differs), else the recorded one."""
    from seawall.config import validate

    if config_path:
        try:
            return load_config(config_path, strict_env=False, check_suites=False)  # offline: no API key
        except ConfigError as exc:
            _fail(str(exc))
            raise AssertionError from exc
    data = db.blob(record.config_hash) if record.config_hash else None
    if data is None:
        _fail(
            f"the config trace {record.id} ran under is not in the store (recorded before replay capture); "
            "pass --config FILE to replay it under a config"
        )
        raise AssertionError
    try:
        return validate(json.loads(data), f"recorded config {record.config_hash[:12]}")
    except ConfigError as exc:
        _fail(str(exc))
        raise AssertionError from exc


@main.command()
@click.argument("trace_id")
@store_option
@click.option(
    "--config",
    "-c",
    "config_path",
    default=None,
    help="Config to replay under (default: the recorded one); also where the trace store is.",
)
@click.option(
    "--stand-in",
    type=click.Choice(["error", "hang"]),
    default="error",
    show_default=True,
    help="How an upstream call the recording lacks is answered (a what-if config).",
)
@click.option("--live", is_flag=True, help="Re-send the request now and diff the answers instead.")
@click.option("--target", default=None, help="With --live: send to this provider/model instead.")
@click.option("--fail-on-diff", is_flag=True, help="With --live: exit 1 when the answers differ.")
@click.option("--all", "show_all", is_flag=True, help="List every difference, not only the first.")
def replay(  # noqa: PLR0917 (click passes every option by name)
    trace_id: str,
    store: str | None,
    config_path: str | None,
    stand_in: str,
    live: bool,
    target: str | None,
    fail_on_diff: bool,
    show_all: bool,
) -> None:
    """Re-run a recorded request offline, byte for byte, and say where it diverges (exit 1)."""
    if live:  # re-send it now and compare answers (the store comes from --config)
        from seawall.replay._cli import run_live_cli

        sys.exit(run_live_cli(trace_id, config_path, target, fail_on_diff))
    db = open_trace_store(store, config_path)
    try:
        record = db.get(trace_id)
    except Exception as exc:  # a torn or unreadable record: say so, never a traceback
        _fail(f"trace {trace_id!r} cannot be read: {exc}")
        return
    if record is None:
        _fail(f"no trace {trace_id!r} in the store")
        return
    from seawall.replay._offline import NotReplayable
    from seawall.replay._offline import replay as replay_offline

    config = _replay_config(config_path, record, db)
    try:
        result = replay_offline(record, config, stand_in=stand_in)
    except NotReplayable as exc:
        _fail(str(exc))
        return
    except Exception as exc:  # the replay itself broke: a clear message, never a traceback
        _fail(f"replay of {record.id} failed: {type(exc).__name__}: {exc}")
        return
    for note in result.notes:
        click.echo(f"note: {note}")
    if result.identical:
        click.echo("identical")
        return
    click.echo(f"diverged: {result.divergences[0]}")
    for more in result.divergences[1:] if show_all else ():
        click.echo(f"  also: {more}")
    if not show_all and len(result.divergences) > 1:
        click.echo(f"  ({len(result.divergences) - 1} more; --all lists them)")
    sys.exit(1)


main.add_command(traces)
main.add_command(canary)

if __name__ == "__main__":  # pragma: no cover
    main()
