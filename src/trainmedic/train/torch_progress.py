"""Collective progress for PyTorch DDP: counts the collectives each rank entered and completed.

    from trainmedic.train.torch_progress import track_ddp
    track_ddp(ddp_model, monitor)

A DDP communication hook wraps the default allreduce: entering the hook counts as entering the
collective; the future's completion counts as completing it, with the time the rank waited. The
launcher compares the counts across ranks to name the rank that never entered (a hang) and the
waits to name the rank everyone waits for (a straggler). torch is imported only here, lazily.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any

from trainmedic.train.monitor import Monitor


def track_ddp(ddp_model: Any, monitor: Monitor) -> bool:
    """Register the counting allreduce hook on a DistributedDataParallel model.

    Returns False (and changes nothing) when torch or the hook API is unavailable, or a hook is
    already registered; training then goes on without collective progress.
    """
    try:
        import torch.distributed as dist
    except Exception:
        return False
    perf = time.perf_counter

    def hook(state, bucket):  # type: ignore[no-untyped-def]  # DDP rejects hooks annotated otherwise
        t0 = perf()
        monitor.collective_entered()
        group = state if state is not None else dist.group.WORLD
        world = dist.get_world_size(group)
        buf = bucket.buffer()
        buf.div_(world)
        fut = dist.all_reduce(buf, group=group, async_op=True).get_future()

        def done(f: Any) -> Any:
            with contextlib.suppress(Exception):
                monitor.collective_completed(perf() - t0)
            return f.value()[0]

        return fut.then(done)

    try:
        ddp_model.register_comm_hook(None, hook)
    except Exception:
        return False
    return True
