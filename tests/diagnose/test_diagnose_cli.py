"""`trainmedic diagnose`: JSON as DESIGN.md documents it, the terminal summary, the report, errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from trainmedic.cli.main import cli

REAL = Path(__file__).resolve().parents[1] / "data" / "diagnose" / "real"


def test_json_has_the_documented_shape() -> None:
    res = CliRunner().invoke(cli, ["diagnose", str(REAL / "hang"), "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    v = doc["verdict"]
    assert set(v["culprit"]) == {"rank", "node", "local_rank", "card"}
    assert {"bus_id", "uuid", "serial"} <= set(v["culprit"]["card"])
    for key in ("fault", "component", "action", "confidence", "first_error_at", "evidence", "victims"):
        assert key in v
    assert {"file", "line", "text"} <= set(v["evidence"][0])
    assert v["victims"]["ranks"] == 3 and isinstance(v["victims"]["faults"], list)
    assert isinstance(doc["timeline"], list) and doc["timeline"]
    assert {"files", "bytes_read", "seconds"} <= set(doc["stats"])


def test_the_summary_names_culprit_fault_action_evidence_victims_and_confidence(tmp_path: Path) -> None:
    report = tmp_path / "incident.md"
    res = CliRunner().invoke(cli, ["diagnose", str(REAL / "exception"), "--report", str(report)])
    assert res.exit_code == 0, res.output
    out = res.output
    assert "culprit     rank 3" in out and "check_user_code" in out and "confidence" in out
    assert "stderr.log:" in out and "victims" in out
    md = report.read_text()
    assert md.startswith("# Incident report") and "## Timeline" in md and "| Time (UTC) |" in md


def test_a_missing_path_exits_1_with_what_to_do(tmp_path: Path) -> None:
    res = CliRunner().invoke(cli, ["diagnose", str(tmp_path / "none")])
    assert res.exit_code == 1
    assert "no such file" in res.output and "hint:" in res.output
