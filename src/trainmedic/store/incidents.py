"""Recording incidents and raw findings, and querying incidents: the part of the store that the launcher,
diagnose and the agent write to on every fault.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice, repeat
from operator import attrgetter, methodcaller
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy.exc import IntegrityError

from trainmedic.model import Action, Card, CardState, Component, Finding, Incident, Role, Severity, Symptom
from trainmedic.store.core import StoreCore, bus_key, cards, nodes, slots
from trainmedic.store.errors import UnknownIncident
from trainmedic.store.records import TIMELINE_STAGES, IncidentRecord, Job
from trainmedic.store.schema import events, incidents, jobs

# Faults on these components live on the card itself: they count against the card's record.
CARD_COMPONENTS = frozenset(
    {Component.ACCELERATOR, Component.MEMORY, Component.INTERCONNECT, Component.PCIE, Component.DRIVER}
)
# Actions after which the card is out of the pool until someone repairs it.
QUARANTINE_ACTIONS = frozenset({Action.REPLACE_CARD, Action.CONTACT_VENDOR, Action.DRAIN_NODE})
EVENT_BATCH = 20_000
_Q_INCIDENT = text("SELECT id FROM incidents WHERE id = :id")
_Q_JOB = text("SELECT id FROM jobs WHERE id = :id")
_Q_CARD_STATE = text("SELECT state FROM cards WHERE id = :id")
_I_INCIDENT = incidents.insert()
EVENT_COLUMNS = (
    "at",
    "source",
    "symptom",
    "node",
    "rank",
    "card_index",
    "bus_id",
    "card_id",
    "incident_id",
    "rule",
    "fault",
    "component",
    "role",
    "severity",
    "action",
    "message",
    "fields",
)


_TEXT_COLUMNS = frozenset({"symptom", "component", "role", "severity", "action"})


class _Text(dict[Any, Any]):
    """Enum member -> its value as an exact `str`. sqlite3 binds a str subclass through its adapter lookup,
    about 1 us a value (more than the insert itself); an exact str binds directly. Anything else is kept."""

    def __missing__(self, value: Any) -> Any:
        return str.__str__(value) if isinstance(value, str) else value


_ENUM_TEXT = _Text({m: str.__str__(m) for e in (Symptom, Component, Role, Severity, Action) for m in e})
_to_text = _ENUM_TEXT.__getitem__
_PLACE = attrgetter("node", "bus_id", "card_index")
_ITEMS = methodcaller("items")


class _BusKeys(dict[str, str]):
    """Bus id -> its bus key (see `bus_key`), each distinct id normalised once."""

    def __missing__(self, bus_id: str) -> str:
        out = self[bus_id] = bus_key(bus_id) or ""
        return out


class _CardIds(dict[tuple[Any, Any, Any], int | None]):
    """(node, bus id, card index) of a finding -> id of the card in that place, or None; each place resolved
    once (by bus id, else card index) from a `_card_map`."""

    def __init__(self, card_map: dict[tuple[str, str | int], int]) -> None:
        super().__init__()
        self.card_map = card_map
        self.bus_keys = _BusKeys()

    def __missing__(self, place: tuple[Any, Any, Any]) -> int | None:
        node, bus, index = place
        card_id = None
        if node is not None and self.card_map:
            if bus:
                card_id = self.card_map.get((node, self.bus_keys[bus]))
            if card_id is None and index is not None:
                card_id = self.card_map.get((node, index))
        self[place] = card_id
        return card_id


class _FieldsJson(dict[tuple[tuple[str, str], ...], str]):
    """A finding's fields (as a tuple of items) -> their JSON: findings repeat a handful of field sets."""

    def __missing__(self, items: tuple[tuple[str, str], ...]) -> str:
        out = self[items] = json.dumps(dict(items))
        return out


