"""The fleet commands end to end through click: JSON out, exit codes, errors that name the problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.store.storehelpers import T0, finding, make_incident
from trainmedic.cli.main import cli
from trainmedic.store import open_store

DATA = Path(__file__).parents[1] / "data" / "store"


@pytest.fixture
def db(tmp_path: Path, sqlite_template: Path) -> str:
    path = tmp_path / "cli.db"
    path.write_bytes(sqlite_template.read_bytes())
    return str(path)


def run(*args: str, ok: bool = True) -> str:
    result = CliRunner().invoke(cli, list(args))
    if ok:
        assert result.exit_code == 0, result.output
    return result.output


def test_import_show_repair_and_return_a_card_through_the_cli(db: str) -> None:
    assert "4 added" in run("cards", "import", str(DATA / "inventory.csv"), "--db", db)
    assert "4 unchanged" in run("cards", "import", str(DATA / "inventory.csv"), "--db", db)
    with open_store(db) as store:
        store.record_incident(make_incident("inc-9", T0, node="node-0001", index=2, serial="1652823012347",
                                            findings=(finding(T0, card_index=2),)))
    listed = json.loads(run("cards", "list", "--state", "suspect", "--json", "--db", db))
    assert [c["serial"] for c in listed] == ["1652823012347"]
    out = run("repair", "add", "1652823012347", "--action", "reseat", "--parts", "riser,thermal pad",
              "--note", "reseated", "--test", "dcgmi diag -r 3", "--verified", "pass", "--json", "--db", db)
    rep = json.loads(out)
    assert rep["repair"]["parts"] == ["riser", "thermal pad"] and rep["card"]["state"] == "in_repair"
    assert "in_service" in run("cards", "return", "1652823012347", "--db", db)
    shown = json.loads(run("cards", "show", "node-0001:2", "--json", "--db", db))
    kinds = [e["kind"] for e in shown["timeline"]]
    assert {"fault", "incident", "repair", "state"} <= set(kinds)
    assert shown["escalation"]["next_action"] == "reset"
    assert "escalation:" in run("cards", "show", "1652823012347", "--db", db)


def test_incidents_list_and_show_print_json(db: str) -> None:
    with open_store(db) as store:
        store.record_incident(make_incident("inc-1", T0))
    rows = json.loads(run("incidents", "list", "--json", "--db", db))
    assert [r["id"] for r in rows] == ["inc-1"]
    one = json.loads(run("incidents", "show", "inc-1", "--json", "--db", db))
    assert one["culprit"]["card"] == "SN-3" and one["timeline"]["localized"] == T0 + 9
    assert "GPU has fallen off the bus" in run("incidents", "show", "inc-1", "--db", db)


def test_errors_exit_1_and_say_what_to_do(db: str, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["cards", "show", "NOPE", "--db", db])
    assert result.exit_code == 1 and "no card 'NOPE'" in result.output and "hint:" in result.output
    bad = tmp_path / "bad.csv"
    bad.write_text("serial,node,slot\nA,n1,0\nB,n1,x\n")
    result = CliRunner().invoke(cli, ["cards", "import", str(bad), "--db", db])
    assert result.exit_code == 1 and "row 3" in result.output
    result = CliRunner().invoke(cli, ["repair", "add", "A", "--action", "polish", "--db", db])
    assert result.exit_code == 2


def test_db_upgrade_creates_then_reports_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    assert json.loads(run("db", "upgrade", "--json", "--db", url)) == {"url": url, "from": None, "to": "0002"}
    assert "already at revision 0002" in run("db", "upgrade", "--db", url)
    assert json.loads(run("db", "info", "--json", "--db", url))["revision"] == "0002"


def test_report_reliability_writes_json_and_an_html_page_with_charts(db: str, tmp_path: Path) -> None:
    run("cards", "import-trace", "infinitehbd", str(DATA / "infinitehbd_first120.json"), "--db", db)
    page = tmp_path / "r.html"
    rep = json.loads(run("report", "reliability", "--json", "--html", str(page), "--db", db))
    assert rep["failures"] > 0 and rep["time_to_repair_hours"]["count"] > 0
    # A fleet known only by its nodes still gets an MTBF for every component (per node-hour).
    assert all(c["mtbf_hours"] and c["basis"] == "node-hours" for c in rep["mtbf"]["by_component"])
    assert "<svg" in page.read_text()
    assert "MTBF per component" in run("report", "reliability", "--since", "2024-04-01", "--db", db)
