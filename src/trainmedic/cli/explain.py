"""`trainmedic explain`: classify one line or a whole pasted log with the fault catalog.

Human output says in plain words what broke, what to do and which lines show it; `--json` gives
`{"matches": [...], "verdict": {...} | null}` as DESIGN.md specifies.
"""

from __future__ import annotations

import sys
import textwrap

import click

from trainmedic.catalog import Catalog, CatalogLoadError, Match, load_catalog
from trainmedic.catalog.text import decode_log
from trainmedic.cli.output import emit_json, fail
from trainmedic.model import Role, Verdict

MAX_SHOWN = 40
"""Matches listed one by one in human output; the rest are counted by rule."""


@click.command()
@click.argument("text", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the matches and verdict as JSON.")
def explain(text: str | None, as_json: bool) -> None:
    """Classify TEXT (or stdin when TEXT is '-' or absent) and say what it means and what to do.

    \b
    Examples:
      trainmedic explain "NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus."
      dmesg | trainmedic explain -
      trainmedic explain --json - < rank3.log
    """
    if text is None or text == "-":
        if text is None and sys.stdin.isatty():
            fail("no text to explain", "pass a line as an argument, or pipe a log: `dmesg | trainmedic explain -`",
                 code=2)
        data = sys.stdin.buffer.read()
    else:
        data = text.encode("utf-8", "surrogateescape")
    decoded = decode_log(data)
    for note in decoded.notes:
        click.echo(f"note: {note}", err=True)
    if not decoded.usable:
        fail("nothing to explain: " + (decoded.notes[-1] if decoded.notes else "the input is empty"),
             "pass log text (one line or many), e.g. `dmesg | trainmedic explain -`")
    try:
        catalog = load_catalog()
    except CatalogLoadError as exc:
        fail(str(exc), "fix the rule files, then run `trainmedic catalog check`")
    matches = catalog.match_text(decoded.text)
    verdict = catalog.verdict(matches)
    if as_json:
        emit_json({"matches": [m.to_dict() for m in matches], "verdict": _verdict_json(verdict)})
        return
    _print_human(catalog, matches, verdict)


def _verdict_json(verdict: Verdict | None) -> dict[str, object] | None:
    if verdict is None:
        return None
    full = verdict.to_dict()
    # DESIGN.md's keys first; the rest (title, role, explanation, evidence) are additions
    head = {k: full[k] for k in ("fault", "component", "action", "confidence")}
    head.update({k: full[k] for k in ("title", "role", "explanation", "evidence")})
    return head


def _print_human(catalog: Catalog, matches: list[Match], verdict: Verdict | None) -> None:
    if not matches:
        click.echo("No catalog rule matched: nothing known-bad in this text.")
        click.echo(f"({len(catalog)} rules tried. If this log shows a fault, add a rule: see docs/catalog.md.)")
        return
    if verdict is None:
        click.echo("Only informational lines matched: no fault here.")
    elif verdict.role is Role.ROOT:
        click.echo(click.style(f"Root cause: {verdict.title}", bold=True))
        click.echo(f"  fault {verdict.fault} | component {verdict.component} | action {verdict.action} | "
                   f"confidence {verdict.confidence:.2f}")
    else:
        click.echo(click.style(f"No root cause in this text. {verdict.title}.", bold=True))
    if verdict is not None and verdict.explanation:
        click.echo("")
        for para in verdict.explanation.split("\n"):
            click.echo(textwrap.fill(para, width=100, initial_indent="  ", subsequent_indent="  "))
    if verdict is not None and verdict.evidence:
        click.echo("\nEvidence:")
        for ev in verdict.evidence:
            click.echo(f"  line {ev.line}: {_short(ev.text)}")
    click.echo(f"\nAll matches ({len(matches)}):")
    for m in matches[:MAX_SHOWN]:
        fields = " ".join(f"{k}={v}" for k, v in m.fields.items())
        click.echo(f"  line {m.line:>6}  {m.rule.role!s:7} {m.rule.severity!s:8} {m.rule.id}"
                   + (f"  [{fields}]" if fields else ""))
    if len(matches) > MAX_SHOWN:
        rest: dict[str, int] = {}
        for m in matches[MAX_SHOWN:]:
            rest[m.rule.id] = rest.get(m.rule.id, 0) + 1
        click.echo(f"  ... and {len(matches) - MAX_SHOWN} more: "
                   + ", ".join(f"{k} x{v}" for k, v in sorted(rest.items(), key=lambda kv: -kv[1])))


def _short(text: str, width: int = 160) -> str:
    one = " | ".join(part.strip() for part in text.split("\n"))
    return one if len(one) <= width else one[: width - 3] + "..."
