"""Database location, engine setup and migrations for the fleet store.

SQLite by default (WAL, busy timeout, BEGIN IMMEDIATE for writes so many launchers can write at once),
PostgreSQL by URL. `migrate()` runs the packaged Alembic revisions under a lock, so concurrent first
opens create the schema once.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from trainmedic.store.errors import DatabaseUnavailable

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
HEAD = "0002"
SQLITE_BUSY_TIMEOUT_S = 60.0
SQLITE_CACHE_KIB = 65_536
# Arbitrary constant key for pg_advisory_xact_lock: serialises concurrent schema upgrades.
_PG_MIGRATION_LOCK = 0x7472_6D65_6469


def default_path(env: dict[str, str] | None = None) -> Path:
    """`$XDG_DATA_HOME/trainmedic/trainmedic.db`, or `~/.local/share/trainmedic/trainmedic.db`."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path(env.get("HOME", str(Path.home()))) / ".local" / "share")
    return Path(base) / "trainmedic" / "trainmedic.db"


def resolve_url(url: str | None = None, env: dict[str, str] | None = None) -> str:
    """The database URL: `url`, else `TRAINMEDIC_DB_URL`, else the default SQLite file.

    A bare path (no `://`) means a SQLite file. `postgresql://` gets the psycopg 3 driver.
    """
    env = dict(os.environ) if env is None else env
    url = url or env.get("TRAINMEDIC_DB_URL") or ""
    if not url:
        return f"sqlite:///{default_path(env)}"
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser().resolve()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def make_store_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and foreign keys, and their folder is made."""
    try:
        parsed = make_url(url)
    except ArgumentError as e:
        raise DatabaseUnavailable(f"not a database URL: {url!r} ({e})", "use sqlite:///PATH or postgresql://...") from e
    if parsed.get_backend_name() != "sqlite":
        try:
            return create_engine(url, pool_pre_ping=True)
        except Exception as e:
            raise DatabaseUnavailable(f"cannot use database {parsed.render_as_string()}: {e}") from e
    db = parsed.database
    if db and db != ":memory:" and not db.startswith("file:"):
        try:
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise DatabaseUnavailable(
                f"cannot create the folder of the database {db}: {e}", "pass --db PATH or set TRAINMEDIC_DB_URL"
            ) from e
    engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S})

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # We issue BEGIN ourselves (below); the driver's implicit transactions would defeat it.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        cur.execute("PRAGMA foreign_keys=ON")
        # 64 MiB page cache: bulk event ingest updates index pages all over the table.
        cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A deferred transaction that later writes can fail with "database is locked" at once instead of
        # waiting; writers therefore take the write lock up front (sqlite_begin="IMMEDIATE").
        mode = conn.get_execution_options().get("sqlite_begin", "")
        conn.exec_driver_sql(f"BEGIN {mode}".strip())

    return engine


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def current_revision(conn: Connection) -> str | None:
    """The schema revision stored in the database, or None for an empty database."""
    if not inspect(conn).has_table("alembic_version"):
        return None
    return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()


def migrate(engine: Engine, revision: str = "head") -> tuple[str | None, str | None]:
    """Upgrade the schema to `revision` inside one locked transaction; returns (before, after).

    A database already at `revision` is left alone. Concurrent callers wait for each other.
    """
    from alembic import command
    from alembic.config import Config

    target = HEAD if revision == "head" else revision
    try:
        with engine.connect().execution_options(sqlite_begin="IMMEDIATE") as conn:
            with conn.begin():
                if engine.dialect.name == "postgresql":
                    conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
                before = current_revision(conn)
                if before == target:
                    return before, before
                cfg = Config()
                cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, revision)
                after = current_revision(conn)
            return before, after
    except DatabaseUnavailable:
        raise
    except Exception as e:
        raise DatabaseUnavailable(
            f"cannot create or upgrade the fleet store at {engine.url.render_as_string()}: {e}",
            "check that the database is reachable and writable (--db URL or TRAINMEDIC_DB_URL)",
        ) from e
