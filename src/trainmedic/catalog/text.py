"""Turn raw bytes from a pasted or piped log into text the matcher can read, and say what was wrong.

Used by `trainmedic explain` (and anyone who hands the catalog untrusted bytes): invalid UTF-8,
binary content, ANSI colour codes, CRLF and very long lines never crash matching; they are cleaned
and reported as notes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

MAX_LINE_CHARS = 65_536
"""Longer lines are cut to this many characters (the rest is almost always a binary blob or a dump)."""

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LONG_LINE = re.compile(rf"[^\n]{{{MAX_LINE_CHARS + 1},}}")


@dataclass(frozen=True, slots=True)
class DecodedText:
    """Cleaned text plus what was done to it; `usable` is False when nothing readable is left."""

    text: str
    notes: tuple[str, ...]
    usable: bool
    binary: bool = False


def decode_log(data: bytes) -> DecodedText:
    """Decode `data` as UTF-8 (bad bytes replaced), strip ANSI codes and control bytes, cut huge lines."""
    notes: list[str] = []
    if not data.strip():
        return DecodedText("", ("the input is empty",), usable=False)
    sample = data[:65_536]
    nontext = sum(1 for b in sample if b < 9 or 13 < b < 32 or b == 127)
    binary = b"\x00" in sample and nontext > len(sample) * 0.10
    text = data.decode("utf-8", errors="replace")
    bad = text.count("\ufffd") - data.decode("utf-8", errors="ignore").count("\ufffd")
    if bad:
        notes.append(f"{bad} invalid UTF-8 byte sequence(s) replaced with U+FFFD")
    if binary:
        notes.append(f"the input looks binary ({100 * nontext // max(len(sample), 1)}% control bytes); "
                      "matching only the readable parts")
    if "\x1b" in text:
        text = _ANSI.sub("", text)
        notes.append("ANSI colour/escape codes removed")
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if _CONTROL.search(text):
        text = _CONTROL.sub(" ", text)
    if len(text) > MAX_LINE_CHARS and _LONG_LINE.search(text):
        cut = 0

        def _cut(m: re.Match[str]) -> str:
            nonlocal cut
            cut += 1
            return m.group(0)[:MAX_LINE_CHARS]

        text = _LONG_LINE.sub(_cut, text)
        notes.append(f"{cut} line(s) longer than {MAX_LINE_CHARS:,} characters cut to that length")
    readable = sum(1 for ch in text[:65_536] if ch.isprintable() or ch in "\n\t")
    usable = bool(text.strip()) and readable > 0.5 * min(len(text), 65_536)
    if not usable:
        notes.append("nothing readable as log text")
    return DecodedText(text, tuple(notes), usable=usable, binary=binary)
