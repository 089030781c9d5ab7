"""Recovery from one failing rank: trainmedic run against torchrun and NVRx ft_launcher.

The same job (examples/ddp_train.py: 4 CPU ranks, gloo, checkpoint every 5 steps of 0.2 s) and the
same faults (SIGKILL, SIGSTOP, a hang inside Python, an exception, a straggler, a NaN loss) under
each launcher. For each run: seconds from the injection to the launcher's first reaction, to the
first training step after the restart, the steps lost, and whether the launcher named the rank we
broke. Faults from inside use TRAINMEDIC_INJECT (works under every launcher); SIGKILL/SIGSTOP are
sent by this harness. Times are stamped on receipt of each console line, like the peer baseline.

    python benchmarks/recovery_vs_peers.py --reps 1 [--launchers trainmedic,torchrun60,ft] [--faults ...]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ddp_train.py"
FT_JOB = ROOT / "benchmarks" / "ft_job.py"
NVRX_VENV = Path(os.environ.get("NVRX_VENV", "/tmp/nvrx-venv"))
FAULTS = ("sigkill", "sigstop", "pyhang", "exception", "straggle", "nan")
INSIDE = {"pyhang": "hang", "exception": "exception", "straggle": "straggle", "nan": "nan"}
LAUNCHERS = ("trainmedic", "trainmedic_cold", "torchrun", "torchrun60", "ft")
STEP_TIME = 0.2
CKPT_EVERY = 5

_TORCHRUN_LINE = re.compile(r"^[EWI]\d{4} \d\d:\d\d:\d\d\.\d+ \d+ .*torch/distributed/elastic")
_FT_LINE = re.compile(r"\[(ft_launcher|RankMonServer)\d*@|RankMonServer|\[ft_launcher")
_FAILED = re.compile(r"failed \(exitcode: (-?\d+)\) local_rank: (\d+)")
_TM_DETECT = re.compile(r"^\[trainmedic\] .*detected ")
_TM_CULPRIT = re.compile(r"^\[trainmedic\] .*culprit: rank (\d+)")


@dataclass
class RunOutcome:
    launcher: str
    fault: str
    rep: int
    rank: int
    inject_step: int
    injected_at: float | None = None
    detected_s: float | None = None
    resumed_s: float | None = None
    steps_lost: int | None = None
    named_rank: int | None = None
    named_right: bool = False
    note: str = ""
    lines: list[str] = field(default_factory=list)


def command(launcher: str, run_dir: Path, port: int) -> tuple[list[str], dict[str, str]]:
    job = ["--steps", "100000", "--ckpt-dir", str(run_dir / "ck"), "--ckpt-every", str(CKPT_EVERY), "--step-time", str(STEP_TIME), "--events-dir", str(run_dir / "ev"), "--quiet"]
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")
    py = sys.executable
    if launcher in ("trainmedic", "trainmedic_cold"):
        extra = [] if launcher == "trainmedic" else ["--no-warm-standby"]
        return [py, "-m", "trainmedic", "run", "--nproc-per-node", "4", "--max-restarts", "3", "--checkpoint-dir", str(run_dir / "ck"), "--echo", "all", *extra, "--", str(EXAMPLE), *job], env
    torchrun = str(Path(py).with_name("torchrun"))
    if launcher == "torchrun":
        return [torchrun, "--nproc-per-node", "4", "--max-restarts", "3", "--master-port", str(port), str(EXAMPLE), *job], env
    if launcher == "torchrun60":  # tuned: 60 s pg timeout plus the measured restart workaround
        env["TORCH_DISABLE_SHARE_RDZV_TCP_STORE"] = "1"
        return [torchrun, "--standalone", "--nproc-per-node", "4", "--max-restarts", "3", str(EXAMPLE), *job, "--pg-timeout", "60"], env
    if launcher == "ft":
        ft = str(NVRX_VENV / "bin" / "ft_launcher")
        return [
            ft, "--standalone", "--nproc-per-node", "4", "--max-restarts", "3",
            "--ft-initial-rank-heartbeat-timeout", "60", "--ft-rank-heartbeat-timeout", "10",
            "--ft-workload-check-interval", "1", "--ft-enable-nic-monitor", "false",
            str(FT_JOB), *job,
        ], env
    raise ValueError(launcher)


def events(run_dir: Path) -> list[dict[str, Any]]:
    out = []
    for p in (run_dir / "ev").glob("events_rank*.jsonl"):
        for line in p.read_text().splitlines():
            with contextlib.suppress(ValueError):
                out.append(json.loads(line))
    return out


def rank_pids(root_pid: int) -> dict[int, int]:
    pids = {}
    try:
        for ch in psutil.Process(root_pid).children(recursive=True):
            try:
                env = ch.environ()
                cmd = " ".join(ch.cmdline())
            except (psutil.Error, OSError):
                continue
            if "RANK" in env and ("ddp_train" in cmd or "ft_job" in cmd or "-c" in ch.cmdline()) and "LOCAL_RANK" in env:
                pids[int(env["RANK"])] = ch.pid
    except psutil.Error:
        pass
    return pids


def teardown(proc: subprocess.Popen[str]) -> None:
    try:
        kids = psutil.Process(proc.pid).children(recursive=True)
    except psutil.Error:
        kids = []
    for k in kids:
        for sig in (signal.SIGCONT, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                os.kill(k.pid, sig)
    for sig in (signal.SIGCONT, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, sig)
    proc.wait(10)


def one_run(launcher: str, fault: str, rep: int, rng: random.Random, bound_s: float) -> RunOutcome:
    run_dir = Path(tempfile.mkdtemp(prefix=f"launcher-bench-{launcher}-{fault}-"))
    rank, step = rng.randrange(4), rng.randrange(70, 91)  # 14-18 s into training: warm standbys are ready, as hours into a real job
    out = RunOutcome(launcher, fault, rep, rank, step)
    port = 29600 + rng.randrange(300)
    argv, env = command(launcher, run_dir, port)
    if fault in INSIDE:
        env["TRAINMEDIC_INJECT"] = f"rank={rank},step={step},kind={INSIDE[fault]}"
    lines: list[tuple[float, str]] = []
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=run_dir, start_new_session=True, bufsize=1)

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append((time.time(), line.rstrip("\n")))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    t_launch = time.time()
    try:
        while time.time() - t_launch < 300 and proc.poll() is None:
            evs = events(run_dir)
            if fault in INSIDE:
                hit = [t for t, ln in lines if "[trainmedic] injecting" in ln]
                if hit:
                    out.injected_at = hit[0]
                    break
            else:
                done = [e for e in evs if e["ev"] == "step" and e["rank"] == rank and e["restart"] == 0]
                if done and max(e["step"] for e in done) >= step - 1:
                    pid = rank_pids(proc.pid).get(rank)
                    if pid is not None:
                        os.kill(pid, signal.SIGKILL if fault == "sigkill" else signal.SIGSTOP)
                        out.injected_at = time.time()
                        break
            time.sleep(0.02)
        if out.injected_at is None:
            out.note = "fault not injected (job did not reach the step)"
            return out
        t0 = out.injected_at
        while time.time() - t0 < bound_s and proc.poll() is None:
            resumed = [e for e in events(run_dir) if e["ev"] == "step" and e["restart"] >= 1]
            if resumed and time.time() - min(e["t"] for e in resumed) > 1.0:
                break
            time.sleep(0.1)
        time.sleep(0.3)
    finally:
        teardown(proc)
        reader.join(2)
    t0 = out.injected_at
    assert t0 is not None
    after = [(t, ln) for t, ln in lines if t >= t0 - 0.05]
    if launcher.startswith("trainmedic"):
        det = [t for t, ln in after if _TM_DETECT.search(ln)]
        cul = [ln for _, ln in after if _TM_CULPRIT.search(ln)]
        if cul:
            m = _TM_CULPRIT.search(cul[0])
            out.named_rank = int(m.group(1)) if m else None
    else:
        pat = _TORCHRUN_LINE if launcher.startswith("torchrun") else _FT_LINE
        det = [t for t, ln in after if pat.search(ln)]
        failed = [ln for _, ln in after if _FAILED.search(ln)]
        if failed:
            m = _FAILED.search(failed[0])
            out.named_rank = int(m.group(2)) if m else None
    out.detected_s = round(det[0] - t0, 2) if det else None
    evs = events(run_dir)
    resumed = sorted((e for e in evs if e["ev"] == "step" and e["restart"] >= 1), key=lambda e: e["t"])
    if resumed:
        out.resumed_s = round(resumed[0]["t"] - t0, 2)
        starts = [e for e in evs if e["ev"] == "start" and e["restart"] >= 1]
        last = max((e["step"] for e in evs if e["ev"] == "step" and e["restart"] == 0), default=None)
        if starts and last is not None:
            out.steps_lost = max(0, last - max(s["resumed_from_step"] for s in starts[:4]))
    out.named_right = out.named_rank == rank
    out.lines = [f"+{t - t0:.2f}s {ln}" for t, ln in after[:60]]
    shutil.rmtree(run_dir, ignore_errors=True)
    return out


def bound_for(launcher: str, fault: str) -> float:
    if fault in ("sigstop", "pyhang") and launcher == "torchrun60":
        return 130.0
    return 45.0


def med(xs: list[float | None]) -> str:
    v = [x for x in xs if x is not None]
    if not v:
        return "-"
    return f"{statistics.median(v):.2f}" + (f" [{min(v):.1f}-{max(v):.1f}]" if len(v) > 1 else "")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=1)
    ap.add_argument("--launchers", default=",".join(LAUNCHERS))
    ap.add_argument("--faults", default=",".join(FAULTS))
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--out", type=Path, default=None, help="write all runs as JSON here")
    a = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so each run's teardown still happens
    launchers = [x for x in a.launchers.split(",") if x]
    if "ft" in launchers and not (NVRX_VENV / "bin" / "ft_launcher").exists():
        print(f"ft_launcher not found in {NVRX_VENV} (set NVRX_VENV); skipping NVRx", file=sys.stderr)
        launchers.remove("ft")
    rng = random.Random(a.seed)
    runs: list[RunOutcome] = []
    for rep in range(a.reps):
        for fault in a.faults.split(","):
            for launcher in launchers:
                if launcher == "trainmedic_cold" and fault not in ("sigkill", "exception"):
                    continue
                r = one_run(launcher, fault, rep, rng, bound_for(launcher, fault))
                runs.append(r)
                print(
                    f"{launcher:16s} {fault:9s} rep{rep} rank {r.rank} step {r.inject_step}: detect {r.detected_s} s, "
                    f"training again {r.resumed_s} s, lost {r.steps_lost}, named {r.named_rank} ({'right' if r.named_right else 'no'}) {r.note}",
                    flush=True,
                )
    print()
    print("| Launcher | Fault | Detected | Inject→detect s | Inject→training again s | Steps lost | Culprit named |")
    print("|---|---|---|---|---|---|---|")
    for fault in a.faults.split(","):
        for launcher in launchers:
            rs = [r for r in runs if r.launcher == launcher and r.fault == fault and r.injected_at is not None]
            if not rs:
                continue
            det = sum(1 for r in rs if r.detected_s is not None)
            bound = bound_for(launcher, fault)
            print(
                f"| {launcher} | {fault} | {det}/{len(rs)} in {bound:.0f} s | {med([r.detected_s for r in rs])} | "
                f"{med([r.resumed_s for r in rs])} ({sum(1 for r in rs if r.resumed_s is not None)}/{len(rs)} resumed) | "
                f"{med([float(r.steps_lost) if r.steps_lost is not None else None for r in rs])} | {sum(r.named_right for r in rs)}/{len(rs)} |"
            )
    tm = [r for r in runs if r.launcher == "trainmedic"]
    hangs = [r.detected_s for r in tm if r.fault in ("sigstop", "pyhang") and r.detected_s is not None]
    named = sum(r.named_right for r in tm)
    print()
    print(
        f"summary: trainmedic detected {sum(r.detected_s is not None for r in tm)}/{len(tm)} faults, named the culprit in {named}/{len(tm)}, "
        f"median hang detection {statistics.median(hangs) if hangs else float('nan'):.2f} s; "
        f"ft_launcher named {sum(r.named_right for r in runs if r.launcher == 'ft')}/{sum(1 for r in runs if r.launcher == 'ft')}, "
        f"torchrun60 {sum(r.named_right for r in runs if r.launcher == 'torchrun60')}/{sum(1 for r in runs if r.launcher == 'torchrun60')}"
    )
    if a.out:
        a.out.write_text(json.dumps([asdict(r) for r in runs], indent=1))


if __name__ == "__main__":
    main()
