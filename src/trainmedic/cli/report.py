"""`trainmedic report reliability|escalation`: reliability figures from the fleet store, and the
escalation policy replayed on a real fault trace."""

from __future__ import annotations

from pathlib import Path

import click

from trainmedic.cli.fleet import db_option, fail_store, json_option, parse_time, store_or_fail, when
from trainmedic.cli.output import emit_json, fail
from trainmedic.store import StoreError
from trainmedic.store.charts import render_html
from trainmedic.store.escalation import load_policy
from trainmedic.store.reliability import reliability as compute
from trainmedic.store.replay import evaluate
from trainmedic.store.traces import read_trace


@click.group()
def report() -> None:
    """Reliability reports from the fleet store."""


@report.command("reliability")
@click.option("--since", help="Start of the period (2024-05-01, epoch seconds, or an age: 90d).")
@click.option("--until", help="End of the period (default: the last record).")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, path_type=Path), help="Also write an HTML report with charts.")
@db_option
@json_option
def reliability(since: str | None, until: str | None, html_file: Path | None, db_url: str | None, as_json: bool) -> None:
    """MTBF per component, card model and node; top offenders; repeat faults; time to repair."""
    with store_or_fail(db_url) as store:
        try:
            rep = compute(store, parse_time(since), parse_time(until), load_policy().refail_days)
        except StoreError as e:
            fail_store(e)
    if html_file is not None:
        try:
            html_file.write_text(render_html(rep), encoding="utf-8")
        except OSError as e:
            fail(f"cannot write {html_file}: {e}")
    if as_json:
        emit_json(rep)
        return
    p, m, rf, ttr = rep["period"], rep["mtbf"], rep["repeat_faults"], rep["time_to_repair_hours"]
    click.echo(f"period {when(p['start'])} .. {when(p['end'])} ({p['days']} days): "
               f"{rep['fleet']['cards']} cards, {rep['fleet']['nodes']} nodes, {rep['failures']} hardware failures")
    click.echo(f"fleet MTBF per card: {m['fleet_card_hours'] or '-'} h")
    click.echo("MTBF per component:")
    for c in m["by_component"]:
        click.echo(f"  {c['component']:14} {c['failures']:7} failures  {c['mtbf_hours'] or '-':>12} h ({c['basis']})")
    click.echo("MTBF per card model:")
    for x in m["by_model"]:
        click.echo(f"  {x['model']:24} {x['failures']:7} failures  {x['mtbf_hours'] or '-':>12} h")
    click.echo("top nodes: " + ", ".join(f"{n['node']} ({n['failures']})" for n in rep["top_offenders"]["nodes"]))
    click.echo("top cards: " + ", ".join(f"{c['card']} ({c['failures']})" for c in rep["top_offenders"]["cards"]))
    click.echo(f"repeat faults: cards {rf['cards']['failed_again']}/{rf['cards']['failed']}, "
               f"nodes {rf['nodes']['failed_again']}/{rf['nodes']['failed']}; repairs that did not hold "
               f"{rf['repairs_that_did_not_hold']}/{rf['repairs_returned']}")
    click.echo(f"time to repair: {ttr['count']} repairs, median {ttr['p50']} h, p90 {ttr['p90']} h")
    if html_file is not None:
        click.echo(f"wrote {html_file}")


@report.command("escalation")
@click.argument("kind", type=click.Choice(["titan", "infinitehbd"]))
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--policy", type=click.Path(dir_okay=False), envvar="TRAINMEDIC_POLICY", help="Escalation policy file.")
@click.option("--horizon-days", default=30.0, show_default=True, help="'Fails again within' this many days.")
@json_option
def escalation(kind: str, path: Path, policy: str | None, horizon_days: float, as_json: bool) -> None:
    """Replay a real trace through the escalation policy: precision and recall of "this card/node will
    fail again within 30 days", and how many healthy devices it would have pulled."""
    try:
        result = evaluate(read_trace(kind, path), load_policy(policy), horizon_days)
    except StoreError as e:
        fail_store(e)
    if as_json:
        emit_json(result)
        return
    for name, r in result["predictors"].items():
        click.echo(
            f"{name:36} decisions {r['decisions']:6}  pulled {r['pulled']:5}  precision {r['precision']}  "
            f"recall {r['recall']}  healthy pulled {r['healthy_pulled']} ({r['healthy_devices_pulled']} devices)"
        )
