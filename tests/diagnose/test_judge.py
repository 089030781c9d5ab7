"""The judge on pinned situations (tests/diagnose/jobgen.py): line faults placed by bus id, clock
skew removed before "who was first", victims told from culprits, silence, NaN, stragglers, user code."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.diagnose.jobgen import Job, stamp, timeout_line
from trainmedic.catalog import Rule, load_catalog
from trainmedic.diagnose import diagnose
from trainmedic.localize.cardmap import normalize_bus_id
from trainmedic.model import Action, KnownFault, Role


def kernel_root_rule() -> tuple[Rule, str, str]:
    """A catalog root rule seen in kernel logs whose example carries a bus id, and that example."""
    for r in load_catalog().rules:
        if r.role is Role.ROOT and "kernel" in r.seen_in:
            for ex in r.examples:
                bus = ex.fields.get("bus_id")
                if bus and normalize_bus_id(bus) and bus in ex.text:
                    return r, ex.text, bus
    pytest.skip("no kernel root rule with a bus id example in this catalog")


def job_root_rules(n: int) -> list[tuple[Rule, str]]:
    """`n` catalog root rules (distinct faults, hardware components) whose example still matches
    after a python-logging prefix, with that example."""
    out: list[tuple[Rule, str]] = []
    seen: set[str] = set()
    for r in load_catalog().rules:
        if r.role is not Role.ROOT or "job" not in r.seen_in or r.fault in seen or str(r.component) in ("user", "software"):
            continue
        for ex in r.examples:
            if "\n" not in ex.text and r.search("2026-11-26 10:00:00,000 ERROR [rank 1] " + ex.text) is not None:
                out.append((r, ex.text))
                seen.add(r.fault)
                break
        if len(out) == n:
            return out
    pytest.skip("not enough job-log root rules in this catalog")


def victims(job: Job, culprits: set[int], at_step: float) -> None:
    for r in range(job.nodes * job.cards):
        if r not in culprits:
            n = r // job.cards
            job.tail[r] = [timeout_line(r, job.at_step(at_step) + 600, job.skew.get(n, 0.0))]


def test_names_the_card_behind_a_kernel_line_by_its_bus_id(tmp_path: Path) -> None:
    rule, text, bus = kernel_root_rule()
    job = Job(tmp_path, nodes=3, cards=4, skew={1: 2.5, 2: -1.7})
    line = text.replace(bus, "0000:3a:00")
    job.kernel[1] = [(job.clock(1, job.at_step(20.4)), line.split("] ", 1)[-1] if line.startswith("[") else line)]
    victims(job, {6}, 20.5)
    d = diagnose(job.write())
    v = d.verdict
    assert v.fault == rule.fault and v.role is Role.ROOT
    assert v.culprit is not None and v.culprit.rank == 6 and v.culprit.node == "node0001"
    assert v.culprit.card is not None and v.culprit.card.serial == "1324001" + "0002" and v.culprit.card.uuid
    assert d.victims["ranks"] == 11
    assert any(e.file == "kernel/node0001.dmesg" and e.line == 2 for e in v.evidence)


def test_clock_skew_is_removed_before_asking_which_fault_came_first(tmp_path: Path) -> None:
    (r1, t1), (r2, t2) = job_root_rules(2)
    job = Job(tmp_path, nodes=2, cards=4, skew={1: -3.0})
    # rank 1 fails first (true time); node 1's clock runs 3 s behind, so its later line *looks* earlier.
    job.tail[1] = [f"{stamp(job.clock(0, job.at_step(20.2)))} ERROR [rank 1] {t1}"]
    job.tail[6] = [f"{stamp(job.clock(1, job.at_step(20.9)))} ERROR [rank 6] {t2}"]
    d = diagnose(job.write())
    assert d.verdict.culprit is not None and d.verdict.culprit.rank == 1 and d.verdict.fault == r1.fault
    assert d.second is not None and d.second.culprit is not None and d.second.culprit.rank == 6
    assert d.second.fault == r2.fault


def test_the_rank_that_logged_nothing_while_everyone_timed_out_is_the_hung_one(tmp_path: Path) -> None:
    job = Job(tmp_path, nodes=2, cards=4, skew={0: 1.2})
    victims(job, {5}, 20.3)
    d = diagnose(job.write())
    assert d.verdict.culprit is not None and d.verdict.culprit.rank == 5
    assert d.verdict.fault == KnownFault.HANG
    assert d.verdict.culprit.card is not None and d.verdict.culprit.card.bus_id == "00000000:2A:00.0"


def test_a_whole_silent_node_among_timeouts_is_a_lost_node(tmp_path: Path) -> None:
    job = Job(tmp_path, nodes=3, cards=4)
    victims(job, set(range(4, 8)), 20.3)
    d = diagnose(job.write())
    assert d.verdict.fault == KnownFault.NODE_LOST
    assert d.verdict.culprit is not None and d.verdict.culprit.node == "node0001"


def test_the_same_exception_on_every_rank_is_user_code_with_no_card_to_blame(tmp_path: Path) -> None:
    job = Job(tmp_path, nodes=2, cards=4)
    for r in range(8):
        job.tail[r] = [
            f"[rank{r}]: Traceback (most recent call last):",
            f'[rank{r}]:   File "/workspace/train.py", line 88, in <module>',
            f"[rank{r}]:     cfg = load(args.config)",
            f"[rank{r}]: KeyError: 'lr_schedule_warmup_{r % 1}'",
        ]
    d = diagnose(job.write())
    assert d.verdict.culprit is None
    assert d.verdict.action is Action.CHECK_USER_CODE and d.verdict.fault == KnownFault.USER_EXCEPTION


def test_the_rank_whose_own_loss_went_nan_first_leads_the_ranks_that_followed(tmp_path: Path) -> None:
    job = Job(tmp_path, nodes=2, cards=4)
    for r in range(8):
        for s in range(15, 21):
            if r == 6 or s >= 16:
                job.loss[(r, s)] = "nan"
    d = diagnose(job.write())
    assert d.verdict.fault == KnownFault.NAN
    assert d.verdict.culprit is not None and d.verdict.culprit.rank == 6


def test_nan_on_every_rank_at_once_is_not_one_cards_fault(tmp_path: Path) -> None:
    job = Job(tmp_path, nodes=2, cards=4)
    for r in range(8):
        for s in range(15, 21):
            job.loss[(r, s)] = "nan"
    d = diagnose(job.write())
    assert d.verdict.fault == KnownFault.NAN and d.verdict.culprit is None


def test_a_straggler_stands_out_in_its_own_step_numbers(tmp_path: Path) -> None:
    job = Job(tmp_path, nodes=4, cards=4)
    for r in range(16):
        job.extra_metrics[r] = f"compute_ms {800 + (r * 7) % 13} wait_ms {1600 - (r * 5) % 11}"
    job.extra_metrics[9] = "compute_ms 2390 wait_ms 12"
    d = diagnose(job.write())
    assert d.verdict.fault == KnownFault.STRAGGLER
    assert d.verdict.culprit is not None and d.verdict.culprit.rank == 9


def test_a_healthy_job_has_no_culprit(tmp_path: Path) -> None:
    d = diagnose(Job(tmp_path, nodes=2, cards=4).write())
    assert d.verdict.culprit is None and d.verdict.confidence == 0.0
    assert time.gmtime(0).tm_year == 1970  # the fixture's clock is epoch-based
