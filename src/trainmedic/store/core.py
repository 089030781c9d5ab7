"""The store's plumbing: transactions, get-or-create of nodes and slots, card identity resolution, and
turning rows into records. `Store` (store.py) builds on it; nothing outside the package uses it directly.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection, Engine, Row, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from trainmedic.model import Card, CardState
from trainmedic.store.errors import UnknownCard
from trainmedic.store.records import CardRecord
from trainmedic.store.schema import card_states, cards, nodes, slots

CARD_COLUMNS = (
    cards.c.id,
    cards.c.serial,
    cards.c.uuid,
    cards.c.bus_id,
    cards.c.vendor,
    cards.c.model,
    nodes.c.name.label("node"),
    slots.c.idx.label("slot"),
    cards.c.state,
    cards.c.installed_at,
    cards.c.removed_at,
    cards.c.created_at,
    cards.c.updated_at,
    cards.c.note,
)


_CARD_FIELDS = "id, serial, uuid, bus_id, vendor, model, slot_id, state, removed_at"
# Prebuilt statements: the hot paths (record_incident, imports) run them thousands of times, and
# building a fresh SQLAlchemy expression each time costs more than the query itself.
_Q_NODE = text("SELECT id FROM nodes WHERE name = :name")
_Q_SLOT = text("SELECT id, bus_id FROM slots WHERE node_id = :node AND idx = :idx")
_Q_SLOT_LOCK = text("SELECT id, bus_id FROM slots WHERE node_id = :node AND idx = :idx FOR UPDATE")
# ON CONFLICT DO NOTHING: SQLite >= 3.24 and PostgreSQL; concurrent writers may race to create a row.
_I_NODE = text("INSERT INTO nodes (name, created_at) VALUES (:name, :at) ON CONFLICT (name) DO NOTHING")
_I_SLOT = text("INSERT INTO slots (node_id, idx, bus_id) VALUES (:node, :idx, :bus) ON CONFLICT (node_id, idx) DO NOTHING")
_U_SLOT_BUS = text("UPDATE slots SET bus_id = :bus WHERE id = :id")
_Q_CARD_SERIAL = text(f"SELECT {_CARD_FIELDS} FROM cards WHERE serial = :v")
_Q_CARD_UUID = text(f"SELECT {_CARD_FIELDS} FROM cards WHERE uuid = :v")
_Q_CARD_IN_SLOT = text(f"SELECT {_CARD_FIELDS} FROM cards WHERE slot_id = :slot AND removed_at IS NULL ORDER BY id DESC")
_U_CARD_REMOVED = text("UPDATE cards SET removed_at = :at, updated_at = :at WHERE id = :id")
_U_CARD_STATE = text("UPDATE cards SET state = :state, updated_at = :at WHERE id = :id")
_I_CARD = cards.insert().returning(cards.c.id)
_I_STATE = card_states.insert()


def bus_key(bus_id: str | None) -> str | None:
    """A PCI bus id without its domain, lower case: '00000000:18:00.0' and '0000:18:00.0' -> '18:00.0'."""
    if not bus_id:
        return None
    parts = bus_id.strip().lower().split(":")
    return ":".join(parts[-2:])


def card_query() -> Any:
    """SELECT of a card with its node name and slot index (outer joins: a removed card has no slot)."""
    return select(*CARD_COLUMNS).select_from(
        cards.outerjoin(slots, cards.c.slot_id == slots.c.id).outerjoin(nodes, slots.c.node_id == nodes.c.id)
    )


def to_card(row: Row[Any]) -> CardRecord:
    m = row._mapping
    return CardRecord(
        id=m["id"],
        serial=m["serial"],
        uuid=m["uuid"],
        bus_id=m["bus_id"],
        vendor=m["vendor"],
        model=m["model"],
        node=m["node"],
        slot=m["slot"],
        state=CardState(m["state"]),
        installed_at=m["installed_at"],
        removed_at=m["removed_at"],
        created_at=m["created_at"],
        updated_at=m["updated_at"],
        note=m["note"] or "",
    )


class StoreCore:
    """Engine, clock and the helpers every store operation shares."""

    def __init__(self, engine: Engine, url: str, clock: Callable[[], float] = time.time):
        self.engine = engine
        self.url = url
        self.clock = clock
        # Node and slot ids never change once committed; cleared when a write transaction fails.
        self._nodes: dict[str, int] = {}
        self._slots: dict[tuple[int, int], tuple[int, str | None]] = {}

    @property
    def backend(self) -> str:
        """'sqlite' or 'postgresql'."""
        return self.engine.dialect.name

    def close(self) -> None:
        """Release the connection pool."""
        self.engine.dispose()

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One write transaction (SQLite: BEGIN IMMEDIATE, so concurrent writers queue instead of failing)."""
        with self.engine.connect() as conn:
            conn.execution_options(sqlite_begin="IMMEDIATE")
            try:
                with conn.begin():
                    yield conn
            except BaseException:
                self._nodes.clear()
                self._slots.clear()
                raise

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self.engine.connect() as conn:
            yield conn

    def _insert_ignore(self, conn: Connection, table: Any, values: dict[str, Any], keys: list[str]) -> None:
        ins = pg_insert(table) if self.backend == "postgresql" else sqlite_insert(table)
        conn.execute(ins.values(**values).on_conflict_do_nothing(index_elements=keys))

    def _node_id(self, conn: Connection, name: str, at: float) -> int:
        cached = self._nodes.get(name)
        if cached is not None:
            return cached
        found = conn.execute(_Q_NODE, {"name": name}).scalar()
        if found is None:
            conn.execute(_I_NODE, {"name": name, "at": at})
            found = conn.execute(_Q_NODE, {"name": name}).scalar_one()
        self._nodes[name] = int(found)
        return int(found)

    def _slot_id(self, conn: Connection, node_id: int, index: int, bus_id: str | None) -> int:
        cached = self._slots.get((node_id, index))
        if cached is not None and (not bus_id or cached[1] == bus_id):
            return cached[0]
        q = _Q_SLOT_LOCK if self.backend == "postgresql" else _Q_SLOT
        row = conn.execute(q, {"node": node_id, "idx": index}).first()
        if row is None:
            conn.execute(_I_SLOT, {"node": node_id, "idx": index, "bus": bus_id})
            row = conn.execute(q, {"node": node_id, "idx": index}).one()
        slot_bus = row.bus_id
        if bus_id and slot_bus != bus_id:
            conn.execute(_U_SLOT_BUS, {"id": row.id, "bus": bus_id})
            slot_bus = bus_id
        self._slots[(node_id, index)] = (int(row.id), slot_bus)
        return int(row.id)

    def _change_state(
        self,
        conn: Connection,
        card_id: int,
        old: str | None,
        new: CardState,
        at: float,
        reason: str,
        incident_id: str | None = None,
        repair_id: int | None = None,
    ) -> None:
        if old == new:
            return
        conn.execute(_U_CARD_STATE, {"id": card_id, "state": str(new), "at": at})
        conn.execute(
            _I_STATE,
            {
                "card_id": card_id,
                "at": at,
                "from_state": old,
                "to_state": str(new),
                "reason": reason,
                "incident_id": incident_id,
                "repair_id": repair_id,
            },
        )

    def _resolve_card(
        self, conn: Connection, card: Card, at: float, state: CardState = CardState.IN_SERVICE
    ) -> tuple[int, int, int]:
        """(card id, slot id, node id) for `card`, creating node, slot and card as needed.

        Identity: serial, then UUID, then the card now in the slot. A different serial in an occupied slot
        means the old card was swapped out: it is marked removed and the new one becomes the slot's card.
        """
        node_id = self._node_id(conn, card.node, at)
        slot_id = self._slot_id(conn, node_id, card.index, card.bus_id)
        found = None
        if card.serial:
            found = conn.execute(_Q_CARD_SERIAL, {"v": card.serial}).first()
        if found is None and card.uuid:
            found = conn.execute(_Q_CARD_UUID, {"v": card.uuid}).first()
        current = found if found is not None and found.slot_id == slot_id and found.removed_at is None else None
        if current is None:
            current = conn.execute(_Q_CARD_IN_SLOT, {"slot": slot_id}).first()
        if found is None and current is not None:
            same = (not card.serial or current.serial in (None, card.serial)) and (
                not card.uuid or current.uuid in (None, card.uuid)
            )
            if same:
                found = current
        if current is not None and (found is None or found.id != current.id):
            # The slot's previous card left it (swapped without a recorded repair).
            conn.execute(_U_CARD_REMOVED, {"id": current.id, "at": at})
        fill = {
            k: v
            for k, v in (
                ("serial", card.serial),
                ("uuid", card.uuid),
                ("bus_id", card.bus_id),
                ("vendor", card.vendor),
                ("model", card.model),
            )
            if v
        }
        if found is None:
            values = {
                "serial": None,
                "uuid": None,
                "bus_id": None,
                "vendor": None,
                "model": None,
                **fill,
                "slot_id": slot_id,
                "state": str(state),
                "installed_at": at,
                "removed_at": None,
                "created_at": at,
                "updated_at": at,
                "note": "",
            }
            card_id = int(conn.execute(_I_CARD, values).scalar_one())
            conn.execute(
                _I_STATE,
                {"card_id": card_id, "at": at, "from_state": None, "to_state": str(state), "reason": "first seen",
                 "incident_id": None, "repair_id": None},
            )
            return card_id, slot_id, node_id
        updates: dict[str, Any] = {k: v for k, v in fill.items() if getattr(found, k) != v}
        if found.slot_id != slot_id or found.removed_at is not None:
            updates.update(slot_id=slot_id, installed_at=at, removed_at=None)
        if updates:
            conn.execute(cards.update().where(cards.c.id == found.id).values(**updates, updated_at=at))
        return int(found.id), slot_id, node_id

    def _find_card(self, conn: Connection, key: str) -> CardRecord:
        """The card named by `key`: serial, UUID, `node:index` (the card now in that slot), `#id` or bus id."""
        key = key.strip()
        q = card_query()
        conds: list[Any] = []
        if key.startswith("#") and key[1:].isdigit():
            conds.append(cards.c.id == int(key[1:]))
        conds += [cards.c.serial == key, cards.c.uuid == key]
        for cond in conds:
            row = conn.execute(q.where(cond)).first()
            if row is not None:
                return to_card(row)
        node, sep, idx = key.rpartition(":")
        if sep and idx.isdigit():
            row = conn.execute(
                q.where(nodes.c.name == node, slots.c.idx == int(idx), cards.c.removed_at.is_(None))
            ).first()
            if row is not None:
                return to_card(row)
        rows = conn.execute(q.where(cards.c.bus_id == key, cards.c.removed_at.is_(None)).limit(2)).all()
        if len(rows) == 1:
            return to_card(rows[0])
        raise UnknownCard(key)
