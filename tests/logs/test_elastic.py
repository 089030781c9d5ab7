"""torchelastic's records of a failure, from real captures (tests/data/diagnose/real)."""

from __future__ import annotations

from pathlib import Path

from trainmedic.logs.elastic import parse_error_file, parse_launcher

REAL = Path(__file__).resolve().parents[1] / "data" / "diagnose" / "real"


def test_the_launcher_log_names_the_sigkilled_worker_as_root_cause() -> None:
    ll = parse_launcher((REAL / "crash" / "torchrun.log").read_text())
    root = [f for f in ll.failures if f.root_cause]
    assert len(root) == 1 and root[0].rank == 2 and root[0].exitcode == -9 and root[0].host == "localhost"
    first = ll.failures[0]
    assert first.local_rank == 2 and first.exitcode == -9 and first.at is not None and first.line > 0


def test_a_worker_that_ignored_sigterm_is_recorded_by_pid() -> None:
    ll = parse_launcher((REAL / "hang" / "torchrun.log").read_text())
    assert len(ll.unkillable_pids) == 1
    pid = ll.unkillable_pids[0][0]
    assert any(f.pid == pid and f.rank == 1 for f in ll.failures)


def test_an_error_file_gives_the_exception_and_when() -> None:
    ef = next((REAL / "exception" / "logs").glob("*/attempt_0/3/error.json"))
    e = parse_error_file(ef.read_text())
    assert e is not None and e.type == "RuntimeError" and "shape mismatch" in e.message and e.at
    assert parse_error_file("not json") is None


def test_srun_reports_each_tasks_end_as_a_failure() -> None:
    text = (
        "srun: error: node0003: task 28: Aborted (core dumped)\n"
        "srun: error: node0000: tasks 0-2,5: Terminated\n"
        "srun: error: node0001: task 9: Exited with exit code 3\n"
    )
    fails = parse_launcher(text).failures
    assert [(f.rank, f.exitcode) for f in fails] == [(28, -6), (0, -15), (1, -15), (2, -15), (5, -15), (9, 3)]
