"""The escalation policy over the store's own history: what to do next with a card, which nodes are
lemons, and which cards the policy would pull now. Used by `cards show`, `cards flagged` and the controller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from trainmedic.model import Component
from trainmedic.store.core import StoreCore, nodes
from trainmedic.store.escalation import (
    DAY_S,
    CardAssessment,
    Fault,
    NodeAssessment,
    Policy,
    Repair,
    assess_card,
    assess_node,
    load_policy,
)
from trainmedic.store.incidents import CARD_COMPONENTS, incidents
from trainmedic.store.records import CardRecord
from trainmedic.store.schema import repairs

# Not the hardware's fault: these never count against a card or a node.
NOT_HARDWARE = (str(Component.USER), str(Component.SOFTWARE))


@dataclass(frozen=True, slots=True)
class Flagged:
    """A card the policy would act on now."""

    card: CardRecord
    assessment: CardAssessment

    def to_dict(self) -> dict[str, Any]:
        return {"card": self.card.to_dict(), "assessment": self.assessment.to_dict()}


class AssessMixin(StoreCore):
    """`assess`, `assess_node`, `flagged`."""

    def _policy(self, policy: Policy | None) -> Policy:
        return policy if policy is not None else load_policy()

    def _card_history(self, conn: Any, card_id: int, policy: Policy, now: float) -> tuple[list[Fault], list[Repair]]:
        col = incidents.c.component if policy.class_by == "component" else incidents.c.fault
        rows = conn.execute(
            select(incidents.c.at, col.label("cls"))
            .where(
                incidents.c.card_id == card_id,
                incidents.c.at <= now,
                incidents.c.component.in_([str(c) for c in CARD_COMPONENTS]),
                incidents.c.dry_run.is_(False),
            )
            .order_by(incidents.c.at)
        ).all()
        faults = [Fault(r.at, r.cls or "unknown") for r in rows]
        reps = [
            Repair(r.at, r.action, r.back_in_service_at)
            for r in conn.execute(
                select(repairs.c.at, repairs.c.action, repairs.c.back_in_service_at)
                .where(repairs.c.card_id == card_id, repairs.c.at <= now)
                .order_by(repairs.c.at)
            )
        ]
        return faults, reps

    def assess(self, key: str, policy: Policy | None = None, at: float | None = None) -> CardAssessment:
        """What the escalation policy says about a card now: next repair on the ladder, flagged, pull."""
        policy = self._policy(policy)
        now = self.clock() if at is None else at
        with self._read() as conn:
            card = self._find_card(conn, key)
            faults, reps = self._card_history(conn, card.id, policy, now)
        return assess_card(policy, faults, reps, now)

    def assess_node(self, name: str, policy: Policy | None = None, at: float | None = None) -> NodeAssessment:
        """A node's lemon score: its hardware incidents in the lemon window against the fleet's mean."""
        policy = self._policy(policy)
        now = self.clock() if at is None else at
        since = now - policy.lemon_window_days * DAY_S
        window = (incidents.c.at > since, incidents.c.at <= now, incidents.c.component.notin_(NOT_HARDWARE))
        with self._read() as conn:
            fleet_nodes = int(conn.execute(select(func.count()).select_from(nodes)).scalar_one())
            fleet = int(conn.execute(select(func.count()).select_from(incidents).where(*window)).scalar_one())
            mine = int(
                conn.execute(
                    select(func.count())
                    .select_from(incidents.join(nodes, incidents.c.node_id == nodes.c.id))
                    .where(nodes.c.name == name, *window)
                ).scalar_one()
            )
        return assess_node(policy, mine, fleet, fleet_nodes)

    def flagged(self, policy: Policy | None = None, at: float | None = None) -> list[Flagged]:
        """Cards with a card fault in the policy window that the policy would escalate or pull, worst first."""
        policy = self._policy(policy)
        now = self.clock() if at is None else at
        since = now - max(policy.window_days, policy.refail_days) * DAY_S
        with self._read() as conn:
            ids = conn.execute(
                select(incidents.c.card_id)
                .where(
                    incidents.c.card_id.is_not(None),
                    incidents.c.at > since,
                    incidents.c.at <= now,
                    incidents.c.component.in_([str(c) for c in CARD_COMPONENTS]),
                )
                .distinct()
            ).scalars().all()
            out = []
            for cid in ids:
                faults, reps = self._card_history(conn, int(cid), policy, now)
                a = assess_card(policy, faults, reps, now)
                if a.rung > 0 or a.pull:
                    out.append(Flagged(self._find_card(conn, f"#{cid}"), a))
        out.sort(key=lambda f: (not f.assessment.pull, -f.assessment.rung, -f.assessment.faults_in_window))
        return out
