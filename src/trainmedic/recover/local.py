"""The local-process backend: start ranks so they cannot outlive the launcher, and stop them.

Each rank runs in its own session (its own process group, so its children are stopped with it)
with PR_SET_PDEATHSIG=SIGKILL, so a killed launcher leaves no orphans.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

PR_SET_PDEATHSIG = 1


def _child_setup(parent_pid: int) -> Callable[[], None]:
    def setup() -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):
            pass
        if os.getppid() != parent_pid:  # the launcher died between fork and prctl
            os._exit(1)

    return setup


def spawn(
    argv: Sequence[str], env: Mapping[str, str], cwd: str | None = None, stdin: bool = False
) -> subprocess.Popen[bytes]:
    """Start one rank: own session, dies with the launcher, stdout+stderr on one pipe."""
    return subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_child_setup(os.getpid()),
    )


def signal_group(pid: int, sig: int) -> bool:
    """Send `sig` to the rank's process group (the rank and its children); False if gone."""
    try:
        os.killpg(pid, sig)
        return True
    except (ProcessLookupError, PermissionError):
        try:
            os.kill(pid, sig)
            return True
        except (ProcessLookupError, PermissionError):
            return False


@dataclass(frozen=True, slots=True)
class Stopped:
    """How stopping went: ranks that left on SIGTERM, ranks that needed SIGKILL, seconds taken."""

    terminated: tuple[int, ...]
    killed: tuple[int, ...]
    seconds: float


def stop_all(
    procs: Mapping[int, subprocess.Popen[bytes]],
    term_timeout_s: float = 3.0,
    kill_first: Sequence[int] = (),
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> Stopped:
    """Stop every rank: SIGCONT (a stopped rank keeps SIGTERM pending otherwise), SIGTERM, then SIGKILL.

    Args:
        procs: rank -> process.
        term_timeout_s: how long ranks get to exit on SIGTERM before SIGKILL.
        kill_first: ranks to SIGKILL at once (a hung culprit whose stacks were already dumped).
    """
    t0 = clock()
    pending = {r: p for r, p in procs.items() if p.poll() is None}
    for r in kill_first:
        if r in pending:
            signal_group(pending[r].pid, signal.SIGKILL)
    for r, p in pending.items():
        if r not in kill_first:
            signal_group(p.pid, signal.SIGCONT)
            signal_group(p.pid, signal.SIGTERM)
    terminated: list[int] = []
    killed = [r for r in kill_first if r in pending]
    deadline = t0 + term_timeout_s
    while clock() < deadline and any(p.poll() is None for r, p in pending.items() if r not in killed):
        sleep(0.02)
    for r, p in pending.items():
        if r in killed:
            continue
        if p.poll() is None:
            signal_group(p.pid, signal.SIGKILL)
            killed.append(r)
        else:
            terminated.append(r)
    for p in pending.values():
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=5)
        signal_group(p.pid, signal.SIGKILL)  # leftovers of its group (data-loader workers)
    return Stopped(tuple(sorted(terminated)), tuple(sorted(killed)), clock() - t0)
