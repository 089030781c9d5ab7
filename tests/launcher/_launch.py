"""Running the launcher in-process on the fast pure-Python job (tests/launcher/fake_job.py)."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from trainmedic.detect.progress import JobProgress
from trainmedic.launcher.config import RunConfig
from trainmedic.launcher.runner import run
from trainmedic.launcher.supervisor import RunResult, Supervisor

FAKE_JOB = Path(__file__).with_name("fake_job.py")
SRC = Path(__file__).resolve().parents[2] / "src"


def fake_cfg(
    tmp: Path, n: int = 4, steps: int = 16, inject: str = "", extra_args: tuple[str, ...] = (), **kw: Any
) -> RunConfig:
    env = {"PYTHONPATH": str(SRC)}
    if inject:
        env["TRAINMEDIC_INJECT"] = inject
    argv = (
        sys.executable,
        "-u",
        str(FAKE_JOB),
        "--sync-dir",
        str(tmp / "sync"),
        "--ckpt-dir",
        str(tmp / "ck"),
        "--steps",
        str(steps),
        *extra_args,
    )
    base: dict[str, Any] = dict(
        argv=argv, nproc_per_node=n, checkpoint_dir=tmp / "ck", env=env, max_restarts=2, echo="none"
    )
    base.update(kw)
    return RunConfig(**base)


def launch(
    cfg: RunConfig, on_tick: Callable[[Supervisor, JobProgress, float], None] | None = None
) -> tuple[RunResult, list[str]]:
    said: list[str] = []
    result = run(
        cfg,
        say=said.append,
        on_tick=on_tick,
        on_event=lambda kind, data: said.append(f"event {kind} {sorted(data.items())}"),
        echo=lambda rank, line: said.append(f"rank{rank}: {line}"),
    )
    return result, said


def incidents(ckpt_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((ckpt_dir / "incidents").glob("*.json"))]
