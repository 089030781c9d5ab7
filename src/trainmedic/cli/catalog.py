"""`trainmedic catalog list|show|check`: browse and validate the fault catalog."""

from __future__ import annotations

import click

from trainmedic.catalog import CatalogLoadError, load_catalog
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
    try:
        catalog = load_catalog()
    except CatalogLoadError as exc:
        fail(str(exc), "run `trainmedic catalog check` for every problem with file and line")
    rules = [r for r in catalog.rules if family is None or r.family == family]
    if family is not None and not rules:
        fail(f"no rules of family {family!r}", "families: " + ", ".join(sorted({r.family for r in catalog.rules})))
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
    try:
        rule = load_catalog().get(rule_id)
    except CatalogLoadError as exc:
        fail(str(exc), "run `trainmedic catalog check` for every problem with file and line")
    if rule is None:
        fail(f"no rule {rule_id!r}", "list the ids with `trainmedic catalog list`")
    if as_json:
        emit_json(rule.to_dict())
        return
    click.echo(f"{rule.id}: {rule.title}")
    click.echo(f"  family {rule.family}, fault {rule.fault}, role {rule.role}, severity {rule.severity}")
    click.echo(f"  component {rule.component}, action {rule.action}, seen in {', '.join(rule.seen_in)}")
    if rule.codes:
        click.echo(f"  codes: {', '.join(rule.codes)}")
    if rule.escalation:
        e = rule.escalation
        click.echo(f"  escalation: {e.count} in {e.window_s / 3600:g} h -> {e.action}")
    click.echo(f"  defined at {rule.source_file}:{rule.source_line}")
    click.echo("")
    for para in rule.explanation.split("\n"):
        click.echo(f"  {para}")
    click.echo("\npatterns:")
    for p in rule.patterns:
        click.echo(f"  {p.pattern}")
    click.echo("examples:")
    for ex in rule.examples:
        tag = "real" if ex.real else "constructed"
        click.echo(f"  [{tag}] {ex.text}" + (f"\n      source: {ex.source}" if ex.source else ""))
    for ref in rule.references:
        click.echo(f"reference: {ref}")


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
        click.echo(f"{report.rules} rules, {report.examples} examples ({report.real_examples} real), "
                   f"{len(report.errors)} error(s), {len(report.warnings)} warning(s)")
        click.echo("by family:    " + ", ".join(f"{k} {v}" for k, v in sorted(report.by_family.items())))
        click.echo("by component: " + ", ".join(f"{k} {v}" for k, v in sorted(report.by_component.items())))
        click.echo("by family and component:")
        for fam in sorted(report.by_family):
            cells = [f"{c} {n}" for (f, c), n in sorted(report.by_family_component.items()) if f == fam]
            click.echo(f"  {fam:16} {', '.join(cells)}")
        click.echo("by role:      " + ", ".join(f"{k} {v}" for k, v in sorted(report.by_role.items())))
    if not report.ok:
        raise SystemExit(1)
