"""Helpers shared by the benchmark scripts: targets, processes, pinning, RSS/CPU sampling.

Adapted from the Seawall team's shared gateway harness (shared/bench/benchlib.py, 2026-11-26);
changes: target lookup by name in targets/, a per-target working folder ("cwd"), BENCH_PYTHON
for the start command, and ruff formatting.

A *target* describes how to start a gateway and reach it; it is a small JSON file in
targets/ (e.g. targets/litellm.json) or built from command-line flags:

  {
    "name": "litellm",
    "start": "bash litellm/start.sh",                    # run by bash, from "cwd"
    "cwd": ".",                                          # relative to benchmarks/ (default ".")
    "url": "http://127.0.0.1:4000/v1/chat/completions",  # OpenAI-compatible endpoint
    "headers": {"Authorization": "Bearer sk-bench"},     # sent with every request
    "env": {"LITELLM_PORT": "4000"},                     # extra environment for "start"
    "model": "gpt-4o-mini",                              # model name clients ask for
    "ready_timeout": 180,                                # seconds to wait for a first 200
    "requires": ["litellm"]                              # setup steps run.py performs first
  }

"{upstream}" anywhere in start/env/headers is replaced by the upstream base URL,
e.g. http://127.0.0.1:9999. The start command also gets BENCH_UPSTREAM_URL and BENCH_PYTHON
(the interpreter running the harness) in its environment.
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGETS_DIR = os.path.join(HERE, "targets")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def target_path(name_or_path):
    """A target name ("litellm" -> targets/litellm.json) or a path to a JSON file."""
    if os.path.isfile(name_or_path):
        return name_or_path
    for base in (TARGETS_DIR, HERE):
        for candidate in (name_or_path + ".json", name_or_path):
            path = os.path.join(base, candidate)
            if os.path.isfile(path):
                return path
    known = sorted(f[:-5] for f in os.listdir(TARGETS_DIR) if f.endswith(".json"))
    raise SystemExit(f"unknown target {name_or_path!r}; known: {', '.join(known)}")


def read_target(name_or_path):
    with open(target_path(name_or_path)) as f:
        return json.load(f)


def load_target(name_or_path, upstream):
    return finish_target(read_target(name_or_path), upstream)


def finish_target(target, upstream):
    def sub(value):
        return value.replace("{upstream}", upstream) if isinstance(value, str) else value

    target = dict(target)
    target.setdefault("name", "gateway")
    target.setdefault("model", "gpt-4o-mini")
    target.setdefault("ready_timeout", 180)
    target.setdefault("cwd", ".")
    target["start"] = sub(target["start"])
    target["headers"] = {k: sub(v) for k, v in (target.get("headers") or {}).items()}
    target["env"] = {k: sub(str(v)) for k, v in (target.get("env") or {}).items()}
    return target


def parse_headers(lines):
    out = {}
    for line in lines or []:
        name, _, value = line.partition(":")
        out[name.strip()] = value.strip()
    return out


def pin_self(core):
    if core is not None:
        os.sched_setaffinity(0, {core})


def taskset(core, argv):
    return argv if core is None else ["taskset", "-c", str(core), *argv]


def raise_fd_limit():
    """Children inherit it: idle_streams.py holds thousands of sockets."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


