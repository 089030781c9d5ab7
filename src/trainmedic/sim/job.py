"""Write one simulated job to disk (layout in SIM_FORMAT.md): per-rank logs, kernel logs, launcher
logs, nvidia-smi captures, and truth.json last (atomically), streaming node by node over a process
pool so memory stays bounded whatever the job size.

Called by `trainmedic sim logs` and `sim.suite`.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainmedic.catalog import Catalog, load_catalog
from trainmedic.sim.fates import End, NodeEnd, node_end, slurm_kill_at
from trainmedic.sim.faults import FaultChoice
from trainmedic.sim.kernel import kernel_format, kernel_log
from trainmedic.sim.launcherlog import agent_log, srun_log
from trainmedic.sim.noise import safe_keys
from trainmedic.sim.plan import JobPlan, SimOptions, make_plan
from trainmedic.sim.ranklog import JobText, RankWriter

TRUTH = "truth.json"


class SimWriteError(OSError):
    """Writing the job failed (full disk, no permission); the job directory has no truth.json."""


@dataclass(frozen=True, slots=True)
class JobResult:
    """What was written and how long it took."""

    out: Path
    files: int
    bytes: int
    seconds: float
    truth: dict[str, Any]


@dataclass
class _State:
    plan: JobPlan
    text: JobText
    safe: frozenset[str]
    out: Path
    kill_at: float | None


_STATE: _State | None = None


_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_CLOEXEC", 0)


def _write(path: Path | str, text: str) -> int:
    data = text.encode("utf-8")
    fd = os.open(path, _FLAGS, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)
    return len(data)


def write_node(node: int) -> tuple[int, int, int, NodeEnd | None]:
    """Write every file of one node. Returns (node, files, bytes, its end when srun needs it)."""
    st = _STATE
    assert st is not None
    plan, out = st.plan, st.out
    topo = plan.topo
    k = topo.cards_per_node
    skew = plan.skew(node)
    end = node_end(plan, node, st.kill_at)
    writer = RankWriter(plan, st.text, node, skew, st.safe)
    host = topo.node_name(node)
    files = written = 0
    slurm = plan.opts.layout == "slurm"
    logs = f"{out}/logs"
    base = f"{logs}/{host}/attempt_0"
    for f in end.fates:
        local = f.rank % k
        stdout = writer.stdout(f.rank, f)
        stderr = writer.stderr(f.rank, f)
        if slurm:
            written += _write(f"{logs}/slurm-{plan.job_id}.{f.rank}.out", stdout + stderr)
            files += 1
            continue
        rank_dir = f"{base}/{local}"
        os.makedirs(rank_dir, exist_ok=True)
        written += _write(f"{rank_dir}/stdout.log", stdout) + _write(f"{rank_dir}/stderr.log", stderr)
        files += 2
        err = writer.error_json(f.rank, f)
        if err is not None:
            written += _write(f"{rank_dir}/error.json", err)
            files += 1
    if not slurm:
        written += _write(out / "logs" / host / "torchrun.log", agent_log(plan, node, end, skew))
        files += 1
    ext = "dmesg" if kernel_format(plan, node) == "dmesg" else "journal"
    written += _write(out / "kernel" / f"{host}.{ext}", kernel_log(plan, node, end, skew, st.safe))
    files += 1
    if plan.opts.meta:
        rows = ["index, pci.bus_id, serial, uuid"]
        for local in range(k):
            card = topo.card(node, local)
            rows.append(f"{local}, {card.bus_id}, {card.serial}, {card.uuid}")
        written += _write(out / "meta" / "nvidia-smi" / f"{host}.csv", "\n".join(rows) + "\n")
        files += 1
    keep = end if slurm and any(f.exit_at is not None or f.end is End.LOST for f in end.fates) else None
    return node, files, written, keep


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise SimWriteError(f"{out} exists and is not a directory; pass a new directory to --out")
    if out.is_dir() and any(out.iterdir()):
        raise SimWriteError(f"{out} is not empty; pass a new or empty directory to --out (nothing was written)")


def write_atomic(path: Path, data: str) -> None:
    """Write `data` to `path` through a temporary file and a rename, so readers never see half of it."""
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_job(
    opts: SimOptions,
    out: Path,
    *,
    catalog: Catalog | None = None,
    choice: FaultChoice | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> JobResult:
    """Generate the job described by `opts` under `out`; truth.json is written last.

    Raises:
        SimInputError / UnknownFaultError / TopologyError: bad options (nothing written).
        SimWriteError: the disk is full or not writable (no truth.json: the job reads as incomplete).
    """
    global _STATE
    t_begin = time.perf_counter()
    catalog = catalog or load_catalog()
    plan = make_plan(opts, catalog, choice)
    _check_out(out)
    try:
        for sub in ("logs", "kernel", *(("meta/nvidia-smi",) if opts.meta else ())):
            (out / sub).mkdir(parents=True, exist_ok=True)
        kill_at = slurm_kill_at(plan) if opts.layout == "slurm" else None
        _STATE = _State(plan, JobText.build(plan), safe_keys(catalog), out, kill_at)
        nodes = plan.topo.nodes
        n_workers = workers if workers is not None else (min(os.cpu_count() or 1, 4) if nodes >= 16 else 1)
        files = written = done = 0
        ends: dict[int, NodeEnd] = {}

        def account(res: tuple[int, int, int, NodeEnd | None]) -> None:
            nonlocal files, written, done
            node, f, b, end = res
            files += f
            written += b
            done += 1
            if end is not None:
                ends[node] = end
            if progress is not None:
                progress(done, nodes)

        if n_workers <= 1:
            for node in range(nodes):
                account(write_node(node))
        else:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(n_workers) as pool:
                for res in pool.imap_unordered(write_node, range(nodes), chunksize=max(1, min(16, nodes // 64))):
                    account(res)
        if opts.layout == "slurm":
            text = srun_log(plan, ends, kill_at)
            written += len(text.encode())
            write_atomic(out / "logs" / f"slurm-{plan.job_id}.out", text)
            files += 1
        truth = plan.truth()
        data = json.dumps(truth, indent=1) + "\n"
        write_atomic(out / TRUTH, data)
        files += 1
        written += len(data)
    except OSError as exc:
        if isinstance(exc, SimWriteError):
            raise
        where = exc.filename or out
        raise SimWriteError(
            f"writing the job under {out} failed at {where}: {exc.strerror or exc}; the job is incomplete "
            "(no truth.json). Free space or choose another --out, then run again."
        ) from exc
    finally:
        _STATE = None
    return JobResult(out, files, written, time.perf_counter() - t_begin, truth)
