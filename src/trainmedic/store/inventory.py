"""Card inventory import (`trainmedic cards import FILE`): CSV or JSON rows of serial, uuid, bus_id,
vendor, model, node, slot, state. The whole file is checked first (errors name the row) and then
written in one transaction; importing the same file twice changes nothing.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import select

from trainmedic.model import Card, CardState
from trainmedic.store.core import StoreCore, cards
from trainmedic.store.errors import InventoryError

COLUMNS = ("serial", "uuid", "bus_id", "vendor", "model", "node", "slot", "state")


@dataclass(frozen=True, slots=True)
class InventoryRow:
    """One checked inventory row; `row` is where it came from (CSV: line number, header = 1)."""

    row: int
    serial: str
    uuid: str | None
    bus_id: str | None
    vendor: str | None
    model: str | None
    node: str | None
    slot: int | None
    state: CardState | None


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did."""

    rows: int
    added: int
    updated: int
    unchanged: int

    def to_dict(self) -> dict[str, int]:
        return {"rows": self.rows, "added": self.added, "updated": self.updated, "unchanged": self.unchanged}


def parse_inventory(text: str, source: str = "<inventory>") -> list[InventoryRow]:
    """Parse and check an inventory (JSON when it starts with '[' or '{', else CSV with a header).

    Raises InventoryError naming the first bad row; duplicate serials with different data are an error.
    """
    stripped = text.lstrip()
    items: list[tuple[int, dict[str, Any]]]
    if stripped.startswith(("[", "{")):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise InventoryError(source, e.lineno, f"not valid JSON: {e.msg}") from e
        if isinstance(data, dict):
            data = data.get("cards")
        if not isinstance(data, list):
            raise InventoryError(source, 1, "JSON inventory must be a list of cards or {\"cards\": [...]}")
        items = []
        for i, obj in enumerate(data, start=1):
            if not isinstance(obj, dict):
                raise InventoryError(source, i, f"item {i} is {type(obj).__name__}, not an object")
            items.append((i, obj))
    else:
        reader = csv.DictReader(io.StringIO(text))
        header = [h.strip().lower() for h in (reader.fieldnames or [])]
        if "serial" not in header:
            raise InventoryError(source, 1, f"the header must name a 'serial' column (got {', '.join(header) or 'nothing'})")
        unknown = [h for h in header if h and h not in COLUMNS]
        if unknown:
            raise InventoryError(source, 1, f"unknown column(s) {', '.join(unknown)}; known: {', '.join(COLUMNS)}")
        reader.fieldnames = header
        items = []
        for rec in reader:
            line = reader.line_num
            if None in rec:
                raise InventoryError(source, line, f"{len(header) + len(rec[None])} fields, the header has {len(header)}")  # type: ignore[index]
            if not any((v or "").strip() for v in rec.values()):
                continue
            items.append((line, rec))
    rows = [_check(source, n, obj) for n, obj in items]
    seen: dict[str, InventoryRow] = {}
    for r in rows:
        prev = seen.get(r.serial)
        if prev is not None and (prev.node, prev.slot, prev.uuid) != (r.node, r.slot, r.uuid):
            raise InventoryError(source, r.row, f"serial {r.serial!r} is also on row {prev.row} with other data")
        seen[r.serial] = r
    places: dict[tuple[str, int], InventoryRow] = {}
    for r in seen.values():
        if r.node is not None and r.slot is not None:
            other = places.get((r.node, r.slot))
            if other is not None:
                raise InventoryError(source, r.row, f"slot {r.node}:{r.slot} already holds {other.serial!r} (row {other.row})")
            places[(r.node, r.slot)] = r
    return list(seen.values())


def _text(obj: dict[str, Any], key: str) -> str | None:
    v = obj.get(key)
    if v is None:
        return None
    s = str(v).strip()
    return s or None


def _check(source: str, n: int, obj: dict[str, Any]) -> InventoryRow:
    serial = _text(obj, "serial")
    if not serial:
        raise InventoryError(source, n, "the serial is empty")
    node = _text(obj, "node")
    slot_text = _text(obj, "slot")
    slot = None
    if slot_text is not None:
        try:
            slot = int(slot_text)
        except ValueError:
            raise InventoryError(source, n, f"slot {slot_text!r} is not a whole number") from None
        if slot < 0 or slot > 255:
            raise InventoryError(source, n, f"slot {slot} is out of range 0..255")
        if node is None:
            raise InventoryError(source, n, f"slot {slot} given without a node")
    elif node is not None:
        raise InventoryError(source, n, f"node {node!r} given without a slot")
    state_text = _text(obj, "state")
    state = None
    if state_text is not None:
        try:
            state = CardState(state_text.lower())
        except ValueError:
            raise InventoryError(
                source, n, f"state {state_text!r} is not one of {', '.join(s.value for s in CardState)}"
            ) from None
    return InventoryRow(
        row=n,
        serial=serial,
        uuid=_text(obj, "uuid"),
        bus_id=_text(obj, "bus_id"),
        vendor=_text(obj, "vendor"),
        model=_text(obj, "model"),
        node=node,
        slot=slot,
        state=state,
    )


class InventoryMixin(StoreCore):
    """`import_inventory`: add and update cards from an inventory file."""

    def import_inventory(self, path: str | Path, at: float | None = None) -> ImportReport:
        """Import a CSV or JSON inventory file (all or nothing; idempotent)."""
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise InventoryError(str(p), 0, f"cannot read the file: {e}") from e
        return self.import_rows(parse_inventory(text, str(p)), at)

    def import_rows(self, rows: list[InventoryRow], at: float | None = None) -> ImportReport:
        """Write checked inventory rows in one transaction."""
        at = self.clock() if at is None else at
        added = updated = unchanged = 0
        with self._write() as conn:
            for r in rows:
                before = conn.execute(select(cards).where(cards.c.serial == r.serial)).first()
                state = r.state or CardState.IN_SERVICE
                if r.node is not None and r.slot is not None:
                    card_id, _, _ = self._resolve_card(
                        conn, Card(r.node, r.slot, r.bus_id, r.uuid, r.serial, r.vendor, r.model), at, state
                    )
                elif before is None:
                    card_id = int(
                        conn.execute(
                            cards.insert()
                            .values(
                                serial=r.serial, uuid=r.uuid, bus_id=r.bus_id, vendor=r.vendor, model=r.model,
                                slot_id=None, state=str(state), installed_at=None, created_at=at, updated_at=at, note="",
                            )
                            .returning(cards.c.id)
                        ).scalar_one()
                    )
                    self._change_state(conn, card_id, None, state, at, "inventory import")
                else:
                    card_id = int(before.id)
                    fill = {k: getattr(r, k) for k in ("uuid", "bus_id", "vendor", "model") if getattr(r, k)}
                    fill = {k: v for k, v in fill.items() if getattr(before, k) != v}
                    if fill:
                        conn.execute(cards.update().where(cards.c.id == card_id).values(**fill, updated_at=at))
                if before is not None and r.state is not None and before.state != r.state:
                    self._change_state(conn, card_id, before.state, r.state, at, "inventory import")
                after = conn.execute(select(cards).where(cards.c.id == card_id)).one()
                if before is None:
                    added += 1
                elif _same(before, after):
                    unchanged += 1
                else:
                    updated += 1
        return ImportReport(len(rows), added, updated, unchanged)


def _same(a: Any, b: Any) -> bool:
    keys = ("serial", "uuid", "bus_id", "vendor", "model", "slot_id", "state", "removed_at")
    return all(getattr(a, k) == getattr(b, k) for k in keys)
