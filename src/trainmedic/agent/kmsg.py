"""Kernel-log watching: /dev/kmsg records (or `journalctl -k -f`, or `dmesg` polling), matched against
the fault catalog, each finding tied to its card by PCI bus id.

/dev/kmsg gives one record per read: "level,seq,usec,flags;message", then continuation lines that
start with a space ("SUBSYSTEM=pci"). A recorded file holds the same records one per line; a line
may arrive split in two, so the reader keeps the unfinished tail until its newline comes. Used by
the agent loop (live) and by `trainmedic agent --replay` (recorded files).
"""

from __future__ import annotations

import errno
import os
import re
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from trainmedic.agent.busid import normalize_bus_id
from trainmedic.catalog import Catalog, load_catalog
from trainmedic.model import Card, Finding, Role, Symptom

_RECORD = re.compile(r"^(?P<pri>\d+),(?P<seq>\d+),(?P<usec>\d+),[^;]*;(?P<text>.*)$")
_DMESG = re.compile(r"^(?:<(?P<pri>\d+)>)?\[\s*(?P<stamp>[^\]]+)\]\s?(?P<text>.*)$")
_JOURNAL = re.compile(r"^\S+(?:\s+\d+\s+[\d:]+)?\s+\S+\s+kernel:\s?(?P<text>.*)$")
_BUS_IN_TEXT = re.compile(r"(?:PCI:)?\b((?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}(?:\.[0-7])?)\b")


@dataclass(frozen=True, slots=True)
class KernelRecord:
    """One kernel message: syslog level, sequence number, microseconds since boot, text."""

    level: int
    seq: int
    usec: int
    text: str


def parse_kmsg_record(line: str) -> KernelRecord | None:
    """One /dev/kmsg record line -> KernelRecord; None for continuation/dictionary lines or noise."""
    m = _RECORD.match(line.rstrip("\n"))
    if m is None:
        return None
    text = m.group("text").replace("\\x0a", "\n")
    return KernelRecord(level=int(m.group("pri")) & 7, seq=int(m.group("seq")), usec=int(m.group("usec")), text=text)


def strip_text_prefix(line: str) -> str:
    """The message of a `dmesg` ("[  12.3] msg", "<3>[12.3] msg", "[Sun Feb 23 ...] msg") or
    `journalctl -k` ("Nov 27 13:54:01 host kernel: msg") line; the line itself if neither."""
    line = line.rstrip("\n")
    m = _JOURNAL.match(line)
    if m is not None:
        return m.group("text")
    m = _DMESG.match(line)
    return m.group("text") if m is not None else line


