#!/usr/bin/env bash
# The README's one-command demo: set up .venv, then train 4 CPU ranks under `trainmedic run`, inject
# a fault into one, and watch it be detected, localized, classified and recovered. Extra arguments go
# to `trainmedic demo` (e.g. --fault sigstop, --json).
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec .venv/bin/trainmedic demo "$@"
