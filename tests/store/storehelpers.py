"""Builders for the fleet-store tests: incidents and findings as diagnose and the launcher write them."""

from __future__ import annotations

from trainmedic.model import (
    Action,
    Card,
    Component,
    Evidence,
    Finding,
    Incident,
    RankLocation,
    Role,
    Symptom,
    Verdict,
)

T0 = 1_700_000_000.0
DAY = 86_400.0


def make_incident(
    iid: str,
    at: float,
    *,
    node: str = "node-0001",
    index: int = 3,
    serial: str | None = "SN-3",
    uuid_: str | None = None,
    bus_id: str | None = "00000000:3A:00.0",
    component: Component = Component.ACCELERATOR,
    fault: str = "nvidia.xid.79",
    action_taken: Action = Action.RESTART_JOB,
    findings: tuple[Finding, ...] = (),
    dry_run: bool = False,
    job: str = "job-1",
) -> Incident:
    """An incident as diagnose or the launcher would write it, with the culprit card in `node`/`index`."""
    card = Card(node=node, index=index, bus_id=bus_id, uuid=uuid_, serial=serial, vendor="nvidia", model="H100 80GB HBM3")
    verdict = Verdict(
        fault=fault,
        component=component,
        action=Action.REPLACE_CARD,
        confidence=0.93,
        title="GPU has fallen off the bus",
        culprit=RankLocation(rank=8 * 1 + index, node=node, local_rank=index, card=card),
        evidence=(Evidence(text="NVRM: Xid (PCI:0000:3a:00): 79, GPU has fallen off the bus.", file="rank11.log", line=42),),
    )
    return Incident(
        id=iid,
        job=job,
        source="diagnose",
        symptom=Symptom.CRASH,
        verdict=verdict,
        timeline={"fault": at, "detected": at + 4.0, "localized": at + 9.0, "resumed": at + 300.0},
        action_taken=action_taken,
        outcome="resumed from step 1200",
        findings=findings,
        dry_run=dry_run,
    )


def finding(at: float, node: str = "node-0001", **kw: object) -> Finding:
    base: dict[str, object] = {
        "source": "kmsg",
        "symptom": Symptom.LOG_ERROR,
        "at": at,
        "node": node,
        "rule": "nvidia.xid.79",
        "fault": "nvidia.xid.79",
        "component": Component.PCIE,
        "role": Role.ROOT,
        "message": "NVRM: Xid (PCI:0000:3a:00): 79, pid=0, GPU has fallen off the bus.",
    }
    base.update(kw)
    return Finding(**base)  # type: ignore[arg-type]
