"""Helpers to run real Seawall processes (gateway, simulator) on loopback ports for tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def http_json(method: str, url: str, body: Any = None, timeout: float = 5.0) -> Any:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return json.loads(resp.read() or b"null")


def wait_http(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise RuntimeError(f"{url} not ready after {timeout}s:\n{log.read_text()[-3000:]}")


class Proc:
    """A child process in its own process group, with its output in a log file."""

    def __init__(
        self, args: list[str], log: Path, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(
            args,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._out.close()

    def kill(self) -> None:
        """SIGKILL: a crash, no cleanup."""
        self.stop(signal.SIGKILL)


class Sim:
    """A `seawall simulate` process and its control plane."""

    def __init__(self, tmp: Path, name: str, seed: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = Proc(
            [sys.executable, "-m", "seawall.cli", "simulate", "--port", str(self.port), "--seed", str(seed)],
            tmp / f"sim-{name}.log",
        )
        wait_http(self.url + "/health", self.proc.proc, self.proc.log)

    def control(self, **changes: Any) -> Any:
        return http_json("POST", self.url + "/_control", changes)

    def reset(self) -> None:
        http_json("POST", self.url + "/_control", {"reset": True})
        http_json("POST", self.url + "/_stats/reset", {})

    def stats(self) -> Any:
        return http_json("GET", self.url + "/_stats")

    def requests(self) -> list[dict[str, Any]]:
        data = http_json("GET", self.url + "/_requests")
        return data["requests"] if isinstance(data, dict) else data

    def calls(self) -> int:
        """Model calls received (health checks, model lists and the control plane excluded)."""
        return sum(int(n) for n in self.stats()["by_model"].values())

    def stop(self) -> None:
        self.proc.stop()


class GatewayProc:
    """A `seawall serve` process with a config written to a temp dir."""

    def __init__(
        self, tmp: Path, config: dict[str, Any], name: str = "gw", env: dict[str, str] | None = None
    ) -> None:
        self.dir = tmp / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.db = self.dir / "traces.db"
        config.setdefault("traces", {"store": f"sqlite:///{self.db}"})
        self.config_path = self.dir / "seawall.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.env = env
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.start()

    def start(self) -> None:
        self.proc = Proc(
            [
                sys.executable,
                "-m",
                "seawall.cli",
                "serve",
                "-c",
                str(self.config_path),
                "--port",
                str(self.port),
            ],
            self.dir / "gateway.log",
            cwd=self.dir,
            env=self.env,
        )
        wait_http(self.url + "/health/ready", self.proc.proc, self.proc.log)

    def trace(self, trace_id: str) -> dict[str, Any]:
        result: dict[str, Any] = http_json("GET", f"{self.url}/admin/traces/{trace_id}")
        return result

    def cli(self, *args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "seawall.cli", *args, "--store", f"sqlite:///{self.db}"],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode:
            raise AssertionError(f"seawall {args} exited {out.returncode}: {out.stderr}")
        return out.stdout

    def stop(self) -> None:
        self.proc.stop()
