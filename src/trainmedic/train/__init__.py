"""The in-job library: a training script reports its progress to `trainmedic run`.

    monitor = trainmedic.train.attach()
    for i in range(start, steps):
        with monitor.step(i):
            ...                     # forward, backward, optimizer
        monitor.loss(loss.detach())
    monitor.checkpoint_saved(i, path)

Standard library only; all work on a daemon thread; never raises into the training step.
"""

from trainmedic.train.monitor import Monitor, attach, resume_path, resume_step
from trainmedic.train.protocol import Heartbeat, Injection, StepRecord, parse_injection

__all__ = [
    "Heartbeat",
    "Injection",
    "Monitor",
    "StepRecord",
    "attach",
    "parse_injection",
    "resume_path",
    "resume_step",
]
