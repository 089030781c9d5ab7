"""`trainmedic sim`: simulated jobs with injected faults (`logs`), labelled suites (`suite`) and the
goodput what-if (`goodput`). Thin over `trainmedic.sim`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from trainmedic.catalog import CatalogLoadError, load_catalog
from trainmedic.cli.output import emit_json, fail, is_terminal


@click.group("sim")
def sim() -> None:
    """Simulate 18,432-card jobs, faults, telemetry and goodput."""


@contextmanager
def _progress(label: str, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not enabled:
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeRemainingColumn(), transient=True) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _catalog():  # type: ignore[no-untyped-def]
    try:
        return load_catalog()
    except CatalogLoadError as exc:
        fail(str(exc), "run `trainmedic catalog check` and fix the rule files")


@sim.command("logs")
@click.option("--nodes", type=int, default=2304, show_default=True, help="Servers in the job.")
@click.option("--cards-per-node", type=int, default=8, show_default=True, help="Accelerator cards per server.")
@click.option("--fault", default="random", show_default=True,
              help="A catalog rule id, a fault id, a scenario (line_fault, silent_hang, ...) or random.")
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--out", "out", type=click.Path(path_type=Path), help="New or empty directory to write the job to.")
@click.option("--layout", type=click.Choice(["torchrun", "slurm"]), default="torchrun", show_default=True)
@click.option("--kernel-format", type=click.Choice(["dmesg", "journal", "mixed"]), default="mixed", show_default=True)
@click.option("--backend", type=click.Choice(["nccl", "gloo"]), default="nccl", show_default=True)
@click.option("--timeout-s", type=float, default=None, help="Collective timeout [default: 600 nccl, 1800 gloo].")
@click.option("--max-skew-s", type=float, default=3.0, show_default=True, help="Per-node clock skew bound.")
@click.option("--rank-log-kb", type=float, default=32.0, show_default=True, help="Approximate size of each rank's stdout.")
@click.option("--no-meta", is_flag=True, help="Leave out DIR/meta (nvidia-smi captures).")
@click.option("--workers", type=int, default=None, help="Writer processes [default: up to 4 cores].")
@click.option("--list-faults", is_flag=True, help="List what --fault accepts and exit.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def logs(nodes: int, cards_per_node: int, fault: str, seed: int, out: Path | None, layout: str, kernel_format: str,
         backend: str, timeout_s: float | None, max_skew_s: float, rank_log_kb: float, no_meta: bool,
         workers: int | None, list_faults: bool, as_json: bool) -> None:
    """Write a job's logs with one injected fault, and truth.json (written last) naming the culprit."""
    from trainmedic.sim.faults import UnknownFaultError
    from trainmedic.sim.faults import list_faults as listing
    from trainmedic.sim.job import SimWriteError, write_job
    from trainmedic.sim.plan import SimInputError, SimOptions
    from trainmedic.sim.topology import TopologyError

    catalog = _catalog()
    if list_faults:
        data = listing(catalog)
        if as_json:
            emit_json(data)
            return
        click.echo("scenarios: " + ", ".join(data["scenarios"]))  # type: ignore[arg-type]
        click.echo("known faults: " + ", ".join(data["known_faults"]))  # type: ignore[arg-type]
        click.echo("default mix (Llama 3 table, 419 interruptions):")
        for row in data["mix"]:  # type: ignore[attr-defined]
            click.echo(f"  {row['count']:4d}  {row['category']:<38} {row['scenario']:<15} {row['rules']} rules")
        click.echo(f"catalog rules ({len(data['rules'])}):")  # type: ignore[arg-type]
        for r in data["rules"]:  # type: ignore[attr-defined]
            click.echo(f"  {r['id']:<40} {r['component']:<13} {'/'.join(r['seen_in']):<10} {r['title']}")
        return
    if out is None:
        fail("--out is required", "pass a new directory, e.g. --out /tmp/job1", code=2)
    if workers is not None and workers < 1:
        fail(f"--workers {workers}: need at least 1", code=2)
    opts = SimOptions(nodes=nodes, cards_per_node=cards_per_node, fault=fault, seed=seed, layout=layout,
                      kernel_format=kernel_format, backend=backend, timeout_s=timeout_s, max_skew_s=max_skew_s,
                      rank_log_kb=rank_log_kb, meta=not no_meta)
    try:
        with _progress(f"writing {nodes} nodes", is_terminal() and not as_json) as bar:
            res = write_job(opts, out, catalog=catalog, workers=workers, progress=bar)
    except (TopologyError, SimInputError) as exc:
        fail(str(exc), "check --nodes / --cards-per-node and the other sizes", code=2)
    except UnknownFaultError as exc:
        fail(str(exc), "run `trainmedic sim logs --list-faults`", code=2)
    except SimWriteError as exc:
        fail(str(exc))
    t = res.truth
    summary = {
        "out": str(res.out), "files": res.files, "bytes": res.bytes, "seconds": round(res.seconds, 3),
        "mb_per_s": round(res.bytes / 1e6 / max(res.seconds, 1e-9), 1), "truth": t,
    }
    if as_json:
        summary["truth"] = {k: v for k, v in t.items() if k != "clock_skew_s"}
        emit_json(summary)
        return
    culprit = t["culprit"]
    where = (f"rank {culprit['rank']} ({culprit['node']} local {culprit['local_rank']}, "
             f"{culprit['card']['bus_id']})" if culprit else "no hardware culprit")
    click.echo(f"wrote {res.files} files, {res.bytes / 1e6:.1f} MB in {res.seconds:.1f} s to {res.out}")
    click.echo(f"scenario {t['scenario']}: {t['fault']} ({t['rule'] or 'no line'}) on {where}")



