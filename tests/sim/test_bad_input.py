"""Bad input to the simulator: impossible topologies, unknown faults, a full disk, a used directory."""

from __future__ import annotations

import errno
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

import trainmedic.sim.job as job
from trainmedic.catalog import Catalog
from trainmedic.cli.sim import sim
from trainmedic.sim.job import SimWriteError, write_job
from trainmedic.sim.plan import SimOptions
from trainmedic.sim.suite import write_suite


def test_impossible_topology_is_a_usage_error_naming_the_sizes(tmp_path: Path) -> None:
    res = CliRunner().invoke(sim, ["logs", "--nodes", "0", "--out", str(tmp_path / "j")])
    assert res.exit_code == 2 and "at least 1 node" in res.output
    res = CliRunner().invoke(sim, ["logs", "--nodes", "2", "--cards-per-node", "64", "--out", str(tmp_path / "j")])
    assert res.exit_code == 2 and "at most 16" in res.output
    assert not (tmp_path / "j" / "truth.json").exists()


def test_unknown_fault_lists_the_valid_names(tmp_path: Path) -> None:
    res = CliRunner().invoke(sim, ["logs", "--nodes", "2", "--fault", "xid.79x", "--out", str(tmp_path / "j")])
    assert res.exit_code == 2
    assert "silent_hang" in res.output and "hang.silent" in res.output and "--list-faults" in res.output


def test_list_faults_shows_scenarios_mix_and_rules() -> None:
    res = CliRunner().invoke(sim, ["logs", "--list-faults", "--json"])
    data = json.loads(res.output)
    assert "straggler" in data["scenarios"]
    assert sum(row["count"] for row in data["mix"]) == 419
    assert all(r["seen_in"] != ["tool"] for r in data["rules"])


def test_a_used_output_directory_is_refused_before_writing(tmp_path: Path, shapes: Catalog) -> None:
    (tmp_path / "keep.txt").write_text("mine")
    with pytest.raises(SimWriteError, match="not empty"):
        write_job(SimOptions(nodes=1), tmp_path, catalog=shapes)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.txt"]


def test_full_disk_leaves_no_truth_and_says_so(tmp_path: Path, shapes: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    real = job._write
    calls = iter(range(10_000))

    def flaky(path: Path, text: str) -> int:
        if next(calls) == 40:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, text)

    monkeypatch.setattr(job, "_write", flaky)
    with pytest.raises(SimWriteError, match="No space left on device") as err:
        write_job(SimOptions(nodes=4, rank_log_kb=4), tmp_path / "j", catalog=shapes, workers=1)
    assert "no truth.json" in str(err.value)
    assert not (tmp_path / "j" / "truth.json").exists()


def test_truth_is_written_after_every_log(tmp_path: Path, shapes: Catalog, monkeypatch: pytest.MonkeyPatch) -> None:
    real = job.write_atomic
    seen: list[int] = []

    def spy(path: Path, data: str) -> None:
        if path.name == "truth.json":
            seen.append(sum(1 for p in path.parent.rglob("*.log")))
        real(path, data)

    monkeypatch.setattr(job, "write_atomic", spy)
    write_job(SimOptions(nodes=2, rank_log_kb=4), tmp_path / "j", catalog=shapes, workers=1)
    assert seen == [2 * 8 * 2 + 2]  # stdout+stderr per rank, torchrun.log per node


def test_suite_on_a_full_tmpfs_fails_cleanly_without_an_index(tmp_path: Path, shapes: Catalog) -> None:
    mnt = tmp_path / "small"
    mnt.mkdir()
    if shutil.which("mount") is None or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mnt)], capture_output=True
    ).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        with pytest.raises(SimWriteError, match="No space left"):
            write_suite(mnt / "suite", 8, cards=[64], rank_log_kb=16, catalog=shapes, workers=1)
        assert not (mnt / "suite" / "index.json").exists()
    finally:
        subprocess.run(["umount", str(mnt)], check=False)


def test_cli_reports_a_full_disk_as_an_error_not_a_traceback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def full(*_a: object, **_k: object) -> None:
        raise SimWriteError("writing the job under X failed: No space left on device")

    monkeypatch.setattr(job, "write_job", full)
    res = CliRunner().invoke(sim, ["logs", "--nodes", "1", "--out", str(tmp_path / "j")])
    assert res.exit_code == 1 and "No space left" in res.output and "Traceback" not in res.output
