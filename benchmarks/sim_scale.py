"""Simulator at full scale: time, MB written, MB/s and peak memory to write an 18,432-rank job with
`trainmedic sim logs`, against the floor of copying the same files with `cp -r` in the same run.

    python benchmarks/sim_scale.py [--nodes 2304] [--cards-per-node 8] [--rank-log-kb 32] [--repeat 1]

Data goes to /tmp/sim-bench-* and is deleted afterwards (unless --keep).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil


def tree_rss(proc: psutil.Process) -> int:
    """Resident memory of a process and all its descendants, in bytes."""
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_sim(args: argparse.Namespace, out: Path) -> dict[str, float]:
    cmd = [sys.executable, "-m", "trainmedic", "sim", "logs", "--nodes", str(args.nodes), "--cards-per-node",
           str(args.cards_per_node), "--rank-log-kb", str(args.rank_log_kb), "--fault", args.fault, "--seed",
           str(args.seed), "--out", str(out), "--json"]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True)
    ps = psutil.Process(proc.pid)
    peak = [0]

    def sample() -> None:
        while proc.poll() is None:
            with contextlib.suppress(psutil.Error):
                peak[0] = max(peak[0], tree_rss(ps))
            time.sleep(0.2)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    watcher.join()
    if proc.returncode:
        raise SystemExit(f"sim logs failed ({proc.returncode}): {stderr.strip()}")
    res = json.loads(stdout)
    return {"seconds": wall, "bytes": res["bytes"], "files": res["files"], "peak_rss": peak[0], "cpu": _cpu(before)}


def _cpu(before: resource.struct_rusage) -> float:
    """User + system CPU seconds of children finished since `before` (the machine is shared: wall time
    depends on the other tenants, CPU time much less)."""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run_cp(src: Path, dst: Path) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(["cp", "-r", str(src), str(dst)], check=True)
    return time.perf_counter() - t0, _cpu(before)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nodes", type=int, default=2304)
    ap.add_argument("--cards-per-node", type=int, default=8)
    ap.add_argument("--rank-log-kb", type=float, default=32)
    ap.add_argument("--fault", default="silent_hang")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--keep", action="store_true", help="Keep the generated job (printed path).")
    args = ap.parse_args()
    base = Path(tempfile.mkdtemp(prefix="sim-bench-", dir="/tmp"))
    sims, cps, cp_cpus = [], [], []
    try:
        for i in range(args.repeat):
            out, copy = base / f"job{i}", base / f"copy{i}"
            r = run_sim(args, out)
            subprocess.run(["sync"], check=False)
            cp_s, cp_cpu = run_cp(out, copy)
            sims.append(r)
            cps.append(cp_s)
            cp_cpus.append(cp_cpu)
            shutil.rmtree(copy)
            if not args.keep or i < args.repeat - 1:
                shutil.rmtree(out)
            print(f"run {i}: sim {r['seconds']:.1f} s ({r['cpu']:.1f} s CPU), cp -r {cp_s:.1f} s ({cp_cpu:.1f} s CPU), "
                  f"{r['bytes'] / 1e6:.0f} MB, "
                  f"{r['files']} files, peak RSS {r['peak_rss'] / 2**20:.0f} MiB", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
    sim_s = statistics.median(r["seconds"] for r in sims)
    cp_s = statistics.median(cps)
    mb = sims[0]["bytes"] / 1e6
    ranks = args.nodes * args.cards_per_node
    print(f"ranks {ranks}, {args.rank_log_kb:g} KB/rank target, files {sims[0]['files']}, {mb:.0f} MB")
    cpu = statistics.median(r["cpu"] for r in sims)
    load = os.getloadavg()[0]
    print(f"machine load average {load:.1f} on {os.cpu_count()} cores")
    print(f"sim logs: {sim_s:.1f} s wall, {cpu:.1f} s CPU, {mb / sim_s:.1f} MB/s, peak RSS (all processes) "
          f"{max(r['peak_rss'] for r in sims) / 2**20:.0f} MiB")
    print(f"floor cp -r of the same files: {cp_s:.1f} s wall, {statistics.median(cp_cpus):.1f} s CPU, "
          f"{mb / cp_s:.1f} MB/s")
    print(f"summary: {ranks} ranks, {mb:.0f} MB in {sim_s:.1f} s ({mb / sim_s:.0f} MB/s), "
          f"{sim_s / cp_s:.2f}x the cp -r floor ({cpu:.1f} s CPU), load {load:.1f}, "
          f"peak RSS {max(r['peak_rss'] for r in sims) / 2**20:.0f} MiB"
          + (f"; kept in {base}" if args.keep else ""))


if __name__ == "__main__":
    main()
