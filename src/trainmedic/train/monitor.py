"""The in-job monitor: step timings, phases, losses and checkpoints, sent to the launcher.

Training code calls it on the hot path; every call only records into memory (a few microseconds)
and a daemon thread sends one heartbeat datagram per interval. Nothing here raises into the step.
"""

from __future__ import annotations

import atexit
import collections
import contextlib
import faulthandler
import math
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any

from trainmedic.train.protocol import (
    ENV_ATTEMPT,
    ENV_ENDPOINT,
    ENV_INJECT,
    ENV_INTERVAL,
    ENV_RESUME_PATH,
    ENV_RESUME_STEP,
    ENV_STACK_SIGNAL,
    MAX_DATAGRAM_BYTES,
    Heartbeat,
    Injection,
    StepRecord,
    parse_injection,
)

_MAX_PENDING = 10_000


class _Step:
    """The context manager returned by `Monitor.step`; one reusable object per monitor."""

    __slots__ = ("_m",)

    def __init__(self, monitor: Monitor) -> None:
        self._m = monitor

    def __enter__(self) -> _Step:
        m = self._m
        t0 = m._perf()
        if m._prev_enter is not None:
            m._durations.append(t0 - m._prev_enter)
        m._prev_enter = t0
        m._step_t0 = t0
        m._wait_acc = 0.0
        m._waited = False
        m._phase = "step"
        m._phase_since = m._clock()
        if m._inject is not None:
            m._maybe_inject()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        m = self._m
        try:
            step = m._current
            dur = m._perf() - m._step_t0
            if len(m._steps) < _MAX_PENDING:
                m._steps.append(
                    StepRecord(
                        step if step is not None else -1, dur, m._wait_acc if m._waited else None, m._clock()
                    )
                )
            else:
                m.dropped_records += 1
            if et is None:
                m._last = step
            m._current = None
            m._phase = "between_steps"
            m._phase_since = m._clock()
        except Exception:
            m.internal_errors += 1


