"""`trainmedic explain` and `trainmedic catalog`: the JSON shape, plain-words output, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from trainmedic.cli.main import cli

XID_79 = "[1084456.074562] NVRM: Xid (PCI:0000:09:00): 79, pid=0, GPU has fallen off the bus."
NCCL_TIMEOUT = ("[rank3]:[E1015 10:12:01.123456 140012 ProcessGroupNCCL.cpp:632] [Rank 3] Watchdog caught "
                "collective operation timeout: WorkNCCL(SeqNum=1841, OpType=ALLREDUCE, NumelIn=1024, "
                "NumelOut=1024, Timeout(ms)=600000) ran for 600013 milliseconds before timing out.")


def run(args: list[str], stdin: bytes | None = None):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, args, input=stdin)


def test_json_has_exactly_the_documented_match_keys_and_verdict() -> None:
    result = run(["explain", "--json", XID_79])
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert set(out) == {"matches", "verdict"}
    [m] = out["matches"]
    assert set(m) == {"rule", "fault", "title", "component", "role", "severity", "action", "line", "text", "fields"}
    assert m["fields"] == {"bus_id": "0000:09:00", "code": "79"} and m["line"] == 1
    v = out["verdict"]
    assert list(v)[:4] == ["fault", "component", "action", "confidence"]
    assert (v["fault"], v["component"], v["action"]) == ("nvidia.xid.79", "accelerator", "drain_node")


def test_json_verdict_is_null_when_nothing_matches() -> None:
    out = json.loads(run(["explain", "--json", "all good, step 100 loss 2.31"]).stdout)
    assert out == {"matches": [], "verdict": None}


def test_human_output_explains_in_words_and_shows_the_evidence_line() -> None:
    result = run(["explain", "-"], stdin=(NCCL_TIMEOUT + "\n" + XID_79 + "\n").encode())
    assert result.exit_code == 0
    assert "Root cause: Xid 79: GPU has fallen off the bus" in result.stdout
    assert "Drain the node" in result.stdout
    assert "line 2: " + XID_79 in result.stdout


def test_cascade_only_input_says_the_root_cause_is_elsewhere_and_where_to_look() -> None:
    result = run(["explain", "-"], stdin=NCCL_TIMEOUT.encode())
    assert result.exit_code == 0
    assert "No root cause in this text" in result.stdout and "Look at:" in result.stdout


def test_empty_input_is_a_clear_error_not_a_crash() -> None:
    result = run(["explain", "-"], stdin=b"")
    assert result.exit_code == 1
    assert "nothing to explain" in result.stderr and "Traceback" not in result.output


def test_binary_input_is_reported_and_readable_lines_still_match() -> None:
    blob = bytes(range(256)) * 50 + b"\n" + XID_79.encode() + b"\n" + b"\x00\x01\x02" * 1000
    result = run(["explain", "--json", "-"], stdin=blob)
    assert result.exit_code == 0
    assert "looks binary" in result.stderr
    assert [m["rule"] for m in json.loads(result.stdout)["matches"]] == ["nvidia.xid.79"]


def test_pure_garbage_is_unusable_with_a_message() -> None:
    result = run(["explain", "-"], stdin=b"\x00\x01\x02\x03" * 5000)
    assert result.exit_code == 1 and "error: nothing to explain" in result.stderr


def test_invalid_utf8_crlf_and_ansi_colours_are_cleaned_before_matching() -> None:
    data = b"\x1b[31m" + XID_79.encode() + b"\x1b[0m\r\n\xff\xfebad bytes\r\n"
    result = run(["explain", "--json", "-"], stdin=data)
    assert result.exit_code == 0
    [m] = json.loads(result.stdout)["matches"]
    assert m["text"] == XID_79
    assert "invalid UTF-8" in result.stderr and "ANSI" in result.stderr


def test_a_10mb_single_line_does_not_hang_or_crash() -> None:
    data = XID_79.encode() + b" " + b"A" * (10 * 1024 * 1024) + b"\n" + XID_79.encode()
    result = run(["explain", "--json", "-"], stdin=data)
    assert result.exit_code == 0
    assert "cut to" in result.stderr
    assert [m["line"] for m in json.loads(result.stdout)["matches"]] == [1, 2]


def test_catalog_check_passes_and_reports_coverage_by_family_and_component() -> None:
    result = run(["catalog", "check"])
    assert result.exit_code == 0, result.output
    assert "by family and component:" in result.stdout and "nvidia-xid" in result.stdout


def test_catalog_check_names_file_and_line_of_a_broken_rule(tmp_path: Path) -> None:
    from trainmedic.catalog.check import check_catalog

    bad = tmp_path / "bad.yaml"
    bad.write_text("family: t\nrules:\n  - id: ok.rule\n    title: t\n    component: pcie\n    role: root\n"
                   "    severity: error\n    action: none\n    patterns: ['abc(']\n    explanation: x\n"
                   "    examples: [{text: abc}]\n")
    report = check_catalog([bad])
    assert not report.ok and str(report.errors[0]).startswith(f"{bad}:3: rule ok.rule: pattern")


def test_catalog_show_and_list_print_the_rule() -> None:
    shown = run(["catalog", "show", "nvidia.xid.79"])
    assert shown.exit_code == 0 and "examples:" in shown.stdout and "fallen off the bus" in shown.stdout
    listed = json.loads(run(["catalog", "list", "--json", "--family", "pcie"]).stdout)
    assert listed and {r["family"] for r in listed} == {"pcie"}
    assert run(["catalog", "show", "no.such.rule"]).exit_code == 1
