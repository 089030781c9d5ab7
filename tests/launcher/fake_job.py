"""A synchronous training job in pure Python for launcher tests: starts in milliseconds.

Ranks meet at a file barrier in --sync-dir every step (the stand-in for an allreduce, counted as a
collective), rank 0 writes JSON checkpoints, every rank resumes from the launcher's choice or the
newest readable checkpoint. Faults come from TRAINMEDIC_INJECT, like in the real example.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import trainmedic.train as tm


def barrier(d: Path, attempt: int, step: int, rank: int, world: int, mon: tm.Monitor) -> None:
    mon.collective_entered()
    t0 = time.perf_counter()
    (d / f"a{attempt}_s{step}_r{rank}").touch()
    while sum(1 for r in range(world) if (d / f"a{attempt}_s{step}_r{r}").exists()) < world:
        time.sleep(0.003)
    mon.collective_completed(time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--ckpt-dir", type=Path)
    p.add_argument("--ckpt-every", type=int, default=4)
    p.add_argument("--step-time", type=float, default=0.05)
    p.add_argument("--sync-dir", type=Path, required=True)
    p.add_argument("--plain", action="store_true", help="no trainmedic.train: print step lines only")
    p.add_argument("--xid-rank", type=int, default=-1, help="this rank logs an Xid 79 and exits at step 5 (attempt 0)")
    a = p.parse_args()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    attempt = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    sync = a.sync_dir / os.environ["MASTER_PORT"]
    sync.mkdir(parents=True, exist_ok=True)
    mon = (
        tm.attach()
        if not a.plain
        else tm.Monitor(
            rank=rank,
            attempt=attempt,
            start_thread=False,
            injection=tm.parse_injection(os.environ.get("TRAINMEDIC_INJECT", "")),
        )
    )
    start = 0
    paths = (
        [Path(tm.resume_path())]
        if tm.resume_path()
        else sorted(a.ckpt_dir.glob("ck_*.ckpt"), reverse=True)
        if a.ckpt_dir
        else []
    )
    for path in paths:
        try:
            start = json.loads(path.read_text())["step"] + 1
            break
        except (OSError, ValueError, KeyError):
            print(f"cannot read {path.name}", flush=True)
    print(f"rank {rank} start={start} attempt={attempt} world={world}", flush=True)
    print(f"rank {rank} CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES')}", flush=True)
    for step in range(start, a.steps):
        if rank == a.xid_rank and step == 5 and attempt == 0:
            print("NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus.", flush=True)
            sys.exit(1)
        with mon.step(step):
            time.sleep(a.step_time)
            barrier(sync, attempt, step, rank, world, mon)
        mon.loss(1.0 / (step + 1))
        if rank == 0:
            print(f"step {step} done", flush=True)
        if rank == 0 and a.ckpt_dir and step % a.ckpt_every == 0 and step > 0:
            path = a.ckpt_dir / f"ck_{step:05d}.ckpt"
            path.with_suffix(".tmp").write_text(json.dumps({"step": step}))
            os.replace(path.with_suffix(".tmp"), path)
            mon.checkpoint_saved(step, path)
    print(f"rank {rank} finished", flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
