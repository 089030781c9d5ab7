#!/usr/bin/env bash
# Sets up trainmedic on a fresh Debian machine: system packages, a virtualenv in .venv, the package
# with all extras. Idempotent; a second run takes seconds. Used by tools/test.sh and tools/demo.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "setup: installing Debian packages: ${need_apt[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  else
    echo "setup: PostgreSQL is not installed and we are not root; PostgreSQL tests will be skipped" >&2
  fi
fi

# pip's output goes to a log; on failure its tail is shown.
quiet_pip() {
  local log
  log=$(mktemp)
  if ! .venv/bin/pip install -q "$@" >"$log" 2>&1; then
    grep -v '^WARNING: Location' "$log" | tail -n 30 >&2
    echo "setup: pip install $* failed (full log: $log)" >&2
    return 1
  fi
  rm -f "$log"
}

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
# torch first, pinned: 2.13.0 is the CPU build on local disk; a bare `torch` would pull a CUDA build.
if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
  echo "setup: installing torch==2.13.0 (CPU)"
  quiet_pip install torch==2.13.0
fi
echo "setup: installing trainmedic with extras"
quiet_pip install -e '.[all,dev]'
echo "setup: done ($(.venv/bin/trainmedic --version))"