class Proc:
    """A process group we started; stop() ends only that group."""

    def __init__(self, name, argv, *, core=None, env=None, log_path=None, cwd=HERE):
        self.name = name
        self.log_path = log_path or os.devnull
        self.log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        full_env = dict(os.environ, BENCH_PYTHON=sys.executable, **(env or {}))
        self.p = subprocess.Popen(
            taskset(core, argv),
            cwd=cwd,
            env=full_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid = self.p.pid

    def alive(self):
        return self.p.poll() is None

    def stop(self, grace=15):
        if self.alive():
            try:
                os.killpg(self.pid, signal.SIGTERM)
                self.p.wait(grace)
            except subprocess.TimeoutExpired:
                os.killpg(self.pid, signal.SIGKILL)
                self.p.wait(5)
            except ProcessLookupError:
                pass
        self.log.close()

    # -- resource accounting over the whole process tree ---------------------------------
    def tree(self):
        children = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    with open(f"/proc/{entry}/stat") as f:
                        ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                    children.setdefault(ppid, []).append(int(entry))
                except (OSError, IndexError, ValueError):
                    pass
        out, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            out.append(pid)
            todo.extend(children.get(pid, []))
        return out

    def rss_bytes(self):
        total = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/statm") as f:
                    total += int(f.read().split()[1]) * PAGE
            except OSError:
                pass
        return total

    def cpu_seconds(self):
        total = 0
        for pid in self.tree():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                total += int(fields[11]) + int(fields[12])  # utime + stime, all threads
            except (OSError, IndexError, ValueError):
                pass
        return total / CLK_TCK


class RssSampler(threading.Thread):
    """Samples a process tree's resident memory every `period` seconds; keeps the peak."""

    def __init__(self, proc, period=0.25):
        super().__init__(daemon=True)
        self.proc, self.period = proc, period
        self.peak = 0
        self.stopped = threading.Event()

    def run(self):
        while not self.stopped.wait(self.period):
            self.peak = max(self.peak, self.proc.rss_bytes())

    def stop(self):
        self.stopped.set()
        self.join()
        return self.peak


def http(method, url, body=None, headers=None, timeout=5.0):
    """Small blocking HTTP helper; returns (status, body bytes), status 0 on network errors."""
    data = json.dumps(body).encode() if isinstance(body, dict | list) else body
    req = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json", **(headers or {})}
    )
    # Loopback only: never go through an HTTP proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (OSError, ValueError):
        return 0, b""


def chat_body(model, stream=False, question="Write one short sentence about foxes."):
    body = {
        "model": model,
        "max_tokens": 16,
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": question},
        ],
    }
    if stream:
        body.update(stream=True, stream_options={"include_usage": True})
    return body


def wait_ready(target, proc, timeout=None):
    """Poll the target with a real chat request until it answers 200."""
    timeout = timeout or target["ready_timeout"]
    deadline = time.time() + timeout
    status = 0
    while time.time() < deadline:
        if proc is not None and not proc.alive():
            raise RuntimeError(f"{target['name']} exited during start; see {proc.log_path}")
        status, _ = http("POST", target["url"], chat_body(target["model"]), target["headers"], timeout=10)
        if status == 200:
            return
        time.sleep(0.5)
    raise RuntimeError(
        f"{target['name']} not ready after {timeout}s (last status {status}); "
        f"see {proc.log_path if proc else 'its log'}"
    )


def port_in_use(port, host="127.0.0.1"):
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex((host, port)) == 0


def check_port_free(url_or_port, what):
    """Fail early if something already listens there: the readiness check would talk to it."""
    if isinstance(url_or_port, int):
        port = url_or_port
    else:
        parts = urllib.parse.urlsplit(url_or_port)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    if port_in_use(port):
        raise RuntimeError(
            f"port {port} for {what} is already in use by another process (ss -ltnp | grep :{port}); "
            "stop it or use another port"
        )


def start_upstream(port, core, args=(), log_path=None):
    check_port_free(port, "the fake upstream")
    argv = [sys.executable, os.path.join(HERE, "upstream.py"), "--port", str(port), *args]
    proc = Proc("upstream", argv, core=core, log_path=log_path)
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        if http("GET", base + "/_stats")[0] == 200:
            return proc, base
        if not proc.alive():
            break
        time.sleep(0.1)
    proc.stop()
    raise RuntimeError(f"upstream did not start; see {proc.log_path}")


def start_target(target, upstream, core, log_path):
    check_port_free(target["url"], target["name"])
    env = dict(target["env"], BENCH_UPSTREAM_URL=upstream)
    cwd = os.path.normpath(os.path.join(HERE, target.get("cwd", ".")))
    proc = Proc(
        target["name"], ["bash", "-c", target["start"]], core=core, env=env, log_path=log_path, cwd=cwd
    )
    try:
        wait_ready(target, proc)
    except BaseException:
        proc.stop()
        raise
    return proc


def upstream_control(base, **settings):
    status, body = http("POST", base + "/_control", settings)
    if status != 200:
        raise RuntimeError(f"upstream /_control refused {settings}: {body!r}")


def upstream_stats(base, reset=False):
    status, body = http("POST" if reset else "GET", base + ("/_stats/reset" if reset else "/_stats"))
    return json.loads(body) if status == 200 else {}
