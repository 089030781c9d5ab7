"""Line timestamps in the formats real jobs and kernels write."""

from __future__ import annotations

import calendar

import pytest

from trainmedic.logs.timestamps import find_year, line_time, strip_prefix, uptime_stamp

T = calendar.timegm((2026, 11, 27, 13, 43, 44, 0, 0, 0))


@pytest.mark.parametrize(
    ("line", "want"),
    [
        ("2026-11-27 13:43:44,123 INFO [rank 12] step 1234 loss 2.3", T + 0.123),
        ("[rank3]:[E1127 13:43:44.500000 140012 ProcessGroupNCCL.cpp:632] [Rank 3] Watchdog", T + 0.5),
        ("E1127 13:43:44.250000 15022 torch/distributed/elastic/multiprocessing/api.py:1002] failed", T + 0.25),
        ("[Fri Nov 27 13:43:44 2026] NVRM: Xid (PCI:0000:18:00): 79, pid=0", T),
        ("2026-11-27T13:43:44+0000 node0001 kernel: NVRM: Xid", T),
        ("2026-11-27T15:43:44+02:00 node0001 kernel: NVRM: Xid", T),
        ("2026-11-27T13:43:44.000000001Z stdout F 2026-11-27 13:43:45,000 INFO step 3", T + 1.0),
        ("Nov 27 13:43:44 node0001 kernel: NVRM: Xid", T),
        ("[2026-11-27 13:43:44,000] [ERROR] [ft_launcher11842@vm] failed", T),
    ],
)
def test_reads_each_format_as_epoch_seconds(line: str, want: float) -> None:
    at = line_time(line, 2026)
    assert at is not None and abs(at - want) < 1e-3


def test_monotonic_dmesg_stamps_are_not_wall_clock_times() -> None:
    line = "[1084456.074562] NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus."
    assert line_time(line, 2026) is None
    assert uptime_stamp(line) == pytest.approx(1084456.074562)


def test_rank_prefixes_are_stripped_and_name_the_rank() -> None:
    assert strip_prefix("[rank17]: RuntimeError: boom")[:2] == ("RuntimeError: boom", 17)
    assert strip_prefix("[default3]:hello")[:2] == ("hello", 3)
    assert strip_prefix("12: srun labelled")[:2] == ("srun labelled", 12)


def test_the_year_comes_from_the_first_full_date() -> None:
    assert find_year("E1127 13:43:44.25 x\n2026-11-27 13:43:44,000 INFO") == 2026
    assert find_year("[Fri Nov 27 13:43:44 2025] x", dmesg=True) == 2025
    assert find_year("no dates here") is None


def test_find_year_agrees_with_the_plain_lookbehind_regexes() -> None:
    """find_year's fast search gives what the straightforward patterns give (real and odd texts)."""
    import random
    import re
    from pathlib import Path

    iso = re.compile(r"(?<!\d)(20\d\d)-[01]\d-[0-3]\d[ T_]\d\d:\d\d")
    dmesg = re.compile(r"\w{3} \w{3} +\d{1,2} \d\d:\d\d:\d\d (20\d\d)\]")

    def plain(text: str, dm: bool) -> int | None:
        part = text[:16384]
        m = iso.search(part) or (dmesg.search(part) if dm else None)
        return int(m.group(1)) if m else None

    data = Path(__file__).resolve().parents[1] / "data"
    texts = [p.read_bytes().decode("utf-8", "replace") for p in sorted(data.rglob("*")) if p.is_file()]
    rng = random.Random(5)
    pieces = ["12026-11-24 11:46", "2026-11-24 11:46", "٣2026-11-24 11:46", "[Sun Nov 15 07:11:18 2026]", "[Sun Nov  5 07:11:18 2031]",
              "x2025-01-02T03:04", "2026]", "Sun Nov 15 07:11:18 2026", " ", "\n", "abc", "9"]
    texts += ["".join(rng.choice(pieces) for _ in range(rng.randrange(1, 12))) for _ in range(3000)]
    for text in texts:
        for dm in (False, True):
            assert find_year(text, dmesg=dm) == plain(text, dm), text[:200]
