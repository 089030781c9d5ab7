"""Values the fleet store returns and accepts: card, incident, repair and state-change records, jobs.

Frozen dataclasses with `to_dict()` for `--json`; the CLI and the controller read these, never rows.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from trainmedic.model import CardState


class RepairAction(enum.StrEnum):
    """What a technician did to a card, finest first (the repair ladder ends at replace/RMA)."""

    NONE = "none"
    RESET = "reset"
    FIRMWARE_UPDATE = "firmware_update"
    RESEAT = "reseat"
    REPLACE = "replace"
    RMA = "rma"

    @property
    def rank(self) -> int:
        """Ordinal on the ladder: larger is stronger."""
        return list(RepairAction).index(self)


class Verification(enum.StrEnum):
    """Result of the test run after a repair."""

    PASS = "pass"
    FAIL = "fail"


@dataclass(frozen=True, slots=True)
class Job:
    """A training job, as the launcher knows it."""

    id: str
    name: str = ""
    world_size: int | None = None
    started_at: float | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class CardRecord:
    """A card as stored: identity, place (node, slot index), state and service dates."""

    id: int
    serial: str | None
    uuid: str | None
    bus_id: str | None
    vendor: str | None
    model: str | None
    node: str | None
    slot: int | None
    state: CardState
    installed_at: float | None
    removed_at: float | None
    created_at: float
    updated_at: float
    note: str = ""

    @property
    def key(self) -> str:
        """How to name this card on the command line: serial, else UUID, else node:slot, else #id."""
        if self.serial:
            return self.serial
        if self.uuid:
            return self.uuid
        if self.node is not None and self.slot is not None and self.removed_at is None:
            return f"{self.node}:{self.slot}"
        return f"#{self.id}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "serial": self.serial,
            "uuid": self.uuid,
            "bus_id": self.bus_id,
            "vendor": self.vendor,
            "model": self.model,
            "node": self.node,
            "slot": self.slot,
            "state": str(self.state),
            "installed_at": self.installed_at,
            "removed_at": self.removed_at,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "note": self.note,
        }


TIMELINE_STAGES = ("fault", "observed", "detected", "localized", "stopped", "restarted", "resumed")


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    """An incident as stored, with the names of its node and card resolved."""

    id: str
    job: str | None
    at: float
    source: str
    symptom: str
    fault: str | None
    title: str
    component: str | None
    action: str | None
    confidence: float | None
    rank: int | None
    node: str | None
    slot: int | None
    card: str | None
    timeline: dict[str, float]
    action_taken: str
    outcome: str
    dry_run: bool
    explanation: str = ""
    evidence: tuple[dict[str, Any], ...] = ()
    findings: tuple[dict[str, Any], ...] = ()
    recorded_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job": self.job,
            "at": self.at,
            "source": self.source,
            "symptom": self.symptom,
            "fault": self.fault,
            "title": self.title,
            "component": self.component,
            "action": self.action,
            "confidence": self.confidence,
            "culprit": {"rank": self.rank, "node": self.node, "slot": self.slot, "card": self.card},
            "timeline": dict(self.timeline),
            "action_taken": self.action_taken,
            "outcome": self.outcome,
            "dry_run": self.dry_run,
            "explanation": self.explanation,
            "evidence": list(self.evidence),
            "findings": list(self.findings),
            "recorded_at": self.recorded_at,
        }


@dataclass(frozen=True, slots=True)
class RepairRecord:
    """One repair of a card: action, parts, steps, note, verification, and when it went back in service."""

    id: int
    card: str
    at: float
    action: RepairAction
    parts: tuple[str, ...]
    steps: tuple[str, ...]
    note: str
    technician: str | None
    verification_test: str | None
    verification_result: Verification | None
    back_in_service_at: float | None
    incident_id: str | None
    replacement: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "card": self.card,
            "at": self.at,
            "action": str(self.action),
            "parts": list(self.parts),
            "steps": list(self.steps),
            "note": self.note,
            "technician": self.technician,
            "verification": {
                "test": self.verification_test,
                "result": str(self.verification_result) if self.verification_result else None,
            },
            "back_in_service_at": self.back_in_service_at,
            "incident": self.incident_id,
            "replacement": self.replacement,
        }


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of a card's life: a fault (event), an incident, a repair or a state change."""

    at: float
    kind: str
    summary: str
    ref: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": self.at, "kind": self.kind, "summary": self.summary, "ref": self.ref}


@dataclass(frozen=True, slots=True)
class CardHistory:
    """Everything about one card: the record, its timeline (oldest first) and counts."""

    card: CardRecord
    timeline: tuple[TimelineEntry, ...]
    incidents: int
    repairs: int
    faults: int
    slot_cards: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "card": self.card.to_dict(),
            "counts": {"incidents": self.incidents, "repairs": self.repairs, "faults": self.faults},
            "slot_cards": list(self.slot_cards),
            "timeline": [e.to_dict() for e in self.timeline],
        }
