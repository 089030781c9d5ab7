"""Errors of the fleet store. Each says what failed, where, and (in `hint`) what to do.

`StoreError` is the base; the CLI prints `str(err)` and `err.hint` and exits 1.
"""

from __future__ import annotations


class StoreError(Exception):
    """Something the caller can report and act on; `hint` says what to do next."""

    def __init__(self, message: str, hint: str | None = None):
        super().__init__(message)
        self.hint = hint


class DatabaseUnavailable(StoreError):
    """The database at `url` could not be opened, created or upgraded."""


class UnknownCard(StoreError):
    """No card has this serial, UUID or node:index."""

    def __init__(self, key: str):
        super().__init__(
            f"no card {key!r} in the fleet store (looked up by serial, UUID, bus id and node:index)",
            "list the cards with `trainmedic cards list`, or add them with `trainmedic cards import FILE`",
        )
        self.key = key


class UnknownIncident(StoreError):
    """No incident has this id."""

    def __init__(self, incident_id: str):
        super().__init__(
            f"no incident {incident_id!r} in the fleet store",
            "list the ids with `trainmedic incidents list`",
        )
        self.incident_id = incident_id


class InvalidTransition(StoreError):
    """A card state change that the repair ladder does not allow (returning a retired card, say)."""


class InventoryError(StoreError):
    """A malformed inventory row; `row` is its 1-based number in the file (the CSV header is row 1)."""

    def __init__(self, source: str, row: int, message: str):
        super().__init__(
            f"{source}: row {row}: {message}",
            "fix that row (columns: serial, uuid, bus_id, vendor, model, node, slot, state) and import again; "
            "nothing from this file was imported",
        )
        self.source = source
        self.row = row
