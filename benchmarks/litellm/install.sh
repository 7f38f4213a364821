#!/usr/bin/env bash
# Copied from the Seawall team's shared gateway harness (shared/bench/litellm/install.sh, 2026-11-26); only the
# default install folder changed (/tmp/seawall-bench/...).
# Create a virtualenv with LiteLLM's proxy, version $LITELLM_VERSION (default 1.110.2).
#   LITELLM_VENV     where to create it (default /tmp/seawall-bench/litellm)
#   LITELLM_VERSION  package version     (default 1.110.2)
# `pip install 'litellm[proxy]==X'` is tried first. For 1.110.2 the [proxy] extra pins
# `litellm-proxy==1.110.2` (and exact post-releases of litellm-proxy-extras and
# litellm-enterprise) that the package index may not serve; in that case the script
# installs litellm==X plus every other requirement of the [proxy] extra, with those two
# companions unpinned. The proxy code itself ships inside the litellm wheel.
set -euo pipefail
VENV=${LITELLM_VENV:-/tmp/seawall-bench/litellm}
VERSION=${LITELLM_VERSION:-1.110.2}
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
if "${PIP[@]}" "litellm[proxy]==$VERSION"; then
  echo "installed litellm[proxy]==$VERSION"
else
  echo "litellm[proxy]==$VERSION did not resolve; installing its proxy requirements one by one" >&2
  "${PIP[@]}" "litellm==$VERSION"
  reqs=$("$VENV/bin/python" - <<'PY'
import re
from importlib.metadata import requires
from packaging.requirements import Requirement
for line in requires("litellm") or []:
    req = Requirement(line)
    if not req.marker or not req.marker.evaluate({"extra": "proxy"}):
        continue
    if req.name == "litellm-proxy":
        continue  # not served; the proxy code is in the litellm wheel
    if req.name in ("litellm-proxy-extras", "litellm-enterprise"):
        print(req.name)  # exact post-release pins may be missing: take the newest served
        continue
    req.marker = None
    print(str(req))
PY
)
  # shellcheck disable=SC2086
  "${PIP[@]}" $(echo "$reqs" | tr '\n' ' ')
fi
"$VENV/bin/python" -m pip list --disable-pip-version-check 2>/dev/null \
  | grep -iE '^(litellm|litellm-enterprise|litellm-proxy-extras|uvicorn|uvloop|fastapi|httpx|aiohttp) '
