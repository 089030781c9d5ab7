"""The reliability report (`trainmedic report reliability`): MTBF per component, per card model and per
node; top offenders; repeat-fault rate; time-to-repair distribution; faults per month. Computed from
the store's incidents, cards and repairs; rendered as text, JSON or HTML (store.charts).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime
from statistics import median
from typing import Any

from sqlalchemy import select

from trainmedic.store.assess import NOT_HARDWARE
from trainmedic.store.core import cards, nodes
from trainmedic.store.escalation import DAY_S
from trainmedic.store.incidents import CARD_COMPONENTS, incidents
from trainmedic.store.schema import repairs
from trainmedic.store.store import Store

HOUR_S = 3600.0
TTR_BUCKETS = ((1, "< 1 h"), (4, "1-4 h"), (24, "4-24 h"), (72, "1-3 d"), (168, "3-7 d"), (720, "7-30 d"), (float("inf"), "> 30 d"))
TOP = 10


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


def reliability(store: Store, since: float | None = None, until: float | None = None, refail_days: float = 30.0) -> dict[str, Any]:
    """The report as a JSON-able dict. The period runs from `since` (else the first record) to `until`
    (else the last record); MTBF = device-hours in the period / hardware failures."""
    with store._read() as conn:
        inc = conn.execute(
            select(
                incidents.c.id, incidents.c.at, incidents.c.component, incidents.c.fault, incidents.c.resumed_at,
                incidents.c.card_id, incidents.c.node_id, nodes.c.name.label("node"),
                cards.c.model, cards.c.serial, cards.c.uuid,
            )
            .select_from(
                incidents.outerjoin(nodes, incidents.c.node_id == nodes.c.id).outerjoin(cards, incidents.c.card_id == cards.c.id)
            )
            .where(incidents.c.dry_run.is_(False), incidents.c.component.notin_(NOT_HARDWARE))
            .order_by(incidents.c.at)
        ).all()
        card_rows = conn.execute(
            select(cards.c.id, cards.c.model, cards.c.installed_at, cards.c.created_at, cards.c.removed_at)
        ).all()
        node_rows = conn.execute(select(nodes.c.id, nodes.c.name)).all()
        rep = conn.execute(
            select(repairs.c.card_id, repairs.c.at, repairs.c.back_in_service_at, repairs.c.incident_id, repairs.c.action)
        ).all()
    times = [r.at for r in inc] + [c.installed_at or c.created_at for c in card_rows]
    start = since if since is not None else min(times, default=0.0)
    end = until if until is not None else max([*times, *(c.removed_at or 0.0 for c in card_rows)], default=0.0)
    inc = [r for r in inc if start <= r.at <= end]
    span_h = max(end - start, 0.0) / HOUR_S

    card_hours: Counter[str] = Counter()
    for c in card_rows:
        a = max(start, c.installed_at or c.created_at)
        b = min(end, c.removed_at if c.removed_at is not None else end)
        if b > a:
            card_hours[c.model or "unknown"] += (b - a) / HOUR_S
    total_card_h = sum(card_hours.values())
    # Nodes are in the fleet for the whole period (their row appears with their first record).
    node_h = {n.name: span_h for n in node_rows}
    total_node_h = sum(node_h.values())

    def mtbf(hours: float, n: int) -> float | None:
        return round(hours / n, 1) if n else None

    by_comp = Counter(r.component or "unknown" for r in inc)
    # Card components per card-hour; node components (and every component of a fleet known only by
    # its nodes, like InfiniteHBD) per node-hour.
    def on_cards(comp: str) -> bool:
        return comp in CARD_COMPONENTS and total_card_h > 0

    components = [
        {
            "component": comp,
            "failures": n,
            "basis": "card-hours" if on_cards(comp) else "node-hours",
            "mtbf_hours": mtbf(total_card_h if on_cards(comp) else total_node_h, n),
        }
        for comp, n in by_comp.most_common()
    ]
    by_model = Counter(r.model or "unknown" for r in inc if r.card_id is not None)
    models = [
        {"model": m, "failures": by_model.get(m, 0), "card_hours": round(h, 1), "mtbf_hours": mtbf(h, by_model.get(m, 0))}
        for m, h in sorted(card_hours.items(), key=lambda kv: -kv[1])
    ]
    by_node = Counter(r.node for r in inc if r.node)
    node_list = [
        {"node": n, "failures": k, "mtbf_hours": mtbf(node_h.get(n, span_h), k)} for n, k in by_node.most_common()
    ]
    by_card = Counter(r.serial or r.uuid or f"#{r.card_id}" for r in inc if r.card_id is not None)

    def repeat(counter: Counter[str]) -> dict[str, Any]:
        failed = len(counter)
        again = sum(1 for v in counter.values() if v >= 2)
        return {"failed": failed, "failed_again": again, "rate": round(again / failed, 4) if failed else None}

    # Time to repair: the repair that put the device back, else the incident's own "resumed" stamp.
    back_by_incident = {r.incident_id: r.back_in_service_at for r in rep if r.incident_id and r.back_in_service_at}
    ttr_h = []
    for r in inc:
        back = back_by_incident.get(r.id) or r.resumed_at
        if back is not None and back >= r.at:
            ttr_h.append((back - r.at) / HOUR_S)
    buckets: Counter[str] = Counter()
    for h in ttr_h:
        buckets[next(label for lim, label in TTR_BUCKETS if h < lim)] += 1
    # Repairs that did not hold: the card failed again within refail_days of going back in service.
    card_faults: dict[int, list[float]] = defaultdict(list)
    for r in inc:
        if r.card_id is not None:
            card_faults[r.card_id].append(r.at)
    returned = [r for r in rep if r.back_in_service_at is not None and start <= r.back_in_service_at <= end]
    held_not = sum(
        1
        for r in returned
        if any(r.back_in_service_at < t <= r.back_in_service_at + refail_days * DAY_S for t in card_faults.get(r.card_id, ()))
    )
    months = Counter(datetime.fromtimestamp(r.at, UTC).strftime("%Y-%m") for r in inc)
    node_mtbfs = [n["mtbf_hours"] for n in node_list if n["mtbf_hours"]]
    return {
        "period": {"start": start, "end": end, "days": round(span_h / 24, 1)},
        "fleet": {
            "cards": len(card_rows),
            "nodes": len(node_rows),
            "card_hours": round(total_card_h, 1),
            "node_hours": round(total_node_h, 1),
        },
        "failures": len(inc),
        "mtbf": {
            "fleet_card_hours": mtbf(total_card_h, sum(1 for r in inc if r.card_id is not None)),
            "by_component": components,
            "by_model": models,
            "by_node": node_list,
            "node_median_hours": round(median(node_mtbfs), 1) if node_mtbfs else None,
        },
        "top_offenders": {
            "cards": [{"card": k, "failures": v} for k, v in by_card.most_common(TOP)],
            "nodes": [{"node": k, "failures": v} for k, v in by_node.most_common(TOP)],
        },
        "repeat_faults": {
            "cards": repeat(by_card),
            "nodes": repeat(by_node),
            "repairs_returned": len(returned),
            "failed_within_days": refail_days,
            "repairs_that_did_not_hold": held_not,
            "refail_rate": round(held_not / len(returned), 4) if returned else None,
        },
        "time_to_repair_hours": {
            "count": len(ttr_h),
            "p50": round(_pct(ttr_h, 0.5), 2) if ttr_h else None,
            "p90": round(_pct(ttr_h, 0.9), 2) if ttr_h else None,
            "p99": round(_pct(ttr_h, 0.99), 2) if ttr_h else None,
            "mean": round(sum(ttr_h) / len(ttr_h), 2) if ttr_h else None,
            "histogram": [{"bucket": label, "count": buckets.get(label, 0)} for _, label in TTR_BUCKETS],
        },
        "failures_by_month": [{"month": m, "failures": n} for m, n in sorted(months.items())],
    }
