"""`trainmedic sim logs`: determinism, ground truth, the injected line, the cascade's timing, each scenario."""

from __future__ import annotations

import calendar
import re
import time
from pathlib import Path
from typing import Any

import pytest

from tests.sim.conftest import Gen
from tests.sim.jobfiles import kernel_file, rank_dir, tree_digest
from trainmedic.catalog import Catalog, load_catalog
from trainmedic.sim.faults import Scenario
from trainmedic.sim.inject import bus_id_like
from trainmedic.sim.kernel import kernel_bus

GLOG = re.compile(r"^\[rank(\d+)\]:\[E(\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{9}) ProcessGroupNCCL\.cpp:616\]")
PYLOG = re.compile(r"^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d),(\d{3}) INFO \[rank (\d+)\] step (\d+) loss (\S+)")


def _glog_epoch(m: re.Match[str], year: int) -> float:
    mon, day, hh, mm, ss, ns = (int(x) for x in m.groups()[1:])
    return calendar.timegm((year, mon, day, hh, mm, ss)) + ns / 1e9


def _timeouts(out: Path, truth: dict[str, Any]) -> dict[int, float]:
    """Global rank -> node-clock time of its watchdog timeout line."""
    year = time.gmtime(truth["injected_at"]).tm_year
    found = {}
    for f in (out / "logs").rglob("stderr.log"):
        for line in f.read_text().splitlines():
            m = GLOG.match(line)
            if m:
                found[int(m.group(1))] = _glog_epoch(m, year)
    return found


def test_same_seed_same_bytes_whatever_the_number_of_writer_processes(gen: Gen) -> None:
    a, _ = gen(fault="silent_hang", seed=7, workers=1)
    b, _ = gen(fault="silent_hang", seed=7, workers=2)
    c, _ = gen(fault="silent_hang", seed=8, workers=1)
    assert tree_digest(a) == tree_digest(b)
    assert tree_digest(a) != tree_digest(c)


def test_slurm_layout_is_deterministic_and_has_one_file_per_task(gen: Gen) -> None:
    a, truth = gen(fault="crash_no_line", seed=3, layout="slurm")
    b, _ = gen(fault="crash_no_line", seed=3, layout="slurm")
    assert tree_digest(a) == tree_digest(b)
    tasks = list((a / "logs").glob("slurm-*.*.out"))
    assert len(tasks) == 32
    batch = [p for p in (a / "logs").glob("slurm-*.out") if p.name.count(".") == 1]
    assert len(batch) == 1
    culprit = truth["culprit"]["rank"]
    assert f"task {culprit}: " in batch[0].read_text().splitlines()[1]


def test_culprit_kernel_log_carries_the_injected_xid_with_its_own_bus_id(gen: Gen) -> None:
    out, truth = gen(fault="simtest.xid.48", seed=11)
    culprit = truth["culprit"]
    kernel = kernel_file(out, culprit["node"]).read_text()
    bus = kernel_bus(culprit["card"]["bus_id"])
    xid = [ln for ln in kernel.splitlines() if ": 48, " in ln]
    assert len(xid) == 1 and f"(PCI:{bus})" in xid[0]
    assert f"NVRM: GPU at PCI:{bus}: {culprit['card']['uuid']}" in kernel
    assert truth["rule"] == "simtest.xid.48" and truth["component"] == "memory"
    others = [p for p in (out / "kernel").iterdir() if not p.name.startswith(culprit["node"])]
    assert all(": 48, " not in p.read_text() for p in others)


def test_job_line_lands_on_the_culprit_rank_with_its_rank_number(gen: Gen) -> None:
    out, truth = gen(fault="simtest.cuda.illegal", seed=5)
    r = truth["culprit"]["rank"]
    err = (rank_dir(out, truth, r) / "stderr.log").read_text()
    assert f"[rank{r}]: RuntimeError: CUDA error: an illegal memory access was encountered" in err
    assert "Traceback (most recent call last):" in err
    assert "illegal memory access" in (rank_dir(out, truth, r) / "error.json").read_text()
    torchrun = (out / "logs" / truth["culprit"]["node"] / "torchrun.log").read_text()
    assert f"failed (exitcode: 1) local_rank: {truth['culprit']['local_rank']}" in torchrun


