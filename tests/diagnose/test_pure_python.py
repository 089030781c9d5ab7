"""Diagnose gives the same JSON with and without the compiled line readers (`TRAINMEDIC_PURE_PYTHON=1`
runs the Python twins), on simulated jobs of several scenarios and on the real logs here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from trainmedic.logs.fast import FAST
from trainmedic.sim.job import write_job
from trainmedic.sim.plan import SimOptions

REAL = Path(__file__).resolve().parents[1] / "data" / "diagnose" / "real"
SRC = str(Path(__file__).resolve().parents[2] / "src")

pytestmark = pytest.mark.skipif(FAST is None, reason="trainmedic.logs._fastlog not built")


def _diagnose(job: Path, pure: bool) -> dict[str, object]:
    env = dict(os.environ, PYTHONPATH=SRC, TRAINMEDIC_PURE_PYTHON="1" if pure else "0")
    out = subprocess.run(
        [sys.executable, "-m", "trainmedic", "diagnose", str(job), "--json", "--workers", "1"],
        env=env, capture_output=True, text=True, check=True, timeout=240,
    ).stdout
    doc = json.loads(out)
    doc["stats"].pop("seconds", None)
    doc["stats"].pop("phase_seconds", None)
    return doc  # type: ignore[no-any-return]


def test_the_compiled_and_the_python_readers_give_one_diagnosis(tmp_path: Path) -> None:
    jobs = [REAL / "crash", REAL / "hang", REAL / "exception"]
    for i, fault in enumerate(("line_fault", "silent_hang", "nan", "double_fault", "straggler")):
        write_job(SimOptions(nodes=4, cards_per_node=4, fault=fault, seed=i, rank_log_kb=4), tmp_path / fault, workers=1)
        jobs.append(tmp_path / fault)
    for job in jobs:
        assert _diagnose(job, pure=False) == _diagnose(job, pure=True), job.name
