#!/usr/bin/env bash
# The run command: bash scripts/demo.sh [zhongcao demo args, e.g. --port 8080]
#
# Installs what is missing (python3-venv if needed, .venv), then runs
# `zhongcao demo`, which migrates, seeds and serves the demo shop
# (http://127.0.0.1:8000 by default).
set -euo pipefail

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=scripts/_lib.sh
source "$REPO/scripts/_lib.sh"

ensure_venv

args=("$@")
# The machine may be shared: when no port was asked for and 8000 is taken,
# serve on a free port instead of failing.
_has_port=0
for _a in "$@"; do
    [[ $_a == --port || $_a == --port=* || $_a == -p ]] && _has_port=1
done
if ((!_has_port)) && port_in_use 8000; then
    _port=$(free_port 1)
    log "port 8000 is busy; using --port $_port"
    args+=(--port "$_port")
fi

cd "$REPO"
exec "$VENV/bin/zhongcao" demo "${args[@]}"
