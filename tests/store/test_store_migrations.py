"""Schema: created on first open, an older release's database upgraded in place, migrations equal to
the models, and `import trainmedic.store` touching no database."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from tests.store.storehelpers import T0, make_incident
from trainmedic.model import CardState
from trainmedic.store import open_store
from trainmedic.store.engine import HEAD, default_path, make_store_engine, migrate, resolve_url
from trainmedic.store.schema import Base


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        yield request.getfixturevalue("pg_url")


def test_a_database_from_the_first_release_upgrades_in_place_keeping_its_data(empty_url: str) -> None:
    engine = make_store_engine(empty_url)
    assert migrate(engine, "0001") == (None, "0001")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO nodes (id, name, created_at) VALUES (1, 'node-7', 1.0)"))
        conn.execute(text("INSERT INTO slots (id, node_id, idx) VALUES (1, 1, 2)"))
        conn.execute(
            text(
                "INSERT INTO cards (id, serial, slot_id, state, created_at, updated_at, note) "
                "VALUES (1, 'OLD-SN', 1, 'quarantined', 1.0, 5.0, '')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO incidents (id, at, source, symptom, title, action_taken, outcome, dry_run, explanation, "
                "evidence, recorded_at, card_id, node_id, slot_id) VALUES ('old-1', 5.0, 'launcher', 'crash', '', "
                "'restart_job', '', false, '', '[]', 5.0, 1, 1, 1)"
            )
        )
    engine.dispose()
    with open_store(empty_url) as store:
        assert store.revision() == HEAD
        hist = store.history("OLD-SN")
        assert hist.card.state == CardState.QUARANTINED and hist.incidents == 1
        assert [e.summary for e in hist.timeline if e.kind == "state"] == [
            "- -> quarantined: state carried over by the 0002 upgrade"
        ]
        store.record_incident(make_incident("new-1", T0, node="node-7", index=2, serial="OLD-SN"))
        assert store.count("incidents") == 2
    # A second open finds the schema current and changes nothing.
    assert migrate(make_store_engine(empty_url)) == (HEAD, HEAD)


def test_the_migrations_create_exactly_the_tables_of_the_models(tmp_path: Path) -> None:
    engine = make_store_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_importing_the_store_creates_no_database_and_the_default_honours_xdg(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path / "home"), "XDG_DATA_HOME": str(tmp_path / "xdg"), "PATH": "/usr/bin:/bin"}
    code = "import trainmedic.store, trainmedic.cli.cards, trainmedic.cli.report"
    subprocess.run([sys.executable, "-c", code], env={**env, "PYTHONPATH": ":".join(sys.path)}, check=True)
    assert not (tmp_path / "xdg").exists() and not (tmp_path / "home").exists()
    assert default_path(env) == tmp_path / "xdg" / "trainmedic" / "trainmedic.db"
    assert default_path({"HOME": "/h"}) == Path("/h/.local/share/trainmedic/trainmedic.db")
    assert resolve_url(None, env).endswith("/xdg/trainmedic/trainmedic.db")
    assert resolve_url("postgresql://u@h/db", env) == "postgresql+psycopg://u@h/db"


def test_an_unreachable_database_is_a_clear_error() -> None:
    from trainmedic.store import DatabaseUnavailable

    with pytest.raises(DatabaseUnavailable) as e:
        open_store("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    assert "cannot create or upgrade" in str(e.value) and e.value.hint
