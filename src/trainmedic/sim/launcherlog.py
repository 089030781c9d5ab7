"""What the launchers print: torchrun's agent on each node (start-up banner, "Sending process N closing
signal SIGTERM", "failed (exitcode: X) local_rank: R", the ChildFailedError summary) and, for Slurm,
srun's messages in the batch output. Formats are torchelastic 2.x and Slurm 23.x verbatim.

Called by `sim.job`.
"""

from __future__ import annotations

import random
import signal

from trainmedic.sim import timefmt
from trainmedic.sim.fates import End, Fate, NodeEnd
from trainmedic.sim.noise import AGENT_BANNER, PY_SITE
from trainmedic.sim.plan import JobPlan, hash_int, rank_pid

_API = "torch/distributed/elastic/multiprocessing/api.py"


def _signame(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"SIG{-code}"


def agent_log(plan: JobPlan, node: int, end: NodeEnd, skew: float) -> str:
    """The torchrun agent's console on `node` (written as DIR/logs/<node>/torchrun.log)."""
    apid = 1000 + hash_int(f"{plan.node_seed}:agent:{node}") % 9000
    t0 = plan.t_start + skew - 1.5
    out = [f"{timefmt.elastic(t0)} {apid} torch/distributed/run.py:793] {line}\n" for line in AGENT_BANNER]
    if end.kill_at is None or end.first is None:
        return "".join(out)
    k = plan.topo.cards_per_node
    t = end.kill_at + skew
    exited_before = {f.rank for f in end.fates if f.exit_at is not None and f.exit_at <= end.kill_at}
    for f in end.fates:
        if f.rank in exited_before or f.end is End.LOST:
            continue
        out.append(f"{timefmt.elastic(t)} {apid} {_API}:897] Sending process {rank_pid(plan.node_seed, f.rank)} "
                   "closing signal SIGTERM\n")
    t_fail = t + 0.02
    stuck = [f for f in end.fates if f.stuck and f.exit_code == -9]
    for f in stuck:
        t_fail = end.kill_at + 30.0 + skew
        out.append(f"{timefmt.elastic(t_fail)} {apid} {_API}:914] Unable to shutdown process "
                   f"{rank_pid(plan.node_seed, f.rank)} via 15, forcefully exiting via 9\n")
    first = end.first
    fpid = rank_pid(plan.node_seed, first.rank)
    out.append(f"{timefmt.elastic(t_fail + 0.01, 'E')} {apid} {_API}:869] failed (exitcode: {first.exit_code}) "
               f"local_rank: {first.rank % k} (pid: {fpid}) of binary: /usr/bin/python3\n")
    out += _summary(plan, node, end, first, skew)
    return "".join(out)


def _summary(plan: JobPlan, node: int, end: NodeEnd, first: Fate, skew: float) -> list[str]:
    host = plan.topo.node_name(node)
    k = plan.topo.cards_per_node
    lines = [
        "Traceback (most recent call last):",
        '  File "/usr/local/bin/torchrun", line 8, in <module>',
        "    sys.exit(main())",
        f'  File "{PY_SITE}/torch/distributed/elastic/multiprocessing/errors/__init__.py", line 355, in wrapper',
        "    return f(*args, **kwargs)",
        f'  File "{PY_SITE}/torch/distributed/run.py", line 919, in main',
        "    run(args)",
        f'  File "{PY_SITE}/torch/distributed/run.py", line 910, in run',
        "    elastic_launch(",
        f'  File "{PY_SITE}/torch/distributed/launcher/api.py", line 138, in __call__',
        "    return launch_agent(self._config, self._entrypoint, list(args))",
        f'  File "{PY_SITE}/torch/distributed/launcher/api.py", line 269, in launch_agent',
        "    raise ChildFailedError(",
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
        "============================================================",
        "train.py FAILED",
        "------------------------------------------------------------",
        "Failures:",
    ]
    others = [f for f in end.failures if f.rank != first.rank]
    if not others:
        lines.append("  <NO_OTHER_FAILURES>")
    for i, f in enumerate(others, start=1):
        lines += _block(plan, host, k, i, f, skew)
    lines += ["------------------------------------------------------------", "Root Cause (first observed failure):"]
    lines += _block(plan, host, k, 0, first, skew)
    lines.append("============================================================")
    return [line + "\n" for line in lines]


def _block(plan: JobPlan, host: str, k: int, i: int, f: Fate, skew: float) -> list[str]:
    pid = rank_pid(plan.node_seed, f.rank)
    code = f.exit_code if f.exit_code is not None else 1
    has_file = f.end is End.EXCEPTION or (code == 1 and f.end in (End.FAULT_LINE, End.TIMEOUT, End.REMOTE_ERROR))
    err_file = (f"/var/log/torchelastic/{plan.job_id}/attempt_0/{f.rank % k}/error.json" if has_file else "<N/A>")
    if code < 0:
        tb = f"Signal {-code} ({_signame(code)}) received by PID {pid}"
    elif has_file:
        tb = "Traceback (most recent call last):"
    else:
        tb = "To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html"
    return [
        f"[{i}]:",
        f"  time      : {timefmt.elastic_summary((f.exit_at or f.at) + skew)}",
        f"  host      : {host}",
        f"  rank      : {f.rank} (local_rank: {f.rank % k})",
        f"  exitcode  : {code} (pid: {pid})",
        f"  error_file: {err_file}",
        f"  traceback : {tb}",
    ]


def srun_log(plan: JobPlan, ends: dict[int, NodeEnd], kill_at: float | None) -> str:
    """srun's messages in the batch output (DIR/logs/slurm-<jobid>.out) for `--layout slurm`."""
    rng = random.Random(f"{plan.node_seed}:srun-log")
    k = plan.topo.cards_per_node
    out = [f"+ srun --kill-on-bad-exit=1 --ntasks-per-node={k} --output=slurm-%j.%t.out python train.py\n"]
    if kill_at is None:
        return "".join(out)
    exits = sorted((f for e in ends.values() for f in e.fates
                    if f.exit_at is not None and f.exit_at <= kill_at and f.exit_code != -15),
                   key=lambda f: (f.exit_at or 0.0, f.rank))
    for i, f in enumerate(exits):
        out.append(f"srun: error: {plan.topo.node_name(f.rank // k)}: task {f.rank}: {_how(f)}\n")
        if i == 0:
            out.append("srun: Job step aborted: Waiting up to 32 seconds for job step to finish.\n")
    when = timefmt.journal(kill_at).replace("+0000", "")
    for node in sorted(ends):
        if all(f.end is End.LOST for f in ends[node].fates):
            out.append(f"srun: error: Node failure on {plan.topo.node_name(node)}\n")
            continue
        if rng.random() < 0.2 or node == min(ends):
            out.append(f"slurmstepd: error: *** STEP {plan.job_id}.0 ON {plan.topo.node_name(node)} "
                       f"CANCELLED AT {when} ***\n")
    for node in sorted(ends):
        killed = [f.rank for f in ends[node].fates if f.exit_code == -15]
        if killed:
            span = f"task {killed[0]}" if len(killed) == 1 else f"tasks {killed[0]}-{killed[-1]}"
            out.append(f"srun: error: {plan.topo.node_name(node)}: {span}: Terminated\n")
    out.append(f"srun: error: Timed out waiting for job step to complete\nsrun: Force Terminated job step {plan.job_id}.0\n")
    return "".join(out)


def _how(f: Fate) -> str:
    code = f.exit_code if f.exit_code is not None else 1
    if code >= 0:
        return f"Exited with exit code {code}"
    return {-9: "Killed", -6: "Aborted (core dumped)", -11: "Segmentation fault (core dumped)",
            -7: "Bus error (core dumped)", -15: "Terminated"}.get(code, f"Killed by signal {-code}")