class KmsgReader:
    """Incremental reader of /dev/kmsg or a recorded kmsg file; `poll()` returns the new records.

    On the device each read returns one record; EAGAIN means no more for now and EPIPE means the
    ring buffer overwrote records before we read them (counted in `lost`, never fatal).
    """

    def __init__(self, path: Path, min_seq: int = -1) -> None:
        self.path = Path(path)
        self._fd: int | None = None
        self._tail = b""
        self._last_seq = min_seq
        self.lost = 0
        self.error: str | None = None

    def _open(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK)
        return self._fd

    def poll(self, max_bytes: int = 1 << 20) -> list[KernelRecord]:
        out: list[KernelRecord] = []
        try:
            fd = self._open()
        except OSError as exc:
            self.error = f"cannot open {self.path}: {exc.strerror}; run as root or pass --kmsg to a readable file"
            return out
        got = 0
        while got < max_bytes:
            try:
                chunk = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError as exc:
                if exc.errno == errno.EPIPE:
                    self.lost += 1
                    continue
                self.error = f"reading {self.path}: {exc.strerror}"
                break
            if not chunk:
                break
            got += len(chunk)
            data = self._tail + chunk
            lines = data.split(b"\n")
            self._tail = lines.pop()  # unfinished line: wait for the rest
            for raw in lines:
                rec = parse_kmsg_record(raw.decode(errors="replace"))
                if rec is not None and rec.seq > self._last_seq:
                    self._last_seq = rec.seq
                    out.append(rec)
        self.error = None if out or self.error is None else self.error
        return out

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class CommandLines:
    """Kernel lines from a command: `journalctl -k -f -o short` (followed on a thread) or `dmesg`
    (re-run on every poll, only lines not seen before are returned)."""

    def __init__(self, argv: Sequence[str], follow: bool, timeout_s: float = 5.0) -> None:
        self.argv = list(argv)
        self.follow = follow
        self.timeout_s = timeout_s
        self.error: str | None = None
        self._seen: deque[str] = deque(maxlen=20000)
        self._seen_set: set[str] = set()
        self._queue: deque[str] = deque(maxlen=100000)
        self._proc: subprocess.Popen[bytes] | None = None

    def _start_follow(self) -> None:
        self._proc = subprocess.Popen(self.argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)

        def pump() -> None:
            assert self._proc is not None and self._proc.stdout is not None
            for raw in self._proc.stdout:
                self._queue.append(raw.decode(errors="replace"))

        threading.Thread(target=pump, name="trainmedic-journal", daemon=True).start()

    def poll(self) -> list[str]:
        try:
            if self.follow:
                if self._proc is None:
                    self._start_follow()
                lines = [self._queue.popleft() for _ in range(len(self._queue))]
            else:
                done = subprocess.run(self.argv, capture_output=True, timeout=self.timeout_s, check=False)
                lines = [ln for ln in done.stdout.decode(errors="replace").splitlines() if self._new(ln)]
            self.error = None
            return [strip_text_prefix(ln) for ln in lines]
        except (OSError, subprocess.SubprocessError) as exc:
            self.error = f"{' '.join(self.argv)}: {exc}"
            return []

    def _new(self, line: str) -> bool:
        if line in self._seen_set:
            return False
        if len(self._seen) == self._seen.maxlen:
            self._seen_set.discard(self._seen[0])
        self._seen.append(line)
        self._seen_set.add(line)
        return True

    def close(self) -> None:
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
            self._proc = None


class KernelWatcher:
    """Matches kernel messages against the catalog and ties each finding to its card by bus id."""

    def __init__(self, node: str, cards: Iterable[Card] = (), catalog: Catalog | None = None,
                 boot_at: float | None = None, clock: Callable[[], float] | None = None) -> None:
        self.node = node
        self.catalog = catalog or load_catalog()
        self.boot_at = boot_at
        self.clock = clock
        self.by_bus: dict[str, Card] = {}
        self.set_cards(cards)
        self.lines = 0

    def set_cards(self, cards: Iterable[Card]) -> None:
        self.by_bus = {b: c for c in cards if (b := normalize_bus_id(c.bus_id))}

    def _card(self, fields: dict[str, str], text: str) -> tuple[str | None, Card | None]:
        bus = normalize_bus_id(fields.get("bus_id"))
        if bus is None:
            for cand in _BUS_IN_TEXT.findall(text):
                bus = normalize_bus_id(cand)
                if bus in self.by_bus:
                    break
        return bus, self.by_bus.get(bus) if bus else None

    def match(self, text: str, at: float | None = None) -> list[Finding]:
        """Findings for one kernel message (root and cascade matches; context-only lines give none)."""
        self.lines += 1
        when = at if at is not None else (self.clock() if self.clock else 0.0)
        out = []
        for m in self.catalog.match_text(text):
            if m.rule.role is Role.INFO:
                continue
            bus, card = self._card(m.fields, m.text)
            out.append(Finding(
                source="kmsg", symptom=Symptom.LOG_ERROR, at=when, node=self.node,
                card_index=card.index if card else None, bus_id=bus, rule=m.rule.id, fault=m.rule.fault,
                component=m.rule.component, role=m.rule.role, severity=m.rule.severity, action=m.rule.action,
                message=m.text.strip(), fields={**m.fields, "serial": (card.serial or "") if card else ""},
            ))
        return out

    def records(self, recs: Iterable[KernelRecord]) -> list[Finding]:
        out = []
        for r in recs:
            at = self.boot_at + r.usec / 1e6 if self.boot_at is not None else None
            out.extend(self.match(r.text, at))
        return out
