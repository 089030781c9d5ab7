"""Reading heads and tails of logs whatever the bytes are."""

from __future__ import annotations

import os
from pathlib import Path

from trainmedic.logs.reading import count_lines_before, read_text


def test_a_large_log_is_read_as_head_and_tail_and_tail_lines_can_be_numbered(tmp_path: Path) -> None:
    f = tmp_path / "big.log"
    f.write_text("".join(f"line {i}\n" for i in range(200_000)))
    t = read_text(str(f), "big.log", head_bytes=1024, tail_bytes=4096)
    assert t.head.startswith("line 0\n") and t.tail.endswith("line 199999\n")
    assert t.tail.startswith("line ") and t.bytes_read <= 1024 + 4096
    first = t.tail.split("\n", 1)[0]
    assert count_lines_before(str(f), t.tail_offset) == int(first.split()[1])


def test_nul_bytes_and_mixed_encodings_are_decoded_and_reported(tmp_path: Path) -> None:
    f = tmp_path / "mixed.log"
    text = b"".join(b"2026-11-27 13:00:00,000 INFO step %d loss 2.0\n" % i for i in range(50))
    f.write_bytes(text + b"ok utf-8 \xc3\xa9\n\x00\x00\x00latin-1 \xe9\n" + b"\x00" * 512)
    t = read_text(str(f), "mixed.log")
    assert "é" in t.tail and "latin-1 é" in t.tail
    assert any("NUL" in p for p in t.problems) and any("Latin-1" in p for p in t.problems)


def test_binary_junk_is_not_read_as_a_log(tmp_path: Path) -> None:
    f = tmp_path / "core.log"
    f.write_bytes(os.urandom(20000))
    t = read_text(str(f), "core.log")
    assert t.tail == "" and t.problems == ("binary data, not a text log",)


def test_a_missing_file_is_a_problem_not_an_exception(tmp_path: Path) -> None:
    t = read_text(str(tmp_path / "gone.log"), "gone.log")
    assert t.tail == "" and t.problems[0].startswith("unreadable")


def test_one_endless_line_is_cut_for_matching(tmp_path: Path) -> None:
    f = tmp_path / "one.log"
    f.write_bytes(b"y" * 3_000_000)
    t = read_text(str(f), "one.log")
    assert max(map(len, t.tail.split("\n"))) < 9000 and t.bytes_read < 400_000
    assert any("no line break" in p for p in t.problems)
