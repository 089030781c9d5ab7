"""`open_store()` and `Store`: the fleet store's Python API for the launcher, diagnose, the agent and
the controller. The CLI commands (`incidents`, `cards`, `repair`, `report`, `db`) are thin views over it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from trainmedic.store.assess import AssessMixin
from trainmedic.store.cards import CardsMixin
from trainmedic.store.engine import HEAD, current_revision, make_store_engine, migrate, resolve_url
from trainmedic.store.importer import TraceImportMixin
from trainmedic.store.inventory import InventoryMixin


class Store(TraceImportMixin, CardsMixin, InventoryMixin, AssessMixin):
    """One fleet database. Thread-safe (a connection pool); every call is one transaction.

    Writers: `record_incident`, `record_incidents`, `record_events`, `register_card`, `set_state`,
    `add_repair`, `return_to_service`, `import_inventory`. Readers: `incidents`,
    `incident`, `card`, `cards`, `history`, `repairs`, `state_counts`, `count`; escalation: `assess`, `assess_node`, `flagged`;
    trace import: `import_trace`.
    """

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def revision(self) -> str | None:
        """The schema revision of the database."""
        with self._read() as conn:
            return current_revision(conn)

    def info(self) -> dict[str, Any]:
        """URL (password hidden), backend, schema revision and row counts."""
        from sqlalchemy.engine import make_url

        return {
            "url": make_url(self.url).render_as_string(hide_password=True),
            "backend": self.backend,
            "revision": self.revision(),
            "head": HEAD,
            "counts": {t: self.count(t) for t in ("nodes", "cards", "jobs", "incidents", "events", "repairs")},
        }


def open_store(url: str | None = None, *, upgrade: bool = True, clock: Callable[[], float] = time.time) -> Store:
    """Open the fleet store at `url` (else TRAINMEDIC_DB_URL, else the default SQLite file).

    A new or older database is created or upgraded to the current schema first (Alembic, under a lock,
    so concurrent first opens are safe); `upgrade=False` opens it as it is. Raises DatabaseUnavailable
    with a hint when the database cannot be reached or upgraded.
    """
    resolved = resolve_url(url)
    engine = make_store_engine(resolved)
    if upgrade:
        migrate(engine)
    return Store(engine, resolved, clock)
