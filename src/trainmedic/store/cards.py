"""Cards in the fleet store: listing, a card's whole timeline, state changes, repairs and return to
service. Used by `trainmedic cards` and `trainmedic repair`, and by the controller to mask cards.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, func, select

from trainmedic.model import Card, CardState, Role
from trainmedic.store.core import StoreCore, card_query, card_states, cards, nodes, slots, to_card
from trainmedic.store.errors import InvalidTransition, StoreError
from trainmedic.store.incidents import events, incidents
from trainmedic.store.records import (
    CardHistory,
    CardRecord,
    RepairAction,
    RepairRecord,
    TimelineEntry,
    Verification,
)
from trainmedic.store.schema import repairs

# How many raw fault events a card's timeline shows (the newest); counts cover all of them.
TIMELINE_EVENTS = 200


class CardsMixin(StoreCore):
    """Card queries, state changes and repairs."""

    def card(self, key: str) -> CardRecord:
        """The card named by serial, UUID, `node:index`, `#id` or bus id (raises UnknownCard)."""
        with self._read() as conn:
            return self._find_card(conn, key)

    def cards(
        self, state: CardState | None = None, node: str | None = None, limit: int | None = None
    ) -> list[CardRecord]:
        """Cards ordered by node and slot; optionally only those in `state` or on `node`."""
        q = card_query()
        if state is not None:
            q = q.where(cards.c.state == str(state))
        if node is not None:
            q = q.where(nodes.c.name == node)
        q = q.order_by(nodes.c.name, slots.c.idx, cards.c.id)
        if limit is not None:
            q = q.limit(limit)
        with self._read() as conn:
            return [to_card(r) for r in conn.execute(q)]

    def state_counts(self) -> dict[str, int]:
        """Number of cards in each state."""
        with self._read() as conn:
            rows = conn.execute(select(cards.c.state, func.count()).group_by(cards.c.state)).all()
        return {str(s): int(n) for s, n in rows}

    def register_card(self, card: Card, state: CardState = CardState.IN_SERVICE, at: float | None = None) -> CardRecord:
        """Add (or update) a card in its node's slot; returns the stored record."""
        at = self.clock() if at is None else at
        with self._write() as conn:
            card_id, _, _ = self._resolve_card(conn, card, at, state)
            return self._find_card(conn, f"#{card_id}")

    def history(self, key: str) -> CardHistory:
        """The card's whole timeline, oldest first: faults, incidents, repairs and state changes."""
        with self._read() as conn:
            card = self._find_card(conn, key)
            entries: list[TimelineEntry] = []
            inc = conn.execute(
                select(incidents.c.id, incidents.c.at, incidents.c.fault, incidents.c.title, incidents.c.action_taken)
                .where(incidents.c.card_id == card.id)
                .order_by(incidents.c.at)
            ).all()
            for r in inc:
                entries.append(
                    TimelineEntry(r.at, "incident", f"{r.title or r.fault or 'incident'} (action {r.action_taken})", r.id)
                )
            n_faults = conn.execute(
                select(func.count()).select_from(events).where(events.c.card_id == card.id)
            ).scalar_one()
            ev_rows = conn.execute(
                select(events.c.id, events.c.at, events.c.fault, events.c.rule, events.c.message, events.c.role)
                .where(events.c.card_id == card.id)
                .order_by(events.c.at.desc())
                .limit(TIMELINE_EVENTS)
            ).all()
            for ev in ev_rows:
                what = ev.fault or ev.rule or "finding"
                kind = "fault" if ev.role == Role.ROOT else "finding"
                entries.append(TimelineEntry(ev.at, kind, f"{what}: {ev.message[:160]}", str(ev.id)))
            reps = self._repairs(conn, card.id)
            for rep in reps:
                result = rep.verification_result or "not verified"
                parts = f", parts {', '.join(rep.parts)}" if rep.parts else ""
                entries.append(TimelineEntry(rep.at, "repair", f"{rep.action}{parts}; {result}; {rep.note}".strip("; "), str(rep.id)))
            for r in conn.execute(
                select(card_states).where(card_states.c.card_id == card.id).order_by(card_states.c.at, card_states.c.id)
            ):
                entries.append(
                    TimelineEntry(r.at, "state", f"{r.from_state or '-'} -> {r.to_state}: {r.reason}", r.incident_id)
                )
            slot_cards: tuple[str, ...] = ()
            if card.node is not None and card.slot is not None:
                rows = conn.execute(
                    select(cards.c.id, cards.c.serial, cards.c.uuid)
                    .join(slots, cards.c.slot_id == slots.c.id)
                    .join(nodes, slots.c.node_id == nodes.c.id)
                    .where(nodes.c.name == card.node, slots.c.idx == card.slot, cards.c.id != card.id)
                    .order_by(cards.c.id)
                ).all()
                slot_cards = tuple(r.serial or r.uuid or f"#{r.id}" for r in rows)
        order = {"state": 3, "repair": 2, "incident": 1}
        entries.sort(key=lambda e: (e.at, order.get(e.kind, 0)))
        return CardHistory(card, tuple(entries), len(inc), len(reps), int(n_faults), slot_cards)

    def repairs(self, key: str | None = None, since: float | None = None) -> list[RepairRecord]:
        """Repairs of one card (or of all cards), oldest first."""
        with self._read() as conn:
            card_id = self._find_card(conn, key).id if key else None
            return self._repairs(conn, card_id, since)

    def _repairs(self, conn: Connection, card_id: int | None, since: float | None = None) -> list[RepairRecord]:
        repl = cards.alias("repl")
        q = (
            select(
                repairs,
                func.coalesce(cards.c.serial, cards.c.uuid).label("card_key"),
                func.coalesce(repl.c.serial, repl.c.uuid).label("repl_key"),
            )
            .select_from(
                repairs.join(cards, repairs.c.card_id == cards.c.id).outerjoin(
                    repl, repairs.c.replacement_card_id == repl.c.id
                )
            )
            .order_by(repairs.c.at, repairs.c.id)
        )
        if card_id is not None:
            q = q.where(repairs.c.card_id == card_id)
        if since is not None:
            q = q.where(repairs.c.at >= since)
        return [_to_repair(r) for r in conn.execute(q)]

    def set_state(
        self, key: str, state: CardState, reason: str, at: float | None = None, force: bool = False
    ) -> CardRecord:
        """Move a card to `state` with a reason (kept in its history). A retired card stays retired
        unless `force`."""
        at = self.clock() if at is None else at
        with self._write() as conn:
            card = self._find_card(conn, key)
            if card.state == CardState.RETIRED and state != CardState.RETIRED and not force:
                raise InvalidTransition(
                    f"card {card.key} is retired; it cannot become {state}",
                    "pass --force if the card really came back (it keeps its history)",
                )
            self._change_state(conn, card.id, card.state, state, at, reason)
            return self._find_card(conn, f"#{card.id}")

    def add_repair(
        self,
        key: str,
        action: RepairAction,
        *,
        parts: Sequence[str] = (),
        steps: Sequence[str] = (),
        note: str = "",
        technician: str | None = None,
        verification_test: str | None = None,
        verified: Verification | None = None,
        incident_id: str | None = None,
        replacement: Card | None = None,
        at: float | None = None,
    ) -> RepairRecord:
        """Record a repair of a card and move it on the ladder.

        reset/reseat/firmware_update/none: the card goes `in_repair` until `return_to_service`. replace: the
        card is retired and leaves its slot; rma: it leaves its slot `in_repair` (at the vendor). A
        `replacement` card goes into the slot in service. Without `incident_id` the card's latest incident
        is the one being repaired.
        """
        at = self.clock() if at is None else at
        action = RepairAction(action)
        with self._write() as conn:
            card = self._find_card(conn, key)
            if card.state == CardState.RETIRED:
                raise InvalidTransition(
                    f"card {card.key} is retired; a repair cannot be recorded on it",
                    "record the repair on the card that replaced it (see `trainmedic cards show`)",
                )
            if incident_id is None:
                incident_id = conn.execute(
                    select(incidents.c.id)
                    .where(incidents.c.card_id == card.id, incidents.c.at <= at)
                    .order_by(incidents.c.at.desc())
                    .limit(1)
                ).scalar()
            elif conn.execute(select(incidents.c.id).where(incidents.c.id == incident_id)).first() is None:
                raise StoreError(f"no incident {incident_id!r} to attach this repair to", "check the id with `trainmedic incidents list`")
            slot_id = conn.execute(select(cards.c.slot_id).where(cards.c.id == card.id)).scalar()
            repl_id = None
            if replacement is not None:
                if card.node is None or card.slot is None:
                    raise StoreError(f"card {card.key} has no slot to put a replacement in")
                if replacement.serial and replacement.serial == card.serial:
                    raise StoreError("the replacement card has the same serial as the card it replaces")
                conn.execute(cards.update().where(cards.c.id == card.id).values(removed_at=at, updated_at=at))
                rep_card = Card(
                    node=card.node,
                    index=card.slot,
                    bus_id=replacement.bus_id or card.bus_id,
                    uuid=replacement.uuid,
                    serial=replacement.serial,
                    vendor=replacement.vendor or card.vendor,
                    model=replacement.model or card.model,
                )
                repl_id, _, _ = self._resolve_card(conn, rep_card, at)
            leaves_slot = action in (RepairAction.REPLACE, RepairAction.RMA)
            if leaves_slot and replacement is None:
                conn.execute(cards.update().where(cards.c.id == card.id).values(removed_at=at, updated_at=at))
            repair_id = int(
                conn.execute(
                    repairs.insert()
                    .values(
                        card_id=card.id,
                        slot_id=slot_id,
                        incident_id=incident_id,
                        at=at,
                        action=str(action),
                        parts=list(parts),
                        steps=list(steps),
                        note=note,
                        technician=technician,
                        verification_test=verification_test,
                        verification_result=str(verified) if verified else None,
                        back_in_service_at=at if repl_id is not None else None,
                        replacement_card_id=repl_id,
                    )
                    .returning(repairs.c.id)
                ).scalar_one()
            )
            new_state = CardState.RETIRED if action == RepairAction.REPLACE else CardState.IN_REPAIR
            why = f"repair #{repair_id}: {action}" + (f" ({verified})" if verified else "")
            self._change_state(conn, card.id, card.state, new_state, at, why, incident_id, repair_id)
            return next(r for r in self._repairs(conn, card.id) if r.id == repair_id)

    def return_to_service(self, key: str, note: str = "", at: float | None = None, force: bool = False) -> CardRecord:
        """Put a repaired card back in service; its latest repair gets `back_in_service_at`.

        Refused for a retired card, and for a card whose latest repair failed verification, unless `force`.
        """
        at = self.clock() if at is None else at
        with self._write() as conn:
            card = self._find_card(conn, key)
            if card.state == CardState.IN_SERVICE:
                return card
            last = self._repairs(conn, card.id)
            if not force:
                if card.state == CardState.RETIRED:
                    raise InvalidTransition(
                        f"card {card.key} is retired (replaced); it cannot go back in service",
                        "pass --force if it really came back",
                    )
                if last and last[-1].verification_result == Verification.FAIL:
                    raise InvalidTransition(
                        f"card {card.key}: its latest repair (#{last[-1].id}, {last[-1].action}) failed verification",
                        "record a repair that passes (`trainmedic repair add ... --verified pass`) or pass --force",
                    )
            if last and last[-1].back_in_service_at is None:
                conn.execute(repairs.update().where(repairs.c.id == last[-1].id).values(back_in_service_at=at))
            reason = "returned to service" + (f": {note}" if note else "")
            self._change_state(conn, card.id, card.state, CardState.IN_SERVICE, at, reason)
            return self._find_card(conn, f"#{card.id}")


def _to_repair(row: Any) -> RepairRecord:
    m = row._mapping
    return RepairRecord(
        id=m["id"],
        card=m["card_key"] or f"#{m['card_id']}",
        at=m["at"],
        action=RepairAction(m["action"]),
        parts=tuple(m["parts"] or ()),
        steps=tuple(m["steps"] or ()),
        note=m["note"] or "",
        technician=m["technician"],
        verification_test=m["verification_test"],
        verification_result=Verification(m["verification_result"]) if m["verification_result"] else None,
        back_in_service_at=m["back_in_service_at"],
        incident_id=m["incident_id"],
        replacement=m["repl_key"] or (f"#{m['replacement_card_id']}" if m["replacement_card_id"] else None),
    )

