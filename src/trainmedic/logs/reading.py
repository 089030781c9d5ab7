"""Reading only what a diagnosis needs from each log file: its head (identity lines) and its tail
(where failures are), decoded whatever the bytes are, and saying what could not be read.

Used by diagnose's scanner (in worker processes) and by anyone who reads job logs offline.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from trainmedic.logs.fast import FAST

HEAD_BYTES = 64 * 1024
"""Identity lines (hostname, environment, NCCL init) sit in the first lines of a rank log."""
TAIL_BYTES = 256 * 1024
"""The last steps and the failure (tracebacks, watchdog dumps) sit at the end."""
MAX_LINE_CHARS = 8192
"""Longer lines are cut for matching (a 50 MB line is one line of junk, not 50 MB of evidence)."""


class Text(NamedTuple):
    """What was read of one file: head and tail as text, where the tail starts, and any problems.

    When the whole file fits, `head` is empty, `tail` is the file and `tail_offset` is 0, so line
    numbers are exact. Otherwise the tail's first line number is unknown until counted
    (`count_lines_before`), which diagnose does only for the few files it cites.
    """

    path: str
    size: int
    head: str
    tail: str
    tail_offset: int
    bytes_read: int
    problems: tuple[str, ...] = ()

    @property
    def whole(self) -> bool:
        return self.tail_offset == 0


def decode(data: bytes) -> tuple[str, list[str]]:
    """Bytes -> text: UTF-8 where it is, Latin-1 for the rest, NULs dropped, long lines cut."""
    problems: list[str] = []
    if b"\x00" in data:
        nuls = data.count(b"\x00")
        data = data.replace(b"\x00", b"")
        problems.append(f"{nuls} NUL bytes dropped")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = data.decode("utf-8", errors="surrogateescape")
        bad = sum(1 for ch in text if "\udc80" <= ch <= "\udcff")
        # Mixed encodings: keep the valid UTF-8, read each stray byte as Latin-1 rather than drop it.
        text = "".join(chr(ord(ch) - 0xDC00) if "\udc80" <= ch <= "\udcff" else ch for ch in text)
        problems.append(f"{bad} bytes not UTF-8 (read as Latin-1)")
    return cut_long_lines(text, problems), problems


def cut_long_lines(text: str, problems: list[str]) -> str:
    """`text` with every line longer than MAX_LINE_CHARS cut (noted in `problems`)."""
    if len(text) <= MAX_LINE_CHARS:
        return text
    if (FAST.longest_line(text) if FAST is not None else max(map(len, text.split("\n")))) <= MAX_LINE_CHARS:
        return text
    lines = text.split("\n")
    problems.append(f"lines longer than {MAX_LINE_CHARS} characters cut")
    return "\n".join(ln if len(ln) <= MAX_LINE_CHARS else ln[:MAX_LINE_CHARS] + " [cut]" for ln in lines)


_CONTROL = bytes(b for b in range(1, 32) if b < 9 or 13 < b < 32)


def looks_binary(data: bytes) -> bool:
    """True for data that is not a text log, judged on the first 4 KB: control bytes other than
    NUL (crashed writers leave NUL padding in real logs), or nothing but NULs."""
    size = min(len(data), 4096)
    if not size:
        return False
    if FAST is not None:
        control, nuls = FAST.control_bytes(data, 4096)
    else:
        sample = data[:4096]
        control = len(sample) - len(sample.translate(None, _CONTROL))
        nuls = sample.count(0)
    return control > size * 0.05 or nuls > size * 0.9


def read_text(path: str, rel: str, head_bytes: int = HEAD_BYTES, tail_bytes: int = TAIL_BYTES) -> Text:
    """Read the head and tail of `path` (or all of it when small). Never raises on bad input:
    unreadable, binary or odd files come back empty or partial, with `problems` saying why."""
    if FAST is not None:  # the plain case (ASCII, nothing odd), read without the GIL
        got = FAST.read_text(path, head_bytes, tail_bytes)
        if got is not None:
            return Text(rel, *got)
    return _py_read_text(path, rel, head_bytes, tail_bytes)


def _py_read_text(path: str, rel: str, head_bytes: int, tail_bytes: int) -> Text:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as e:
        return Text(rel, 0, "", "", 0, 0, (f"unreadable: {e.strerror or e}",))
    try:
        size = os.fstat(fd).st_size
        if size <= head_bytes + tail_bytes:
            data = os.read(fd, size + 1)
            while len(data) < size:  # short reads happen on some filesystems
                more = os.read(fd, size - len(data) + 1)
                if not more:
                    break
                data += more
            head_raw, tail_raw, offset = b"", data, 0
        else:
            head_raw = os.pread(fd, head_bytes, 0)
            offset = size - tail_bytes
            tail_raw = os.pread(fd, tail_bytes, offset)
            nl = tail_raw.find(b"\n")  # start the tail on a line boundary
            if 0 <= nl < len(tail_raw) - 1:
                offset += nl + 1
                tail_raw = tail_raw[nl + 1 :]
    except OSError as e:
        return Text(rel, 0, "", "", 0, 0, (f"unreadable: {e.strerror or e}",))
    finally:
        os.close(fd)
    nread = len(head_raw) + len(tail_raw)
    if looks_binary(head_raw or tail_raw) and looks_binary(tail_raw[-4096:]):
        return Text(rel, size, "", "", offset, nread, ("binary data, not a text log",))
    problems: list[str] = []
    head, p1 = decode(head_raw) if head_raw else ("", [])
    if tail_raw.isascii() and b"\x00" not in tail_raw:
        tail = cut_long_lines(tail_raw.decode("ascii"), problems)
    else:
        tail, p2 = decode(tail_raw)
        problems += p2
    problems += p1
    if offset and b"\n" not in tail_raw:
        problems.append(f"no line break in the last {len(tail_raw)} bytes")
    return Text(rel, size, head, tail, offset, nread, tuple(dict.fromkeys(problems)))


def count_lines_before(path: str, offset: int) -> int | None:
    """Number of newlines in the first `offset` bytes of `path` (to number a tail's lines), or None."""
    try:
        with open(path, "rb") as f:
            count = 0
            left = offset
            while left > 0:
                block = f.read(min(left, 1 << 20))
                if not block:
                    break
                count += block.count(b"\n")
                left -= len(block)
            return count
    except OSError:
        return None
