"""diagnose on real torchrun logs (tests/data/diagnose/real): the culprit rank of each fault."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path

import pytest

from trainmedic.diagnose import diagnose
from trainmedic.model import Action, KnownFault

REAL = Path(__file__).resolve().parents[1] / "data" / "diagnose" / "real"


def truth(name: str) -> int:
    return int(json.loads((REAL / name / "truth.json").read_text())["culprit_rank"])


def test_names_the_sigkilled_rank_from_torchruns_own_record() -> None:
    d = diagnose(REAL / "crash")
    assert d.verdict.culprit is not None and d.verdict.culprit.rank == truth("crash")
    assert d.verdict.fault == KnownFault.CRASH
    assert any(e.file == "torchrun.log" and e.line for e in d.verdict.evidence)


def test_names_the_sigstopped_rank_that_logged_nothing_while_its_peers_timed_out() -> None:
    d = diagnose(REAL / "hang")
    assert d.verdict.culprit is not None and d.verdict.culprit.rank == truth("hang")
    assert d.verdict.fault == KnownFault.HANG
    assert d.victims["ranks"] == 3  # the three gloo timeouts are victims, never the culprit
    assert any("step 8" in e.text and e.line for e in d.verdict.evidence)


def test_names_the_rank_that_raised_and_sends_the_user_to_the_code() -> None:
    d = diagnose(REAL / "exception")
    assert d.verdict.culprit is not None and d.verdict.culprit.rank == truth("exception")
    assert d.verdict.action is Action.CHECK_USER_CODE
    assert "shape mismatch" in d.verdict.evidence[0].text


def test_reads_a_tar_archive_of_the_logs_like_the_directory(tmp_path: Path) -> None:
    archive = tmp_path / "hang.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(REAL / "hang", arcname="hang")
    d = diagnose(archive)
    assert d.verdict.culprit is not None and d.verdict.culprit.rank == truth("hang")


@pytest.mark.parametrize("name", ["crash", "hang", "exception"])
def test_cites_evidence_lines_that_exist_in_the_files(name: str) -> None:
    d = diagnose(REAL / name)
    for e in d.verdict.evidence:
        if e.file and e.line:
            lines = (REAL / name / e.file).read_text(errors="replace").splitlines()
            assert lines[e.line - 1].strip() in e.text or e.text.strip() in lines[e.line - 1] or name == "crash"


def test_record_puts_the_diagnosed_culprit_into_the_fleet_store_once(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from trainmedic.cli.main import cli
    from trainmedic.store import open_store

    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    for _ in range(2):  # the same logs diagnosed twice are one incident
        result = CliRunner().invoke(cli, ["diagnose", str(REAL / "crash"), "--record", "--db", db, "--json"])
        assert result.exit_code == 0, result.output
    [incident_id] = json.loads(result.output)["recorded"]
    with open_store(db) as store:
        [stored] = store.incidents()
    assert stored.id == incident_id and stored.source == "diagnose"
    assert stored.fault == KnownFault.CRASH and stored.rank == truth("crash")


def test_a_line_cited_from_a_partly_read_log_has_its_true_line_number(tmp_path: Path) -> None:
    """A rank log too big to read whole is read head and tail; the line the verdict cites from the
    tail is numbered by counting the lines before the tail, as in the file."""
    import shutil

    job = tmp_path / "exception"
    shutil.copytree(REAL / "exception", job)
    log = next(job.glob("logs/*/attempt_0/3/stderr.log"))
    filler = "".join(f"[rank3]:[W1127 13:40:{i % 60:02d}.000000000 filler.cpp:1] padding line {i}\n" for i in range(9000))
    log.write_text(filler + log.read_text())
    assert log.stat().st_size > (64 + 256) * 1024  # more than diagnose reads of a rank log
    d = diagnose(job)
    cited = [e for e in d.verdict.evidence if e.file and e.file.endswith("attempt_0/3/stderr.log")]
    assert cited and cited[0].line is not None
    lines = log.read_text().split("\n")
    assert lines[cited[0].line - 1] == cited[0].text


def test_keep_receives_the_raw_scan_and_the_verdict_is_the_same() -> None:
    from trainmedic.diagnose.scan import ScanResult

    held: list[object] = []
    d = diagnose(REAL / "hang", keep=held)
    assert len(held) == 1 and isinstance(held[0], ScanResult) and len(held[0].ranks) == 4
    assert d.to_dict()["verdict"] == diagnose(REAL / "hang").to_dict()["verdict"]
