#!/usr/bin/env bash
# Sets up everything and runs the whole test suite: lint (ruff), types (mypy), layer contracts
# (import-linter), the catalog check, and pytest against SQLite and a real PostgreSQL server.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
export PATH="$PWD/.venv/bin:$PATH"

if url=$(bash tools/pg.sh start); then
  export TRAINMEDIC_TEST_PG_URL="$url"
  echo "test: PostgreSQL at $url"
  trap 'bash tools/pg.sh stop' EXIT
else
  echo "test: no PostgreSQL server; its tests will be skipped" >&2
fi

lint_dirs=$(for d in src tests benchmarks tools examples; do if [ -d "$d" ]; then echo "$d"; fi; done)
echo "test: ruff";        ruff check $lint_dirs
echo "test: mypy";        mypy
echo "test: import-linter"; lint-imports
echo "test: catalog check"; trainmedic catalog check >/dev/null
echo "test: pytest"
# the compiled line readers must have been built here (their tests compare them with the Python code)
export TRAINMEDIC_REQUIRE_FAST=1
pytest -q "$@"