def test_packed_nccl_bus_id_is_rewritten_for_the_culprit(gen: Gen, shapes: Catalog) -> None:
    _, truth = gen(fault="simtest.nccl.busid", seed=2)
    card_bus = truth["culprit"]["card"]["bus_id"]
    packed = f"{int(card_bus.replace(':', '').replace('.', ''), 16):x}"
    line = truth["injected_lines"][0]["text"]
    assert line.endswith(f"busId {packed}")
    assert shapes.get("simtest.nccl.busid").search(line)["bus_id"] == packed  # type: ignore[index]


def test_a_kernel_fault_without_a_bus_id_is_scoped_to_the_node(gen: Gen) -> None:
    out, truth = gen(fault="simtest.mce", seed=4)
    assert truth["culprit_scope"] == "node"
    assert "Machine check events logged" in kernel_file(out, truth["culprit"]["node"]).read_text()


def test_background_lines_that_a_root_rule_claims_are_left_out(gen: Gen, shapes: Catalog) -> None:
    out, _ = gen(fault="silent_hang", seed=9)
    text = "".join(p.read_text() for p in (out / "kernel").iterdir())
    plain, _ = gen(catalog=load_catalog(), fault="silent_hang", seed=9)
    assert "perf: interrupt took too long" in "".join(p.read_text() for p in (plain / "kernel").iterdir())
    assert "perf: interrupt took too long" not in text  # simtest.overbroad claims it
    assert "nvidia-nvswitch" in text
    roots = [m for m in shapes.match_text(text) if m.rule.role == "root"]
    assert roots == []


def test_victims_time_out_after_the_injection_on_their_own_clock_culprit_groups_first(gen: Gen) -> None:
    out, truth = gen(fault="silent_hang", nodes=8, seed=21, max_skew_s=3.0)
    t0, timeout, skew = truth["injected_at"], truth["timeout_s"], truth["max_skew_s"]
    outs = _timeouts(out, truth)
    culprit = truth["culprit"]["rank"]
    assert culprit not in outs  # a silent culprit logs nothing
    assert outs, "victims log watchdog timeouts"
    for rank, at in outs.items():
        assert at >= t0 + timeout - skew, (rank, at - t0)
        node_skew = truth["clock_skew_s"][f"node{rank // 8:04d}"]
        assert at - node_skew >= t0 + timeout
    first = min(outs, key=lambda r: outs[r] - truth["clock_skew_s"][f"node{r // 8:04d}"])
    same_node = first // 8 == culprit // 8
    same_pp = (first % 32) == (culprit % 32)  # Topology.fitted(8, 8): pp=8, stage size 8
    assert same_node or same_pp


def test_every_rank_of_a_lost_node_stops_at_once_and_its_kernel_log_ends(gen: Gen) -> None:
    out, truth = gen(fault="node_lost", nodes=4, seed=6)
    node = truth["culprit"]["node"]
    year = time.gmtime(truth["injected_at"]).tm_year
    skew = truth["clock_skew_s"][node]
    for d in (out / "logs" / node / "attempt_0").iterdir():
        lines = [ln for ln in (d / "stdout.log").read_text().splitlines() if PYLOG.match(ln)]
        m = PYLOG.match(lines[-1])
        assert m is not None
        y, mo, da, hh, mi, ss, ms = (int(x) for x in m.groups()[:7])
        assert y == year
        assert calendar.timegm((y, mo, da, hh, mi, ss)) + ms / 1000 - skew < truth["injected_at"]
        assert (d / "stderr.log").read_text().count("Watchdog") == 0
    assert "failed (exitcode" not in (out / "logs" / node / "torchrun.log").read_text()


def test_straggler_computes_the_whole_slow_step_and_waits_least(gen: Gen) -> None:
    out, truth = gen(fault="straggler", nodes=2, seed=12, rank_log_kb=8)
    culprit, step = truth["culprit"]["rank"], truth["injected_step"]
    waits: dict[int, list[float]] = {}
    steps: dict[int, list[float]] = {}
    pat = re.compile(r"trainmedic\.train: rank (\d+) step (\d+) step_s (\S+) compute_s (\S+) wait_s (\S+)")
    for f in (out / "logs").rglob("stdout.log"):
        for m in pat.finditer(f.read_text()):
            if int(m.group(2)) >= step:
                waits.setdefault(int(m.group(1)), []).append(float(m.group(5)))
                steps.setdefault(int(m.group(1)), []).append(float(m.group(3)))
    mean = {r: sum(w) / len(w) for r, w in waits.items()}
    assert min(mean, key=lambda r: mean[r]) == culprit
    assert len({tuple(s) for s in steps.values()}) == 1  # every rank's step time follows the slowest
    assert 1.3 <= truth["slow_factor"] <= 3.0


