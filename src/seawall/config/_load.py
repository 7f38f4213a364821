"""Loading configuration: YAML → `${ENV}` interpolation → validation with errors that name the place.

Errors read like `seawall.yaml: models[0].targets[1].provider: unknown provider 'beta' (expected
one of: alpha)` so a user can fix the file without reading Seawall's source.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from seawall.config._base import PathError
from seawall.config._model import GatewayConfig
from seawall.errors import ConfigError

_ENV = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def format_path(path: tuple[str | int, ...] | list[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(top level)"


def interpolate(
    value: Any, env: Mapping[str, str], source: str, path: tuple[str | int, ...] = (), *, strict: bool = True
) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string of a parsed YAML tree. An unset variable
    without a default is an error, or (`strict=False`, for offline tools that need no secrets) empty."""
    if isinstance(value, str):

        def sub(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            if name in env:
                return env[name]
            if default is not None:
                return default
            if not strict:
                return ""
            raise ConfigError(
                f"{source}: {format_path(path)}: environment variable {name} is not set "
                f"(set it, or write ${{{name}:-default}})"
            )

        return _ENV.sub(sub, value)
    if isinstance(value, list):
        return [interpolate(v, env, source, (*path, i), strict=strict) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: interpolate(v, env, source, (*path, str(k)), strict=strict) for k, v in value.items()}
    return value


def _describe(error: Mapping[str, Any]) -> str:
    kind = error.get("type", "")
    msg = str(error.get("msg", "invalid"))
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        return "unknown key (check the spelling; see docs/configuration.md)"
    if kind == "literal_error":
        ctx = error.get("ctx") or {}
        return f"got {error.get('input')!r}, expected one of {ctx.get('expected', '')}"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    got = error.get("input")
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"{msg} (got {type(got).__name__} {got!r})"
    return msg


def validate(
    data: Any, source: str, env: Mapping[str, str] | None = None, *, strict_env: bool = True
) -> GatewayConfig:
    """Validate an already-parsed config tree (`strict_env=False`: unset variables read as empty)."""
    if data is None:
        raise ConfigError(f"{source}: the file is empty (expected keys 'providers' and 'models')")
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {type(data).__name__}")
    data = interpolate(data, os.environ if env is None else env, source, strict=strict_env)
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            loc = tuple(err["loc"])
            ctx_err = (err.get("ctx") or {}).get("error")
            if isinstance(ctx_err, PathError):
                loc, text = ctx_err.path, str(ctx_err)
            else:
                text = _describe(err)
            lines.append(f"{source}: {format_path(loc)}: {text}")
        raise ConfigError("\n".join(lines)) from None


def load_config(
    path: str | os.PathLike[str],
    env: Mapping[str, str] | None = None,
    *,
    strict_env: bool = True,
    check_suites: bool = True,
) -> GatewayConfig:
    """Read, interpolate and validate a YAML config file (`strict_env=False`: unset variables
    without a default read as empty, for offline tools such as replay that need no secrets). The
    canary suite files it names are read and checked too (`check_suites=False`: not, for replay)."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the file: {exc.strerror or exc}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{source}: not valid YAML{where}: {problem}") from None
    _anchor_suites(data, Path(path).resolve().parent)
    config = validate(data, source, env, strict_env=strict_env)
    if check_suites and config.quality is not None:
        from seawall.quality import resolve_suites  # reads and checks every suite file

        resolve_suites(config.quality.suites)
    return config


def _anchor_suites(data: Any, folder: Path) -> None:
    """Suite files are named relative to the configuration file's folder: make them absolute, so
    the effective config names the same files wherever it is read from."""
    quality = data.get("quality") if isinstance(data, dict) else None
    suites = quality.get("suites") if isinstance(quality, dict) else None
    if isinstance(suites, dict):
        for name, value in suites.items():
            if isinstance(value, str) and value and "${" not in value and not Path(value).is_absolute():
                suites[name] = str(folder / value)


def default_config() -> GatewayConfig:
    """The embedded defaults: simulated providers, so a first request needs no API key."""
    data: dict[str, Any] = {
        "providers": [
            {"name": "sim-primary", "kind": "simulated", "dialect": "openai", "simulate": {"seed": 1}},
            {"name": "sim-backup", "kind": "simulated", "dialect": "openai", "simulate": {"seed": 2}},
        ],
        "models": [
            {
                "name": "demo",
                "targets": [
                    {"provider": "sim-primary", "model": "sim-large"},
                    {"provider": "sim-backup", "model": "sim-small"},
                ],
            },
            {"name": "demo-small", "targets": [{"provider": "sim-backup", "model": "sim-small"}]},
        ],
    }
    return validate(data, "(built-in defaults)")
