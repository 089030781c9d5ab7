"""Two source trees' `trainmedic diagnose` on one job, run alternately in the same window: wall and CPU
seconds per run and their medians. For comparing a change with its parent on a noisy machine, where
runs minutes apart differ by 10-15 %.

    git worktree add /tmp/before HEAD~3      # or: git archive HEAD~3 src | tar -x -C /tmp/before
    python benchmarks/diagnose_ab.py --job /dev/shm/full32 --runs 8 /tmp/before/src src

A tree without its own compiled extension (`trainmedic/logs/_fastlog*.so`) runs the Python readers:
build it there (`python setup.py build_ext --inplace`) or copy one in.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time


def child_cpu() -> float:
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--job", required=True, help="a job directory (trainmedic sim logs --out ...)")
    ap.add_argument("--runs", type=int, default=8)
    ap.add_argument("srcs", nargs=2, help="two source trees (the directories that hold `trainmedic`)")
    args = ap.parse_args()
    for src in args.srcs:  # as installed: compiled bytecode
        subprocess.run([sys.executable, "-m", "compileall", "-q", src], check=True, stdout=subprocess.DEVNULL)
    walls: dict[str, list[float]] = {s: [] for s in args.srcs}
    cpus: dict[str, list[float]] = {s: [] for s in args.srcs}
    for i in range(args.runs):
        for src in args.srcs if i % 2 == 0 else args.srcs[::-1]:  # alternate which goes first
            env = dict(os.environ, PYTHONPATH=src)
            c0, t0 = child_cpu(), time.perf_counter()
            subprocess.run([sys.executable, "-m", "trainmedic", "diagnose", args.job, "--json"], env=env,
                           stdout=subprocess.DEVNULL, check=True)
            walls[src].append(time.perf_counter() - t0)
            cpus[src].append(child_cpu() - c0)
    for src in args.srcs:
        runs = " ".join(f"{w:.2f}" for w in walls[src])
        print(f"{src}: wall median {statistics.median(walls[src]):.3f} s, CPU median {statistics.median(cpus[src]):.2f} s; runs {runs}")


if __name__ == "__main__":
    main()
