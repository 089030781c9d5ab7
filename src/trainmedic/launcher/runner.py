"""Entry point of a supervised run: check the configuration, build the nodes, run the supervisor
(node 0) or follow it (other nodes). Used by `trainmedic run`, `trainmedic demo` and benchmarks."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainmedic.detect.progress import JobProgress
from trainmedic.launcher.config import RunConfig
from trainmedic.launcher.node import LocalNode
from trainmedic.launcher.rendezvous import LinkClosed, accept_nodes, follow
from trainmedic.launcher.supervisor import LaunchError, NodeLink, RunResult, Supervisor


def validate(cfg: RunConfig) -> None:
    """Raise LaunchError for a configuration that cannot run (before anything starts)."""
    if cfg.nproc_per_node < 1:
        raise LaunchError(f"--nproc-per-node must be at least 1, got {cfg.nproc_per_node}")
    if cfg.nnodes < 1:
        raise LaunchError(f"--nnodes must be at least 1, got {cfg.nnodes}")
    if not 0 <= cfg.node_rank < cfg.nnodes:
        raise LaunchError(
            f"--node-rank {cfg.node_rank} is outside 0..{cfg.nnodes - 1} (--nnodes {cfg.nnodes})"
        )
    if cfg.nnodes > 1 and cfg.master_port is None:
        raise LaunchError("several nodes need --master-port (node 0's rendezvous port) on every node")
    if cfg.max_restarts < 0:
        raise LaunchError(f"--max-restarts must be 0 or more, got {cfg.max_restarts}")
    if not cfg.argv:
        raise LaunchError(
            "no training command given", "put it after --: trainmedic run --nproc-per-node 4 -- train.py"
        )
    for key in ("WORLD_SIZE", "RANK"):
        if key in cfg.env:
            raise LaunchError(f"{key} is set by the launcher; do not pass it in the rank environment")
    if cfg.checkpoint_dir is not None and cfg.checkpoint_dir.exists() and not cfg.checkpoint_dir.is_dir():
        raise LaunchError(f"--checkpoint-dir {cfg.checkpoint_dir} exists and is not a directory")


def check_script(argv: tuple[str, ...]) -> None:
    """A missing script is a clear error here, not four identical tracebacks from the ranks."""
    if len(argv) >= 2 and argv[0] == sys.executable:
        rest = [a for a in argv[1:] if a != "-u"]
        if rest and rest[0] != "-m" and rest[0].endswith(".py") and not Path(rest[0]).is_file():
            raise LaunchError(f"training script {rest[0]} not found (cwd {os.getcwd()})")


def run(
    cfg: RunConfig,
    say: Callable[[str], None] = print,
    echo: Callable[[int, str], None] | None = None,
    on_event: Callable[[str, dict[str, Any]], None] | None = None,
    on_tick: Callable[[Supervisor, JobProgress, float], None] | None = None,
) -> RunResult:
    """Run the job described by `cfg` on this node; returns how it ended. Raises LaunchError."""
    validate(cfg)
    check_script(cfg.argv)
    if cfg.checkpoint_dir is not None:
        cfg.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    name = socket.gethostname() if cfg.nnodes > 1 else "localhost"
    if cfg.nnodes > 1:
        name = f"{name}#{cfg.node_rank}"  # several launchers may share one host (tests)
    base_env = dict(os.environ)
    base_env["GROUP_WORLD_SIZE"] = str(cfg.nnodes)
    local = LocalNode(
        node_rank=cfg.node_rank,
        name=name,
        argv=cfg.argv,
        base_env=base_env,
        extra_env=dict(cfg.env),
        max_restarts=cfg.max_restarts,
        run_id=cfg.job_name or "trainmedic",
        heartbeat_s=cfg.heartbeat_s,
        log_dir=cfg.log_dir,
        echo=echo,
        preload=cfg.preload if cfg.warm_standby else (),
    )
    if cfg.node_rank != 0:
        assert cfg.master_port is not None
        try:
            rc = follow(
                local, cfg.master_addr, cfg.master_port, cfg.nproc_per_node, cfg.join_timeout_s, say=say
            )
        except (TimeoutError, ValueError, OSError) as e:
            local.close()
            raise LaunchError(
                str(e), "start node 0 first with the same --master-addr/--master-port and --nnodes"
            ) from None
        return RunResult(rc, 0, reason="follower")
    nodes: list[NodeLink] = [local]
    server: socket.socket | None = None
    if cfg.nnodes > 1:
        assert cfg.master_port is not None
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            server.bind((cfg.master_addr, cfg.master_port))
        except OSError as e:
            local.close()
            raise LaunchError(
                f"cannot listen on {cfg.master_addr}:{cfg.master_port}: {e.strerror}",
                "pick another --master-port",
            ) from None
        server.listen(64)
        say(
            f"[trainmedic] node 0: waiting for {cfg.nnodes - 1} more node(s) on {cfg.master_addr}:{cfg.master_port}"
        )
        try:
            nodes += accept_nodes(server, list(range(1, cfg.nnodes)), cfg.nproc_per_node, cfg.join_timeout_s)
        except (TimeoutError, ValueError) as e:
            local.close()
            server.close()
            raise LaunchError(
                str(e), "start a launcher on every node with the same --nnodes and --master-port"
            ) from None
    slots = {n.node_rank: cfg.nproc_per_node for n in nodes}
    sup = Supervisor(cfg, nodes, slots, say=say, on_event=on_event, on_tick=on_tick)
    try:
        return sup.run()
    except LinkClosed as e:
        raise LaunchError(f"{e}; stopped all ranks", "check that node's launcher output") from None
    finally:
        if server is not None:
            server.close()
