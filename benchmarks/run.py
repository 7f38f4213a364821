#!/usr/bin/env python3
"""One command for the whole comparison: set up, then run every target side by side.

  python benchmarks/run.py                                   # everything, ~1 h (see README)
  python benchmarks/run.py --runs 1 --duration 5             # quick look, ~10 min
  python benchmarks/run.py --targets bare-proxy,seawall --runs 1 --duration 5
  python benchmarks/run.py --targets stack/targets/b-uvicorn-aiohttp.json --rates ''
  python benchmarks/run.py --setup-only                      # only install what the targets need

Setup (skipped with --no-setup): wrk (apt-get, when run as root), then, under --venvs
(default $SEAWALL_BENCH_HOME or /tmp/seawall-bench), only what the chosen targets need:
  bench/    virtualenv for the harness and bare_proxy.py (aiohttp, uvloop, orjson)
  seawall/  virtualenv with this repository installed editable (skip with --seawall-bin)
  litellm/  LiteLLM proxy virtualenv (litellm/install.sh; takes a few minutes)
  portkey/  Portkey gateway from npm (portkey/install.sh)
  stack/    virtualenv for stack/ (uvicorn, httptools, granian, httpx, msgspec; or set STACK_PY)

Then overhead.py runs with the bench virtualenv's Python: the fake upstream and the load
generators on core 0, each gateway on core 1, one after another; each gateway's runs are
interleaved with direct runs. Results: benchmarks/results/overhead-<time>.json and .md.
Every option not listed below (--connections, --modes, --warmup, --capacity,
--upstream-arg, --gateway-core, --client-core, ...) is passed on to overhead.py.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DEFAULT_TARGETS = "bare-proxy,seawall,seawall-minimal,litellm,portkey"
PACKAGES = {
    "bench": ["uvloop>=0.19", "aiohttp>=3.9", "orjson>=3.9"],
    "stack": [
        "uvloop>=0.19",
        "aiohttp>=3.9",
        "orjson>=3.9",
        "uvicorn>=0.29",
        "httptools>=0.6",
        "granian>=2.0",
        "httpx>=0.27",
        "msgspec>=0.18",
    ],
}


def log(msg):
    print(f"[run] {msg}", flush=True)


def sh(argv, **kw):
    log(" ".join(argv))
    subprocess.run(argv, check=True, **kw)


def venv(path, packages):
    py = os.path.join(path, "bin", "python")
    if not os.path.exists(py):
        sh([sys.executable, "-m", "venv", path])
    sh([py, "-m", "pip", "install", "-q", "--disable-pip-version-check", *packages])
    return py


def target_file(name):
    sys.path.insert(0, HERE)
    from benchlib import target_path

    return target_path(name)


def setup(steps, args, env):
    if not shutil.which("wrk"):
        if os.geteuid() != 0:
            raise SystemExit("wrk is missing: install it (Debian/Ubuntu: sudo apt-get install wrk)")
        sh(["apt-get", "update", "-qq"])
        sh(["apt-get", "install", "-y", "-qq", "wrk"], env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"))
    if not shutil.which("taskset"):
        raise SystemExit("taskset (util-linux) is required for pinning")
    bench_py = os.path.join(args.venvs, "bench", "bin", "python")
    if not args.no_setup:
        bench_py = venv(os.path.join(args.venvs, "bench"), PACKAGES["bench"])
    if "seawall" in steps and not env.get("SEAWALL_BIN"):
        path = os.path.join(args.venvs, "seawall")
        if not args.no_setup:
            venv(path, ["-e", REPO])
        env["SEAWALL_BIN"] = os.path.join(path, "bin", "seawall")
    if "litellm" in steps:
        env["LITELLM_VENV"] = os.path.join(args.venvs, "litellm")
        if not args.no_setup and not os.path.exists(os.path.join(env["LITELLM_VENV"], "bin", "litellm")):
            sh(["bash", os.path.join(HERE, "litellm", "install.sh")], env=env)
    if "portkey" in steps:
        env["PORTKEY_DIR"] = os.path.join(args.venvs, "portkey")
        entry = os.path.join(env["PORTKEY_DIR"], "node_modules", "@portkey-ai", "gateway", "build")
        if not args.no_setup and not os.path.exists(entry):
            sh(["bash", os.path.join(HERE, "portkey", "install.sh")], env=env)
    if "stack" in steps and not env.get("STACK_PY"):
        path = os.path.join(args.venvs, "stack")
        env["STACK_PY"] = (
            venv(path, PACKAGES["stack"]) if not args.no_setup else os.path.join(path, "bin", "python")
        )
    return bench_py


def main(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    p.add_argument(
        "--targets",
        default=DEFAULT_TARGETS,
        help=f"comma list: names (targets/*.json), JSON files, 'direct' (default {DEFAULT_TARGETS})",
    )
    p.add_argument("--runs", type=int, default=3, help="runs per point; the median is reported")
    p.add_argument("--duration", type=int, default=10, help="seconds per run")
    p.add_argument("--rates", default="20", help="open-loop rates (loadgen.py, gives TTFT); '' for none")
    p.add_argument("--venvs", default=os.environ.get("SEAWALL_BENCH_HOME", "/tmp/seawall-bench"))
    p.add_argument("--seawall-bin", help="use this seawall executable instead of installing the repo")
    p.add_argument("--no-setup", action="store_true", help="install nothing; use what is there")
    p.add_argument("--setup-only", action="store_true", help="install what the targets need, then stop")
    p.add_argument("--out", default=os.path.join(HERE, "results"))
    args, rest = p.parse_known_args(argv)

    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    steps = {"bench"}
    for t in targets:
        if t != "direct":
            with open(target_file(t)) as f:
                steps.update(json.load(f).get("requires", []))
    env = dict(os.environ)
    if args.seawall_bin:
        env["SEAWALL_BIN"] = os.path.abspath(args.seawall_bin)
    os.makedirs(args.venvs, exist_ok=True)
    bench_py = setup(steps, args, env)
    if args.setup_only:
        log("setup done")
        return
    argv = [
        bench_py,
        os.path.join(HERE, "overhead.py"),
        "--runs",
        str(args.runs),
        "--duration",
        str(args.duration),
    ]
    argv += ["--rates", args.rates, "--out", args.out]
    for t in targets:
        argv += ["--target", t if t == "direct" else os.path.abspath(target_file(t))]
    argv += rest
    log(f"targets: {', '.join(targets)}")
    os.execve(bench_py, argv, env)


if __name__ == "__main__":
    main()
