"""Every fault kind end to end on real processes (the fast pure-Python job): detected, the culprit
named, the job stopped, restarted from the newest checkpoint, and the incident written."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from tests.launcher._launch import fake_cfg, incidents, launch
from trainmedic.detect.progress import JobProgress
from trainmedic.launcher.supervisor import Supervisor

pytestmark = pytest.mark.e2e


def check_recovered(tmp_path: Path, symptom: str, culprit: int, fault: str) -> dict:
    found = incidents(tmp_path / "ck")
    assert len(found) == 1, found
    inc = found[0]
    assert inc["symptom"] == symptom
    assert inc["verdict"]["culprit"]["rank"] == culprit
    assert inc["verdict"]["fault"] == fault
    tl = inc["timeline"]
    assert (
        tl["fault"] <= tl["detected"] <= tl["localized"] <= tl["stopped"] <= tl["restarted"] <= tl["resumed"]
    )
    lost = inc["launcher"]["steps_lost"]
    assert lost is not None and 0 <= lost <= 4  # at most one checkpoint interval (4 steps)
    return inc


@pytest.mark.parametrize(
    "kind, symptom, fault",
    [
        ("hang", "hang", "hang.silent"),
        ("exception", "exception", "process.crash"),
        ("crash", "crash", "process.crash"),
        ("nan", "nan", "numeric.nan_loss"),
    ],
)
def test_an_injected_fault_is_named_and_the_job_resumes_from_its_checkpoint(
    tmp_path: Path, kind: str, symptom: str, fault: str
) -> None:
    result, said = launch(fake_cfg(tmp_path, inject=f"rank=2,step=9,kind={kind}"))
    assert result.rc == 0, said
    assert result.final_step == 15
    inc = check_recovered(tmp_path, symptom, 2, fault)
    assert inc["timeline"]["detected"] - inc["timeline"]["fault"] < 5.0
    assert inc["launcher"]["warm_ranks"] == 4  # the restart took ready standbys


def test_a_python_hang_dumps_the_culprits_stack_into_the_incident(tmp_path: Path) -> None:
    launch(fake_cfg(tmp_path, inject="rank=1,step=6,kind=hang"))
    inc = check_recovered(tmp_path, "hang", 1, "hang.silent")
    assert inc["launcher"]["localization"]["method"] == "collective_wavefront"
    assert any("_maybe_inject" in line for line in inc["launcher"]["culprit_tail"])


def test_a_sigstopped_rank_is_named_as_the_silent_one_and_killed(tmp_path: Path) -> None:
    sent: list[int] = []

    def tick(sup: Supervisor, job: JobProgress, now: float) -> None:
        if not sent and sup.attempt == 0 and (job.max_step or 0) >= 6:
            sent.append(3)
            sup.signal_rank(3, signal.SIGSTOP)

    result, said = launch(fake_cfg(tmp_path), on_tick=tick)
    assert result.rc == 0, said
    inc = check_recovered(tmp_path, "hang", 3, "hang.silent")
    assert inc["launcher"]["localization"]["method"] == "silent"
    assert any("process state T" in e["text"] for e in inc["verdict"]["evidence"])


def test_a_sigkilled_rank_is_the_culprit_not_the_peers_that_fail_after_it(tmp_path: Path) -> None:
    sent: list[int] = []

    def tick(sup: Supervisor, job: JobProgress, now: float) -> None:
        if not sent and sup.attempt == 0 and (job.max_step or 0) >= 6:
            sent.append(0)
            sup.signal_rank(0, signal.SIGKILL)

    result, _ = launch(fake_cfg(tmp_path), on_tick=tick)
    assert result.rc == 0
    inc = check_recovered(tmp_path, "crash", 0, "process.crash")
    assert "SIGKILL" in inc["launcher"]["symptom_detail"]


def test_a_straggler_is_found_by_the_time_it_waits_in_the_collective(tmp_path: Path) -> None:
    cfg = fake_cfg(
        tmp_path, steps=40, inject="rank=1,step=8,kind=straggle,factor=6", extra_args=("--step-time", "0.05")
    )
    result, said = launch(cfg)
    assert result.rc == 0, said
    inc = incidents(tmp_path / "ck")[0]
    assert inc["symptom"] == "straggler" and inc["verdict"]["culprit"]["rank"] == 1


def test_the_newest_checkpoint_corrupt_falls_back_to_the_previous_and_moves_it_aside(tmp_path: Path) -> None:
    corrupted: list[bool] = []

    def tick(sup: Supervisor, job: JobProgress, now: float) -> None:
        ck = tmp_path / "ck"
        if not corrupted and sup.attempt == 0 and (job.max_step or 0) >= 10:
            newest = sorted(ck.glob("ck_*.ckpt"))[-1]
            newest.write_text('{"step": 8')  # torn write: size differs from the recorded one
            corrupted.append(True)
            sup.signal_rank(1, signal.SIGKILL)

    result, said = launch(fake_cfg(tmp_path), on_tick=tick)
    assert result.rc == 0, said
    inc = incidents(tmp_path / "ck")[0]
    assert inc["launcher"]["resume_from"]["step"] == 4
    assert inc["launcher"]["checkpoints_skipped"][0]["path"].endswith("ck_00008.ckpt")
    assert (tmp_path / "ck" / "ck_00008.ckpt.corrupt").exists()


def test_the_restart_budget_ends_the_job_with_a_clear_reason(tmp_path: Path) -> None:
    cfg = fake_cfg(tmp_path, inject="rank=0,step=3,kind=crash,attempt=0", max_restarts=0)
    result, _said = launch(cfg)
    assert result.rc == 1
    assert "restart budget spent" in result.reason
    assert incidents(tmp_path / "ck")[0]["outcome"].startswith("job stopped")


def test_dry_run_records_but_neither_stops_nor_restarts(tmp_path: Path) -> None:
    cfg = fake_cfg(tmp_path, inject="rank=1,step=5,kind=nan", dry_run=True)
    result, said = launch(cfg)
    assert result.rc == 0 and result.attempts == 1, said
    inc = incidents(tmp_path / "ck")[0]
    assert inc["dry_run"] is True and inc["symptom"] == "nan" and "stopped" not in inc["timeline"]
    assert inc["outcome"].startswith("dry run")


def test_a_hardware_verdict_stops_the_job_with_the_culprit_card(tmp_path: Path) -> None:
    result, _said = launch(fake_cfg(tmp_path, extra_args=("--xid-rank", "1")))
    assert result.rc == 1
    inc = incidents(tmp_path / "ck")[0]
    assert inc["verdict"]["component"] == "accelerator" and inc["verdict"]["culprit"]["local_rank"] == 1
    assert "--allow-shrink" in result.reason


def test_allow_shrink_restarts_without_the_culprit_card(tmp_path: Path) -> None:
    result, said = launch(fake_cfg(tmp_path, extra_args=("--xid-rank", "1"), allow_shrink=True, echo="all"))
    assert result.rc == 0, said
    inc = incidents(tmp_path / "ck")[0]
    assert inc["launcher"]["excluded_card"] == {"node": "localhost", "slot": 1}
    assert inc["launcher"]["decision"]["step"] == "restart_without_card"
    assert "event started [('at', " in " ".join(said) and "('world_size', 3)" in " ".join(said)
    assert any("CUDA_VISIBLE_DEVICES=0,2,3" in line for line in said)
