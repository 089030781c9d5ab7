"""The fleet store: incidents, events, cards, slots, repairs and card states; SQLite by default (WAL),
PostgreSQL by URL; Alembic migrations packaged here and run on first open.

    from trainmedic.store import open_store
    with open_store() as store:
        store.record_incident(incident)
"""

from trainmedic.store.errors import (
    DatabaseUnavailable,
    InvalidTransition,
    InventoryError,
    StoreError,
    UnknownCard,
    UnknownIncident,
)
from trainmedic.store.records import (
    CardHistory,
    CardRecord,
    IncidentRecord,
    Job,
    RepairAction,
    RepairRecord,
    TimelineEntry,
    Verification,
)
from trainmedic.store.store import Store, open_store

__all__ = [
    "CardHistory",
    "CardRecord",
    "DatabaseUnavailable",
    "IncidentRecord",
    "InvalidTransition",
    "InventoryError",
    "Job",
    "RepairAction",
    "RepairRecord",
    "Store",
    "StoreError",
    "TimelineEntry",
    "UnknownCard",
    "UnknownIncident",
    "Verification",
    "open_store",
]
