"""`trainmedic db upgrade|info`: create or upgrade the fleet store's schema, and say where it is."""

from __future__ import annotations

import click

from trainmedic.cli.fleet import db_option, fail_store, json_option
from trainmedic.cli.output import emit_json, fail
from trainmedic.store import StoreError
from trainmedic.store.engine import make_store_engine, migrate, resolve_url
from trainmedic.store.store import Store


@click.group()
def db() -> None:
    """Manage the incident database (upgrade)."""


@db.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Upgrade to this Alembic revision.")
@db_option
@json_option
def upgrade(revision: str, db_url: str | None, as_json: bool) -> None:
    """Create the database, or upgrade an older one in place (keeps all data)."""
    url = resolve_url(db_url)
    try:
        engine = make_store_engine(url)
        before, after = migrate(engine, revision)
    except StoreError as e:
        fail_store(e)
    shown = engine.url.render_as_string(hide_password=True)
    engine.dispose()
    if as_json:
        emit_json({"url": shown, "from": before, "to": after})
    elif before == after:
        click.echo(f"{shown}: already at revision {after}")
    else:
        click.echo(f"{shown}: upgraded from {before or 'empty'} to {after}")


@db.command("info")
@db_option
@json_option
def info(db_url: str | None, as_json: bool) -> None:
    """Where the database is, its schema revision and how many rows each table holds."""
    url = resolve_url(db_url)
    try:
        store = Store(make_store_engine(url), url)
        data = store.info()
    except StoreError as e:
        fail_store(e)
    except Exception as e:
        fail(f"cannot read the database at {url}: {e}", "run `trainmedic db upgrade` first")
    store.close()
    if as_json:
        emit_json(data)
        return
    click.echo(f"{data['url']} ({data['backend']}), revision {data['revision'] or 'none'} (current: {data['head']})")
    click.echo("  " + ", ".join(f"{k} {v}" for k, v in data["counts"].items()))
