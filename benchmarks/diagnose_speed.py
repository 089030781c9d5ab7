"""Speed and memory of `trainmedic diagnose` on an 18,432-rank job against the floor: `cat` over
every file diagnose opens, in the same run, page cache warm.

    python benchmarks/diagnose_speed.py                      # generate 2,304 x 8 with `sim logs`, measure, delete
    python benchmarks/diagnose_speed.py --job DIR --keep     # measure an existing job directory

Prints per-run times, the median of each, the ratio, peak memory of diagnose (parent plus its reader
processes, summed, from one more run that samples it: the timed runs are not sampled, as `cat` is
not), whether the verdict matches truth.json, and one summary line.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from trainmedic.diagnose.scan import discover  # noqa: E402
from trainmedic.logs.layout import Kind  # noqa: E402

ENV = dict(os.environ, PYTHONPATH=str(ROOT / "src"))


def opened_files(job: Path) -> list[str]:
    """The files diagnose opens: everything it discovers except what it skips (truth.json, checkpoints)."""
    return [str(job / r.path) for r in discover(str(job)) if r.kind is not Kind.SKIP]


def child_cpu() -> float:
    """CPU seconds (user + system) of all finished children so far: load-independent cost."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def run_cat(files: list[str]) -> tuple[float, float]:
    listing = "\0".join(files).encode()
    c0, t0 = child_cpu(), time.perf_counter()
    subprocess.run(["xargs", "-0", "cat"], input=listing, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0, child_cpu() - c0


PYREAD = r"""
import os, sys
from multiprocessing import get_context
def read(paths):
    n = 0
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            n += len(os.read(fd, 1 << 20))
        finally:
            os.close(fd)
    return n
if __name__ == "__main__":
    files = sys.stdin.read().split("\0")
    k = len(files) // 64 + 1
    with get_context("fork").Pool(2) as pool:
        print(sum(pool.imap_unordered(read, [files[i:i + k] for i in range(0, len(files), k)])))
"""


def run_pyread(files: list[str]) -> tuple[float, float]:
    """A second floor: Python itself, two processes, open/read/close of each file and nothing else."""
    listing = "\0".join(files).encode()
    c0, t0 = child_cpu(), time.perf_counter()
    subprocess.run([sys.executable, "-c", PYREAD], input=listing, stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - t0, child_cpu() - c0


def run_diagnose(job: Path, sample_memory: bool = False) -> tuple[float, float, float, dict[str, object]]:
    """Wall seconds, CPU seconds (with its reader processes), peak RSS in MB and the JSON.

    Timed runs are not sampled: on 2 cores, a sampler walking the process tree every 20 ms takes CPU
    from diagnose (measured: 0.2 s of 3.5) and `cat` is not sampled either. With `sample_memory`,
    the peak is the process tree's RSS, summed, sampled every 20 ms (and the time is not reported);
    without, it is the largest single process's peak (ru_maxrss), a lower bound."""
    cmd = [sys.executable, "-m", "trainmedic", "diagnose", str(job), "--json"]
    c0, t0 = child_cpu(), time.perf_counter()
    if not sample_memory:
        proc = subprocess.run(cmd, capture_output=True, env=ENV)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(f"diagnose failed ({proc.returncode}): {proc.stderr.decode()[-2000:]}")
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        return wall, child_cpu() - c0, peak / 1e6, json.loads(proc.stdout)
    popen = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
    ps = psutil.Process(popen.pid)
    peak = 0
    while popen.poll() is None:
        try:
            tree = [ps, *ps.children(recursive=True)]
            peak = max(peak, sum(p.memory_info().rss for p in tree if p.is_running()))
        except psutil.Error:
            pass
        time.sleep(0.02)
    out, err = popen.communicate()
    wall = time.perf_counter() - t0
    if popen.returncode != 0:
        raise SystemExit(f"diagnose failed ({popen.returncode}): {err.decode()[-2000:]}")
    return wall, child_cpu() - c0, peak / 1e6, json.loads(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--job", type=Path, help="an existing job directory (default: generate one)")
    ap.add_argument("--nodes", type=int, default=2304)
    ap.add_argument("--cards", type=int, default=8)
    ap.add_argument("--fault", default="silent_hang")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--rank-log-kb", type=float, default=None,
                    help="rank log size when generating (default: the simulator's, 32 KB; 8 is a harder case for the ratio)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    tmp = None
    job = args.job
    if job is None:
        tmp = Path(tempfile.mkdtemp(prefix="diagnose-speed-"))
        job = tmp / "job"
        t0 = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "trainmedic", "sim", "logs", "--nodes", str(args.nodes), "--cards-per-node",
             str(args.cards), "--fault", args.fault, "--seed", str(args.seed), "--out", str(job),
             *(["--rank-log-kb", str(args.rank_log_kb)] if args.rank_log_kb is not None else [])],
            check=True, env=ENV, stdout=subprocess.DEVNULL,
        )
        print(f"generated {args.nodes} x {args.cards} job ({args.fault}) in {time.perf_counter() - t0:.0f} s")
    try:
        files = opened_files(job)
        size = sum(os.path.getsize(f) for f in files)
        print(f"job: {len(files)} files diagnose opens, {size / 1e6:.0f} MB")
        # As installed: pip compiles the package's bytecode. Without this, a shell that sets
        # PYTHONDONTWRITEBYTECODE (this sandbox does) recompiles every module on every run (~0.1 s).
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "src")], check=True, stdout=subprocess.DEVNULL)
        from trainmedic.logs.fast import FAST

        print(f"compiled line readers (trainmedic.logs._fastlog): {'yes' if FAST is not None else 'NO, the Python code'}")
        run_cat(files)  # warm the page cache
        run_diagnose(job)  # warm: compiled-catalog cache, imports
        cats, diags, peaks, cat_cpu, diag_cpu, pyreads = [], [], [], [], [], []
        verdict: dict[str, object] = {}
        print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        for i in range(args.runs):
            c, ccpu = run_cat(files)
            pr, _ = run_pyread(files)
            pyreads.append(pr)
            d, dcpu, peak, doc = run_diagnose(job)
            cats.append(c)
            diags.append(d)
            peaks.append(peak)
            cat_cpu.append(ccpu)
            diag_cpu.append(dcpu)
            verdict = doc["verdict"]  # type: ignore[assignment]
            phases = (doc.get("stats") or {}).get("phase_seconds") or {}  # type: ignore[union-attr]
            inside = ", ".join(f"{k} {v:.2f}" for k, v in phases.items())
            print(
                f"run {i + 1}: cat {c:.2f} s ({ccpu:.2f} CPU s)   python read-only {pr:.2f} s   diagnose {d:.2f} s ({dcpu:.2f} CPU s)   "
                f"ratio {d / c:.2f} wall, {dcpu / max(ccpu, 1e-9):.2f} CPU   largest process so far {peak:.0f} MB   load {os.getloadavg()[0]:.1f}"
                + (f"\n       inside diagnose: {inside} s (the rest: interpreter start, imports, catalog)" if inside else "")
            )
        truth = json.loads((job / "truth.json").read_text()) if (job / "truth.json").exists() else None
        culprit = verdict.get("culprit") or {}
        ok = None
        if truth is not None:
            want = truth.get("culprit") or {}
            ok = verdict.get("fault") == truth.get("fault") and culprit.get("rank") == want.get("rank")  # type: ignore[union-attr]
        _, _, tree_peak, _ = run_diagnose(job, sample_memory=True)
        peaks.append(tree_peak)
        print(f"peak memory of diagnose and its readers, summed (a separate, sampled run): {tree_peak:.0f} MB")
        cat_m, diag_m = statistics.median(cats), statistics.median(diags)
        print(
            f"\nmedian of {args.runs}: cat {cat_m:.2f} s, diagnose {diag_m:.2f} s, ratio {diag_m / cat_m:.2f} "
            f"(target <= 2.0), limit 15 s; peak memory {max(peaks):.0f} MB (limit 2048); "
            f"verdict {verdict.get('fault')} rank {culprit.get('rank')}"  # type: ignore[union-attr]
            + ("" if ok is None else f" ({'matches' if ok else 'DOES NOT match'} truth.json)")
        )
        print(f"python read-only floor (2 processes, open/read/close only): {statistics.median(pyreads):.2f} s")
        cpu_d, cpu_c = statistics.median(diag_cpu), statistics.median(cat_cpu)
        print(f"CPU seconds: diagnose {cpu_d:.2f} (parent and readers), cat {cpu_c:.2f}: {cpu_d / max(cpu_c, 1e-9):.2f}x")
        print(
            f"summary: diagnose {diag_m:.2f} s vs cat {cat_m:.2f} s over {len(files)} files "
            f"({diag_m / cat_m:.2f}x wall, {cpu_d / max(cpu_c, 1e-9):.2f}x CPU), {max(peaks):.0f} MB peak, correct={ok}"
        )
    finally:
        if tmp is not None and not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
