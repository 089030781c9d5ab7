"""`trainmedic cards list|show|return|import|import-trace|set-state|flagged`: the fleet's cards, their
states and whole histories."""

from __future__ import annotations

from pathlib import Path

import click

from trainmedic.cli.fleet import db_option, fail_store, json_option, store_or_fail, when
from trainmedic.cli.output import emit_json
from trainmedic.model import CardState
from trainmedic.store import StoreError
from trainmedic.store.escalation import load_policy
from trainmedic.store.traces import read_trace

STATES = click.Choice([s.value for s in CardState])
policy_option = click.option(
    "--policy", type=click.Path(dir_okay=False), envvar="TRAINMEDIC_POLICY", help="Escalation policy file (YAML or TOML)."
)


@click.group()
def cards() -> None:
    """Cards, their states and whole histories."""


@cards.command("list")
@click.option("--state", type=STATES, help="Only cards in this state.")
@click.option("--node", help="Only cards on this node.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many.")
@db_option
@json_option
def list_cards(state: str | None, node: str | None, limit: int | None, db_url: str | None, as_json: bool) -> None:
    """One line per card: serial, node:slot, model, state."""
    with store_or_fail(db_url) as store:
        rows = store.cards(state=CardState(state) if state else None, node=node, limit=limit)
    if as_json:
        emit_json([c.to_dict() for c in rows])
        return
    if not rows:
        click.echo("No cards" + (f" in state {state}" if state else "") + (f" on {node}" if node else "") + ".")
        return
    for c in rows:
        place = f"{c.node}:{c.slot}" if c.node is not None and c.removed_at is None else "(not in a slot)"
        click.echo(f"{c.key:24.24}  {place:24.24}  {c.model or '-':20.20}  {c.state}")


@cards.command("show")
@click.argument("key")
@policy_option
@db_option
@json_option
def show(key: str, policy: str | None, db_url: str | None, as_json: bool) -> None:
    """A card's whole timeline (faults, incidents, repairs, state changes) and what to do next.

    KEY is a serial, a UUID, node:index (the card now in that slot) or a PCI bus id.
    """
    with store_or_fail(db_url) as store:
        try:
            hist = store.history(key)
            assessment = store.assess(f"#{hist.card.id}", load_policy(policy))
        except StoreError as e:
            fail_store(e)
    if as_json:
        emit_json({**hist.to_dict(), "escalation": assessment.to_dict()})
        return
    c = hist.card
    place = f"{c.node}:{c.slot}" if c.node is not None else "-"
    click.echo(f"card {c.key}  ({c.vendor or '-'} {c.model or '-'})  state {c.state}")
    click.echo(f"  uuid {c.uuid or '-'}, bus id {c.bus_id or '-'}, slot {place}" + (" (removed)" if c.removed_at else ""))
    click.echo(f"  {hist.incidents} incident(s), {hist.faults} fault event(s), {hist.repairs} repair(s)")
    if hist.slot_cards:
        click.echo(f"  slot {place} also held: {', '.join(hist.slot_cards)}")
    a = assessment
    verdict = "PULL" if a.pull else f"next repair: {a.action}"
    click.echo(f"  escalation: {verdict}" + (f" ({'; '.join(a.reasons)})" if a.reasons else ""))
    click.echo("  timeline:")
    for entry in hist.timeline:
        click.echo(f"    {when(entry.at)}  {entry.kind:8}  {entry.summary}")


@cards.command("return")
@click.argument("key")
@click.option("--note", default="", help="Why it is fit to go back.")
@click.option("--force", is_flag=True, help="Return even a retired card or one whose last repair failed verification.")
@db_option
@json_option
def return_card(key: str, note: str, force: bool, db_url: str | None, as_json: bool) -> None:
    """Put a repaired card back in service."""
    with store_or_fail(db_url) as store:
        try:
            card = store.return_to_service(key, note=note, force=force)
        except StoreError as e:
            fail_store(e)
    if as_json:
        emit_json(card.to_dict())
    else:
        click.echo(f"card {card.key} is {card.state}")


@cards.command("set-state")
@click.argument("key")
@click.argument("state", type=STATES)
@click.option("--reason", required=True, help="Why (kept in the card's history).")
@click.option("--force", is_flag=True, help="Allow moving a retired card.")
@db_option
@json_option
def set_state(key: str, state: str, reason: str, force: bool, db_url: str | None, as_json: bool) -> None:
    """Move a card to STATE (quarantine it, say) with a reason."""
    with store_or_fail(db_url) as store:
        try:
            card = store.set_state(key, CardState(state), reason, force=force)
        except StoreError as e:
            fail_store(e)
    if as_json:
        emit_json(card.to_dict())
    else:
        click.echo(f"card {card.key} is {card.state}")


@cards.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@db_option
@json_option
def import_cards(file: Path, db_url: str | None, as_json: bool) -> None:
    """Add or update cards from an inventory (CSV with a header, or JSON): serial, uuid, bus_id, vendor,
    model, node, slot, state. All or nothing; importing the same file again changes nothing."""
    with store_or_fail(db_url) as store:
        try:
            report = store.import_inventory(file)
        except StoreError as e:
            fail_store(e)
    if as_json:
        emit_json(report.to_dict())
    else:
        click.echo(f"{file}: {report.rows} rows: {report.added} added, {report.updated} updated, {report.unchanged} unchanged")


@cards.command("import-trace")
@click.argument("kind", type=click.Choice(["titan", "infinitehbd"]))
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--limit", type=click.IntRange(min=1), help="Titan: read only the first N rows.")
@db_option
@json_option
def import_trace(kind: str, path: Path, limit: int | None, db_url: str | None, as_json: bool) -> None:
    """Import a real fault trace (ORNL Titan GPU lives, or InfiniteHBD node faults) as cards, incidents
    and repairs, so `report reliability` and `cards show` work on a real fleet."""
    with store_or_fail(db_url) as store:
        try:
            result = store.import_trace(read_trace(kind, path, limit))
        except StoreError as e:
            fail_store(e)
    if as_json:
        emit_json(result.to_dict())
    else:
        click.echo(
            f"{kind}: {result.incidents} incidents, {result.cards} cards, {result.repairs} repairs imported"
            + (f"; {result.skipped} already there" if result.skipped else "")
        )


@cards.command("flagged")
@policy_option
@db_option
@json_option
def flagged(policy: str | None, db_url: str | None, as_json: bool) -> None:
    """Cards the escalation policy would escalate or pull now, worst first."""
    with store_or_fail(db_url) as store:
        try:
            rows = store.flagged(load_policy(policy))
        except StoreError as e:
            fail_store(e)
    if as_json:
        emit_json([f.to_dict() for f in rows])
        return
    if not rows:
        click.echo("No card needs escalation.")
        return
    for f in rows:
        a = f.assessment
        click.echo(f"{f.card.key:24.24}  {'PULL' if a.pull else a.action:8}  {'; '.join(a.reasons)}")
