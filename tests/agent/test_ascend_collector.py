"""Ascend collector on real npu-smi outputs; a hanging or garbled tool."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from trainmedic.agent.collectors.ascend import AscendCollector, NpuSmiError, parse_info_table, run_command
from trainmedic.agent.runner import NodeAgent


def _runner(files: dict[str, str], base: Path):
    calls: list[list[str]] = []

    def run(argv: Sequence[str], timeout_s: float) -> str:
        calls.append(list(argv))
        key = argv[3] if len(argv) > 3 and argv[2] == "-t" else "info"
        name = files.get(key)
        if name is None:
            raise NpuSmiError(f"no fixture for {argv}")
        return (base / name).read_text(errors="replace")

    return run, calls


def test_parses_the_910b_table_with_bus_ids_power_temperature_and_hbm(agent_data: Path) -> None:
    rows = parse_info_table((agent_data / "npu-smi" / "info_910b_idle.txt").read_text())
    assert [r.npu for r in rows] == list(range(8))
    assert rows[0].bus_id == "0000:c1:00.0" and rows[0].power_w == 70.0 and rows[0].temp_c == 34
    assert (rows[0].hbm_used_mb, rows[0].hbm_total_mb) == (1365, 32768)
    assert (rows[7].mem_used_mb, rows[7].mem_total_mb) == (1777, 15567)


def test_parses_a_training_table_that_also_lists_processes(agent_data: Path) -> None:
    rows = parse_info_table((agent_data / "npu-smi" / "info_training.txt").read_text())
    assert len(rows) == 8 and rows[3].hbm_used_mb == 30709 and rows[3].temp_c == 44


def test_parses_the_310p_layout_with_power_not_available(agent_data: Path) -> None:
    (row,) = parse_info_table((agent_data / "npu-smi" / "info_310p3.txt").read_text())
    assert row.npu == 6 and row.power_w is None and row.temp_c == 50 and row.hbm_used_mb is None
    assert row.mem_used_mb == 1839 and row.bus_id == "0000:84:00.0"


def test_collects_cards_with_details_from_the_per_card_queries(agent_data: Path) -> None:
    run, calls = _runner({"info": "info_910b_idle.txt", "health": "health_ok.txt", "common": "common.txt", "ecc": "ecc.txt"},
                         agent_data / "npu-smi")
    r = AscendCollector("npu01", run=run, clock=lambda: 5.0).collect()
    assert len(r.cards) == 8 and not r.errors
    c = r.cards[0]
    assert c.values["sm_clock_mhz"] == 900 and c.values["temp_c"] == 41 and c.values["ecc_dbe_total"] == 0
    assert c.extra["health_level"] == 0 and c.card.vendor == "huawei"
    assert ["npu-smi", "info", "-t", "ecc", "-i", "7"] in calls


def test_garbage_output_is_reported_not_raised(agent_data: Path) -> None:
    run, _ = _runner({"info": "garbage.txt"}, agent_data / "npu-smi")
    r = AscendCollector("npu01", run=run).collect()
    assert r.cards == () and "no NPU table rows" in r.errors[0]


def test_a_card_in_alarm_is_a_finding_and_a_failed_detail_query_is_named(agent_data: Path, tmp_path: Path, clock) -> None:
    (tmp_path / "alarm.txt").write_text(" Health Status                  : Alarm\n Error Code                     : 80E18008\n")
    for name in ("info_910b_idle.txt", "common.txt"):
        (tmp_path / name).write_text((agent_data / "npu-smi" / name).read_text())
    run, _ = _runner({"info": "info_910b_idle.txt", "health": "alarm.txt", "common": "common.txt"}, tmp_path)
    agent = NodeAgent("npu01", [AscendCollector("npu01", run=run, clock=clock)], clock=clock)
    found = agent.tick()
    assert {f.fault for f in found} == {"ascend.health"} and len(found) == 8
    assert "0x80e18008" in found[0].message
    assert "npu-smi -t ecc -i 0" in agent.health()["sources"]["ascend"]["card_errors"]["0"]


def test_a_vendor_tool_that_hangs_is_cut_off_by_its_timeout() -> None:
    with pytest.raises(NpuSmiError, match="did not answer within"):
        run_command([sys.executable, "-c", "import time; time.sleep(30)"], 0.5)
    with pytest.raises(NpuSmiError, match="could not run"):
        run_command(["/nonexistent/npu-smi", "info"], 0.5)
