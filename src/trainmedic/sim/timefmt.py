"""Timestamp formats the simulated logs use, cached per whole second because millions of lines share
a few thousand seconds. Every format is what the real writer prints (python logging, glog as torch's
C++ code prints it, torchelastic's logger, `dmesg -T`, `journalctl -k -o short-iso`).

Used by the rank-log and kernel-log writers in `trainmedic.sim`.
"""

from __future__ import annotations

import time
from collections.abc import Callable

_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _cached(render: Callable[[time.struct_time], str]) -> Callable[[int], str]:
    cache: dict[int, str] = {}

    def get(second: int) -> str:
        s = cache.get(second)
        if s is None:
            if len(cache) > 200_000:
                cache.clear()
            s = cache[second] = render(time.gmtime(second))
        return s

    return get


_pylog = _cached(
    lambda t: f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
)
_glog = _cached(lambda t: f"{t.tm_mon:02d}{t.tm_mday:02d} {t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}")
_dmesg = _cached(
    lambda t: f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:2d} "
    f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d} {t.tm_year}"
)
_iso = _cached(
    lambda t: f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}+0000"
)
_elastic = _cached(
    lambda t: f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}_{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
)


def pylog(t: float) -> str:
    """`2026-11-27 13:43:44,123` (python logging's default asctime)."""
    s = int(t)
    return f"{_pylog(s)},{int((t - s) * 1000):03d}"


def glog(t: float, level: str = "E") -> str:
    """`E1127 13:43:44.123456789` as torch's C++ logging prints it (inside `[...]`)."""
    s = int(t)
    return f"{level}{_glog(s)}.{int((t - s) * 1e9):09d}"


def elastic(t: float, level: str = "W") -> str:
    """`W1127 13:43:44.656000` as torchelastic's python logger prints it."""
    s = int(t)
    return f"{level}{_glog(s)}.{int((t - s) * 1000) * 1000:06d}"


def dmesg(t: float) -> str:
    """`[Fri Nov 27 13:43:44 2026]` (`dmesg -T`)."""
    return f"[{_dmesg(int(t))}]"


def journal(t: float) -> str:
    """`2026-11-27T13:43:44+0000` (`journalctl -o short-iso`)."""
    return _iso(int(t))


def elastic_summary(t: float) -> str:
    """`2026-11-27_13:43:44` as in torchelastic's failure summary."""
    return _elastic(int(t))
