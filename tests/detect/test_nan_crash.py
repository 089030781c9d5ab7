from __future__ import annotations

import math

from tests.detect._launcher_progress import beat, make_job, train_steps
from trainmedic.detect.crash import CrashDetector, describe_exit
from trainmedic.detect.nan import NanDetector
from trainmedic.model import Symptom


def test_names_the_rank_with_the_earliest_non_finite_loss() -> None:
    job = make_job()
    last = train_steps(job, 10)
    beat(job, 2, last + 0.2, bad=((11, math.inf),))
    beat(job, 1, last + 0.1, bad=((10, math.nan),))
    f = NanDetector().check(job, last + 0.3)
    assert f is not None and f.symptom is Symptom.NAN and f.rank == 1
    assert "step 10" in f.message


def test_finite_losses_raise_nothing() -> None:
    job = make_job()
    train_steps(job, 10)
    assert NanDetector().check(job, 2000) is None


def test_a_killed_rank_is_a_crash_named_by_its_signal() -> None:
    job = make_job()
    last = train_steps(job, 5)
    job.exited(2, -9, last + 0.1)
    job.exited(0, 1, last + 0.3)
    f = CrashDetector().check(job, last + 0.4)
    assert f is not None and f.symptom is Symptom.CRASH and f.rank == 2
    assert "SIGKILL" in f.message


def test_a_reported_exception_is_caught_before_the_rank_exits() -> None:
    job = make_job()
    last = train_steps(job, 5)
    beat(job, 3, last + 0.1, exception="RuntimeError: boom")
    f = CrashDetector().check(job, last + 0.2)
    assert f is not None and f.symptom is Symptom.EXCEPTION and f.rank == 3


def test_clean_exits_are_no_crash() -> None:
    job = make_job()
    for r in job.ranks:
        job.exited(r, 0, 5.0)
    assert CrashDetector().check(job, 6.0) is None


def test_describes_exit_codes_and_signals() -> None:
    assert describe_exit(1) == "exit code 1"
    assert describe_exit(-11) == "killed by SIGSEGV (-11)"
