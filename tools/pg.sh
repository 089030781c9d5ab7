#!/usr/bin/env bash
# Starts (or stops) a throwaway PostgreSQL server for the tests: its own data directory, loopback only.
# Usage: tools/pg.sh start  -> prints the SQLAlchemy URL on stdout;  tools/pg.sh stop
set -euo pipefail
DIR=${TRAINMEDIC_PG_DIR:-/tmp/trainmedic-pg}
PORT=${TRAINMEDIC_PG_PORT:-55432}
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$BIN" ] || { echo "pg.sh: PostgreSQL is not installed (apt-get install postgresql)" >&2; exit 1; }
run() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "cd / && $*"; else bash -c "$*"; fi; }
case "${1:-start}" in
  start)
    mkdir -p "$DIR"
    [ "$(id -u)" = 0 ] && chown postgres "$DIR"
    if [ ! -f "$DIR/data/PG_VERSION" ]; then
      run "$BIN/initdb -D $DIR/data -U postgres --auth=trust -E UTF8 >$DIR/initdb.log 2>&1"
    fi
    if ! run "$BIN/pg_ctl -D $DIR/data status" >/dev/null 2>&1; then
      run "$BIN/pg_ctl -D $DIR/data -l $DIR/server.log -w -t 30 -o \"-h 127.0.0.1 -p $PORT -k $DIR\" start" >/dev/null
    fi
    echo "postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
    ;;
  stop)
    run "$BIN/pg_ctl -D $DIR/data -m fast stop" >/dev/null 2>&1 || true
    ;;
  *) echo "usage: pg.sh start|stop" >&2; exit 2 ;;
esac