def test_nan_starts_on_the_culprit_one_step_before_the_rest(gen: Gen) -> None:
    out, truth = gen(fault="nan", nodes=2, seed=13, rank_log_kb=8)
    first_nan: dict[int, int] = {}
    pat = re.compile(r"trainmedic\.train: rank (\d+) step (\d+) .* loss nan")
    for f in (out / "logs").rglob("stdout.log"):
        for m in pat.finditer(f.read_text()):
            first_nan.setdefault(int(m.group(1)), int(m.group(2)))
    culprit, step = truth["culprit"]["rank"], truth["injected_step"]
    assert first_nan[culprit] == step
    assert all(s == step + 1 for r, s in first_nan.items() if r != culprit)
    assert len(first_nan) == 16


def test_user_exception_is_raised_on_every_rank_with_no_culprit(gen: Gen) -> None:
    out, truth = gen(fault="user_exception", seed=14, nodes=2)
    assert truth["culprit"] is None and truth["component"] == "user" and truth["fault"] == "user.exception"
    errs = [p.read_text() for p in (out / "logs").rglob("stderr.log")]
    last = [ln for ln in errs[0].splitlines() if "Error:" in ln][-1].split("]: ", 1)[1]
    with_it = sum(1 for e in errs if last in e)
    assert with_it >= len(errs) // 2


def test_crash_without_a_line_shows_only_as_a_signal_in_torchrun(gen: Gen) -> None:
    out, truth = gen(fault="crash_no_line", seed=15)
    c = truth["culprit"]
    assert (rank_dir(out, truth, c["rank"]) / "stderr.log").read_text().count("[rank") <= 1  # the barrier warning
    torchrun = (out / "logs" / c["node"] / "torchrun.log").read_text()
    assert re.search(rf"failed \(exitcode: -(9|11|7)\) local_rank: {c['local_rank']} ", torchrun)


def test_double_fault_names_two_culprits_on_different_nodes(gen: Gen) -> None:
    _, truth = gen(fault="double_fault", seed=16, nodes=4)
    second = truth["second"]
    assert second is not None and second["culprit"]["node"] != truth["culprit"]["node"]
    assert abs(second["injected_at"] - truth["injected_at"]) <= 5.0
    assert len(truth["injected_lines"]) == 2


@pytest.mark.parametrize("scenario", [str(s) for s in Scenario])
def test_each_scenario_generates_with_the_packaged_catalog(gen: Gen, scenario: str) -> None:
    out, truth = gen(catalog=load_catalog(), fault=scenario, seed=1, nodes=2, layout="slurm" if
                     scenario in ("line_fault", "node_lost") else "torchrun")
    assert truth["scenario"] == scenario
    assert (out / "truth.json").stat().st_size > 0
    if truth["rule"]:
        assert any(line["text"] for line in truth["injected_lines"])


def test_bus_id_like_writes_the_examples_own_form() -> None:
    bus = "00000000:9A:00.0"
    assert bus_id_like("0000:09:00", bus) == "0000:9a:00"
    assert bus_id_like("0000:b3:00.0", bus) == "0000:9a:00.0"
    assert bus_id_like("00000000:18:00.0", bus) == "00000000:9A:00.0"
    assert bus_id_like("3b000", bus) == "9a000"
    assert bus_id_like("0000:B3:00.0", bus) == "0000:9A:00.0"


def test_progress_reports_every_node_and_the_cli_prints_json(tmp_path: Path, shapes: Catalog) -> None:
    from click.testing import CliRunner

    from trainmedic.cli.sim import sim
    from trainmedic.sim.job import write_job
    from trainmedic.sim.plan import SimOptions

    seen: list[tuple[int, int]] = []
    write_job(SimOptions(nodes=3, rank_log_kb=4), tmp_path / "a", catalog=shapes, workers=1,
              progress=lambda done, total: seen.append((done, total)))
    assert seen == [(1, 3), (2, 3), (3, 3)]
    res = CliRunner().invoke(sim, ["logs", "--nodes", "2", "--fault", "nan", "--out", str(tmp_path / "b"), "--json"])
    assert res.exit_code == 0, res.output
    import json

    data = json.loads(res.output)
    assert data["truth"]["scenario"] == "nan" and data["files"] > 32 and data["bytes"] > 0
