"""NaN detector: a rank reported a NaN or infinite loss; the first rank to do so is the suspect."""

from __future__ import annotations

from dataclasses import dataclass

from trainmedic.detect.progress import JobProgress, RankProgress
from trainmedic.detect.registry import register
from trainmedic.model import Finding, KnownFault, Severity, Symptom


@register("nan")
@dataclass(slots=True)
class NanDetector:
    """Flags the first non-finite loss; the rank with the earliest bad step (then receipt) is named."""

    name: str = "nan"

    def check(self, job: JobProgress, now: float) -> Finding | None:
        bad = [r for r in job.ranks.values() if r.bad_loss is not None]
        if not bad:
            return None

        def key(r: RankProgress) -> tuple[float, float, int]:
            step, _, at = r.bad_loss or (None, 0.0, 0.0)
            return (float(step) if step is not None else float("inf"), at, r.rank)

        first = min(bad, key=key)
        assert first.bad_loss is not None
        step, value, _ = first.bad_loss
        return Finding(
            source="detect.nan",
            symptom=Symptom.NAN,
            at=now,
            rank=first.rank,
            node=first.node,
            card_index=first.local_rank,
            fault=str(KnownFault.NAN),
            severity=Severity.ERROR,
            message=f"rank {first.rank} reported loss {value} at step {step} ({len(bad)} rank(s) non-finite)",
            fields={"step": str(step), "value": str(value), "ranks": ",".join(str(r.rank) for r in bad)},
        )
