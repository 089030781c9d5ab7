"""Alembic environment of the fleet store; run programmatically by `store.engine.migrate()`.

The caller passes an open connection in `config.attributes["connection"]`, so migrations run inside the
caller's transaction (and its lock); `alembic -c store/alembic.ini upgrade head` also works with a URL.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine

from trainmedic.store.schema import Base

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,  # SQLite needs batch mode to alter tables
        transactional_ddl=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise SystemExit("set sqlalchemy.url in alembic.ini or use `trainmedic db upgrade --db URL`")
    with create_engine(url).connect() as conn:
        _run(conn)
        conn.commit()
