"""The catalog file format, validated at the edge with pydantic.

One YAML file per family under `catalog/rules/`; `catalog.loader` reads them through this schema.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from trainmedic.model import Action, Component, Role, Severity

Where = Literal["kernel", "job", "tool"]


class ExampleSpec(BaseModel):
    """An example line. `real: false` marks a constructed one; `source` says where a real one came from."""

    model_config = ConfigDict(extra="forbid")
    text: str
    real: bool = True
    source: str = ""
    fields: dict[str, str] = Field(default_factory=dict)


class EscalationSpec(BaseModel):
    """`count` occurrences within `window_h` hours escalate to `action`."""

    model_config = ConfigDict(extra="forbid")
    count: int = Field(ge=2)
    window_h: float = Field(gt=0)
    action: Action


class RuleSpec(BaseModel):
    """One rule as written in YAML."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.\-]*$")
    title: str
    fault: str | None = None
    codes: list[str] = Field(default_factory=list)
    component: Component
    role: Role
    severity: Severity
    action: Action
    patterns: list[str] = Field(min_length=1)
    literals: list[str] | None = None
    ignore_case: bool = False
    explanation: str
    escalation: EscalationSpec | None = None
    references: list[str] = Field(default_factory=list)
    examples: list[ExampleSpec] = Field(min_length=1)
    priority: int = 0
    lines: int = Field(default=1, ge=1, le=8)
    """Lines one message spans (kernel continuation lines); the match must start on the first."""
    seen_in: list[Where] = Field(default_factory=lambda: list[Where](["job"]))
    """Where the line appears: the node's kernel log, a rank's own output, or a vendor tool's output."""


class RuleFileSpec(BaseModel):
    """A whole rules file: one family."""

    model_config = ConfigDict(extra="forbid")
    family: str
    description: str = ""
    rules: list[RuleSpec]
