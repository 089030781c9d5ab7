"""`trainmedic catalog list|show|check`: browse and validate the fault catalog."""

from __future__ import annotations

import click

from trainmedic.catalog import load_catalog
from trainmedic.catalog.check import check_catalog
from trainmedic.cli.output import emit_json, fail


@click.group()
def catalog() -> None:
    """List, show and check the fault catalog."""


@catalog.command("list")
@click.option("--family", help="Only rules of this family.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_rules(family: str | None, as_json: bool) -> None:
    """One line per rule: id, role, component, action, title."""
    rules = [r for r in load_catalog().rules if family is None or r.family == family]
    if as_json:
        emit_json([r.to_dict() for r in rules])
        return
    for r in rules:
        click.echo(f"{r.id:40} {r.role!s:8} {r.component!s:13} {r.action!s:16} {r.title}")


@catalog.command("show")
@click.argument("rule_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show(rule_id: str, as_json: bool) -> None:
    """Everything about one rule."""
    rule = load_catalog().get(rule_id)
    if rule is None:
        fail(f"no rule {rule_id!r}", "list the ids with `trainmedic catalog list`")
    if as_json:
        emit_json(rule.to_dict())
        return
    click.echo(f"{rule.id}: {rule.title}")
    click.echo(f"  family {rule.family}, fault {rule.fault}, role {rule.role}, severity {rule.severity}")
    click.echo(f"  component {rule.component}, action {rule.action}")
    click.echo(f"  {rule.explanation}")


@catalog.command("check")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def check(as_json: bool) -> None:
    """Validate every rule file; exit 1 on any error."""
    report = check_catalog()
    if as_json:
        emit_json(report.to_dict())
    else:
        for e in report.errors:
            click.echo(f"error: {e}", err=True)
        for w in report.warnings:
            click.echo(f"warning: {w}", err=True)
        click.echo(f"{report.rules} rules, {report.examples} examples ({report.real_examples} real)")
        click.echo("by family:    " + ", ".join(f"{k} {v}" for k, v in sorted(report.by_family.items())))
        click.echo("by component: " + ", ".join(f"{k} {v}" for k, v in sorted(report.by_component.items())))
        click.echo("by role:      " + ", ".join(f"{k} {v}" for k, v in sorted(report.by_role.items())))
    if not report.ok:
        raise SystemExit(1)
