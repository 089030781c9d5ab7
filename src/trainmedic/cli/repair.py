"""`trainmedic repair add`: record what was done to a card (action, parts, steps, verification)."""

from __future__ import annotations

import click

from trainmedic.cli.fleet import db_option, fail_store, json_option, parse_time, store_or_fail, when
from trainmedic.cli.output import emit_json
from trainmedic.model import Card
from trainmedic.store import RepairAction, StoreError, Verification


@click.group()
def repair() -> None:
    """Record repairs done on a card."""


@repair.command("add")
@click.argument("key")
@click.option("--action", "action", required=True, type=click.Choice([a.value for a in RepairAction]), help="What was done.")
@click.option("--parts", multiple=True, help="Part replaced (repeat, or comma-separated).")
@click.option("--step", "steps", multiple=True, help="One step taken (repeat in order).")
@click.option("--note", default="", help="Free text.")
@click.option("--test", "test_name", help="Verification test run afterwards (e.g. 'dcgmi diag -r 3').")
@click.option("--verified", type=click.Choice([v.value for v in Verification]), help="Result of the verification test.")
@click.option("--by", "technician", help="Who did it.")
@click.option("--incident", "incident_id", help="The incident repaired (default: the card's latest).")
@click.option("--new-serial", help="replace/rma: serial of the card that goes into the slot.")
@click.option("--new-uuid", help="replace/rma: UUID of the new card.")
@click.option("--at", "at_text", help="When (default: now).")
@db_option
@json_option
def add(
    key: str,
    action: str,
    parts: tuple[str, ...],
    steps: tuple[str, ...],
    note: str,
    test_name: str | None,
    verified: str | None,
    technician: str | None,
    incident_id: str | None,
    new_serial: str | None,
    new_uuid: str | None,
    at_text: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Record a repair of the card KEY (serial, UUID or node:index). The card goes in_repair until
    `trainmedic cards return`; replace retires it (and puts --new-serial in its slot)."""
    part_list = [p.strip() for item in parts for p in item.split(",") if p.strip()]
    replacement = None
    if new_serial or new_uuid:
        if action not in (RepairAction.REPLACE, RepairAction.RMA):
            raise click.UsageError("--new-serial/--new-uuid go with --action replace or rma")
        replacement = Card(node="", index=0, serial=new_serial, uuid=new_uuid)
    with store_or_fail(db_url) as store:
        try:
            rec = store.add_repair(
                key,
                RepairAction(action),
                parts=part_list,
                steps=steps,
                note=note,
                technician=technician,
                verification_test=test_name,
                verified=Verification(verified) if verified else None,
                incident_id=incident_id,
                replacement=replacement,
                at=parse_time(at_text),
            )
            card = store.card(rec.card)
        except StoreError as e:
            fail_store(e)
    if as_json:
        emit_json({"repair": rec.to_dict(), "card": card.to_dict()})
        return
    click.echo(f"repair #{rec.id} on {rec.card} at {when(rec.at)}: {rec.action}; card is now {card.state}")
    if rec.replacement:
        click.echo(f"  {rec.replacement} went into its slot, in service")
    if rec.verification_result == Verification.FAIL:
        click.echo("  verification failed: the card cannot go back until a repair passes")
