"""A node's kernel log (`dmesg`, `dmesg -T`, `journalctl -k`, syslog `kern.log`) summarised for
diagnosis: catalog hits with their times and bus ids, and where the log ends (a node whose kernel
log stops early went down with it).

Called once per kernel log by diagnose's scanner.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from trainmedic.logs.linematch import LineMatcher
from trainmedic.logs.pickled import by_fields
from trainmedic.logs.ranklog import Hit
from trainmedic.logs.timestamps import end_time, find_year, line_time
from trainmedic.model import Role

MAX_HITS = 200
_JOURNAL_HOST = re.compile(r"^\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-][\d:]+)\s+(\S+)\s+kernel:")


@dataclass(slots=True)
class KernelScan:
    """Catalog hits (root and cascade, capped), counts per rule, and the log's first and last times."""

    file: str
    host: str | None = None
    hits: list[Hit] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    start_at: float | None = None
    end_at: float | None = None
    lines: int = 0
    tail_offset: int = 0
    problems: list[str] = field(default_factory=list)

    __reduce__ = by_fields


def scan_kernel_text(file: str, tail: str, matcher: LineMatcher, whole: bool, head: str = "") -> KernelScan:
    """Scan a kernel log's tail: one catalog pass over the whole text (a multi-literal scan in C picks
    the few lines worth a regex; most kernel lines meet none)."""
    ks = KernelScan(file)
    year = find_year(head or tail, dmesg=True) or 1970
    ks.lines = tail.count("\n") + 1
    first = tail[: tail.find("\n")] if "\n" in tail else tail
    m = _JOURNAL_HOST.match(first)
    if m is not None:
        ks.host = m.group(1)
    for line in tail[:8192].split("\n")[:20]:
        ks.start_at = line_time(line, year)
        if ks.start_at is not None:
            break
    ks.end_at = end_time(tail, year, 8192, 20)
    for match in matcher.catalog.match_text(tail):
        rule = match.rule
        n = ks.counts.get(rule.id, 0)
        ks.counts[rule.id] = n + 1
        if (rule.role is Role.CASCADE and n >= 3) or len(ks.hits) >= MAX_HITS:
            continue
        line = match.text.split("\n", 1)[0]
        ks.hits.append(Hit(rule.id, rule.role, line, match.line, not whole, line_time(line, year), None, file, match.fields))
    return ks
