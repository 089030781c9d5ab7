"""The reference DDP job (examples/ddp_train.py, real torch over gloo) under `trainmedic run`."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.launcher._launch import SRC, incidents
from trainmedic.launcher.config import RunConfig
from trainmedic.launcher.runner import run

pytestmark = pytest.mark.e2e
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "ddp_train.py"


def test_a_rank_hung_before_the_allreduce_is_named_by_the_ddp_collective_counts(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    ck = tmp_path / "ck"
    cfg = RunConfig(
        argv=(
            sys.executable,
            "-u",
            str(EXAMPLE),
            "--steps",
            "16",
            "--ckpt-dir",
            str(ck),
            "--ckpt-every",
            "4",
            "--step-time",
            "0.05",
            "--hidden",
            "64",
        ),
        nproc_per_node=2,
        checkpoint_dir=ck,
        max_restarts=1,
        env={"PYTHONPATH": str(SRC), "TRAINMEDIC_INJECT": "rank=1,step=9,kind=hang"},
        echo="none",
        warm_standby=False,
    )
    said: list[str] = []
    result = run(cfg, say=said.append)
    assert result.rc == 0, said
    assert result.final_step == 15
    inc = incidents(ck)[0]
    assert inc["verdict"]["culprit"]["rank"] == 1
    assert inc["launcher"]["localization"]["method"] == "collective_wavefront"
    assert inc["launcher"]["resume_from"]["step"] == 8
    assert 0 <= inc["launcher"]["steps_lost"] <= 4
