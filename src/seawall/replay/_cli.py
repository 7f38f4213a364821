"""Placeholder until the live re-run lands (merged from its branch in this session)."""

from __future__ import annotations

from typing import Any


def run_live_cli(record: Any, config_path: str | None, *, target: str | None, fail_on_diff: bool) -> int:
    raise NotImplementedError("live re-run is being merged")
