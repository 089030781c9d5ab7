"""The wire between a rank and its launcher: environment names and the heartbeat datagram.

Shared by `trainmedic.train` (sender, inside the job) and `trainmedic.launcher` (receiver).
One heartbeat is one UDP datagram of compact JSON; keys are short because ranks send ten a second.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

ENV_ENDPOINT = "TRAINMEDIC_ENDPOINT"
"""`host:port` of the launcher's UDP heartbeat socket; absent when not supervised."""
ENV_INTERVAL = "TRAINMEDIC_HEARTBEAT_S"
"""Seconds between heartbeats (default 0.1)."""
ENV_INJECT = "TRAINMEDIC_INJECT"
"""Fault injection spec: `rank=2,step=30,kind=hang|crash|exception|straggle|nan[,attempt=0]`."""
ENV_ATTEMPT = "TRAINMEDIC_ATTEMPT"
"""0 for the first start of the job, 1 after the first restart, and so on."""
ENV_RESUME_PATH = "TRAINMEDIC_RESUME_PATH"
"""Newest complete checkpoint the launcher chose for this attempt (absent: start fresh)."""
ENV_RESUME_STEP = "TRAINMEDIC_RESUME_STEP"
"""Step of that checkpoint, when known."""
ENV_STACK_SIGNAL = "TRAINMEDIC_STACK_SIGNAL"
"""Signal number on which a rank dumps its Python stacks (faulthandler) before it is killed."""

MAX_DATAGRAM_BYTES = 60_000


@dataclass(frozen=True, slots=True)
class StepRecord:
    """One finished step on one rank: its duration and the time it spent waiting in collectives."""

    step: int
    duration_s: float
    wait_s: float | None = None
    ended_at: float = 0.0


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """What a rank tells the launcher every interval; lists hold only what is new since the last one."""

    rank: int
    pid: int
    attempt: int
    sent_at: float
    seq: int
    last_step: int | None = None
    current_step: int | None = None
    phase: str = ""
    phase_since: float = 0.0
    coll_entered: int | None = None
    coll_completed: int | None = None
    steps: tuple[StepRecord, ...] = ()
    bad_losses: tuple[tuple[int | None, float], ...] = ()
    last_loss: float | None = None
    checkpoints: tuple[tuple[int, str], ...] = ()
    dropped: int = 0
    stack_dump: bool = False
    exception: str | None = None
    """`Type: message` of an uncaught exception that is ending the training thread."""
    extra: dict[str, Any] = field(default_factory=dict)

    def encode(self) -> bytes:
        body: dict[str, Any] = {
            "r": self.rank,
            "p": self.pid,
            "a": self.attempt,
            "t": round(self.sent_at, 4),
            "q": self.seq,
            "s": self.last_step,
            "c": self.current_step,
            "ph": self.phase,
            "pt": round(self.phase_since, 4),
            "d": self.dropped,
        }
        if self.coll_entered is not None:
            body["ce"] = self.coll_entered
            body["cc"] = self.coll_completed
        if self.steps:
            body["st"] = [
                [
                    r.step,
                    round(r.duration_s, 5),
                    None if r.wait_s is None else round(r.wait_s, 5),
                    round(r.ended_at, 4),
                ]
                for r in self.steps
            ]
        if self.bad_losses:
            body["bl"] = [[s, _num(v)] for s, v in self.bad_losses]
        if self.last_loss is not None:
            body["l"] = _num(self.last_loss)
        if self.checkpoints:
            body["ck"] = [list(c) for c in self.checkpoints]
        if self.stack_dump:
            body["sd"] = 1
        if self.exception:
            body["x"] = self.exception[:2000]
        return json.dumps(body, separators=(",", ":")).encode()


def _num(v: float) -> float | str:
    return v if math.isfinite(v) else repr(v)  # JSON has no NaN; "nan"/"inf" round-trip through float()


def decode(data: bytes) -> Heartbeat | None:
    """Parse one datagram; None for anything malformed (a stray packet must not stop the launcher)."""
    try:
        b = json.loads(data)
        steps = tuple(
            StepRecord(int(s[0]), float(s[1]), None if s[2] is None else float(s[2]), float(s[3]))
            for s in b.get("st", ())
        )
        return Heartbeat(
            rank=int(b["r"]),
            pid=int(b["p"]),
            attempt=int(b["a"]),
            sent_at=float(b["t"]),
            seq=int(b["q"]),
            last_step=None if b.get("s") is None else int(b["s"]),
            current_step=None if b.get("c") is None else int(b["c"]),
            phase=str(b.get("ph", "")),
            phase_since=float(b.get("pt", 0.0)),
            coll_entered=None if b.get("ce") is None else int(b["ce"]),
            coll_completed=None if b.get("cc") is None else int(b["cc"]),
            steps=steps,
            bad_losses=tuple((None if s is None else int(s), float(v)) for s, v in b.get("bl", ())),
            last_loss=None if b.get("l") is None else float(b["l"]),
            checkpoints=tuple((int(s), str(p)) for s, p in b.get("ck", ())),
            dropped=int(b.get("d", 0)),
            stack_dump=bool(b.get("sd", 0)),
            exception=None if b.get("x") is None else str(b["x"]),
        )
    except (ValueError, KeyError, TypeError, IndexError):
        return None


@dataclass(frozen=True, slots=True)
class Injection:
    """A fault to inject from inside the job (tests, demos, benchmarks)."""

    rank: int
    step: int
    kind: str
    attempt: int = 0
    factor: float = 3.0

    KINDS = ("hang", "crash", "exception", "straggle", "nan", "exit0")


def parse_injection(spec: str) -> Injection | None:
    """`rank=2,step=30,kind=hang` -> Injection; None for an empty spec. Raises ValueError on a bad one."""
    spec = spec.strip()
    if not spec:
        return None
    kv: dict[str, str] = {}
    for part in spec.split(","):
        if "=" not in part:
            raise ValueError(f"bad {ENV_INJECT} part {part!r}: expected key=value")
        k, v = part.split("=", 1)
        kv[k.strip()] = v.strip()
    unknown = set(kv) - {"rank", "step", "kind", "attempt", "factor"}
    if unknown:
        raise ValueError(
            f"unknown {ENV_INJECT} keys {sorted(unknown)}; known: rank, step, kind, attempt, factor"
        )
    kind = kv.get("kind", "")
    if kind not in Injection.KINDS:
        raise ValueError(f"bad {ENV_INJECT} kind {kind!r}; one of {', '.join(Injection.KINDS)}")
    try:
        return Injection(
            rank=int(kv.get("rank", "0")),
            step=int(kv.get("step", "0")),
            kind=kind,
            attempt=int(kv.get("attempt", "0")),
            factor=float(kv.get("factor", "3")),
        )
    except ValueError as e:
        raise ValueError(f"bad {ENV_INJECT} value in {spec!r}: {e}") from None
