"""The escalation policy: repeat faults on one card climb the repair ladder (reset -> reseat ->
replace/RMA), a card that fails again soon after a repair is flagged, and a node whose cards keep
failing gets a lemon score. Configuration in YAML/TOML (defaults: escalation.yaml beside this file).

Pure functions over fault and repair histories, so the live store and the trace replay run the same code.
"""

from __future__ import annotations

import os
import tomllib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from trainmedic.store.errors import StoreError
from trainmedic.store.records import RepairAction

DEFAULT_POLICY = Path(__file__).parent / "escalation.yaml"
DAY_S = 86_400.0


class _LemonSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window_days: float = Field(60.0, gt=0)
    min_faults: int = Field(3, ge=1)
    min_score: float = Field(4.0, ge=0)


class _ClassSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    faults_per_step: int = Field(ge=1)


class _PolicySpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    class_by: str = "component"
    ladder: list[RepairAction] = [RepairAction.RESET, RepairAction.RESEAT, RepairAction.REPLACE]
    faults_per_step: int = Field(2, ge=1)
    window_days: float = Field(30.0, gt=0)
    per_class: dict[str, _ClassSpec] = {}
    refail_days: float = Field(30.0, ge=0)
    pull_at: RepairAction = RepairAction.REPLACE
    lemon: _LemonSpec = Field(default_factory=lambda: _LemonSpec.model_validate({}))

    @field_validator("class_by")
    @classmethod
    def _class_by(cls, v: str) -> str:
        if v not in ("component", "fault"):
            raise ValueError("must be 'component' or 'fault'")
        return v

    @field_validator("ladder")
    @classmethod
    def _ladder(cls, v: list[RepairAction]) -> list[RepairAction]:
        if not v or len(set(v)) != len(v):
            raise ValueError("needs at least one rung and no repeats")
        return v


@dataclass(frozen=True, slots=True)
class Policy:
    """Escalation thresholds; see escalation.yaml for what each one means."""

    class_by: str = "component"
    ladder: tuple[RepairAction, ...] = (RepairAction.RESET, RepairAction.RESEAT, RepairAction.REPLACE)
    faults_per_step: int = 2
    window_days: float = 30.0
    per_class: dict[str, int] = field(default_factory=dict)
    refail_days: float = 30.0
    pull_at: RepairAction = RepairAction.REPLACE
    lemon_window_days: float = 60.0
    lemon_min_faults: int = 3
    lemon_min_score: float = 4.0

    @property
    def pull_rung(self) -> int:
        """Index of `pull_at` on the ladder (past the end when it is not on it)."""
        return self.ladder.index(self.pull_at) if self.pull_at in self.ladder else len(self.ladder)

    def to_dict(self) -> dict[str, Any]:
        return {
            "class_by": self.class_by,
            "ladder": [str(a) for a in self.ladder],
            "faults_per_step": self.faults_per_step,
            "window_days": self.window_days,
            "per_class": {k: {"faults_per_step": v} for k, v in self.per_class.items()},
            "refail_days": self.refail_days,
            "pull_at": str(self.pull_at),
            "lemon": {
                "window_days": self.lemon_window_days,
                "min_faults": self.lemon_min_faults,
                "min_score": self.lemon_min_score,
            },
        }


def _from_mapping(data: Any, source: str, base: dict[str, Any] | None = None) -> Policy:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise StoreError(f"{source}: an escalation policy must be a mapping of settings", f"see {DEFAULT_POLICY}")
    merged = dict(base or {})
    for k, v in data.items():
        if k == "lemon" and isinstance(v, dict) and isinstance(merged.get("lemon"), dict):
            merged["lemon"] = {**merged["lemon"], **v}
        else:
            merged[k] = v
    try:
        spec = _PolicySpec.model_validate(merged)
    except ValidationError as e:
        errs = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise StoreError(f"{source}: invalid escalation policy: {errs}", f"see the defaults in {DEFAULT_POLICY}") from e
    return Policy(
        class_by=spec.class_by,
        ladder=tuple(spec.ladder),
        faults_per_step=spec.faults_per_step,
        window_days=spec.window_days,
        per_class={k: v.faults_per_step for k, v in spec.per_class.items()},
        refail_days=spec.refail_days,
        pull_at=spec.pull_at,
        lemon_window_days=spec.lemon.window_days,
        lemon_min_faults=spec.lemon.min_faults,
        lemon_min_score=spec.lemon.min_score,
    )


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise StoreError(f"cannot read the escalation policy {path}: {e}") from e
    try:
        if path.suffix == ".toml":
            return tomllib.loads(text)
        return yaml.safe_load(text)
    except (yaml.YAMLError, tomllib.TOMLDecodeError) as e:
        raise StoreError(f"{path}: not valid {'TOML' if path.suffix == '.toml' else 'YAML'}: {e}") from e


