"""Fleet-store fixtures: a store on SQLite and on PostgreSQL (TRAINMEDIC_TEST_PG_URL), each test in a
fresh database (SQLite: a copy of a migrated file; PostgreSQL: a fresh schema), and a settable clock."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.schema import CreateIndex, CreateTable

from tests.store.storehelpers import T0
from trainmedic.store import Store, open_store
from trainmedic.store.engine import HEAD, make_store_engine, migrate
from trainmedic.store.schema import Base

PG_ENV = "TRAINMEDIC_TEST_PG_URL"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = T0):
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "store.db"
    engine = make_store_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    return path


def _pg_base() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        pytest.skip(f"{PG_ENV} is not set: no PostgreSQL server (tools/test.sh starts one with `bash tools/pg.sh start`)")
    return url


@pytest.fixture(scope="session")
def pg_admin() -> Iterator[tuple[str, Engine, str]]:
    """(base URL, admin engine, the schema DDL as one script) for the whole session."""
    base = _pg_base()
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text("SELECT 1"))
    except OperationalError as e:
        pytest.fail(f"{PG_ENV}={base} is set but the server does not answer: {e}")
    dialect = admin.dialect
    ddl = [str(CreateTable(t).compile(dialect=dialect)) for t in Base.metadata.sorted_tables]
    ddl += [str(CreateIndex(i).compile(dialect=dialect)) for t in Base.metadata.sorted_tables for i in t.indexes]
    ddl += ["CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL PRIMARY KEY)",
            f"INSERT INTO alembic_version VALUES ('{HEAD}')"]
    yield base, admin, ";\n".join(ddl)
    admin.dispose()


@pytest.fixture
def pg_url(pg_admin: tuple[str, Engine, str]) -> Iterator[str]:
    """A URL whose connections use a fresh, empty schema (dropped afterwards)."""
    base, admin, _ = pg_admin
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in base else "?"
    # Tests need no durability: skipping the WAL flush on commit makes each test's DDL cheap.
    yield f"{base}{sep}options=-csearch_path%3D{schema}%20-csynchronous_commit%3Doff"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def pg_store_url(pg_admin: tuple[str, Engine, str], pg_url: str) -> str:
    """A fresh schema holding the current tables (one DDL script: the migrations are tested on their own,
    and test_migrations_match_the_models keeps the two equal)."""
    engine = create_engine(pg_url)
    with engine.begin() as conn:
        conn.exec_driver_sql(pg_admin[2])
    engine.dispose()
    return pg_url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    """An empty, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "store.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
    else:
        yield request.getfixturevalue("pg_store_url")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(store_url: str, clock: Clock) -> Iterator[Store]:
    s = open_store(store_url, clock=clock)
    yield s
    s.close()
