"""Timestamps at the start of log lines, in the formats real jobs write, as epoch seconds.

Python logging / ISO 8601, glog (torch c10d, NCCL watchdog, torchrun), `dmesg -T`, journal
`short-iso`, syslog, Kubernetes CRI prefixes. Formats without a year (glog, syslog) take the year
from the caller (the job's year, found in another line). Times without a zone are read as UTC: each
node's own clock, whose skew diagnose estimates and removes later.
"""

from __future__ import annotations

import calendar
import re
from functools import lru_cache

from trainmedic.logs.fast import FAST

_MONTHS = {m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)}

# Prefixes that come before a line's own timestamp: torch's "[rank3]:", torchrun --tee "[default3]:",
# srun -l "12: ", and Kubernetes CRI "2026-...Z stdout F ".
RANK_PREFIX = re.compile(r"^(?:\[(?:rank|default)(\d+)\]:\s?|(\d{1,6}): )")
_CRI = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)) (?:stdout|stderr) [FP] ")

_ISO = re.compile(
    r"^\[?(\d{4})-(\d\d)-(\d\d)[ T_](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?\s?(Z|[+-]\d\d:?\d\d)?\]?"
)
_GLOG = re.compile(r"^\[?([IWEF])(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{1,9})")
_DMESG_T = re.compile(r"^\[\s*\w{3} (\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4})\]")
_SYSLOG = re.compile(r"^(\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d)\s")
_DMESG_RAW = re.compile(r"^\[\s*(\d+)\.(\d{1,9})\]")


@lru_cache(maxsize=4096)
def _day_epoch(year: int, month: int, day: int) -> int:
    return calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0))


