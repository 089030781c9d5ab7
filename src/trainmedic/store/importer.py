"""Importing a real fault trace (store.traces) into the fleet store, so the reliability report and
`cards show` have a real fleet to talk about: `trainmedic cards import-trace titan|infinitehbd PATH`.
Idempotent: incident ids come from the trace, and a second import finds them already there.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, select

from trainmedic.model import (
    Action,
    Card,
    CardState,
    Finding,
    Incident,
    RankLocation,
    Role,
    Severity,
    Symptom,
    Verdict,
)
from trainmedic.store.core import cards
from trainmedic.store.incidents import IncidentsMixin
from trainmedic.store.records import RepairAction
from trainmedic.store.schema import incidents, repairs
from trainmedic.store.traces import Episode, Install, Trace

CHUNK = 2_000

_OUT_OF_SERVICE = (CardState.QUARANTINED, CardState.SUSPECT, CardState.IN_REPAIR)


@dataclass(frozen=True, slots=True)
class TraceImport:
    """What an import wrote."""

    trace: str
    incidents: int
    cards: int
    repairs: int
    skipped: int

    def to_dict(self) -> dict[str, object]:
        return {
            "trace": self.trace,
            "incidents": self.incidents,
            "cards": self.cards,
            "repairs": self.repairs,
            "skipped_existing": self.skipped,
        }


def _incident(trace: str, iid: str, ep: Episode, culprit: RankLocation | None, action: Action,
              findings: tuple[Finding, ...] = ()) -> Incident:
    timeline = {"fault": ep.start}
    if ep.end is not None and culprit is None:
        timeline["resumed"] = ep.end
    verdict = Verdict(fault=ep.fault, component=ep.component, action=action, confidence=1.0, title=ep.title,
                      culprit=culprit)
    return Incident(id=iid, job="", source=f"trace:{trace}", symptom=Symptom.TELEMETRY, verdict=verdict,
                    timeline=timeline, action_taken=action, findings=findings)


class TraceImportMixin(IncidentsMixin):
    """`import_trace`: write a Trace's nodes, cards, incidents and repairs."""

    def import_trace(self, trace: Trace) -> TraceImport:
        """Import `trace` (InfiniteHBD: node incidents; Titan: cards, installs, failures, repairs)."""
        with self._read() as conn:
            have = set(
                conn.execute(select(incidents.c.id).where(incidents.c.id.like(f"{trace.name}-%"))).scalars()
            )
        if trace.devices == "node":
            return self._import_nodes(trace, have)
        if have:
            return TraceImport(trace.name, 0, 0, 0, len(trace.episodes))
        return self._import_cards(trace)

    def _import_nodes(self, trace: Trace, have: set[str]) -> TraceImport:
        todo = [(f"{trace.name}-{ep.node}-{int(ep.start)}", ep) for ep in trace.episodes]
        todo = [(iid, ep) for iid, ep in todo if iid not in have]
        for i in range(0, len(todo), CHUNK):
            with self._write() as conn:
                for iid, ep in todo[i : i + CHUNK]:
                    self._record(conn, _incident(trace.name, iid, ep, None, Action.NONE), None, node=ep.node)
        return TraceImport(trace.name, len(todo), 0, 0, len(trace.episodes) - len(todo))

    def _import_cards(self, trace: Trace) -> TraceImport:
        episodes = {(ep.device, ep.start): ep for ep in trace.episodes}
        # Replay in time order: installs before removals at the same second.
        happenings: list[tuple[float, int, Install]] = [(ins.at, 0, ins) for ins in trace.installs]
        happenings += [(ins.removed, 1, ins) for ins in trace.installs if ins.removed is not None]
        happenings.sort(key=lambda h: (h[0], h[1]))
        counts = {"incidents": 0, "cards": 0, "repairs": 0}
        for i in range(0, len(happenings), CHUNK):
            with self._write() as conn:
                for at, kind, ins in happenings[i : i + CHUNK]:
                    if kind == 0:
                        self._trace_install(conn, trace, ins, counts)
                    else:
                        self._trace_removal(conn, trace, ins, at, episodes.get((ins.serial, at)), counts)
        return TraceImport(trace.name, counts["incidents"], counts["cards"], counts["repairs"], 0)

    def _trace_card(self, ins: Install) -> Card:
        return Card(node=ins.node, index=0, serial=ins.serial, vendor="nvidia", model="Tesla K20X")

    def _trace_install(self, conn: Connection, trace: Trace, ins: Install, counts: dict[str, int]) -> None:
        before = conn.execute(select(cards.c.id, cards.c.state).where(cards.c.serial == ins.serial)).first()
        card_id, slot_id, _ = self._resolve_card(conn, self._trace_card(ins), ins.at)
        if before is None:
            counts["cards"] += 1
            return
        if before.state in _OUT_OF_SERVICE:
            # Back from repair: the trace does not say what was done, only that it returned.
            last = conn.execute(
                select(incidents.c.id).where(incidents.c.card_id == card_id).order_by(incidents.c.at.desc()).limit(1)
            ).scalar()
            rid = conn.execute(
                repairs.insert()
                .values(card_id=card_id, slot_id=slot_id, incident_id=last, at=ins.at, action=str(RepairAction.NONE),
                        parts=[], steps=[], note=f"reinstalled in {ins.node} ({trace.name} history)",
                        back_in_service_at=ins.at)
                .returning(repairs.c.id)
            ).scalar_one()
            self._change_state(conn, card_id, before.state, CardState.IN_SERVICE, ins.at,
                               "returned to service (trace)", repair_id=int(rid))
            counts["repairs"] += 1

    def _trace_removal(self, conn: Connection, trace: Trace, ins: Install, at: float, ep: Episode | None,
                       counts: dict[str, int]) -> None:
        if ins.failed and ep is not None:
            bursts = tuple(
                Finding(source=f"trace:{trace.name}", symptom=Symptom.TELEMETRY, at=t, node=ins.node, card_index=0,
                        fault=ep.fault, component=ep.component, role=Role.ROOT, severity=Severity.CRITICAL,
                        message=f"{ep.title} (repeated report)")
                for t in ins.bursts
            )
            culprit = RankLocation(rank=-1, node=ins.node, local_rank=0, card=self._trace_card(ins))
            iid = f"{trace.name}-{ins.serial}-{int(at)}"
            self._record(conn, _incident(trace.name, iid, ep, culprit, Action.REPLACE_CARD, bursts), None)
            counts["incidents"] += 1
        conn.execute(
            cards.update()
            .where(cards.c.serial == ins.serial, cards.c.removed_at.is_(None))
            .values(removed_at=at, updated_at=at)
        )
