"""Shared pieces of the fleet-store commands (`incidents`, `cards`, `repair`, `report`, `db`): the
`--db` option, opening the store with a clear error, and reading and printing times.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

import click

from trainmedic.cli.output import fail
from trainmedic.store import Store, StoreError, open_store

F = TypeVar("F", bound=Callable[..., Any])

db_option = click.option(
    "--db",
    "db_url",
    envvar="TRAINMEDIC_DB_URL",
    metavar="URL",
    help="Database URL or SQLite file (default: TRAINMEDIC_DB_URL, else ~/.local/share/trainmedic/trainmedic.db).",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


def store_or_fail(url: str | None) -> Store:
    """Open (and if needed create or upgrade) the store, or exit 1 saying why and what to do."""
    try:
        return open_store(url)
    except StoreError as e:
        fail_store(e)


def fail_store(e: StoreError) -> NoReturn:
    fail(str(e), e.hint)


_REL = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str | None, now: float | None = None) -> float | None:
    """Epoch seconds from '2024-05-01', '2024-05-01T12:00', epoch seconds, or an age like '30d' / '12h'."""
    if text is None:
        return None
    t = text.strip()
    m = _REL.match(t)
    if m:
        return (time.time() if now is None else now) - float(m.group(1)) * _UNIT_S[m.group(2)]
    try:
        return float(t)
    except ValueError:
        pass
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        raise click.BadParameter(f"{text!r}: use a date (2024-05-01), a date and time, epoch seconds or an age (30d)") from None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def when(t: float | None) -> str:
    """A time as 'YYYY-MM-DD HH:MM:SS' UTC ('-' when unknown)."""
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%d %H:%M:%S")
