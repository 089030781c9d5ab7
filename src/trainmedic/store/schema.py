"""SQLAlchemy 2 models of the fleet store: nodes, slots, cards, jobs, incidents, events, repairs and
card state changes. Times are epoch seconds (floats), as everywhere in trainmedic.

The Alembic revisions in `store/migrations/versions/` create exactly these tables; a test compares them.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Double,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of every store table."""


class NodeRow(Base):
    """A server (host) by name; the place where slots live."""

    __tablename__ = "nodes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    rack: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[float] = mapped_column(Double)


class SlotRow(Base):
    """A card position in a node (local index). Outlives the cards placed in it."""

    __tablename__ = "slots"
    __table_args__ = (UniqueConstraint("node_id", "idx", name="uq_slots_node_idx"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("nodes.id"))
    idx: Mapped[int] = mapped_column(Integer)
    bus_id: Mapped[str | None] = mapped_column(String(64))


class CardRow(Base):
    """One physical card, keyed by serial (or UUID). A replacement in the same slot is a new row."""

    __tablename__ = "cards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str | None] = mapped_column(String(128), unique=True)
    uuid: Mapped[str | None] = mapped_column(String(128), unique=True)
    bus_id: Mapped[str | None] = mapped_column(String(64))
    vendor: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(128))
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("slots.id"), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    installed_at: Mapped[float | None] = mapped_column(Double)
    removed_at: Mapped[float | None] = mapped_column(Double)
    created_at: Mapped[float] = mapped_column(Double)
    updated_at: Mapped[float] = mapped_column(Double)
    note: Mapped[str] = mapped_column(Text, default="")


class JobRow(Base):
    """A training job that incidents belong to."""

    __tablename__ = "jobs"
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    name: Mapped[str] = mapped_column(String(255), default="")
    world_size: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[float | None] = mapped_column(Double)
    ended_at: Mapped[float | None] = mapped_column(Double)
    info: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class IncidentRow(Base):
    """One incident: timeline, verdict (culprit, fault, component, action, confidence), evidence, outcome."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_card_at", "card_id", "at"),
        Index("ix_incidents_node_at", "node_id", "at"),
    )
    id: Mapped[str] = mapped_column(String(255), primary_key=True)
    job_id: Mapped[str | None] = mapped_column(ForeignKey("jobs.id"), index=True)
    at: Mapped[float] = mapped_column(Double, index=True)
    source: Mapped[str] = mapped_column(String(64))
    symptom: Mapped[str] = mapped_column(String(32))
    fault: Mapped[str | None] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(Text, default="")
    component: Mapped[str | None] = mapped_column(String(32))
    action: Mapped[str | None] = mapped_column(String(32))
    confidence: Mapped[float | None] = mapped_column(Double)
    rank: Mapped[int | None] = mapped_column(Integer)
    node_id: Mapped[int | None] = mapped_column(ForeignKey("nodes.id"))
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("slots.id"), index=True)
    card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))
    fault_at: Mapped[float | None] = mapped_column(Double)
    observed_at: Mapped[float | None] = mapped_column(Double)
    detected_at: Mapped[float | None] = mapped_column(Double)
    localized_at: Mapped[float | None] = mapped_column(Double)
    stopped_at: Mapped[float | None] = mapped_column(Double)
    restarted_at: Mapped[float | None] = mapped_column(Double)
    resumed_at: Mapped[float | None] = mapped_column(Double)
    action_taken: Mapped[str] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(Text, default="")
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    explanation: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    recorded_at: Mapped[float] = mapped_column(Double)


class EventRow(Base):
    """A raw finding (matched log line, threshold crossed, detector hit); written in bulk."""

    __tablename__ = "events"
    # Indexes cost every bulk insert: only the card timeline and the incident's findings are looked up.
    # Most events belong to no incident, so that index is partial.
    __table_args__ = (
        Index("ix_events_card_at", "card_id", "at"),
        Index(
            "ix_events_incident_id",
            "incident_id",
            sqlite_where=text("incident_id IS NOT NULL"),
            postgresql_where=text("incident_id IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[float] = mapped_column(Double)
    source: Mapped[str] = mapped_column(String(64))
    symptom: Mapped[str] = mapped_column(String(32))
    node: Mapped[str | None] = mapped_column(String(255))
    rank: Mapped[int | None] = mapped_column(Integer)
    card_index: Mapped[int | None] = mapped_column(Integer)
    bus_id: Mapped[str | None] = mapped_column(String(64))
    card_id: Mapped[int | None] = mapped_column(Integer)
    incident_id: Mapped[str | None] = mapped_column(String(255))
    rule: Mapped[str | None] = mapped_column(String(128))
    fault: Mapped[str | None] = mapped_column(String(128))
    component: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    action: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    fields: Mapped[dict[str, str]] = mapped_column(JSON)


class RepairRow(Base):
    """What was done to a card: action, parts, steps, note, verification test and result, return date."""

    __tablename__ = "repairs"
    __table_args__ = (Index("ix_repairs_card_at", "card_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    slot_id: Mapped[int | None] = mapped_column(ForeignKey("slots.id"), index=True)
    incident_id: Mapped[str | None] = mapped_column(ForeignKey("incidents.id"))
    at: Mapped[float] = mapped_column(Double)
    action: Mapped[str] = mapped_column(String(32))
    parts: Mapped[list[str]] = mapped_column(JSON, default=list)
    steps: Mapped[list[str]] = mapped_column(JSON, default=list)
    note: Mapped[str] = mapped_column(Text, default="")
    technician: Mapped[str | None] = mapped_column(String(128))
    verification_test: Mapped[str | None] = mapped_column(String(255))
    verification_result: Mapped[str | None] = mapped_column(String(8))
    back_in_service_at: Mapped[float | None] = mapped_column(Double)
    replacement_card_id: Mapped[int | None] = mapped_column(ForeignKey("cards.id"))


class CardStateRow(Base):
    """One state change of a card (revision 0002): from, to, when, why, and what caused it."""

    __tablename__ = "card_states"
    __table_args__ = (Index("ix_card_states_card_at", "card_id", "at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    at: Mapped[float] = mapped_column(Double)
    from_state: Mapped[str | None] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    incident_id: Mapped[str | None] = mapped_column(String(255))
    repair_id: Mapped[int | None] = mapped_column(Integer)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


nodes = _table(NodeRow)
slots = _table(SlotRow)
cards = _table(CardRow)
jobs = _table(JobRow)
incidents = _table(IncidentRow)
events = _table(EventRow)
repairs = _table(RepairRow)
card_states = _table(CardStateRow)
