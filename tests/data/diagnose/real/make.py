"""Capture real torchrun logs of one faulty rank: `python make.py crash|hang|exception [--out DIR]`.

Runs train.py under torchrun (4 ranks, gloo, CPU, --log-dir, --redirects 3), waits for step 8, then
injects the fault on one rank: SIGKILL (crash), SIGSTOP (hang; noticed at the 20 s process-group
timeout) or a RuntimeError raised by the script (exception). Keeps torchrun's own console output as
torchrun.log next to its log directory, and writes truth.json (the rank that was broken).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

HERE = Path(__file__).resolve().parent
CULPRIT = {"crash": 2, "hang": 1, "exception": 3}


def last_step(log_dir: Path) -> int:
    steps = [0]
    for f in log_dir.glob("*/attempt_0/0/stderr.log"):
        steps += [int(s) for s in re.findall(r"\] step (\d+) ", f.read_text(errors="replace"))]
    return max(steps)


def worker(launcher: psutil.Process, local_rank: int) -> psutil.Process:
    for child in launcher.children(recursive=True):
        try:
            if child.environ().get("LOCAL_RANK") == str(local_rank):
                return child
        except psutil.Error:
            continue
    raise RuntimeError(f"no worker with LOCAL_RANK={local_rank}")


def capture(fault: str, out: Path) -> None:
    if out.exists():
        shutil.rmtree(out)
    log_dir = out / "logs"
    log_dir.mkdir(parents=True)
    culprit = CULPRIT[fault]
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "4",
        "--max-restarts", "0", "--log-dir", str(log_dir), "--redirects", "3", "--shutdown-timeout", "5",
        str(HERE / "train.py"), "--pg-timeout-s", "20",
    ]
    if fault == "exception":
        cmd += ["--fault-exception-rank", str(culprit), "--fault-step", "10"]
    env = dict(os.environ, LOGLEVEL="INFO", OMP_NUM_THREADS="1", CUDA_VISIBLE_DEVICES="")
    with open(out / "torchrun.log", "wb") as console:
        proc = subprocess.Popen(cmd, stdout=console, stderr=subprocess.STDOUT, env=env, start_new_session=True)
        launcher = psutil.Process(proc.pid)
        injected_at = None
        deadline = time.time() + 120
        while proc.poll() is None and time.time() < deadline:
            if fault != "exception" and injected_at is None and last_step(log_dir) >= 8:
                target = worker(launcher, culprit)
                target.send_signal(signal.SIGKILL if fault == "crash" else signal.SIGSTOP)
                injected_at = time.time()
            time.sleep(0.1)
        if proc.poll() is None:  # bounded: never leave the job behind
            for child in launcher.children(recursive=True):
                child.send_signal(signal.SIGCONT)
                child.kill()
            proc.kill()
        proc.wait()
    truth = {"fault": fault, "culprit_rank": culprit, "injected_at": injected_at, "torchrun_rc": proc.returncode}
    (out / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("fault", choices=sorted(CULPRIT))
    ap.add_argument("--out", type=Path)
    a = ap.parse_args()
    capture(a.fault, a.out or HERE / a.fault)
