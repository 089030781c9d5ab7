from __future__ import annotations

from tests.detect._launcher_progress import beat, make_job, train_steps
from trainmedic.detect.hang import HangDetector
from trainmedic.model import Symptom


def test_flags_a_hang_a_few_seconds_after_the_last_step_with_the_learned_timeout() -> None:
    job = make_job()
    last = train_steps(job, 30, period=0.3)
    for r in job.ranks:
        beat(job, r, last + 0.1, last_step=29, current=30)
    det = HangDetector()
    assert det.timeout(job) == 3.0  # 5 x p99 of 0.3 s is below the floor
    assert det.check(job, last + 2.9) is None
    f = det.check(job, last + 3.1)
    assert f is not None and f.symptom is Symptom.HANG
    assert "after step 29" in f.message


def test_learned_timeout_grows_with_slow_steps() -> None:
    job = make_job()
    last = train_steps(job, 30, period=2.0)
    det = HangDetector()
    assert det.timeout(job) == 10.0
    for r in job.ranks:
        beat(job, r, last + 0.1, last_step=29, current=30)
    assert det.check(job, last + 9.0) is None
    assert det.check(job, last + 10.5) is not None


def test_gives_the_first_step_the_start_timeout() -> None:
    job = make_job(t0=0.0)
    det = HangDetector(start_timeout_s=120)
    assert det.check(job, 100.0) is None
    f = det.check(job, 121.0)
    assert f is not None and "before the first step" in f.message


def test_a_fixed_timeout_overrides_the_learned_one() -> None:
    job = make_job()
    last = train_steps(job, 10)
    for r in job.ranks:
        beat(job, r, last, last_step=9, current=10)
    det = HangDetector(timeout_s=20.0)
    assert det.check(job, last + 19) is None
    assert det.check(job, last + 21) is not None


def test_ranks_outside_any_step_get_the_long_timeout_so_teardown_is_no_hang() -> None:
    job = make_job()
    last = train_steps(job, 30)
    for r in job.ranks:
        beat(job, r, last + 0.1, last_step=29, current=None, phase="between_steps")
    det = HangDetector()
    assert det.check(job, last + 10) is None
    assert det.check(job, last + 31) is not None


def test_a_checkpoint_in_progress_stretches_the_timeout() -> None:
    job = make_job()
    last = train_steps(job, 30)
    beat(job, 0, last + 0.1, last_step=29, current=30, phase="checkpoint")
    det = HangDetector()
    assert det.check(job, last + 5) is None
    assert det.check(job, last + 13) is not None


def test_no_hang_once_every_rank_has_exited() -> None:
    job = make_job()
    last = train_steps(job, 5)
    for r in job.ranks:
        job.exited(r, 0, last + 1)
    assert HangDetector().check(job, last + 100) is None


def test_step_lines_drive_the_hang_detector_for_scripts_without_the_library() -> None:
    job = make_job(n=2)
    for i in range(20):
        job.step_line(0, i, 1000 + i * 0.5)
    det = HangDetector()
    last = 1000 + 19 * 0.5
    assert det.check(job, last + 9) is None  # plain scripts: at least 10 s
    assert det.check(job, last + 10.5) is not None
