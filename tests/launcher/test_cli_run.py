from __future__ import annotations

from click.testing import CliRunner

from trainmedic.cli.main import cli


def test_run_without_a_command_is_a_usage_error() -> None:
    r = CliRunner().invoke(cli, ["run", "--nproc-per-node", "2"])
    assert r.exit_code == 2


def test_a_bad_hang_timeout_is_a_usage_error_that_says_what_is_accepted() -> None:
    r = CliRunner().invoke(cli, ["run", "--hang-timeout", "soon", "--", "train.py"])
    assert r.exit_code == 2 and "auto" in r.output


def test_zero_ranks_per_node_is_refused_before_anything_starts() -> None:
    r = CliRunner().invoke(cli, ["run", "--nproc-per-node", "0", "--", "train.py"])
    assert r.exit_code == 2 and "--nproc-per-node must be at least 1" in r.output


def test_a_missing_script_is_an_error_naming_it(tmp_path: object) -> None:
    r = CliRunner().invoke(cli, ["run", "--nproc-per-node", "1", "--", "/nonexistent/train.py"])
    assert r.exit_code == 1 and "/nonexistent/train.py not found" in r.output


def test_demo_refuses_a_rank_outside_the_job() -> None:
    r = CliRunner().invoke(cli, ["demo", "--rank", "7"])
    assert r.exit_code == 2 and "--rank 7" in r.output
