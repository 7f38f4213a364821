#!/usr/bin/env python3
"""Instructions per request of the real `seawall serve` (uvicorn, HTTP parsing, the upstream
client, the trace writer thread: everything the process does), counted by valgrind/callgrind.

`benchmarks/instructions.sh` counts Seawall's own code alone (the ASGI app called directly);
this counts the whole server process, the figure its throughput on one core follows, and, unlike
a wrk run on this noisy VM, repeats to within a fraction of a percent. The server runs under
callgrind in front of the fake upstream (`upstream.py`); after a warm-up the counters are zeroed
(`callgrind_control --zero`), N requests are sent one at a time on one keep-alive connection, the
trace writer is drained (`GET /admin/traces` flushes it), and the counters are dumped.

    .venv/bin/python benchmarks/server_instructions.py                         # this checkout
    .venv/bin/python benchmarks/server_instructions.py --seawall /tmp/before/.venv/bin/seawall
    .venv/bin/python benchmarks/server_instructions.py --config benchmarks/seawall/bench-minimal.yaml
"""

from __future__ import annotations

import argparse
import glob
import http.client
import itertools
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BODY = json.dumps(
    {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Write one short sentence about foxes."},
        ],
        "max_tokens": 16,
    }
).encode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(port: int, path: str, timeout: float) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            if conn.getresponse().status < 500:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"nothing answered on port {port} within {timeout:.0f} s")


_SERIAL = itertools.count()


def send(conn: http.client.HTTPConnection, n: int, stream: bool, *, unique: bool = False) -> None:
    body = BODY
    if stream:
        body = BODY[:-1] + b', "stream": true, "stream_options": {"include_usage": true}}'
    headers = {"content-type": "application/json", "authorization": "Bearer sk-bench"}
    for _ in range(n):
        sent = body
        if unique:  # every request different (a response cache misses every time)
            sent = body.replace(b"foxes.", b"foxes " + str(next(_SERIAL)).encode() + b".", 1)
        conn.request("POST", "/v1/chat/completions", body=sent, headers=headers)
        response = conn.getresponse()
        response.read()
        if response.status != 200:
            raise SystemExit(f"the gateway answered {response.status}")


def total(dump_dir: str, pid: int) -> int:
    """The `totals:` (or `summary:`) of callgrind's newest dump for pid (all threads)."""
    files = sorted(glob.glob(f"{dump_dir}/callgrind.out.{pid}*"), key=os.path.getmtime)
    text = Path(files[-1]).read_text(errors="replace")
    found = re.findall(r"^(?:totals|summary): (\d+)", text, re.M)
    return int(found[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--seawall", default=shutil.which("seawall") or str(Path(sys.executable).parent / "seawall")
    )
    p.add_argument("--config", default=str(HERE / "seawall" / "bench.yaml"))
    p.add_argument("--unique", action="store_true", help="make every request different (cache misses)")
    p.add_argument("--requests", type=int, default=300)
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--stream", action="store_true", help="streamed requests (SSE)")
    p.add_argument(
        "--writer-interval",
        type=float,
        default=2.5,
        help="seconds between the trace writer's batches (default 2.5: the real 0.05 s x valgrind's ~50x "
        "slow-down, so each store transaction holds as many traces as it would at full speed)",
    )
    p.add_argument(
        "--with-indexing",
        action="store_true",
        help="let the background trace indexer run (default: held back, as on a busy server)",
    )
    args = p.parse_args()
    args.seawall = str(Path(args.seawall).absolute())  # the server runs in a scratch directory

    work = tempfile.mkdtemp(prefix="seawall-instr-")
    up_port, gw_port = free_port(), free_port()
    env = {**os.environ, "BENCH_UPSTREAM_URL": f"http://127.0.0.1:{up_port}", "PYTHONHASHSEED": "0"}
    # Under valgrind everything runs ~50x slower, the trace writer's wake-ups included: at its real
    # 50 ms it would write one trace per transaction, not the dozens a loaded server batches. A
    # sitecustomize (any Seawall version) stretches its interval by the same factor.
    (Path(work) / "sitecustomize.py").write_text(
        "import seawall.trace._recorder as r\n"
        "_init = r.TraceRecorder.__init__\n"
        "def __init__(self, *a, **k):\n"
        f"    k['interval_s'] = {args.writer_interval!r}\n"
        "    _init(self, *a, **k)\n"
        "r.TraceRecorder.__init__ = __init__\n"
        # the background indexer: held back for the run unless --with-indexing (it runs when the
        # writer is not busy, which under valgrind's slow-down it never looks)
        "try:\n"
        "    import seawall.trace._retention as m\n"
        "    _minit = m.Maintenance.__init__\n"
        "    def _m(self, *a, **k):\n"
        f"        k['idle_pause_s'] = {1.0 * 50 if args.with_indexing else 1e6!r}\n"
        "        _minit(self, *a, **k)\n"
        "    m.Maintenance.__init__ = _m\n"
        "except ImportError:\n"
        "    pass\n"
    )
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [work, os.environ.get("PYTHONPATH")]))
    config = Path(work) / "seawall.yaml"  # the bench config with its trace store moved into `work`
    config.write_text(
        Path(args.config).read_text().replace("/tmp/seawall-bench/seawall-traces.db", f"{work}/traces.db")
    )
    upstream = subprocess.Popen(
        [sys.executable, str(HERE / "upstream.py"), "--port", str(up_port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = subprocess.Popen(
        [
            "valgrind",
            "--tool=callgrind",
            *(["--separate-threads=yes"] if os.environ.get("SPLIT") else []),
            f"--callgrind-out-file={work}/callgrind.out.%p",
            args.seawall,
            "serve",
            "--config",
            str(config),
            "--port",
            str(gw_port),
            "--log-level",
            "warning",
        ],
        env=env,
        cwd=work,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_ready(up_port, "/health", 30)
        wait_ready(gw_port, "/health/ready", 300)
        conn = http.client.HTTPConnection("127.0.0.1", gw_port, timeout=120)
        send(conn, args.warmup, args.stream, unique=args.unique)
        conn.request("GET", "/admin/traces?limit=1")
        conn.getresponse().read()
        subprocess.run(["callgrind_control", "--zero", str(server.pid)], check=True, capture_output=True)
        send(conn, args.requests, args.stream, unique=args.unique)
        conn.request("GET", "/admin/traces?limit=1")  # the writer thread's work for them counts too
        conn.getresponse().read()
        subprocess.run(["callgrind_control", "--dump", str(server.pid)], check=True, capture_output=True)
        time.sleep(1)  # the dump is written by the server process (not a timing measurement)
        per = total(work, server.pid) / args.requests
        if os.environ.get("SPLIT"):  # one dump per thread: print each
            for f in sorted(glob.glob(f"{work}/callgrind.out.{server.pid}*")):
                found = re.findall(r"^(?:totals|summary): (\d+)", Path(f).read_text(errors="replace"), re.M)
                if found:
                    print(f"  {Path(f).name}: {int(found[-1]) / args.requests:,.0f} per request")
        kind = "stream" if args.stream else "json"
        print(f"{args.seawall} ({Path(args.config).name}, {kind}): {per:,.0f} instructions per request")
    finally:
        server.send_signal(signal.SIGTERM)
        upstream.terminate()
        server.wait(60)
        upstream.wait(10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
