from __future__ import annotations

from tests.detect._launcher_progress import make_job, train_steps
from trainmedic.detect.straggler import StragglerDetector
from trainmedic.model import Symptom


def test_names_the_rank_that_waits_least_in_the_collective() -> None:
    job = make_job()
    # every step lasts 1.2 s on every rank; rank 3 is busy 1.15 s of it, the others 0.05 s
    train_steps(job, 20, period=1.2, busy={3: 1.15})
    f = StragglerDetector().check(job, 2000.0)
    assert f is not None and f.symptom is Symptom.STRAGGLER and f.rank == 3
    assert "waits" in f.message or "wait" in f.message


def test_healthy_jitter_is_no_straggler() -> None:
    job = make_job()
    train_steps(job, 20, period=0.3, busy={0: 0.06, 1: 0.05, 2: 0.09, 3: 0.05})
    assert StragglerDetector().check(job, 2000.0) is None


def test_a_single_slow_step_is_no_straggler() -> None:
    job = make_job()
    train_steps(job, 8, period=0.3)
    train_steps(job, 1, period=0.3, start=1000.0 + 8 * 0.3, busy={2: 0.8})
    assert StragglerDetector().check(job, 2000.0) is None


def test_needs_steps_common_to_all_ranks_after_warmup() -> None:
    job = make_job()
    train_steps(job, 5, period=1.2, busy={1: 1.1})
    assert StragglerDetector().check(job, 2000.0) is None
