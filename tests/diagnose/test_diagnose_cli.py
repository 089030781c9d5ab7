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


def test_the_installed_command_writes_everything_before_it_ends(tmp_path: Path) -> None:
    """The console entry point ends diagnose without freeing its objects one by one: what it printed
    and the report it wrote are whole, and errors still exit 1."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2] / "src"))
    report = tmp_path / "incident.md"
    cmd = [sys.executable, "-m", "trainmedic", "diagnose", str(REAL / "crash")]
    done = subprocess.run([*cmd, "--json", "--report", str(report)], env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["verdict"]["culprit"]["rank"] == 2
    written = report.read_text()
    assert "## Cost" in written and written.rstrip().endswith("nodes).")  # its last section, whole
    text = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    assert text.returncode == 0 and "culprit" in text.stdout and text.stdout.endswith("\n")
    bad = subprocess.run([*cmd[:-1], str(tmp_path / "missing")], env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and "no such file" in bad.stderr
