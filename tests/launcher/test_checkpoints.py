from __future__ import annotations

import os
import zipfile
from pathlib import Path

from trainmedic.recover.checkpoints import (
    list_checkpoints,
    newest_complete,
    problem,
    quarantine,
    record_saved,
)


def torch_like(path: Path, payload: bytes = b"x" * 1000) -> Path:
    """A zip archive like torch.save writes."""
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", payload)
    return path


def test_picks_the_newest_complete_checkpoint_by_step(tmp_path: Path) -> None:
    for step in (5, 10, 15):
        torch_like(tmp_path / f"ckpt_{step:06d}.pt")
    (tmp_path / "ckpt_000020.pt.tmp").write_bytes(b"partial")
    choice = newest_complete(tmp_path)
    assert choice.checkpoint is not None and choice.checkpoint.step == 15 and choice.skipped == ()


def test_falls_back_to_the_previous_checkpoint_when_the_newest_is_truncated(tmp_path: Path) -> None:
    torch_like(tmp_path / "ckpt_000010.pt")
    good = torch_like(tmp_path / "ckpt_000015.pt").read_bytes()
    (tmp_path / "ckpt_000015.pt").write_bytes(good[: len(good) // 2])
    choice = newest_complete(tmp_path)
    assert choice.checkpoint is not None and choice.checkpoint.step == 10
    assert choice.skipped[0][0].step == 15 and "truncated" in choice.skipped[0][1]


def test_a_flipped_byte_fails_the_crc_check(tmp_path: Path) -> None:
    p = torch_like(tmp_path / "ckpt_3.pt", b"abcdefgh" * 200)
    data = bytearray(p.read_bytes())
    i = data.find(b"abcdefgh")
    data[i] ^= 0xFF
    p.write_bytes(bytes(data))
    assert "CRC" in (problem(list_checkpoints(tmp_path)[0]) or "")


def test_a_size_different_from_the_recorded_one_is_incomplete(tmp_path: Path) -> None:
    p = tmp_path / "step-7.bin"
    p.write_bytes(b"y" * 100)
    record_saved(tmp_path, str(p), 7, 1.0)
    p.write_bytes(b"y" * 50)
    assert "differs" in (problem(list_checkpoints(tmp_path)[0], {"step-7.bin": {"size_bytes": 100}}) or "")
    assert newest_complete(tmp_path).checkpoint is None


def test_no_checkpoint_directory_means_a_fresh_start(tmp_path: Path) -> None:
    assert newest_complete(tmp_path / "missing").checkpoint is None


def test_empty_files_and_directories_are_skipped(tmp_path: Path) -> None:
    torch_like(tmp_path / "ckpt_1.pt")
    (tmp_path / "ckpt_2.pt").write_bytes(b"")
    (tmp_path / "step_3").mkdir()
    choice = newest_complete(tmp_path)
    assert choice.checkpoint is not None and choice.checkpoint.step == 1
    assert {c.step for c, _ in choice.skipped} == {2, 3}


def test_a_dcp_directory_with_metadata_is_complete(tmp_path: Path) -> None:
    d = tmp_path / "step_40"
    d.mkdir()
    (d / ".metadata").write_bytes(b"m")
    (d / "__0_0.distcp").write_bytes(b"d" * 10)
    assert newest_complete(tmp_path).checkpoint is not None


def test_quarantine_moves_a_broken_checkpoint_out_of_the_scripts_glob(tmp_path: Path) -> None:
    p = tmp_path / "ckpt_9.pt"
    p.write_bytes(b"PKbroken")
    moved = quarantine(list_checkpoints(tmp_path)[0])
    assert moved is not None and moved.name == "ckpt_9.pt.corrupt" and not p.exists()
    assert list(tmp_path.glob("ckpt_*.pt")) == []
    assert os.path.exists(moved)