def _event_rows(findings: Sequence[Finding], incident_id: str | None, card_ids: _CardIds) -> Iterator[tuple[Any, ...]]:
    """The rows of EVENT_COLUMNS for `findings`, built column by column in C (map, attrgetter, zip) with no
    per-row Python code: ~2 us a row, against ~10 us for a Python loop (#6)."""
    fields = map(_FieldsJson().__getitem__, map(tuple, map(_ITEMS, map(attrgetter("fields"), findings))))
    columns: list[Iterable[Any]] = []
    for name in EVENT_COLUMNS:
        if name == "card_id":
            columns.append(map(card_ids.__getitem__, map(_PLACE, findings)))
        elif name == "incident_id":
            columns.append(repeat(incident_id))
        elif name == "fields":
            columns.append(fields)
        elif name in _TEXT_COLUMNS:
            columns.append(map(_to_text, map(attrgetter(name), findings)))
        else:
            columns.append(map(attrgetter(name), findings))
    return zip(*columns, strict=False)  # incident_id repeats forever: the findings set the length


def incident_time(incident: Incident, default: float) -> float:
    """When an incident happened: its earliest known stage (fault, observed, detected, ...), else `default`."""
    for stage in TIMELINE_STAGES:
        if incident.timeline.get(stage) is not None:
            return float(incident.timeline[stage])
    return min(incident.timeline.values(), default=default)


def _chunks(items: Iterable[Finding], size: int) -> Iterator[list[Finding]]:
    it = iter(items)
    while chunk := list(islice(it, size)):
        yield chunk