class Monitor:
    """Records progress on the training thread; a daemon thread reports it to the launcher.

    Args:
        rank: global rank of this process.
        endpoint: `(host, port)` of the launcher's UDP socket, or None when not supervised.
        interval_s: seconds between heartbeats.
        attempt: restart count of the job (0 on the first start).
        injection: a fault to inject (tests and demos), or None.
        clock: wall clock (epoch seconds); perf: monotonic clock for durations.
        start_thread: False in tests that call `flush()` themselves.
    """

    def __init__(
        self,
        rank: int = 0,
        endpoint: tuple[str, int] | None = None,
        interval_s: float = 0.1,
        attempt: int = 0,
        injection: Injection | None = None,
        clock: Callable[[], float] = time.time,
        perf: Callable[[], float] = time.perf_counter,
        start_thread: bool = True,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rank = rank
        self.attempt = attempt
        self.interval_s = interval_s
        self._clock = clock
        self._perf = perf
        self._sleep = sleep
        self._inject = (
            injection if injection and injection.rank == rank and injection.attempt == attempt else None
        )
        self._current: int | None = None
        self._last: int | None = None
        self._step_t0 = 0.0
        self._wait_acc = 0.0
        self._waited = False
        self._phase = "starting"
        self._phase_since = clock()
        self._steps: collections.deque[StepRecord] = collections.deque()
        self._losses: collections.deque[tuple[int | None, Any]] = collections.deque(maxlen=_MAX_PENDING)
        self._ckpts: collections.deque[tuple[int, str]] = collections.deque(maxlen=1000)
        self._durations: collections.deque[float] = collections.deque(
            maxlen=50
        )  # periods between step starts
        self.coll_entered = 0
        self.coll_completed = 0
        self._has_collectives = False
        self._last_loss: float | None = None
        self._seq = 0
        self.sent = 0
        self.send_errors = 0
        self.dropped_records = 0
        self.internal_errors = 0
        self._stack_dump = False
        self._exception: str | None = None
        self._announced = False
        self._prev_enter: float | None = None
        self._step_obj = _Step(self)
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        if endpoint is not None:
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                s.setblocking(False)
                s.connect(endpoint)
                self._sock = s
            except OSError:
                self.send_errors += 1
        self._thread: threading.Thread | None = None
        if start_thread and self._sock is not None:
            self._thread = threading.Thread(target=self._run, name="trainmedic-heartbeat", daemon=True)
            self._thread.start()

    # ---- hot path: called by the training loop ---------------------------------------------------

    def step(self, i: int) -> _Step:
        """`with monitor.step(i):` around one training step (forward, backward, optimizer)."""
        self._current = i
        return self._step_obj

    def phase(self, name: str) -> None:
        """Mark the phase the rank is in now: forward, backward, collective, optimizer, checkpoint."""
        self._phase = name
        self._phase_since = self._clock()

    def loss(self, value: Any) -> None:
        """Report this step's loss (a float, or a tensor: it is converted off the training thread)."""
        if self._inject is not None and self._inject.kind == "nan" and self._due():
            value = float("nan")
        self._losses.append((self._current if self._current is not None else self._last, value))

    def checkpoint_saved(self, step: int, path: str | os.PathLike[str]) -> None:
        """Tell the launcher a complete checkpoint of `step` now exists at `path`."""
        self._ckpts.append((int(step), os.fspath(path)))

    def collective_entered(self) -> None:
        """Called by the collective-progress helper when this rank enters a collective."""
        self._has_collectives = True
        self.coll_entered += 1

    def collective_completed(self, wait_s: float) -> None:
        """Called when a collective this rank entered completes, with the time it waited in it."""
        self.coll_completed += 1
        self._wait_acc += wait_s
        self._waited = True

    # ---- reporting --------------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters: heartbeats sent, send errors (launcher gone), records dropped, internal errors."""
        return {
            "sent": self.sent,
            "send_errors": self.send_errors,
            "dropped_records": self.dropped_records,
            "internal_errors": self.internal_errors,
        }

    def flush(self) -> Heartbeat | None:
        """Build and send one heartbeat now; returns it (None when building failed)."""
        try:
            with self._lock:
                hb = self._build()
            self._send(hb)
            return hb
        except Exception:
            self.internal_errors += 1
            return None

    def exception(self, exc: BaseException) -> None:
        """Report an uncaught exception on the training thread at once (installed by `attach`)."""
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            return
        self._exception = f"{type(exc).__name__}: {exc}"
        self.flush()

    def close(self) -> None:
        """Send what is pending and stop the heartbeat thread."""
        self._stop.set()
        self.flush()

    def _build(self) -> Heartbeat:
        steps: list[StepRecord] = []
        while self._steps and len(steps) < 400:
            steps.append(self._steps.popleft())
        bad: list[tuple[int | None, float]] = []
        while self._losses:
            step, raw = self._losses.popleft()
            try:
                v = float(raw)
            except Exception:
                continue
            self._last_loss = v
            if not math.isfinite(v):
                bad.append((step, v))
        ckpts = []
        while self._ckpts:
            ckpts.append(self._ckpts.popleft())
        self._seq += 1
        dump, self._stack_dump = self._stack_dump, False
        return Heartbeat(
            rank=self.rank,
            pid=os.getpid(),
            attempt=self.attempt,
            sent_at=self._clock(),
            seq=self._seq,
            last_step=self._last,
            current_step=self._current,
            phase=self._phase,
            phase_since=self._phase_since,
            coll_entered=self.coll_entered if self._has_collectives else None,
            coll_completed=self.coll_completed if self._has_collectives else None,
            steps=tuple(steps),
            bad_losses=tuple(bad[:50]),
            last_loss=self._last_loss,
            checkpoints=tuple(ckpts),
            dropped=self.dropped_records + self.send_errors,
            stack_dump=dump,
            exception=self._exception,
        )

    def _send(self, hb: Heartbeat) -> None:
        if self._sock is None:
            return
        data = hb.encode()
        if len(data) > MAX_DATAGRAM_BYTES:
            self.dropped_records += len(hb.steps)
            return
        try:
            self._sock.send(data)
            self.sent += 1
        except OSError:
            self.send_errors += 1  # launcher gone or socket full: degrade silently, count

    def _run(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.interval_s)
            self.flush()

    # ---- fault injection (TRAINMEDIC_INJECT) -------------------------------------------------------

    def _due(self) -> bool:
        inj = self._inject
        cur = self._current if self._current is not None else self._last
        return inj is not None and cur is not None and cur >= inj.step

    def _maybe_inject(self) -> None:
        inj = self._inject
        if inj is None or not self._due():
            return
        kind = inj.kind
        if not self._announced:
            self._announced = True
            print(
                f"[trainmedic] injecting {kind} on rank {self.rank} at step {self._current}",
                file=sys.stderr,
                flush=True,
            )
        if kind == "straggle":
            periods = sorted(self._durations)
            base = periods[len(periods) // 2] if periods else 0.1
            self._sleep(max(0.05, inj.factor * base))
            return
        if kind == "nan":
            return
        self.flush()
        if kind == "hang":
            while True:  # a live process stuck in Python: threads run, the step never ends
                self._sleep(3600)
        if kind == "crash":
            os.kill(os.getpid(), signal.SIGSEGV)
        if kind == "exit0":
            os._exit(0)
        if kind == "exception":
            self._inject = None
            raise RuntimeError(
                f"injected exception at step {self._current} on rank {self.rank} (TRAINMEDIC_INJECT)"
            )


_MONITOR: Monitor | None = None


def attach() -> Monitor:
    """The process-wide monitor, configured from the environment the launcher sets.

    Works unsupervised too (under torchrun or alone): then it only records, and injection still
    works, so one script serves every launcher in a benchmark.
    """
    global _MONITOR
    if _MONITOR is not None:
        return _MONITOR
    env = os.environ
    endpoint: tuple[str, int] | None = None
    raw = env.get(ENV_ENDPOINT, "")
    if raw:
        host, _, port = raw.rpartition(":")
        try:
            endpoint = (host or "127.0.0.1", int(port))
        except ValueError:
            endpoint = None
    try:
        injection = parse_injection(env.get(ENV_INJECT, ""))
    except ValueError as e:
        print(f"[trainmedic] ignoring {ENV_INJECT}: {e}", file=sys.stderr)
        injection = None
    attempt = _int(env.get(ENV_ATTEMPT) or env.get("TORCHELASTIC_RESTART_COUNT"), 0)
    _MONITOR = Monitor(
        rank=_int(env.get("RANK"), 0),
        endpoint=endpoint,
        interval_s=float(env.get(ENV_INTERVAL) or 0.1),
        attempt=attempt,
        injection=injection,
    )
    _install_stack_dump(env.get(ENV_STACK_SIGNAL))
    _install_excepthook(_MONITOR)
    atexit.register(_MONITOR.close)
    return _MONITOR


def _install_stack_dump(raw: str | None) -> None:
    """Dump all threads' Python stacks to stderr on the launcher's signal (default SIGUSR1)."""
    signum = _int(raw, int(signal.SIGUSR1))
    try:
        if signal.getsignal(signum) in (signal.SIG_DFL, None):
            faulthandler.register(signum, file=sys.stderr, all_threads=True, chain=False)
    except (ValueError, OSError, RuntimeError, AttributeError):
        pass


def _install_excepthook(monitor: Monitor) -> None:
    """Tell the launcher about an uncaught exception before the interpreter tears down (which,
    with a process group still open, can take long or never finish)."""
    previous = sys.excepthook

    def hook(et: type[BaseException], ev: BaseException, tb: TracebackType | None) -> None:
        try:
            previous(et, ev, tb)
        finally:
            with contextlib.suppress(Exception):
                monitor.exception(ev)

    sys.excepthook = hook


def resume_path() -> str | None:
    """The checkpoint the launcher chose for this attempt, or None (start fresh or pick your own)."""
    return os.environ.get(ENV_RESUME_PATH) or None


def resume_step() -> int | None:
    """The step of that checkpoint, when the launcher knows it."""
    raw = os.environ.get(ENV_RESUME_STEP)
    return _int(raw, -1) if raw else None


def _int(raw: str | None, default: int) -> int:
    try:
        return int(raw) if raw not in (None, "") else default
    except ValueError:
        return default
