"""Reference DDP training job: runs unchanged under `torchrun` and under `trainmedic run`.

    torchrun --nproc-per-node 4 examples/ddp_train.py --ckpt-dir /tmp/ck
    trainmedic run --nproc-per-node 4 --checkpoint-dir /tmp/ck -- examples/ddp_train.py --ckpt-dir /tmp/ck

An MLP trained with SGD on random batches over gloo (CPU) or NCCL (GPU). Rank 0 saves
`ckpt_<step>.pt` every --ckpt-every steps (temp file + rename); every rank resumes from the newest
loadable checkpoint (or the one the launcher chose). `trainmedic.train` reports progress when it
is importable; `TRAINMEDIC_INJECT=rank=2,step=30,kind=hang` injects a fault under any launcher.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP

try:
    import trainmedic.train as tm
    from trainmedic.train.torch_progress import track_ddp
except ImportError:  # the job must run without trainmedic installed
    tm = None  # type: ignore[assignment]
    track_ddp = None  # type: ignore[assignment]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=60, help="train up to this step")
    p.add_argument("--ckpt-dir", type=Path, default=None, help="checkpoint directory (none: no checkpoints)")
    p.add_argument("--ckpt-every", type=int, default=5, help="save every N steps (rank 0)")
    p.add_argument("--step-time", type=float, default=0.1, help="pace steps to at least this many seconds")
    p.add_argument("--hidden", type=int, default=256, help="MLP width")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--pg-timeout", type=float, default=1800.0, help="process-group timeout, seconds")
    p.add_argument("--events-dir", type=Path, default=None, help="append per-rank JSON events here")
    p.add_argument("--no-monitor", action="store_true", help="do not use trainmedic.train (plain script)")
    p.add_argument("--no-hook", action="store_true", help="no collective-progress hook")
    p.add_argument("--quiet", action="store_true", help="rank 0 prints every 10th step only")
    return p.parse_args(argv)


class _NullMonitor:
    def step(self, i: int) -> Any:
        import contextlib

        return contextlib.nullcontext()

    def loss(self, x: Any) -> None: ...
    def phase(self, name: str) -> None: ...
    def checkpoint_saved(self, step: int, path: Any) -> None: ...


def _checkpoints(d: Path) -> list[Path]:
    return sorted(d.glob("ckpt_*.pt"), key=lambda p: int(p.stem.split("_")[1]), reverse=True)


def load_newest(d: Path | None, model: nn.Module, opt: torch.optim.Optimizer) -> int:
    """Load the launcher's choice, else the newest loadable checkpoint; returns the step to start at."""
    chosen = tm.resume_path() if tm is not None else None
    candidates = [Path(chosen)] if chosen else (_checkpoints(d) if d is not None and d.is_dir() else [])
    for path in candidates:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # a torn file from a crash during save: try the previous one
            print(
                f"[train] cannot load {path.name}: {type(e).__name__}; trying an older checkpoint", flush=True
            )
            continue
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optim"])
        return int(state["step"]) + 1
    return 0


def main(argv: list[str] | None = None, on_step: Callable[[int], None] | None = None) -> None:
    args = parse_args(argv)
    dist.init_process_group("gloo", timeout=timedelta(seconds=args.pg_timeout))
    rank, world = dist.get_rank(), dist.get_world_size()
    restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Linear(128, args.hidden),
        nn.ReLU(),
        nn.Linear(args.hidden, args.hidden),
        nn.ReLU(),
        nn.Linear(args.hidden, 10),
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    start = load_newest(args.ckpt_dir, model, opt)
    ddp = DDP(model)
    mon: Any = tm.attach() if tm is not None and not args.no_monitor else _NullMonitor()
    if tm is not None and not args.no_monitor and not args.no_hook and track_ddp is not None:
        track_ddp(ddp, mon)
    events = None
    if args.events_dir is not None:
        args.events_dir.mkdir(parents=True, exist_ok=True)
        events = (args.events_dir / f"events_rank{rank}.jsonl").open("a")

    def event(kind: str, **kw: Any) -> None:
        if events is not None:
            events.write(
                json.dumps({"ev": kind, "rank": rank, "restart": restart, "t": time.time(), **kw}) + "\n"
            )
            events.flush()

    event("start", resumed_from_step=start - 1)
    if rank == 0:
        print(f"[train] rank=0 world={world} start step={start} restart={restart}", flush=True)
    gen = torch.Generator().manual_seed(1000 + rank)
    for step in range(start, args.steps):
        t0 = time.perf_counter()
        if on_step is not None:
            on_step(step)
        with mon.step(step):
            x = torch.randn(args.batch, 128, generator=gen)
            y = torch.randint(0, 10, (args.batch,), generator=gen)
            loss = nn.functional.cross_entropy(ddp(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
        mon.loss(loss.detach())
        event("step", step=step)
        if rank == 0 and (not args.quiet or step % 10 == 0):
            print(f"[train] step {step} loss={loss.item():.4f} t={time.time():.3f}", flush=True)
        if rank == 0 and args.ckpt_dir is not None and step % args.ckpt_every == 0 and step > 0:
            mon.phase("checkpoint")
            args.ckpt_dir.mkdir(parents=True, exist_ok=True)
            path = args.ckpt_dir / f"ckpt_{step:06d}.pt"
            tmp = path.with_suffix(".pt.tmp")
            torch.save({"step": step, "model": model.state_dict(), "optim": opt.state_dict()}, tmp)
            os.replace(tmp, path)
            mon.checkpoint_saved(step, path)
            event("ckpt", step=step)
        rest = args.step_time - (time.perf_counter() - t0)
        if rest > 0:
            time.sleep(rest)
    event("done")
    if rank == 0:
        print(f"[train] done at step {args.steps - 1}", flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