@sim.command("suite")
@click.option("--count", type=int, required=True, help="Incidents to generate.")
@click.option("--out", "out", type=click.Path(path_type=Path), required=True, help="New or empty directory.")
@click.option("--cards", default="64,512,4096,18432", show_default=True,
              help="Job sizes in cards, comma-separated; incidents cycle through them.")
@click.option("--cards-per-node", type=int, default=8, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True, help="Same seed, same bytes.")
@click.option("--rank-log-kb", type=float, default=4.0, show_default=True, help="Approximate size of each rank's stdout.")
@click.option("--workers", type=int, default=None, help="Writer processes per job [default: up to 4 cores].")
@click.option("--json", "as_json", is_flag=True, help="Print the index as JSON.")
def suite(count: int, out: Path, cards: str, cards_per_node: int, seed: int, rank_log_kb: float,
          workers: int | None, as_json: bool) -> None:
    """A labelled set of incidents across all scenarios and sizes; DIR/index.json is written last."""
    from trainmedic.sim.faults import UnknownFaultError
    from trainmedic.sim.job import SimWriteError
    from trainmedic.sim.plan import SimInputError
    from trainmedic.sim.suite import write_suite
    from trainmedic.sim.topology import TopologyError

    try:
        sizes = [int(c) for c in cards.split(",") if c.strip()]
    except ValueError:
        fail(f"--cards {cards!r}: give card counts separated by commas, e.g. 64,18432", code=2)
    if not sizes:
        fail("--cards is empty", code=2)
    catalog = _catalog()
    try:
        with _progress(f"writing {count} incidents", is_terminal() and not as_json) as bar:
            index = write_suite(out, count, cards=sizes, seed=seed, rank_log_kb=rank_log_kb,
                                cards_per_node=cards_per_node, catalog=catalog, workers=workers, progress=bar)
    except (TopologyError, SimInputError, UnknownFaultError) as exc:
        fail(str(exc), code=2)
    except SimWriteError as exc:
        fail(str(exc), "the suite is incomplete (no index.json)")
    if as_json:
        emit_json(index)
        return
    click.echo(f"wrote {index['count']} incidents ({index['bytes'] / 1e6:.1f} MB, {index['files']} files) to {out}")
    click.echo("by scenario: " + ", ".join(f"{k} {v}" for k, v in sorted(index["by_scenario"].items())))

@sim.command("goodput")
@click.option("--cards", type=int, default=18432, show_default=True, help="Accelerator cards in the job (8 per node).")
@click.option("--days", type=float, default=30.0, show_default=True, help="Length of the job (wall-clock days).")
@click.option("--detect-s", type=float, default=60.0, show_default=True, help="Seconds from failure to detection.")
@click.option("--localize-s", type=float, default=120.0, show_default=True, help="Seconds to name the culprit card.")
@click.option("--recover-s", type=float, default=180.0, show_default=True, help="Seconds to resume from checkpoint.")
@click.option("--ckpt-interval-s", type=float, default=None, help="Compute seconds between checkpoints [default: Daly-optimal].")
@click.option("--ckpt-write-s", type=float, default=6.0, show_default=True, help="Seconds a checkpoint blocks training.")
@click.option("--rate", default="llama3", show_default=True,
              help="Failures per 1,000 node-days: a number or llama3, llama3-all, rsc1, rsc2, ft-hsdp.")
