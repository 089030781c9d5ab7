"""A small DDP job (gloo, CPU) that logs like a real training script; used by make.py to capture real logs.

Each rank logs its identity at start-up and one python-logging line per step. `--fault-exception-rank R`
makes rank R raise a RuntimeError at `--fault-step` (the crash and hang faults are injected from outside).
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import time
from datetime import timedelta

import torch
import torch.distributed as dist
from torch.distributed.elastic.multiprocessing.errors import record
from torch.nn.parallel import DistributedDataParallel


@record
def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--steps", type=int, default=400)
    p.add_argument("--pg-timeout-s", type=float, default=20.0)
    p.add_argument("--step-s", type=float, default=0.25)
    p.add_argument("--fault-exception-rank", type=int, default=-1)
    p.add_argument("--fault-step", type=int, default=10)
    args = p.parse_args()

    rank = int(os.environ["RANK"])
    logging.basicConfig(
        level=logging.INFO, format=f"%(asctime)s %(levelname)s [rank {rank}] %(message)s", force=True
    )
    log = logging.getLogger("train")
    log.info("host %s pid %d torch %s", socket.gethostname(), os.getpid(), torch.__version__)
    log.info(
        "env RANK=%s LOCAL_RANK=%s WORLD_SIZE=%s CUDA_VISIBLE_DEVICES=%s",
        os.environ["RANK"], os.environ["LOCAL_RANK"], os.environ["WORLD_SIZE"],
        os.environ.get("CUDA_VISIBLE_DEVICES", ""),
    )
    dist.init_process_group("gloo", timeout=timedelta(seconds=args.pg_timeout_s))
    log.info("process group ready: backend gloo world %d", dist.get_world_size())
    torch.manual_seed(rank)
    model = DistributedDataParallel(
        torch.nn.Sequential(torch.nn.Linear(256, 512), torch.nn.ReLU(), torch.nn.Linear(512, 10))
    )
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    for step in range(1, args.steps + 1):
        t0 = time.perf_counter()
        if rank == args.fault_exception_rank and step == args.fault_step:
            raise RuntimeError(f"shape mismatch in custom loss on step {step}: got 63 labels for 64 samples")
        x, y = torch.randn(64, 256), torch.randint(0, 10, (64,))
        loss = torch.nn.functional.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        took = time.perf_counter() - t0
        log.info("step %d loss %.4f step_time_ms %.1f samples/s %.1f", step, loss.item(), took * 1e3, 64 / took)
        time.sleep(max(0.0, args.step_s - took))
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
