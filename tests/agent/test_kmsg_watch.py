"""Kernel-log reading and matching: /dev/kmsg records, split lines, dmesg/journal text, bus ids."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainmedic.agent.busid import normalize_bus_id
from trainmedic.agent.kmsg import KernelWatcher, KmsgReader, parse_kmsg_record, strip_text_prefix
from trainmedic.model import Card


@pytest.mark.parametrize(
    ("text", "want"),
    [("0000:09:00", "0000:09:00.0"), ("00000000:09:00.0", "0000:09:00.0"), ("PCI:0000:9b:00", "0000:9b:00.0"),
     ("00000000:DB:00.0", "0000:db:00.0"), ("09:00.1", "0000:09:00.1"), ("not a bus", None), ("", None)],
)
def test_bus_id_forms_of_nvml_kernel_and_xid_lines_compare_equal(text: str, want: str | None) -> None:
    assert normalize_bus_id(text) == want


def test_parses_real_kmsg_records_and_skips_dictionary_lines(agent_data: Path) -> None:
    lines = (agent_data / "kmsg" / "gpud-kmsg.1.log").read_text().splitlines()
    recs = [r for r in map(parse_kmsg_record, lines) if r]
    assert len(recs) == len(lines) > 40
    assert recs[0].level == 6 and recs[0].seq == 3964 and recs[0].usec == 206764307
    assert recs[0].text == "nvidia-nvswitch2: open (major=510)"
    assert parse_kmsg_record(" SUBSYSTEM=pci") is None


def test_a_record_split_across_two_reads_is_joined(tmp_path: Path) -> None:
    path = tmp_path / "kmsg"
    path.write_text("3,1,100,-;first line\n3,2,200,-;NVRM: Xid (PCI:0000:09")
    reader = KmsgReader(path)
    assert [r.text for r in reader.poll()] == ["first line"]
    with path.open("a") as fh:
        fh.write(":00): 79, pid=0, GPU has fallen off the bus.\n")
    assert [r.text for r in reader.poll()] == ["NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus."]
    assert reader.poll() == []


def test_an_unreadable_kmsg_says_what_to_do(tmp_path: Path) -> None:
    reader = KmsgReader(tmp_path / "missing")
    assert reader.poll() == [] and "run as root" in (reader.error or "")


def test_strips_dmesg_and_journal_prefixes() -> None:
    assert strip_text_prefix("[Sun Feb 23 16:24:18 2025] NVRM: Xid (PCI:0000:9b:00): 119, x") == "NVRM: Xid (PCI:0000:9b:00): 119, x"
    assert strip_text_prefix("<3>[ 1843.308145] NVRM: hi") == "NVRM: hi"
    assert strip_text_prefix("Nov 27 13:54:01 gpu-07 kernel: NVRM: Xid (PCI:0000:09:00): 79, pid=0") == "NVRM: Xid (PCI:0000:09:00): 79, pid=0"
    assert strip_text_prefix("plain") == "plain"


def test_the_real_xid_79_names_the_card_by_its_bus_id_and_serial(agent_data: Path) -> None:
    card = Card("gpu-07", 2, bus_id="00000000:09:00.0", serial="1652322012345")
    watcher = KernelWatcher("gpu-07", [Card("gpu-07", 0, bus_id="00000000:18:00.0"), card], boot_at=1_700_000_000.0)
    recs = [r for r in map(parse_kmsg_record, (agent_data / "kmsg" / "rfe-002-xid79.kmsg").read_text().splitlines()) if r]
    found = watcher.records(recs)
    # The Xid line and the driver's own "fallen off the bus" line are both root findings on card 2; the
    # GPU's other PCI functions (.2 USB, .3 UCSI) refusing power state are cascade findings.
    roots = [f for f in found if f.role == "root"]
    assert roots[0].rule == "nvidia.xid.79"
    assert {(f.card_index, f.bus_id, f.fields["serial"]) for f in roots} == {(2, "0000:09:00.0", "1652322012345")}
    assert roots[0].at == pytest.approx(1_700_000_000.0 + 1084456.074562)
    assert all(f.role == "cascade" for f in found if f not in roots)


def test_benign_kernel_lines_raise_nothing(agent_data: Path) -> None:
    watcher = KernelWatcher("n1")
    recs = [r for r in map(parse_kmsg_record, (agent_data / "kmsg" / "gpud-kmsg.1.log").read_text().splitlines()) if r]
    assert watcher.records(recs) == []


def test_dmesg_polling_returns_only_lines_not_seen_before() -> None:
    import sys

    from trainmedic.agent.kmsg import CommandLines

    line = "[ 1843.308145] NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus."
    src = CommandLines([sys.executable, "-c", f"print({line!r})"], follow=False)
    assert src.poll() == ["NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus."]
    assert src.poll() == []
    broken = CommandLines(["/nonexistent/dmesg"], follow=False)
    assert broken.poll() == [] and "/nonexistent/dmesg" in (broken.error or "")


def test_journal_following_streams_lines_from_a_running_command() -> None:
    import sys
    import time

    from trainmedic.agent.kmsg import CommandLines

    code = "import sys,time\nfor i in range(3):\n    print(f'Nov 27 13:54:0{i} gpu-07 kernel: line {i}', flush=True)\ntime.sleep(5)"
    src = CommandLines([sys.executable, "-c", code], follow=True)
    got: list[str] = []
    try:
        for _ in range(100):
            got += src.poll()
            if len(got) == 3:
                break
            time.sleep(0.05)
    finally:
        src.close()
    assert got == ["line 0", "line 1", "line 2"]
