"""Settings of one supervised run (`trainmedic run`), with defaults and one line each."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_STEP_PATTERN = r"(?i)\bstep[\s=:#]*(\d+)"


@dataclass(frozen=True, slots=True)
class RunConfig:
    """Everything `trainmedic run` needs; the CLI builds it, tests build it directly."""

    argv: tuple[str, ...]
    """The rank command after `--` (script and its arguments), as the launcher runs it."""
    nproc_per_node: int = 1
    """Ranks on this node."""
    nnodes: int = 1
    """Nodes in the job (one launcher per node)."""
    node_rank: int = 0
    """This node's index; node 0 hosts the rendezvous and decides."""
    master_addr: str = "127.0.0.1"
    """Address of node 0."""
    master_port: int | None = None
    """One node: torch's store port (free port if None). Several: trainmedic's rendezvous port."""
    checkpoint_dir: Path | None = None
    """Where the job writes checkpoints; incidents are written to `<dir>/incidents/`."""
    max_restarts: int = 3
    """Restarts allowed before the launcher stops with a verdict."""
    hang_timeout_s: float | None = None
    """Fixed hang timeout; None learns it from step times (auto)."""
    hang_floor_s: float = 3.0
    """Smallest auto hang timeout."""
    start_timeout_s: float = 300.0
    """Time allowed before the first step of an attempt finishes."""
    allow_shrink: bool = False
    """On a hardware verdict, restart without the culprit card instead of stopping."""
    dry_run: bool = False
    """Detect, localize, classify and record, but neither stop nor restart anything."""
    stop_timeout_s: float = 3.0
    """Seconds ranks get to exit on SIGTERM before SIGKILL."""
    step_pattern: str = DEFAULT_STEP_PATTERN
    """Regex whose first group is the step number, for scripts without trainmedic.train."""
    straggler: bool = True
    """Run the straggler detector."""
    job_name: str = ""
    """Name used in incident ids (default: the script's name)."""
    incident_dir: Path | None = None
    db_url: str | None = None
    """Fleet store URL; None: TRAINMEDIC_DB_URL, else the default SQLite file when it exists."""
    """Where incidents go when there is no checkpoint dir (default ./trainmedic-incidents)."""
    log_dir: Path | None = None
    """If set, each rank's output is also written to `<dir>/attempt_<k>/rank_<r>.log`."""
    echo: str = "all"
    """Which ranks' output to echo: all, none, or a comma list of ranks."""
    join_timeout_s: float = 60.0
    """Several nodes: how long node 0 waits for the others to join."""
    heartbeat_s: float = 0.1
    """Interval of in-job heartbeats."""
    warm_standby: bool = True
    """Keep processes with `preload` already imported, ready to become the next attempt's ranks."""
    preload: tuple[str, ...] = ("torch",)
    """Modules warm standbys import ahead of time."""
    env: dict[str, str] = field(default_factory=dict)
    """Extra environment for every rank (tests, demo)."""

    @property
    def world_size(self) -> int:
        return self.nproc_per_node * self.nnodes


def script_name(argv: Sequence[str]) -> str:
    """`train` for `python -u train.py ...`, the module for `python -m pkg.mod`, else the program."""
    args = list(argv)
    if args and Path(args[0]).name.startswith("python"):
        args = [a for a in args[1:] if a != "-u"]
        if args and args[0] == "-m" and len(args) > 1:
            return args[1].rsplit(".", 1)[-1]
    return Path(args[0]).stem if args else "job"
