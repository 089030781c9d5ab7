"""The shared vocabulary: closed enums and frozen values that every package speaks.

Imported by everything, importing nothing of trainmedic. Kept stdlib-only so the in-job library
(`trainmedic.train`) can use it in any training image.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any


class Component(enum.StrEnum):
    """Which part of the system a fault lives in."""

    ACCELERATOR = "accelerator"
    MEMORY = "memory"
    INTERCONNECT = "interconnect"
    PCIE = "pcie"
    NETWORK = "network"
    NIC = "nic"
    STORAGE = "storage"
    DRIVER = "driver"
    HOST = "host"
    SOFTWARE = "software"
    USER = "user"
    UNKNOWN = "unknown"


class Role(enum.StrEnum):
    """Whether a finding can start an incident (root), follows one (cascade) or is context (info)."""

    ROOT = "root"
    CASCADE = "cascade"
    INFO = "info"


class Severity(enum.StrEnum):
    """How bad a finding is, from context to job-killing."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """Ordinal for comparisons: info 0 .. critical 3."""
        return _SEVERITY_ORDER[self]


_SEVERITY_ORDER = {Severity.INFO: 0, Severity.WARNING: 1, Severity.ERROR: 2, Severity.CRITICAL: 3}


class Action(enum.StrEnum):
    """The recovery ladder, finest first, plus the non-hardware outcomes."""

    NONE = "none"
    RESTART_PROCESS = "restart_process"
    RESTART_JOB = "restart_job"
    RESET_CARD = "reset_card"
    REBOOT_NODE = "reboot_node"
    DRAIN_NODE = "drain_node"
    REPLACE_CARD = "replace_card"
    CHECK_USER_CODE = "check_user_code"
    CONTACT_VENDOR = "contact_vendor"

    @property
    def rank(self) -> int:
        """Ordinal on the ladder: a larger number is a stronger action."""
        return _ACTION_ORDER[self]


_ACTION_ORDER = {
    Action.NONE: 0,
    Action.CHECK_USER_CODE: 1,
    Action.RESTART_PROCESS: 2,
    Action.RESTART_JOB: 3,
    Action.RESET_CARD: 4,
    Action.REBOOT_NODE: 5,
    Action.DRAIN_NODE: 6,
    Action.REPLACE_CARD: 7,
    Action.CONTACT_VENDOR: 8,
}


class CardState(enum.StrEnum):
    """A card's place in its service life (the repair ladder in the fleet store)."""

    IN_SERVICE = "in_service"
    SUSPECT = "suspect"
    QUARANTINED = "quarantined"
    IN_REPAIR = "in_repair"
    RETIRED = "retired"


class Symptom(enum.StrEnum):
    """What a detector saw, before anyone knows why."""

    CRASH = "crash"
    HANG = "hang"
    STRAGGLER = "straggler"
    NAN = "nan"
    EXCEPTION = "exception"
    OUTLIER = "outlier"
    LOG_ERROR = "log_error"
    TELEMETRY = "telemetry"


class KnownFault(enum.StrEnum):
    """Fault ids for faults that no single log line names; shared by the simulator, diagnose and
    the launcher so their verdicts can be compared. Catalog rules for the same faults (a NaN loss
    line, say) use these ids as their `fault`."""

    HANG = "hang.silent"
    """A rank stopped making progress and logged nothing (SIGSTOP, deadlock, stuck kernel)."""
    NODE_LOST = "node.lost"
    """A whole node's logs end at once (power loss, kernel panic, network partition)."""
    STRAGGLER = "perf.straggler"
    """A rank persistently slower than its peers; every rank's step time follows it."""
    NAN = "numeric.nan_loss"
    """Loss became NaN/Inf, first on one rank."""
    USER_EXCEPTION = "user.exception"
    """The same Python exception on every rank: the user's code or configuration, not hardware."""
    CRASH = "process.crash"
    """A rank exited (code or signal) with no line that explains why."""


@dataclass(frozen=True, slots=True)
class Card:
    """One accelerator card: node name + local index, plus whatever identity the vendor gives."""

    node: str
    index: int
    bus_id: str | None = None
    uuid: str | None = None
    serial: str | None = None
    vendor: str | None = None
    model: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "node": self.node,
            "index": self.index,
            "bus_id": self.bus_id,
            "uuid": self.uuid,
            "serial": self.serial,
            "vendor": self.vendor,
            "model": self.model,
        }


@dataclass(frozen=True, slots=True)
class RankLocation:
    """Where one rank of a job runs: global rank -> node -> local rank -> card."""

    rank: int
    node: str
    local_rank: int
    card: Card | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rank": self.rank,
            "node": self.node,
            "local_rank": self.local_rank,
            "card": self.card.to_dict() if self.card else None,
        }


@dataclass(frozen=True, slots=True)
class Evidence:
    """One line (or signal) that supports a verdict, with where it came from."""

    text: str
    file: str | None = None
    line: int | None = None
    rule: str | None = None
    at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "text": self.text, "rule": self.rule, "at": self.at}


@dataclass(frozen=True, slots=True)
class Finding:
    """A raw observation tied to a place: a matched log line, a threshold crossed, a detector hit."""

    source: str
    symptom: Symptom
    at: float
    node: str | None = None
    rank: int | None = None
    card_index: int | None = None
    bus_id: str | None = None
    rule: str | None = None
    fault: str | None = None
    component: Component = Component.UNKNOWN
    role: Role = Role.INFO
    severity: Severity = Severity.INFO
    action: Action = Action.NONE
    message: str = ""
    fields: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "symptom": str(self.symptom),
            "at": self.at,
            "node": self.node,
            "rank": self.rank,
            "card_index": self.card_index,
            "bus_id": self.bus_id,
            "rule": self.rule,
            "fault": self.fault,
            "component": str(self.component),
            "role": str(self.role),
            "severity": str(self.severity),
            "action": str(self.action),
            "message": self.message,
            "fields": dict(self.fields),
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    """The answer to "what broke": culprit, fault class, component, action, confidence, evidence."""

    fault: str
    component: Component
    action: Action
    confidence: float
    title: str = ""
    culprit: RankLocation | None = None
    role: Role = Role.ROOT
    evidence: tuple[Evidence, ...] = ()
    explanation: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "fault": self.fault,
            "title": self.title,
            "component": str(self.component),
            "action": str(self.action),
            "role": str(self.role),
            "confidence": round(self.confidence, 3),
            "culprit": self.culprit.to_dict() if self.culprit else None,
            "evidence": [e.to_dict() for e in self.evidence],
            "explanation": self.explanation,
        }


@dataclass(frozen=True, slots=True)
class Incident:
    """One incident end to end: what was seen, when each stage happened, the verdict, what was done.

    `timeline` maps stage -> epoch seconds; stages in order: fault (best estimate of onset),
    observed, detected, localized, stopped, restarted, resumed (first new training step).
    Written by the launcher, diagnose and the agent; stored by `trainmedic.store`.
    """

    id: str
    job: str
    source: str
    symptom: Symptom
    verdict: Verdict | None
    timeline: dict[str, float] = field(default_factory=dict)
    action_taken: Action = Action.NONE
    outcome: str = ""
    findings: tuple[Finding, ...] = ()
    dry_run: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "job": self.job,
            "source": self.source,
            "symptom": str(self.symptom),
            "verdict": self.verdict.to_dict() if self.verdict else None,
            "timeline": dict(self.timeline),
            "action_taken": str(self.action_taken),
            "outcome": self.outcome,
            "findings": [f.to_dict() for f in self.findings],
            "dry_run": self.dry_run,
        }