class IncidentsMixin(StoreCore):
    """record_incident(s), record_events, incidents(), incident()."""

    def record_incident(self, incident: Incident, job: Job | str | None = None, *, node: str | None = None) -> str:
        """Store one incident (idempotent on `incident.id`), its findings as events, and its culprit card.

        The culprit card (verdict.culprit.card: serial, UUID, bus id, node, slot) and its node are created
        when new; a hardware fault on the card makes it `suspect` (or `quarantined` when the action taken
        takes it out of the pool). `node` places an incident without a culprit card on a node (a node-level
        fault: PSU, fan, cable). Returns the incident id.
        """
        for attempt in range(3):
            try:
                with self._write() as conn:
                    self._record(conn, incident, job, node=node)
                break
            except IntegrityError:
                # PostgreSQL: another writer created the same new card (serial/UUID) at the same moment;
                # the retry finds it. SQLite writers are serialised and never get here.
                if attempt == 2:
                    raise
        return incident.id

    def record_incidents(self, items: Iterable[Incident]) -> int:
        """Store many incidents in one transaction (imports, replays); returns how many."""
        n = 0
        with self._write() as conn:
            for incident in items:
                self._record(conn, incident, None)
                n += 1
        return n

    def _record(self, conn: Connection, incident: Incident, job: Job | str | None, node: str | None = None) -> None:
        now = self.clock()
        at = incident_time(incident, now)
        job_obj = job if isinstance(job, Job) else Job(id=job or incident.job) if (job or incident.job) else None
        if job_obj is not None and conn.execute(_Q_JOB, {"id": job_obj.id}).first() is None:
            self._insert_ignore(
                conn,
                jobs,
                {
                    "id": job_obj.id,
                    "name": job_obj.name,
                    "world_size": job_obj.world_size,
                    "started_at": job_obj.started_at,
                    "info": job_obj.info,
                },
                ["id"],
            )
        v = incident.verdict
        card_id = slot_id = node_id = None
        culprit = v.culprit if v else None
        if culprit is not None:
            card = culprit.card or Card(node=culprit.node, index=culprit.local_rank)
            card_id, slot_id, node_id = self._resolve_card(conn, card, at)
        elif node is not None:
            node_id = self._node_id(conn, node, at)
        values: dict[str, Any] = {
            "job_id": job_obj.id if job_obj else None,
            "at": at,
            "source": incident.source,
            "symptom": str(incident.symptom),
            "fault": v.fault if v else None,
            "title": v.title if v else "",
            "component": str(v.component) if v else None,
            "action": str(v.action) if v else None,
            "confidence": v.confidence if v else None,
            "rank": culprit.rank if culprit else None,
            "node_id": node_id,
            "slot_id": slot_id,
            "card_id": card_id,
            **{f"{s}_at": incident.timeline.get(s) for s in TIMELINE_STAGES},
            "action_taken": str(incident.action_taken),
            "outcome": incident.outcome,
            "dry_run": incident.dry_run,
            "explanation": v.explanation if v else "",
            "evidence": [e.to_dict() for e in v.evidence] if v else [],
            "recorded_at": now,
        }
        exists = conn.execute(_Q_INCIDENT, {"id": incident.id}).first()
        if exists:
            conn.execute(incidents.update().where(incidents.c.id == incident.id).values(**values))
            conn.execute(events.delete().where(events.c.incident_id == incident.id))
        else:
            conn.execute(_I_INCIDENT, {"id": incident.id, **values})
        if incident.findings:
            names = {f.node for f in incident.findings if f.node is not None}
            self._insert_events(conn, incident.findings, incident.id, _CardIds(self._card_map(conn, names)))
        if card_id is not None and v is not None and v.component in CARD_COMPONENTS and not incident.dry_run:
            state = conn.execute(_Q_CARD_STATE, {"id": card_id}).scalar_one()
            target = (
                CardState.QUARANTINED if incident.action_taken in QUARANTINE_ACTIONS else CardState.SUSPECT
            )
            if state == CardState.IN_SERVICE or (state == CardState.SUSPECT and target == CardState.QUARANTINED):
                reason = f"incident {incident.id}: {v.title or v.fault}"
                self._change_state(conn, card_id, state, target, at, reason, incident_id=incident.id)

    def record_events(self, findings: Iterable[Finding], incident_id: str | None = None) -> int:
        """Bulk-insert raw findings as events (one transaction); returns how many were stored.

        Each event is tied to the card in its node's slot (by bus id, else card index) when that card is
        known; unknown nodes and cards are kept by name. PostgreSQL uses COPY.
        """
        n = 0
        with self._write() as conn:
            card_ids: _CardIds | None = None
            for chunk in _chunks(findings, EVENT_BATCH):
                if card_ids is None:
                    card_ids = _CardIds(self._card_map(conn))
                n += self._insert_events(conn, chunk, incident_id, card_ids)
        return n

    def _card_map(self, conn: Connection, only: set[str] | None = None) -> dict[tuple[str, str | int], int]:
        """(node, slot index) and (node, bus key) -> id of the card now in that place (on `only` nodes)."""
        q = (
            select(nodes.c.name, slots.c.idx, slots.c.bus_id, cards.c.bus_id.label("card_bus"), cards.c.id)
            .select_from(cards.join(slots, cards.c.slot_id == slots.c.id).join(nodes, slots.c.node_id == nodes.c.id))
            .where(cards.c.removed_at.is_(None))
        )
        rows: Iterable[Any]
        if only is not None:
            if not only:
                return {}
            rows = conn.execute(q.where(nodes.c.name.in_(sorted(only))))
        else:
            # The whole fleet (18,432 rows) straight off the driver's cursor: SQLAlchemy's row objects
            # cost more than the query, once per bulk ingest call.
            cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                cur.execute(str(q.compile(dialect=conn.dialect)))
                rows = cur.fetchall()
            finally:
                cur.close()
        out: dict[tuple[str, str | int], int] = {}
        keys = _BusKeys()  # a fleet has a handful of distinct bus ids: normalise each once
        for name, idx, slot_bus, card_bus, cid in rows:
            out[(name, idx)] = cid
            if slot_bus:
                out[(name, keys[slot_bus])] = cid
            if card_bus and card_bus != slot_bus:
                out[(name, keys[card_bus])] = cid
        return out

    def _insert_events(
        self,
        conn: Connection,
        findings: Sequence[Finding],
        incident_id: str | None,
        card_ids: _CardIds,
    ) -> int:
        if not findings:
            return 0
        rows = _event_rows(findings, incident_id, card_ids)
        raw = conn.connection.driver_connection
        if self.backend == "postgresql":
            with raw.cursor() as cur, cur.copy(f"COPY events ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as cp:  # type: ignore[union-attr]
                for r in rows:
                    cp.write_row(r)
        else:
            # The driver's executemany straight off the row iterator (zip reuses its tuple: no allocation
            # per row): SQLAlchemy's per-row JSON binding would cost more than the insert itself. Same
            # transaction as the caller's.
            placeholders = ", ".join("?" * len(EVENT_COLUMNS))
            raw.executemany(f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({placeholders})", rows)  # type: ignore[union-attr]
        return len(findings)

    def count(self, what: str) -> int:
        """Number of rows in one of: nodes, slots, cards, jobs, incidents, events, repairs."""
        from trainmedic.store.schema import Base

        table = Base.metadata.tables[what]
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())

    def _incident_query(self) -> Any:
        return select(
            incidents,
            nodes.c.name.label("node"),
            slots.c.idx.label("slot"),
            func.coalesce(cards.c.serial, cards.c.uuid).label("card_key"),
        ).select_from(
            incidents.outerjoin(nodes, incidents.c.node_id == nodes.c.id)
            .outerjoin(slots, incidents.c.slot_id == slots.c.id)
            .outerjoin(cards, incidents.c.card_id == cards.c.id)
        )

    def incidents(
        self,
        since: float | None = None,
        until: float | None = None,
        node: str | None = None,
        card: str | None = None,
        fault: str | None = None,
        limit: int | None = 50,
    ) -> list[IncidentRecord]:
        """Incidents, newest first, optionally only since/until a time, on a node, a card or of a fault."""
        q = self._incident_query()
        with self._read() as conn:
            if since is not None:
                q = q.where(incidents.c.at >= since)
            if until is not None:
                q = q.where(incidents.c.at < until)
            if node is not None:
                q = q.where(nodes.c.name == node)
            if card is not None:
                q = q.where(incidents.c.card_id == self._find_card(conn, card).id)
            if fault is not None:
                q = q.where(incidents.c.fault == fault)
            q = q.order_by(incidents.c.at.desc(), incidents.c.id.desc())
            if limit is not None:
                q = q.limit(limit)
            return [_to_incident(r) for r in conn.execute(q)]

    def incident(self, incident_id: str, findings_limit: int = 1000) -> IncidentRecord:
        """One incident with its evidence and its findings (raises UnknownIncident)."""
        with self._read() as conn:
            row = conn.execute(self._incident_query().where(incidents.c.id == incident_id)).first()
            if row is None:
                raise UnknownIncident(incident_id)
            ev = conn.execute(
                select(events)
                .where(events.c.incident_id == incident_id)
                .order_by(events.c.at, events.c.id)
                .limit(findings_limit)
            ).all()
        found = tuple(
            {k: v for k, v in r._mapping.items() if k not in ("id", "incident_id", "card_id")} for r in ev
        )
        return _to_incident(row, found)


def _to_incident(row: Any, findings: tuple[dict[str, Any], ...] = ()) -> IncidentRecord:
    m = row._mapping
    return IncidentRecord(
        id=m["id"],
        job=m["job_id"],
        at=m["at"],
        source=m["source"],
        symptom=m["symptom"],
        fault=m["fault"],
        title=m["title"] or "",
        component=m["component"],
        action=m["action"],
        confidence=m["confidence"],
        rank=m["rank"],
        node=m["node"],
        slot=m["slot"],
        card=m["card_key"],
        timeline={s: m[f"{s}_at"] for s in TIMELINE_STAGES if m[f"{s}_at"] is not None},
        action_taken=m["action_taken"],
        outcome=m["outcome"] or "",
        dry_run=bool(m["dry_run"]),
        explanation=m["explanation"] or "",
        evidence=tuple(m["evidence"] or ()),
        findings=findings,
        recorded_at=m["recorded_at"],
    )
