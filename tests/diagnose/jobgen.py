"""A tiny job-log writer for diagnose tests: torchrun `--log-dir` layout over several nodes with
skewed clocks, python-logging step lines, NCCL init lines with bus ids, nvidia-smi captures and
`dmesg -T` kernel logs. Independent of the simulator, so tests pin exact situations."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

BUS = ["00000000:18:00.0", "00000000:2A:00.0", "00000000:3A:00.0", "00000000:5D:00.0"]
T0 = 1795780000.0  # 2026-11-26


def stamp(t: float) -> str:
    ms = min(999, int((t % 1) * 1000 + 0.5))
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(t))) + f",{ms:03d}"


def dmesg_stamp(t: float) -> str:
    return time.strftime("[%a %b %d %H:%M:%S %Y]", time.gmtime(int(t)))


@dataclass
class Job:
    """nodes x cards ranks; `skew[node]` seconds added to that node's clocks."""

    root: Path
    nodes: int = 2
    cards: int = 4
    steps: int = 20
    step_s: float = 1.0
    skew: dict[int, float] = field(default_factory=dict)
    tail: dict[int, list[str]] = field(default_factory=dict)
    """rank -> lines appended to its stderr after the last step (already formatted)."""
    last_step: dict[int, int] = field(default_factory=dict)
    kernel: dict[int, list[tuple[float, str]]] = field(default_factory=dict)
    loss: dict[tuple[int, int], str] = field(default_factory=dict)
    extra_metrics: dict[int, str] = field(default_factory=dict)
    with_smi: bool = True

    def node(self, n: int) -> str:
        return f"node{n:04d}"

    def clock(self, n: int, t: float) -> float:
        return t + self.skew.get(n, 0.0)

    def write(self) -> Path:
        for n in range(self.nodes):
            name = self.node(n)
            for lr in range(self.cards):
                r = n * self.cards + lr
                d = self.root / "logs" / name / "attempt_0" / str(lr)
                d.mkdir(parents=True, exist_ok=True)
                out = [
                    f"{stamp(self.clock(n, T0))} INFO [rank {r}] hostname {name} pid {1000 + r}",
                    f"{stamp(self.clock(n, T0))} INFO [rank {r}] env RANK={r} LOCAL_RANK={lr} "
                    f"WORLD_SIZE={self.nodes * self.cards} CUDA_VISIBLE_DEVICES={','.join(map(str, range(self.cards)))}",
                    f"{name}:{1000 + r}:{1100 + r} [{lr}] NCCL INFO comm 0x55 rank {r} nranks {self.nodes * self.cards} "
                    f"cudaDev {lr} nvmlDev {lr} busId {BUS[lr][9:11].lower()}000 commId 0x77 - Init COMPLETE",
                ]
                for s in range(1, self.last_step.get(r, self.steps) + 1):
                    t = self.clock(n, T0 + 5 + s * self.step_s + 0.01 * lr)
                    loss = self.loss.get((r, s), f"{2.5 - s * 0.01:.4f}")
                    extra = self.extra_metrics.get(r, "compute_ms 800 wait_ms 200")
                    out.append(f"{stamp(t)} INFO [rank {r}] step {s} loss {loss} {extra}")
                (d / "stdout.log").write_text("\n".join(out) + "\n")
                (d / "stderr.log").write_text("\n".join(self.tail.get(r, [])) + ("\n" if r in self.tail else ""))
            if self.with_smi:
                smi = self.root / "meta" / "nvidia-smi" / f"{name}.csv"
                smi.parent.mkdir(parents=True, exist_ok=True)
                rows = ["index, pci.bus_id, serial, uuid"] + [
                    f"{i}, {BUS[i]}, 13240{n:02d}{i:04d}, GPU-{n:08x}-0000-0000-0000-{i:012x}" for i in range(self.cards)
                ]
                smi.write_text("\n".join(rows) + "\n")
            k = self.root / "kernel" / f"{name}.dmesg"
            k.parent.mkdir(parents=True, exist_ok=True)
            lines = [f"{dmesg_stamp(self.clock(n, T0 + 1))} Linux version 5.15.0 (buildd@lcy02)"]
            lines += [f"{dmesg_stamp(self.clock(n, t))} {text}" for t, text in sorted(self.kernel.get(n, []))]
            k.write_text("\n".join(lines) + "\n")
        return self.root

    def at_step(self, s: float) -> float:
        """True time at step `s` (fractional: between steps)."""
        return T0 + 5 + s * self.step_s


def timeout_line(rank: int, t: float, node_skew: float) -> str:
    """The real NCCL watchdog message format (a cascade line in every catalog)."""
    g = time.strftime("%m%d %H:%M:%S", time.gmtime(int(t + node_skew)))
    return (
        f"[rank{rank}]:[E{g}.123456 140012 ProcessGroupNCCL.cpp:632] [Rank {rank}] Watchdog caught collective "
        f"operation timeout: WorkNCCL(SeqNum=1841, OpType=ALLREDUCE, NumelIn=1024, NumelOut=1024, "
        f"Timeout(ms)=600000) ran for 600013 milliseconds before timing out."
    )
