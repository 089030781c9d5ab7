"""Zero false incidents: a healthy 4-rank DDP job under `trainmedic run` for N minutes.

Runs examples/ddp_train.py (gloo, CPU, 0.1 s steps, checkpoint every 20 steps) with every detector
on and no fault injected, then counts incidents. The floor is zero; any incident is a false one.
It also prints the step rate next to the same job under torchrun for the same time, so the
supervision overhead shows (on a shared machine the rates are noisy: say so when quoting).

    python benchmarks/healthy_soak.py --minutes 30
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "ddp_train.py"


def run_for(argv: list[str], seconds: float, env: dict[str, str]) -> tuple[int, str]:
    p = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        out, _ = p.communicate(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGTERM)
        try:
            out, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate()
    return p.returncode, out


def steps_done(ev_dir: Path) -> int:
    p = ev_dir / "events_rank0.jsonl"
    if not p.exists():
        return 0
    return sum(1 for line in p.read_text().splitlines() if '"ev": "step"' in line)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--no-torchrun", action="store_true", help="skip the torchrun run used for the step-rate comparison")
    a = ap.parse_args()
    seconds = a.minutes * 60
    work = Path(tempfile.mkdtemp(prefix="launcher-soak-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT / "src"), OMP_NUM_THREADS="1")
    job = ["--steps", "10000000", "--ckpt-every", "20", "--step-time", "0.1", "--quiet"]
    tm_dir = work / "tm"
    argv = [sys.executable, "-m", "trainmedic", "run", "--nproc-per-node", "4", "--checkpoint-dir", str(tm_dir / "ck"), "--echo", "none", "--", str(EXAMPLE), *job, "--ckpt-dir", str(tm_dir / "ck"), "--events-dir", str(tm_dir / "ev")]
    t0 = time.time()
    _, _out = run_for(argv, seconds, env)
    tm_wall = time.time() - t0
    incidents = sorted((tm_dir / "ck" / "incidents").glob("*.json")) if (tm_dir / "ck" / "incidents").exists() else []
    tm_steps = steps_done(tm_dir / "ev")
    print(f"trainmedic run: {tm_wall / 60:.1f} min, {tm_steps} steps, incidents: {len(incidents)}")
    for p in incidents:
        d = json.loads(p.read_text())
        print(f"  FALSE incident {d['id']}: {d['launcher']['symptom_detail']}")
    tr_steps = None
    if not a.no_torchrun:
        tr_dir = work / "tr"
        torchrun = str(Path(sys.executable).with_name("torchrun"))
        argv = [torchrun, "--standalone", "--nproc-per-node", "4", str(EXAMPLE), *job, "--ckpt-dir", str(tr_dir / "ck"), "--events-dir", str(tr_dir / "ev")]
        run_for(argv, min(seconds, 300.0), env)
        tr_steps = steps_done(tr_dir / "ev")
        rate_tr = tr_steps / min(seconds, 300.0)
        rate_tm = tm_steps / tm_wall
        print(f"torchrun (same job, {min(seconds, 300.0) / 60:.1f} min): {tr_steps} steps; step rate trainmedic/torchrun = {rate_tm / rate_tr:.3f}")
    print(f"summary: {len(incidents)} false incidents in {tm_wall / 60:.1f} minutes of healthy training ({tm_steps} steps)")
    if not incidents:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {work} for inspection")
    sys.exit(1 if incidents else 0)


if __name__ == "__main__":
    main()
