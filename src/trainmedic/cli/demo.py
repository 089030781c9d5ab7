"""`trainmedic demo`: a real 4-rank PyTorch job, one fault injected, detected, localized,
classified and recovered from its checkpoint, live, with a summary of the timings."""

from __future__ import annotations

import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import click

import trainmedic
from trainmedic.cli.output import emit_json, fail, is_terminal
from trainmedic.detect.progress import JobProgress
from trainmedic.launcher.config import RunConfig
from trainmedic.launcher.runner import run as run_job
from trainmedic.launcher.supervisor import LaunchError, Supervisor

INSIDE = ("hang", "crash", "exception", "nan", "straggle")
OUTSIDE = {"sigkill": signal.SIGKILL, "sigstop": signal.SIGSTOP}
ROOT = Path(trainmedic.__file__).resolve().parents[2]


def example_script() -> Path | None:
    """The reference job shipped in `examples/` (the repository checkout the package runs from)."""
    for p in (
        Path(os.environ.get("TRAINMEDIC_EXAMPLES", "")) / "ddp_train.py",
        ROOT / "examples" / "ddp_train.py",
    ):
        if p.is_file():
            return p
    return None


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--fault",
    type=click.Choice([*INSIDE, *OUTSIDE]),
    default="hang",
    show_default=True,
    help="The fault to inject (sigkill/sigstop come from outside the rank).",
)
@click.option("--rank", "fault_rank", type=int, default=2, show_default=True, help="The rank that fails.")
@click.option("--at-step", type=int, default=12, show_default=True, help="The step at which it fails.")
@click.option("--ranks", type=int, default=4, show_default=True, help="Ranks (CPU processes, gloo).")
@click.option("--steps", type=int, default=30, show_default=True, help="Steps the job trains.")
@click.option(
    "--workdir",
    type=click.Path(path_type=Path, file_okay=False),
    default=None,
    help="Where checkpoints and incidents go (default: a new temp dir).",
)
@click.option("--json", "as_json", is_flag=True, help="Print only a JSON summary.")
def demo(
    fault: str, fault_rank: int, at_step: int, ranks: int, steps: int, workdir: Path | None, as_json: bool
) -> None:
    """Train a small model on 4 CPU ranks under `trainmedic run`, break one rank, and watch
    trainmedic detect it, name the culprit, restart from the checkpoint and train again."""
    script = example_script()
    if script is None:
        fail(
            "the demo job examples/ddp_train.py was not found",
            "run from a checkout of trainmedic, or set TRAINMEDIC_EXAMPLES to its examples/ folder",
        )
    if not 0 <= fault_rank < ranks:
        fail(f"--rank {fault_rank} is not one of the {ranks} ranks", code=2)
    if not 2 <= at_step < steps - 5:
        fail(f"--at-step must be between 2 and {steps - 6} for {steps} steps", code=2)
    try:
        import torch  # noqa: F401
    except ImportError:
        fail(
            "the demo trains with PyTorch, which is not installed",
            "bash tools/setup.sh installs torch==2.13.0 (CPU)",
        )
    work = workdir or Path(tempfile.mkdtemp(prefix="trainmedic-demo-"))
    ckpt = work / "checkpoints"
    env = {
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(
            os.pathsep
        )
    }
    if fault in INSIDE:
        env["TRAINMEDIC_INJECT"] = f"rank={fault_rank},step={at_step},kind={fault}"
    cfg = RunConfig(
        argv=(
            sys.executable,
            "-u",
            str(script),
            "--steps",
            str(steps),
            "--ckpt-dir",
            str(ckpt),
            "--ckpt-every",
            "5",
            "--step-time",
            "0.1",
            "--quiet",
        ),
        nproc_per_node=ranks,
        checkpoint_dir=ckpt,
        max_restarts=2,
        env=env,
        job_name="demo",
        echo="0",
    )
    tty = is_terminal() and not as_json
    t0 = time.time()
    injected: dict[str, float] = {}

    def out(line: str, color: str | None = None) -> None:
        if as_json:
            return
        click.echo(click.style(line, fg=color) if tty and color else line)

    def say(msg: str) -> None:
        color = (
            "red"
            if "detected" in msg
            else "yellow"
            if "culprit" in msg or "verdict" in msg
            else "green"
            if "resumed" in msg or "finished" in msg
            else None
        )
        out(msg, color)

    def echo(rank: int, line: str) -> None:
        if rank == 0 or "injecting" in line:
            out(f"  [rank{rank}] {line}", "cyan" if "injecting" in line else None)
            if "injecting" in line:
                injected.setdefault("at", time.time())

    def tick(sup: Supervisor, job: JobProgress, now: float) -> None:
        sig = OUTSIDE.get(fault)
        if (
            sig is not None
            and "at" not in injected
            and sup.attempt == 0
            and (job.max_step or -1) >= at_step - 1
        ) and sup.signal_rank(fault_rank, sig):
            injected["at"] = now
            out(
                f"[demo] sent {signal.Signals(sig).name} to rank {fault_rank} at step {job.max_step}",
                "cyan",
            )

    out(
        f"[demo] {ranks} ranks (gloo, CPU) train an MLP for {steps} steps, checkpoint every 5; {fault} on rank {fault_rank} at step {at_step}"
    )
    out(f"[demo] work dir {work}")
    try:
        result = run_job(cfg, say=say, echo=echo, on_tick=tick)
    except LaunchError as e:
        fail(str(e), e.hint or None)
    summary = summarize(result.incidents, injected.get("at"), time.time() - t0, result.rc, fault, fault_rank)
    if as_json:
        emit_json(summary)
    else:
        show(summary)
    sys.exit(0 if result.rc == 0 and summary["culprit_correct"] else 1)