@click.option("--runs", type=int, default=None, help="Monte Carlo runs [default: enough for ~20,000 failures].")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--compare", is_flag=True, help="Also run the origin story and stock timeouts side by side.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def goodput(cards: int, days: float, detect_s: float, localize_s: float, recover_s: float,
            ckpt_interval_s: float | None, ckpt_write_s: float, rate: str, runs: int | None, seed: int,
            compare: bool, as_json: bool) -> None:
    """Monte Carlo of failures at published rates: ETTR, hours lost by cause, optimal checkpoint interval."""
    import math

    from trainmedic.sim.goodput import (
        RATES,
        GoodputInputError,
        Policy,
        comparison,
        daly_s,
        mtbf_s,
        simulate,
        young_s,
    )

    if cards < 1 or not 0 < days <= 3650:
        fail(f"--cards {cards} / --days {days}: need at least 1 card and 0 < days <= 3650", code=2)
    try:
        r_f = RATES[rate] if rate in RATES else float(rate)
    except ValueError:
        fail(f"--rate {rate!r}: give a number or one of {', '.join(RATES)}", code=2)
    if not r_f > 0:
        fail(f"--rate {rate}: must be > 0 failures per 1,000 node-days", code=2)
    m = mtbf_s(cards, r_f)
    downtime = detect_s + localize_s + recover_s
    tau = ckpt_interval_s if ckpt_interval_s is not None else daly_s(m, ckpt_write_s, downtime)
    user = Policy("this run" if not compare else "trainmedic (given figures)", detect_s, localize_s, recover_s,
                  tau, ckpt_write_s)
    horizon = days * 86400.0
    n_runs = runs if runs is not None else max(10, min(2000, math.ceil(20_000 * m / horizon)))
    if n_runs < 1:
        fail(f"--runs {runs}: need at least 1", code=2)
    policies = comparison(user) if compare else [user]
    try:
        outcomes = [simulate(p, m, horizon, n_runs, seed) for p in policies]
    except GoodputInputError as exc:
        fail(str(exc), "times must be >= 0 and the checkpoint interval > 0", code=2)
    best_tau = daly_s(m, ckpt_write_s, downtime)
    best = simulate(Policy("daly-optimal", detect_s, localize_s, recover_s, best_tau, ckpt_write_s), m, horizon,
                    n_runs, seed)
    data: dict[str, Any] = {
        "cards": cards, "nodes": math.ceil(cards / 8), "days": days, "rate_per_1000_node_days": r_f,
        "mtbf_h": round(m / 3600, 3), "failures_per_day": round(86400 / m, 2), "runs": n_runs,
        "policies": [o.to_dict(cards) for o in outcomes],
        "optimal_checkpoint": {
            "young_s": round(young_s(m, ckpt_write_s), 1), "daly_s": round(best_tau, 1),
            "ettr_at_daly": round(best.ettr, 5), "ettr_at_daly_closed_form": round(best.ettr_closed_form or 0, 5),
        },
    }
    if as_json:
        emit_json(data)
        return
    click.echo(f"{cards} cards ({data['nodes']} nodes), {days:g} days, {r_f} failures/1,000 node-days: "
               f"MTBF {data['mtbf_h']} h, {data['failures_per_day']} failures/day ({n_runs} runs)")
    for o in outcomes:
        d = o.to_dict(cards)
        cf = "n/a" if d["ettr_closed_form"] is None else f"{d['ettr_closed_form'] * 100:.1f}%"
        ck = "none" if d["ckpt_interval_s"] is None else f"{d['ckpt_interval_s'] / 60:.1f} min"
        click.echo(f"\n{d['name']}\n  downtime/failure {d['downtime_s'] / 60:.1f} min, checkpoint every {ck} "
                   f"(blocks {d['ckpt_write_s']:g} s)\n  ETTR {d['ettr'] * 100:.1f}% (closed form {cf}), "
                   f"{d['failures']:.0f} failures, goodput {d['goodput_card_hours']:,.0f} card-hours")
        h = d["hours"]
        click.echo(f"  hours: useful {h['useful']:.1f}, downtime {h['downtime']:.1f}, lost work "
                   f"{h['rollback']:.1f}, checkpoint writes {h['checkpoint']:.1f}")
        top = list(d["hours_lost_by_cause"].items())[:5]
        click.echo("  lost by cause: " + ", ".join(f"{k} {v:.1f} h" for k, v in top))
    oc = data["optimal_checkpoint"]
    click.echo(f"\noptimal checkpoint interval: Young {oc['young_s'] / 60:.1f} min, Daly {oc['daly_s'] / 60:.1f} min "
               f"-> ETTR {oc['ettr_at_daly'] * 100:.1f}% (closed form {oc['ettr_at_daly_closed_form'] * 100:.1f}%)")
