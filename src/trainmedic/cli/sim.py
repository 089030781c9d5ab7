"""`trainmedic sim`: simulated jobs with injected faults (`logs`), labelled suites (`suite`) and the
goodput what-if (`goodput`). Thin over `trainmedic.sim`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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
