"""`trainmedic run`: a torchrun-compatible launcher that detects, localizes and recovers faults."""

from __future__ import annotations

import shlex
import signal
import sys
from pathlib import Path
from typing import Any

import click

from trainmedic.cli.output import emit_json, fail
from trainmedic.launcher.config import DEFAULT_STEP_PATTERN, RunConfig
from trainmedic.launcher.node import default_argv
from trainmedic.launcher.runner import run as run_job
from trainmedic.launcher.supervisor import LaunchError


def _timeout(value: str) -> float | None:
    if value == "auto":
        return None
    try:
        v = float(value)
    except ValueError:
        raise click.BadParameter(f"expected 'auto' or seconds, got {value!r}") from None
    if v <= 0:
        raise click.BadParameter("must be positive")
    return v


def _sigterm(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


@click.command(context_settings={"ignore_unknown_options": False, "help_option_names": ["-h", "--help"]})
@click.option(
    "--nproc-per-node",
    "--nproc_per_node",
    "nproc",
    type=int,
    default=1,
    show_default=True,
    help="Ranks on this node.",
)
@click.option(
    "--nnodes", type=int, default=1, show_default=True, help="Nodes in the job (one launcher each)."
)
@click.option(
    "--node-rank",
    "--node_rank",
    "node_rank",
    type=int,
    default=0,
    show_default=True,
    help="This node's index (0 coordinates).",
)
@click.option(
    "--master-addr",
    "--master_addr",
    "master_addr",
    default="127.0.0.1",
    show_default=True,
    help="Address of node 0.",
)
@click.option(
    "--master-port",
    "--master_port",
    "master_port",
    type=int,
    default=None,
    help="One node: torch store port (default: a free one). Several nodes: trainmedic's rendezvous port on node 0.",
)
@click.option(
    "--standalone", is_flag=True, help="Accepted for torchrun compatibility (one node is the default)."
)
@click.option(
    "--checkpoint-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Job's checkpoint directory: restarts resume from its newest complete checkpoint; incidents go to DIR/incidents/.",
)
@click.option(
    "--max-restarts",
    "--max_restarts",
    "max_restarts",
    type=int,
    default=3,
    show_default=True,
    help="Restarts before stopping with a verdict.",
)
@click.option(
    "--hang-timeout",
    default="auto",
    show_default=True,
    help="Seconds without a finished step that make a hang, or 'auto' (5 x p99 step interval, at least --hang-floor).",
)
@click.option(
    "--hang-floor", type=float, default=3.0, show_default=True, help="Smallest auto hang timeout, seconds."
)
@click.option(
    "--start-timeout",
    type=float,
    default=300.0,
    show_default=True,
    help="Seconds allowed until the first step finishes.",
)
@click.option(
    "--allow-shrink",
    is_flag=True,
    help="On a hardware verdict, restart without the culprit card instead of stopping.",
)
@click.option("--dry-run", is_flag=True, help="Detect, localize, classify and record; never stop or restart.")
@click.option(
    "--stop-timeout",
    type=float,
    default=3.0,
    show_default=True,
    help="Seconds between SIGTERM and SIGKILL when stopping ranks.",
)
@click.option(
    "--step-pattern",
    default=DEFAULT_STEP_PATTERN,
    show_default=True,
    help="Regex for step lines (group 1 = step) in scripts without trainmedic.train.",
)
@click.option("--no-straggler", is_flag=True, help="Do not act on stragglers.")
@click.option("--job-name", default="", help="Name in incident ids (default: the script's name).")
@click.option(
    "--db",
    "db_url",
    default=None,
    help="Fleet store to record incidents in [default: TRAINMEDIC_DB_URL, else the default SQLite file if it exists].",
)
@click.option(
    "--log-dir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Also write each rank's output to DIR/attempt_K/rank_R.log.",
)
@click.option(
    "--echo", default="all", show_default=True, help="Ranks whose output is shown: all, none, or e.g. 0,3."
)
@click.option(
    "--join-timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="Several nodes: seconds to wait for all launchers.",
)
@click.option(
    "--warm-standby/--no-warm-standby",
    default=True,
    show_default=True,
    help="Keep ready processes (torch imported) for a fast restart.",
)
@click.option(
    "--preload", default="torch", show_default=True, help="Comma list of modules warm standbys import ahead."
)
@click.option("-m", "--module", is_flag=True, help="Run the command as a Python module (python -m).")
@click.option("--no-python", is_flag=True, help="Run the command as is, not with python.")
@click.option(
    "--json", "as_json", is_flag=True, help="Print a JSON summary at the end (rank output goes to stderr)."
)
@click.argument("command", nargs=-1, type=click.UNPROCESSED, required=True)
def run(
    nproc: int,
    nnodes: int,
    node_rank: int,
    master_addr: str,
    master_port: int | None,
    standalone: bool,
    checkpoint_dir: Path | None,
    max_restarts: int,
    hang_timeout: str,
    hang_floor: float,
    start_timeout: float,
    allow_shrink: bool,
    dry_run: bool,
    stop_timeout: float,
    step_pattern: str,
    no_straggler: bool,
    job_name: str,
    db_url: str | None,
    log_dir: Path | None,
    echo: str,
    join_timeout: float,
    warm_standby: bool,
    preload: str,
    module: bool,
    no_python: bool,
    as_json: bool,
    command: tuple[str, ...],
) -> None:
    """Run a training job under supervision: trainmedic run [OPTIONS] -- SCRIPT [ARGS].

    Sets RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT (and the
    TORCHELASTIC_* variables) like torchrun, so unmodified torchrun scripts run. On a crash, hang,
    straggler, NaN loss or exception it names the culprit rank and card, classifies the fault,
    stops every rank and restarts from the newest complete checkpoint, and records the incident.
    """
    try:
        timeout = _timeout(hang_timeout)
    except click.BadParameter as e:
        fail(f"--hang-timeout: {e.message}", code=2)
    out = sys.stderr if as_json else sys.stdout
    which: set[int] | None
    if echo == "all":
        which = None
    elif echo == "none":
        which = set()
    else:
        try:
            which = {int(x) for x in echo.split(",") if x.strip()}
        except ValueError:
            fail(f"--echo: expected all, none or a comma list of ranks, got {echo!r}", code=2)

    def show_rank(rank: int, line: str) -> None:
        if which is None or rank in which:
            print(f"[rank{rank}]: {line}", file=out, flush=True)

    def say(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    cfg = RunConfig(
        argv=tuple(default_argv(command, module=module, no_python=no_python)),
        nproc_per_node=nproc,
        nnodes=nnodes,
        node_rank=node_rank,
        master_addr=master_addr,
        master_port=master_port,
        checkpoint_dir=checkpoint_dir,
        max_restarts=max_restarts,
        hang_timeout_s=timeout,
        hang_floor_s=hang_floor,
        start_timeout_s=start_timeout,
        allow_shrink=allow_shrink,
        dry_run=dry_run,
        stop_timeout_s=stop_timeout,
        step_pattern=step_pattern,
        straggler=not no_straggler,
        job_name=job_name,
        db_url=db_url,
        log_dir=log_dir,
        echo=echo,
        join_timeout_s=join_timeout,
        warm_standby=warm_standby,
        preload=tuple(m.strip() for m in preload.split(",") if m.strip()),
    )
    signal.signal(signal.SIGTERM, _sigterm)
    signal.signal(signal.SIGHUP, _sigterm)
    try:
        result = run_job(cfg, say=say, echo=show_rank)
    except LaunchError as e:
        code = 2 if "must be" in str(e) or "outside" in str(e) else 1
        fail(str(e), e.hint or None, code=code)
    if as_json:
        emit_json(
            {
                "rc": result.rc,
                "attempts": result.attempts,
                "reason": result.reason,
                "final_step": result.final_step,
                "command": shlex.join(command),
                "incidents": result.incidents,
            }
        )
    sys.exit(result.rc)
