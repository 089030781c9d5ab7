"""`trainmedic incidents list|show`: recorded incidents from the fleet store."""

from __future__ import annotations

import click

from trainmedic.cli.fleet import db_option, fail_store, json_option, parse_time, store_or_fail, when
from trainmedic.cli.output import emit_json
from trainmedic.store import StoreError


@click.group()
def incidents() -> None:
    """List and show recorded incidents."""


@incidents.command("list")
@click.option("--since", help="Only incidents at or after this time (2024-05-01, epoch seconds, or an age: 30d).")
@click.option("--node", help="Only incidents on this node.")
@click.option("--card", help="Only incidents of this card (serial, UUID or node:index).")
@click.option("--fault", help="Only incidents of this fault id.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1), help="At most this many, newest first.")
@db_option
@json_option
def list_incidents(
    since: str | None, node: str | None, card: str | None, fault: str | None, limit: int, db_url: str | None, as_json: bool
) -> None:
    """Incidents, newest first: when, id, culprit, fault, action taken."""
    with store_or_fail(db_url) as store:
        try:
            rows = store.incidents(since=parse_time(since), node=node, card=card, fault=fault, limit=limit)
        except StoreError as e:
            fail_store(e)
    if as_json:
        emit_json([r.to_dict() for r in rows])
        return
    if not rows:
        click.echo("No incidents recorded" + (" that match" if since or node or card or fault else "") + ".")
        return
    for r in rows:
        where = f"{r.node}:{r.slot}" if r.slot is not None else (r.node or "-")
        conf = f"{r.confidence:.2f}" if r.confidence is not None else "-"
        click.echo(
            f"{when(r.at)}  {r.id:36.36}  {where:22.22}  {r.card or '-':16.16}  {r.fault or '-':28.28}  "
            f"{r.action_taken:14}  {conf}"
        )


@incidents.command("show")
@click.argument("incident_id")
@db_option
@json_option
def show(incident_id: str, db_url: str | None, as_json: bool) -> None:
    """Everything about one incident: timeline, verdict, evidence, findings, outcome."""
    with store_or_fail(db_url) as store:
        try:
            inc = store.incident(incident_id)
        except StoreError as e:
            fail_store(e)
    if as_json:
        emit_json(inc.to_dict())
        return
    click.echo(f"incident {inc.id}  ({inc.source}, {inc.symptom}{', dry run' if inc.dry_run else ''})")
    click.echo(f"  job: {inc.job or '-'}")
    click.echo(f"  verdict: {inc.title or inc.fault or 'none'}  fault {inc.fault or '-'}, component {inc.component or '-'}")
    conf = f"{inc.confidence:.2f}" if inc.confidence is not None else "-"
    click.echo(f"  recommended: {inc.action or '-'}   confidence: {conf}")
    click.echo(f"  culprit: rank {inc.rank if inc.rank is not None else '-'}, node {inc.node or '-'}, slot "
               f"{inc.slot if inc.slot is not None else '-'}, card {inc.card or '-'}")
    click.echo(f"  action taken: {inc.action_taken}   outcome: {inc.outcome or '-'}")
    if inc.timeline:
        click.echo("  timeline:")
        t0 = min(inc.timeline.values())
        for stage, t in sorted(inc.timeline.items(), key=lambda kv: kv[1]):
            click.echo(f"    {stage:10} {when(t)}  (+{t - t0:.1f} s)")
    if inc.explanation:
        click.echo(f"  {inc.explanation}")
    if inc.evidence:
        click.echo("  evidence:")
        for ev in inc.evidence:
            place = f"{ev.get('file')}:{ev.get('line')}" if ev.get("file") else "-"
            click.echo(f"    {place}: {ev.get('text')}")
    if inc.findings:
        click.echo(f"  findings ({len(inc.findings)}):")
        for f in inc.findings[:20]:
            click.echo(f"    {when(f['at'])} {f['node'] or '-'} {f['fault'] or f['rule'] or '-'}: {f['message'][:120]}")
