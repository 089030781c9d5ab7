"""`trainmedic explain`: classify one line or a whole pasted log with the fault catalog."""

from __future__ import annotations

import sys

import click

from trainmedic.catalog import load_catalog
from trainmedic.cli.output import emit_json


@click.command()
@click.argument("text", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the matches and verdict as JSON.")
def explain(text: str | None, as_json: bool) -> None:
    """Classify TEXT (or stdin when TEXT is '-' or absent) and say what it means and what to do."""
    if text is None or text == "-":
        raw = sys.stdin.buffer.read()
        text = raw.decode("utf-8", errors="replace")
    catalog = load_catalog()
    matches = catalog.match_text(text)
    verdict = catalog.verdict(matches)
    if as_json:
        emit_json({"matches": [m.to_dict() for m in matches], "verdict": verdict.to_dict() if verdict else None})
        return
    if not matches:
        click.echo("No catalog rule matched: nothing known-bad in this text.")
        return
    for m in matches:
        click.echo(f"line {m.line}: [{m.rule.role}] {m.rule.id}: {m.rule.title}")
    if verdict:
        click.echo(f"\nverdict: {verdict.title} ({verdict.fault})")
        click.echo(f"component: {verdict.component}   action: {verdict.action}   confidence: {verdict.confidence:.2f}")
        if verdict.explanation:
            click.echo(verdict.explanation)
