"""Per-call overhead of the in-job library (`trainmedic.train`) on the training thread.

Times `with monitor.step(i)`, `monitor.phase`, `monitor.loss` and the collective hooks against an
empty loop (the floor), with the heartbeat thread running and sending to a live UDP socket.
Target: <= 20 us per call.

    python benchmarks/train_overhead.py
"""

from __future__ import annotations

import socket
import time

from trainmedic.train.monitor import Monitor

N = 200_000


def per_call(fn, n: int = N) -> float:  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    fn(n)
    return (time.perf_counter() - t0) / n * 1e6


def main() -> None:
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind(("127.0.0.1", 0))
    sink.setblocking(False)
    m = Monitor(rank=0, endpoint=sink.getsockname(), interval_s=0.1)

    def floor(n: int) -> None:
        for _i in range(n):
            pass

    def step(n: int) -> None:
        for i in range(n):
            with m.step(i):
                pass

    def phase(n: int) -> None:
        for _ in range(n):
            m.phase("forward")

    def loss(n: int) -> None:
        for _ in range(n):
            m.loss(0.5)

    def coll(n: int) -> None:
        for _ in range(n):
            m.collective_entered()
            m.collective_completed(0.001)

    base = per_call(floor)
    rows = [("step (enter+exit)", per_call(step)), ("phase", per_call(phase)), ("loss", per_call(loss)), ("collective enter+complete", per_call(coll))]
    drained = 0
    while True:
        try:
            sink.recv(65536)
            drained += 1
        except BlockingIOError:
            break
    print(f"floor (empty loop): {base:.3f} us per iteration")
    worst = 0.0
    for name, us in rows:
        worst = max(worst, us - base)
        print(f"{name:28s} {us - base:7.3f} us per call  ({us / max(base, 1e-9):.0f}x the empty loop)")
    print(f"heartbeats received meanwhile: {drained}; monitor stats: {m.stats()}")
    print(f"summary: worst per-call overhead {worst:.2f} us (target <= 20 us)")


if __name__ == "__main__":
    main()