def load_policy(path: str | Path | None = None, env: dict[str, str] | None = None) -> Policy:
    """The packaged defaults, overridden by `path` (or TRAINMEDIC_POLICY): YAML, or TOML by suffix."""
    env = dict(os.environ) if env is None else env
    base = _read(DEFAULT_POLICY)
    chosen = path or env.get("TRAINMEDIC_POLICY")
    if not chosen:
        return _from_mapping(base, str(DEFAULT_POLICY))
    p = Path(chosen)
    return _from_mapping(_read(p), str(p), base)


def policy_from(overrides: dict[str, Any]) -> Policy:
    """The defaults with `overrides` applied (used by the replay's sensitivity table and by tests)."""
    return _from_mapping(overrides, "<overrides>", _read(DEFAULT_POLICY))


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault of a device at `at` (epoch s) in class `cls`."""

    at: float
    cls: str


@dataclass(frozen=True, slots=True)
class Repair:
    """One repair: when, what was done, and when the device went back in service (None: not yet)."""

    at: float
    action: RepairAction
    back_at: float | None = None


@dataclass(frozen=True, slots=True)
class CardAssessment:
    """What the policy says about one card now: its rung, the repair to do next, and whether to pull it."""

    fault_class: str | None
    faults_in_window: int
    rung: int
    action: RepairAction
    refail: bool
    pull: bool
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "fault_class": self.fault_class,
            "faults_in_window": self.faults_in_window,
            "rung": self.rung,
            "next_action": str(self.action),
            "refail": self.refail,
            "pull": self.pull,
            "reasons": list(self.reasons),
        }


def assess_card(policy: Policy, faults: Sequence[Fault], repairs: Sequence[Repair], now: float) -> CardAssessment:
    """Apply the ladder to one card's history up to `now` (faults and repairs after `now` are ignored)."""
    since = now - policy.window_days * DAY_S
    recent = Counter(f.cls for f in faults if since <= f.at <= now)
    reasons: list[str] = []
    rung = 0
    cls: str | None = None
    n = 0
    for c, count in recent.items():
        per = policy.per_class.get(c, policy.faults_per_step)
        r = count // per
        if r > rung or cls is None:
            rung, cls, n = max(rung, r), c, count
    if n and rung:
        reasons.append(f"{n} {cls} fault(s) in {policy.window_days:g} days")
    past = [r for r in repairs if r.at <= now]
    refail = False
    if past:
        last = past[-1]
        back = last.back_at if last.back_at is not None else last.at
        later = [f for f in faults if back < f.at <= now]
        if later and later[0].at - back <= policy.refail_days * DAY_S:
            refail = True
            reasons.append(f"failed again {(later[0].at - back) / DAY_S:.1f} days after the {last.action} repair")
            tried = policy.ladder.index(last.action) if last.action in policy.ladder else -1
            rung = max(rung, tried + 1)
    top = len(policy.ladder) - 1
    action = policy.ladder[min(rung, top)]
    pull = rung >= policy.pull_rung or refail
    if pull and rung >= policy.pull_rung:
        reasons.append(f"reached {action} on the ladder")
    return CardAssessment(cls, n, min(rung, top), action, refail, pull, tuple(reasons))


@dataclass(frozen=True, slots=True)
class NodeAssessment:
    """A node's lemon score: its faults in the window over the fleet's mean per node."""

    faults_in_window: int
    fleet_mean: float
    score: float
    lemon: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "faults_in_window": self.faults_in_window,
            "fleet_mean": round(self.fleet_mean, 4),
            "lemon_score": round(self.score, 2),
            "lemon": self.lemon,
        }


def assess_node(policy: Policy, node_faults: int, fleet_faults: int, fleet_nodes: int) -> NodeAssessment:
    """Lemon score from counts in the lemon window: node faults / (fleet faults / fleet nodes)."""
    mean = fleet_faults / fleet_nodes if fleet_nodes else 0.0
    score = node_faults / mean if mean else 0.0
    lemon = node_faults >= policy.lemon_min_faults and score >= policy.lemon_min_score
    return NodeAssessment(node_faults, mean, score, lemon)
