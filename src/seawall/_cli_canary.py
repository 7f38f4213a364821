"""`seawall canary run`: a canary suite once against one target, gated on a saved baseline."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from seawall._cli_traces import fail as _fail
from seawall.config import default_config, load_config
from seawall.errors import ConfigError


@click.group()
def canary() -> None:
    """Canary suites: run one against a target, compare with a baseline (docs/quality.md)."""


@canary.command("run")
@click.option("--config", "-c", "config_path", type=click.Path(dir_okay=False), help="YAML config file.")
@click.option(
    "--suite", "suite_name", default="builtin", show_default=True, help="A suite named in quality.suites."
)
@click.option("--target", "target_key", required=True, help="PROVIDER/MODEL, e.g. openai/gpt-4o-mini.")
@click.option(
    "--baseline", "baseline_path", type=click.Path(dir_okay=False), help="Gate against this baseline."
)
@click.option(
    "--save-baseline", "save_path", type=click.Path(dir_okay=False), help="Write this run as a baseline."
)
@click.option(
    "--alpha", type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True), default=0.05, show_default=True
)
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
def run(  # noqa: PLR0917 (click passes every option positionally)
    config_path: str | None,
    suite_name: str,
    target_key: str,
    baseline_path: str | None,
    save_path: str | None,
    alpha: float,
    concurrency: int,
) -> None:
    """Ask every probe of a suite once of one target. With --baseline, exit 1 when the pass rate is
    significantly worse (one-sided Fisher exact test at --alpha); errors exit 2."""
    from seawall._canary import pick_suite, read_baseline, report, run_canary

    try:
        config = load_config(config_path) if config_path else default_config()
        suite = pick_suite(config, suite_name)
        baseline = read_baseline(baseline_path) if baseline_path else None
        result = asyncio.run(
            run_canary(config, suite, target_key, concurrency=concurrency, source=config_path or "")
        )
    except ConfigError as exc:
        _fail(str(exc))
        return
    text, regressed = report(result, baseline, alpha)
    click.echo(text)
    if save_path:
        Path(save_path).write_bytes(result.to_json())
        click.echo(f"baseline saved to {save_path}", err=True)
    if regressed:
        sys.exit(1)
