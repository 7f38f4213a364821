"""The recorded form of a config: canonical JSON with every secret redacted, and its SHA-256.

Every trace names the config it ran under by this hash, and the config is stored once per hash,
so a replay can rebuild the gateway that served a request. The hash covers what changes how a
request runs: not where traces go, nor the address the server listens on. Secrets never reach it: `SecretStr`
fields (API keys, the admin token) dump as asterisks, and the values of providers' extra
`headers` (which may carry a key, e.g. Azure's `api-key`) are replaced. Must not: do I/O.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from seawall.config._model import GatewayConfig

REDACTED = "**********"


def recorded_config(config: GatewayConfig) -> dict[str, Any]:
    """The config as plain JSON data, secrets redacted, without what does not change how a request
    runs (where traces go, the address the server listens on)."""
    data: dict[str, Any] = config.model_dump(
        mode="json", exclude={"traces": True, "server": {"host", "port"}}
    )
    for provider in data.get("providers", ()):
        headers = provider.get("headers")
        if isinstance(headers, dict):
            provider["headers"] = dict.fromkeys(headers, REDACTED)
    return data


def config_fingerprint(config: GatewayConfig) -> tuple[str, bytes]:
    """(sha256 hex, canonical JSON bytes) of `recorded_config(config)`."""
    data = orjson.dumps(recorded_config(config), option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(data).hexdigest(), data


__all__ = ["REDACTED", "config_fingerprint", "recorded_config"]
