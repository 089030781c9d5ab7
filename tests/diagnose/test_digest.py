"""The scanner digests each rank as it arrives; the evidence made from those digests is exactly the
evidence made from the bare scans, and a digest whose rank changed since is not used."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainmedic.catalog import load_catalog
from trainmedic.diagnose.catalog_cache import cached_catalog
from trainmedic.diagnose.evidence import Evidence, gather
from trainmedic.diagnose.scan import scan
from trainmedic.diagnose.views import build

sim = pytest.importorskip("trainmedic.sim.job")
plan = pytest.importorskip("trainmedic.sim.plan")

SCENARIOS = ["line_fault", "silent_hang", "node_lost", "user_exception", "double_fault", "crash_no_line"]
"""The scenarios whose evidence has lines (NaN and stragglers are judged from step lines alone)."""


def _evidence(root: Path, digested: bool) -> Evidence:
    catalog = cached_catalog()
    res = scan(str(root), catalog, workers=2)
    assert all(rr.digest is not None for rr in res.ranks)
    if not digested:
        for rr in res.ranks:
            rr.digest = None
    job = build(res)
    return gather(job, res.others, catalog)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_evidence_from_digests_is_the_evidence_from_the_scans(scenario: str, tmp_path: Path) -> None:
    opts = plan.SimOptions(nodes=6, cards_per_node=4, fault=scenario, seed=5, rank_log_kb=2, backend="gloo" if scenario == "crash_no_line" else "nccl")
    sim.write_job(opts, tmp_path / "job", catalog=load_catalog(), workers=1)
    with_digests = _evidence(tmp_path / "job", True)
    without = _evidence(tmp_path / "job", False)
    assert with_digests == without
    assert with_digests.victims or with_digests.exceptions or with_digests.roots
    # the same dicts in the same order: ties in "most victims" are broken by order
    assert [list(k) for k in with_digests.victims.values()] == [list(k) for k in without.victims.values()]


def test_a_digest_made_before_two_logs_claimed_one_rank_is_not_used(tmp_path: Path) -> None:
    # stdout of one file, stderr of another, both saying RANK=0: the second's hits join the first's
    for name, text in (
        ("a/rank_0.log", "RANK=0\n2026-11-27 10:00:00,000 INFO step 1 loss 2.0\n"),
        ("b/worker_0.log", "RANK=0\n2026-11-27 10:00:05,000 ERROR Watchdog caught collective operation timeout: WorkNCCL(SeqNum=9, OpType=ALLREDUCE) ran for 600000 milliseconds before timing out.\n"),
    ):
        p = tmp_path / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    catalog = cached_catalog()
    res = scan(str(tmp_path), catalog, workers=1)
    assert len(res.ranks) == 2 and all(rr.digest is not None for rr in res.ranks)
    job = build(res)
    ev = gather(job, res.others, catalog)
    assert list(job.ranks) == [0]
    assert 0 in ev.victims and ev.cascade_first[0][1].startswith("2026-11-27 10:00:05")
    # it blocked when its collective began: 600 s before the line
    logged = next(h.at for h in job.ranks[0].scan.hits if h.text.startswith("2026-11-27 10:00:05"))
    assert logged is not None and ev.cascade_first[0][0] == logged - job.ranks[0].offset - 600.0
