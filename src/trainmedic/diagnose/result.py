"""The answer of `trainmedic diagnose`: a verdict (culprit card, fault, action, confidence, evidence),
the victims, a second fault if there was one, the timeline, what could not be read, and the cost.

Produced by the judge; printed by the CLI (`to_dict` is the documented `--json` shape).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from trainmedic.model import Verdict


def iso(at: float | None) -> str | None:
    """Epoch seconds as ISO 8601 UTC with milliseconds, or None."""
    if at is None:
        return None
    return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Event:
    """One timeline entry, on the shared (skew-corrected) clock."""

    at: float | None
    what: str
    where: str = ""
    file: str | None = None
    line: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"at": iso(self.at), "t": self.at, "what": self.what, "where": self.where, "file": self.file, "line": self.line}


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """One incident's verdict over a job's logs."""

    verdict: Verdict
    method: str
    first_error_at: float | None = None
    victims: dict[str, Any] = field(default_factory=dict)
    second: Verdict | None = None
    timeline: tuple[Event, ...] = ()
    unreadable: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        v = self.verdict
        return {
            "verdict": {
                "culprit": v.culprit.to_dict() if v.culprit else None,
                "fault": v.fault,
                "title": v.title,
                "component": str(v.component),
                "action": str(v.action),
                "confidence": round(v.confidence, 3),
                "first_error_at": iso(self.first_error_at),
                "method": self.method,
                "evidence": [{"file": e.file, "line": e.line, "text": e.text, "rule": e.rule} for e in v.evidence],
                "victims": self.victims,
                "explanation": v.explanation,
                "second": _second(self.second),
            },
            "timeline": [e.to_dict() for e in self.timeline],
            "unreadable": list(self.unreadable),
            "notes": list(self.notes),
            "stats": self.stats,
        }


def _second(v: Verdict | None) -> dict[str, Any] | None:
    if v is None:
        return None
    return {
        "culprit": v.culprit.to_dict() if v.culprit else None,
        "fault": v.fault,
        "title": v.title,
        "component": str(v.component),
        "action": str(v.action),
        "confidence": round(v.confidence, 3),
        "evidence": [{"file": e.file, "line": e.line, "text": e.text, "rule": e.rule} for e in v.evidence],
    }