def _zone(z: str | None) -> int:
    if not z or z == "Z":
        return 0
    sign = -1 if z[0] == "-" else 1
    digits = z[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


def _frac(s: str | None) -> float:
    return int(s) / 10 ** len(s) if s else 0.0


def parse_iso(text: str) -> float | None:
    """Epoch seconds of an ISO-like timestamp at the start of `text`, else None."""
    m = _ISO.match(text)
    if m is None:
        return None
    y, mo, d, h, mi, s, frac, z = m.groups()
    try:
        day = _day_epoch(int(y), int(mo), int(d))
    except (ValueError, OverflowError):
        return None
    return day + int(h) * 3600 + int(mi) * 60 + int(s) + _frac(frac) - _zone(z)


def strip_prefix(line: str) -> tuple[str, int | None, float | None]:
    """The line without its rank/CRI prefix, the rank the prefix names (or None), the CRI time (or None)."""
    cri_at = None
    m = _CRI.match(line)
    if m is not None:
        cri_at = parse_iso(m.group(1))
        line = line[m.end() :]
    m2 = RANK_PREFIX.match(line)
    if m2 is not None:
        rank = m2.group(1) or m2.group(2)
        return line[m2.end() :], int(rank), cri_at
    return line, None, cri_at


_TIME_KEY = 128
"""Only a line's first characters decide its time: the longest prefix plus stamp is under 100."""
_TIMES: dict[int, dict[str, float | None]] = {}
_STAMPS: dict[int, dict[str, float | None]] = {}
_TIMES_LIMIT = 100_000


def _py_line_time(line: str, year: int) -> float | None:
    """Epoch seconds of the timestamp this line starts with (after any rank/CRI prefix), else None.

    `year` fills in formats that do not print one (glog, syslog). Monotonic dmesg stamps
    ("[1084456.07]", seconds since boot) are not wall-clock times and give None. Answers are kept
    per line start: a failing rank prints many lines with one stamp.
    """
    cache = _TIMES.get(year)
    if cache is None:
        cache, _STAMPS[year] = _TIMES.setdefault(year, {}), {}
    key = line[:_TIME_KEY]
    if key in cache:
        return cache[key]
    body, _, cri_at = strip_prefix(key)
    stamps = _STAMPS[year]  # a second level: lines that differ after one stamp share it
    stamp = body[:_STAMP_CHARS]
    if stamp in stamps:
        at = stamps[stamp]
    else:
        if len(stamps) >= _TIMES_LIMIT:
            stamps.clear()
        at = stamps[stamp] = _body_time(stamp, year)
    if at is None:
        at = cri_at
    if len(cache) >= _TIMES_LIMIT:
        cache.clear()
    cache[key] = at
    return at


_STAMP_CHARS = 40
"""The longest stamp read below ("[2026-11-24 11:48:29.123456789+00:00]") is 37 characters."""

line_time = _py_line_time
if FAST is not None:  # the compiled twin; it hands lines with non-ASCII characters back to the above
    FAST.set_fallback(_py_line_time)
    line_time = FAST.line_time


def end_time(text: str, year: int, chars: int = 8192, lines: int = 60) -> float | None:
    """The time of the last timed line among the last `lines` lines of `text[-chars:]` (where a log
    ends), or None."""
    if FAST is not None:
        got = FAST.end_time(text, year, chars, lines)
        if got is not NotImplemented:
            return got  # type: ignore[no-any-return]
    return _py_end_time(text, year, chars, lines)


def _py_end_time(text: str, year: int, chars: int, lines: int) -> float | None:
    for line in reversed(text[-chars:].split("\n")[-lines:]):
        at = line_time(line, year)
        if at is not None:
            return at
    return None


def _body_time(body: str, year: int) -> float | None:
    """The time of the stamp `body` starts with (no rank/CRI prefix left), else None."""
    if not body:
        return None
    c = body[0]
    if c.isdigit() or (c == "[" and body[1:2].isdigit()):
        t = parse_iso(body)
        if t is not None:
            return t
    elif c in "IWEF[":
        m = _GLOG.match(body)
        if m is not None:
            _, mo, d, h, mi, s, frac = m.groups()
            try:
                return _day_epoch(year, int(mo), int(d)) + int(h) * 3600 + int(mi) * 60 + int(s) + _frac(frac)
            except (ValueError, OverflowError):
                return None
        m = _DMESG_T.match(body)
        if m is not None:
            return _month_time(m.group(6), *m.groups()[:5])
    if c.isalpha():
        m = _SYSLOG.match(body)
        if m is not None:
            return _month_time(str(year), *m.groups())
    return None


def _month_time(year: str, mon: str, day: str, h: str, mi: str, s: str) -> float | None:
    month = _MONTHS.get(mon[:3].lower())
    if month is None:
        return None
    try:
        return float(_day_epoch(int(year), month, int(day)) + int(h) * 3600 + int(mi) * 60 + int(s))
    except (ValueError, OverflowError):
        return None


def uptime_stamp(line: str) -> float | None:
    """Seconds since boot of a raw `dmesg` line ("[1084456.074562] ..."), else None."""
    m = _DMESG_RAW.match(line)
    return int(m.group(1)) + _frac(m.group(2)) if m else None


_YEAR_ISO = re.compile(r"(20\d\d)-[01]\d-[0-3]\d[ T_]\d\d:\d\d")
"""A full date; the year must not follow another digit (checked by hand: a leading look-behind
keeps the regex engine from skipping ahead to "20", and costs 40x on logs without such a date)."""
_DIGIT = re.compile(r"\d")
_YEAR_DMESG = re.compile(r"\w{3} \w{3} +\d{1,2} \d\d:\d\d:\d\d (20\d\d)\]")
_YEAR_DMESG_GATE = re.compile(r"20\d\d\]")
"""Every `dmesg -T` year ends so; logs without one skip the slow full pattern."""


def find_year(text: str, limit: int = 16384, dmesg: bool = False) -> int | None:
    """The year of the first full date in the first `limit` characters of `text` (to complete
    glog and syslog stamps), else None. `dmesg` also reads `dmesg -T` stamps (kernel logs)."""
    got = FAST.find_year(text, limit) if FAST is not None else NotImplemented  # ISO dates, ASCII text
    if got is NotImplemented:
        return _py_find_year(text, limit, dmesg)
    if got is not None or not dmesg:
        return got  # type: ignore[no-any-return]
    return _dmesg_year(text, min(len(text), limit))


def _py_find_year(text: str, limit: int, dmesg: bool) -> int | None:
    end = min(len(text), limit)  # searched up to `end` in place: a copy of 16 KB costs more than the search
    pos = 0
    while (m := _YEAR_ISO.search(text, pos, end)) is not None:
        at = m.start()
        if at == 0 or _DIGIT.match(text, at - 1, end) is None:
            return int(m.group(1))
        pos = at + 1
    return _dmesg_year(text, end) if dmesg else None


def _dmesg_year(text: str, end: int) -> int | None:
    if _YEAR_DMESG_GATE.search(text, 0, end) is not None:
        m = _YEAR_DMESG.search(text, 0, end)
        if m is not None:
            return int(m.group(1))
    return None