def summarize(
    incidents: list[dict[str, Any]],
    injected_at: float | None,
    wall_s: float,
    rc: int,
    fault: str,
    fault_rank: int,
) -> dict[str, Any]:
    """The demo's outcome: timings from the injection, culprit, verdict, steps lost."""
    inc = incidents[0] if incidents else None
    timings: dict[str, float | None] = {}
    culprit = None
    if inc is not None:
        tl = inc["timeline"]
        base = injected_at if injected_at is not None else tl.get("fault")
        for k in ("detected", "localized", "stopped", "restarted", "resumed"):
            timings[f"to_{k}_s"] = round(tl[k] - base, 2) if k in tl and base is not None else None
        culprit = (inc["verdict"] or {}).get("culprit")
    return {
        "fault": fault,
        "fault_rank": fault_rank,
        "rc": rc,
        "incidents": len(incidents),
        "symptom": inc["symptom"] if inc else None,
        "culprit": culprit,
        "culprit_correct": bool(culprit and culprit["rank"] == fault_rank),
        "verdict": (inc["verdict"] or {}).get("fault") if inc else None,
        "how_localized": inc["launcher"]["localization"]["reason"] if inc else None,
        "timings_from_injection": timings,
        "steps_lost": inc["launcher"].get("steps_lost") if inc else None,
        "incident_file": inc.get("path") if inc else None,
        "wall_s": round(wall_s, 1),
    }


def show(s: dict[str, Any]) -> None:
    click.echo("")
    click.echo("summary")
    if not s["incidents"]:
        click.echo("  no incident was recorded (the fault was not detected)")
        return
    t = s["timings_from_injection"]
    c = s["culprit"] or {}
    card = (c.get("card") or {}) if c else {}
    rows = [
        ("fault", f"{s['fault']} on rank {s['fault_rank']}"),
        ("detected", f"{s['symptom']} after {t.get('to_detected_s')} s"),
        (
            "culprit",
            f"rank {c.get('rank')} (node {c.get('node')}, card {card.get('node')}:{card.get('index')}) - {'right' if s['culprit_correct'] else 'WRONG'}",
        ),
        ("how", s["how_localized"]),
        ("verdict", s["verdict"]),
        ("all ranks stopped", f"{t.get('to_stopped_s')} s"),
        ("restarted", f"{t.get('to_restarted_s')} s"),
        ("training again", f"{t.get('to_resumed_s')} s (first new step)"),
        ("steps lost", f"{s['steps_lost']} (checkpoint every 5)"),
        ("incident", s["incident_file"]),
        ("demo took", f"{s['wall_s']} s"),
    ]
    for k, v in rows:
        click.echo(f"  {k:<18} {v}")
