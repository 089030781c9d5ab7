"""`trainmedic agent` through click's runner: --once --json from fixtures, --replay, bad input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from trainmedic.cli.agent import agent
from trainmedic.cli.sim_telemetry import telemetry


def test_once_json_prints_one_sample_of_every_card_and_nic(agent_data: Path) -> None:
    r = CliRunner().invoke(agent, ["run", "--once", "--json", "--node", "gpu-07", "--nvml-fixture", str(agent_data / "nvml_h100x8.json"),
                                   "--sys-root", str(agent_data / "sys"), "--kernel-source", "none", "--collectors", "nvidia,infiniband,host"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert [c["index"] for c in doc["cards"]] == list(range(8)) and len(doc["nics"]) == 4
    assert doc["cards"][0]["metrics"]["ib_rate_gbps"] == 400 and "cpu_util_pct" in doc["host"]
    assert doc["health"]["status"] == "ok" and doc["findings"] == []


def test_replay_option_on_the_group_reads_a_simulated_recording(tmp_path: Path) -> None:
    out = tmp_path / "rec"
    r = CliRunner().invoke(telemetry, ["--nodes", "9", "--cards-per-node", "2", "--minutes", "2", "--fault", "pcie_downgrade",
                                       "--fault-node", "4", "--fault-card", "1", "--fault-at-s", "30", "--out", str(out), "--chunk-s", "60"])
    assert r.exit_code == 0, r.output
    r = CliRunner().invoke(agent, ["--replay", str(out), "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert {(f["node"], f["card_index"]) for f in doc["findings"]} == {("node0004", 1)}
    assert doc["truth"]["culprit"]["card"]["bus_id"] == doc["findings"][0]["bus_id"]


def test_bad_input_gets_an_error_and_the_right_exit_code(tmp_path: Path) -> None:
    r = CliRunner().invoke(agent, ["--replay", str(tmp_path / "nope")])
    assert r.exit_code == 1 and "not a directory" in r.output
    r = CliRunner().invoke(agent, ["run", "--once", "--collectors", "quantum", "--kernel-source", "none"])
    assert r.exit_code == 2 and "no collector 'quantum'" in r.output
    r = CliRunner().invoke(agent, ["run", "--once", "--collectors", "nvidia", "--nvml-fixture", str(tmp_path / "x.json"), "--kernel-source", "none"])
    assert r.exit_code == 1 and "cannot read the NVML fixture" in r.output


def test_every_agent_command_has_help() -> None:
    for args in (["--help"], ["run", "--help"], ["replay", "--help"]):
        r = CliRunner().invoke(agent, args)
        assert r.exit_code == 0 and "Usage" in r.output
