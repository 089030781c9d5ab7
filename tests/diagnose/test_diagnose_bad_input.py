"""Bad input never crashes diagnose: it says what it could not read and lowers its confidence."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from trainmedic.diagnose import DiagnoseError, diagnose
from trainmedic.logs import reading

REAL = Path(__file__).resolve().parents[1] / "data" / "diagnose" / "real"


def test_an_empty_directory_gives_no_verdict_and_says_so(tmp_path: Path) -> None:
    d = diagnose(tmp_path)
    assert d.verdict.fault == "unknown" and d.verdict.confidence == 0.0
    assert any("no log files" in n for n in d.notes)


def test_a_missing_path_is_an_error_that_says_what_to_pass(tmp_path: Path) -> None:
    with pytest.raises(DiagnoseError) as e:
        diagnose(tmp_path / "nope")
    assert "no such file" in str(e.value) and e.value.hint


def test_a_file_that_is_neither_directory_nor_archive_is_an_error(tmp_path: Path) -> None:
    f = tmp_path / "x.log"
    f.write_text("hello\n")
    with pytest.raises(DiagnoseError):
        diagnose(f)


def test_binary_junk_unreadable_files_and_bad_bytes_are_reported_and_cost_confidence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = tmp_path / "hang"
    shutil.copytree(REAL / "hang", job)
    clean = diagnose(job).verdict.confidence
    (job / "core.bin.log").write_bytes(os.urandom(64 * 1024))
    rank0 = next(job.glob("logs/*/attempt_0/0/stderr.log"))
    rank0.write_bytes(rank0.read_bytes() + b"\x00\x00\x00 latin-1 \xe9\xe8 and utf-8 \xc3\xa9\n")
    victim2 = next(job.glob("logs/*/attempt_0/2/stdout.log"))
    real_open = os.open

    def failing_open(path: str, *a: object, **kw: object) -> int:
        if str(path) == str(victim2):
            raise PermissionError(13, "Permission denied")
        return real_open(path, *a, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(reading.os, "open", failing_open)
    if reading.FAST is not None:  # the compiled reader leaves files it cannot open to the Python one
        monkeypatch.setattr(reading, "FAST", _Unopenable(reading.FAST, str(victim2)))
    d = diagnose(job, workers=1)
    assert d.verdict.culprit is not None and d.verdict.culprit.rank == 1
    text = " ".join(d.unreadable)
    assert "binary" in text and "Permission denied" in text and "NUL" in text and "Latin-1" in text
    assert d.verdict.confidence < clean
    assert any("confidence lowered" in n for n in d.notes)


def test_a_log_that_is_one_50_mb_line_is_read_without_blowing_up(tmp_path: Path) -> None:
    job = tmp_path / "hang"
    shutil.copytree(REAL / "hang", job)
    with open(job / "giant.log", "wb") as f:
        f.write(b"x" * (50 * 1024 * 1024))
    d = diagnose(job)
    assert d.verdict.culprit is not None and d.verdict.culprit.rank == 1
    assert d.stats["bytes_read"] < 5 * 1024 * 1024
    assert any("giant.log" in u for u in d.unreadable)


def test_logs_without_timestamps_still_name_the_silent_rank(tmp_path: Path) -> None:
    job = tmp_path / "plain"
    for r in range(4):
        lines = [f"rank {r} step {s} loss 2.{s:02d}" for s in range(1, 9 if r != 2 else 7)]
        if r != 2:
            lines.append("RuntimeError: Timed out waiting 20000ms for recv operation to complete")
        (job / f"rank_{r}.log").parent.mkdir(parents=True, exist_ok=True)
        (job / f"rank_{r}.log").write_text("\n".join(lines) + "\n")
    d = diagnose(job)
    assert d.verdict.culprit is not None and d.verdict.culprit.rank == 2


class _Unopenable:
    """The compiled readers, except that `path` cannot be opened (as root, no file mode makes it so)."""

    def __init__(self, fast: object, path: str) -> None:
        self._fast, self._path = fast, path

    def __getattr__(self, name: str) -> object:
        return getattr(self._fast, name)

    def read_text(self, path: str, head: int, tail: int) -> object:
        return None if path == self._path else self._fast.read_text(path, head, tail)  # type: ignore[attr-defined]
