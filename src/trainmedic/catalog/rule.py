"""Catalog rules as internal values: one compiled rule, one match of a rule on a line.

Built by `catalog.loader` from the YAML files; used by the matcher and everyone downstream.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from trainmedic.model import Action, Component, Role, Severity


class RulePattern:
    """A rule's regex, compiled on first use. A pickled catalog holds only the source: a diagnose run
    meets a handful of the 400+ patterns, and compiling all of them on every start costs more than
    the rest of loading the cached catalog. `pattern`, `flags`, `search` and `groupindex` as in `re`."""

    __slots__ = ("_compiled", "flags", "pattern")

    def __init__(self, pattern: str, flags: int = 0, compiled: re.Pattern[str] | None = None):
        self.pattern = pattern
        self.flags = flags
        self._compiled = compiled

    @classmethod
    def of(cls, compiled: re.Pattern[str]) -> RulePattern:
        """Wraps a pattern compiled already (the loader compiles each to report errors at load)."""
        return cls(compiled.pattern, compiled.flags, compiled)

    @property
    def compiled(self) -> re.Pattern[str]:
        c = self._compiled
        if c is None:  # two threads may both compile it: same result, no harm
            c = self._compiled = re.compile(self.pattern, self.flags)
        return c

    @property
    def groupindex(self) -> Mapping[str, int]:
        return self.compiled.groupindex

    def search(self, string: str, pos: int = 0, endpos: int = sys.maxsize) -> re.Match[str] | None:
        return self.compiled.search(string, pos, endpos)

    def __reduce__(self) -> tuple[type[RulePattern], tuple[str, int]]:
        return (RulePattern, (self.pattern, self.flags))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, RulePattern):
            return NotImplemented
        return (self.pattern, self.flags) == (other.pattern, other.flags)

    def __hash__(self) -> int:
        return hash((self.pattern, self.flags))

    def __repr__(self) -> str:
        return f"RulePattern({self.pattern!r}, {self.flags})"


@dataclass(frozen=True, slots=True)
class Example:
    """A line the rule must match; `real` tells a captured line from a constructed one."""

    text: str
    real: bool
    source: str = ""
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Escalation:
    """N occurrences within a window escalate to a stronger action."""

    count: int
    window_s: float
    action: Action


@dataclass(frozen=True, slots=True)
class Rule:
    """One catalog entry: this message, on this component, means this, and you do this."""

    id: str
    title: str
    family: str
    fault: str
    component: Component
    role: Role
    severity: Severity
    action: Action
    patterns: tuple[RulePattern, ...]
    literals: tuple[str, ...]
    codes: tuple[str, ...] = ()
    explanation: str = ""
    escalation: Escalation | None = None
    references: tuple[str, ...] = ()
    examples: tuple[Example, ...] = ()
    priority: int = 0
    seen_in: tuple[str, ...] = ("job",)
    source_file: str = ""
    source_line: int = 0
    span: int = 1
    """Lines a match may cover: 1 for ordinary rules; more for messages the kernel splits over
    continuation lines. The match must start on the first line of the span."""
    caseless: bool = False
    """The literals are lower case and the patterns ignore case."""

    def search(self, text: str) -> dict[str, str] | None:
        """Fields of the first pattern that matches `text`, or None."""
        for pattern in self.patterns:
            m = pattern.search(text)
            if m is not None:
                return {k: v for k, v in m.groupdict().items() if v is not None}
        return None

    def find(self, lines: list[str]) -> tuple[dict[str, str], str] | None:
        """Match at the first of `lines` (up to `span` of them): the fields and the matched text, or None."""
        if self.span == 1 or len(lines) == 1:
            fields = self.search(lines[0])
            return None if fields is None else (fields, lines[0])
        block = "\n".join(lines[: self.span])
        first_len = len(lines[0])
        for pattern in self.patterns:
            m = pattern.search(block)
            if m is not None and m.start() <= first_len:
                end = block.find("\n", max(m.end() - 1, first_len))
                text = block if end < 0 else block[:end]
                return {k: v for k, v in m.groupdict().items() if v is not None}, text
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "family": self.family,
            "fault": self.fault,
            "component": str(self.component),
            "role": str(self.role),
            "severity": str(self.severity),
            "action": str(self.action),
            "codes": list(self.codes),
            "patterns": [p.pattern for p in self.patterns],
            "explanation": self.explanation,
            "escalation": (
                {
                    "count": self.escalation.count,
                    "window_s": self.escalation.window_s,
                    "action": str(self.escalation.action),
                }
                if self.escalation
                else None
            ),
            "references": list(self.references),
            "examples": [
                {"text": e.text, "real": e.real, "source": e.source, "fields": dict(e.fields)}
                for e in self.examples
            ],
            "priority": self.priority,
            "seen_in": list(self.seen_in),
            "lines": self.span,
            "file": self.source_file,
            "line": self.source_line,
        }


@dataclass(frozen=True, slots=True)
class Match:
    """A rule that matched one line, with the identifying fields it pulled out (bus id, rank, code).

    `line` is the (first) line number; for a multi-line rule (`Rule.span` > 1) `text` holds the
    matched lines joined with newlines.
    """

    rule: Rule
    line: int
    text: str
    fields: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        r = self.rule
        return {
            "rule": r.id,
            "fault": r.fault,
            "title": r.title,
            "component": str(r.component),
            "role": str(r.role),
            "severity": str(r.severity),
            "action": str(r.action),
            "line": self.line,
            "text": self.text,
            "fields": dict(self.fields),
        }
