"""One rank's log summarised: identity, progress, NaN onset, the end."""

from __future__ import annotations

from trainmedic.catalog import load_catalog
from trainmedic.logs.linematch import LineMatcher
from trainmedic.logs.ranklog import RankScan, identity, last_step_lines, scan_rank_text, step_metrics

NCCL = (
    "node0002:41223:41290 [5] NCCL INFO comm 0x55d0c8 rank 21 nranks 32 cudaDev 5 nvmlDev 5 busId ab000 "
    "commId 0x9d3b - Init COMPLETE"
)


def test_identity_comes_from_env_and_nccls_init_line() -> None:
    text = "2026-11-27 13:00:00,000 INFO [rank 21] hostname node0002\nRANK=21 LOCAL_RANK=5 WORLD_SIZE=32 CUDA_VISIBLE_DEVICES=0,1,2,3,4,5,6,7\n" + NCCL
    ident = identity(text)
    assert ident["rank"] == "21" and ident["local_rank"] == "5" and ident["host"] == "node0002"
    assert ident["bus_id"] == "ab000" and ident["cuda_dev"] == "5" and ident["visible"] == "0,1,2,3,4,5,6,7"


def test_the_last_step_lines_skip_tracebacks_that_mention_a_step() -> None:
    text = "\n".join(
        [f"2026-11-27 13:00:{s:02d},000 INFO step {s} loss 2.0" for s in range(1, 6)]
        + ["[rank3]: RuntimeError: bad loss on step 99", '  File "x.py", line 3, in step']
    )
    steps = last_step_lines(text, 2026)
    assert [m.step for m in steps] == [2, 3, 4, 5]


def test_nan_onset_follows_the_ranks_own_loss_not_the_all_reduced_one() -> None:
    lines = []
    for s in range(10, 15):
        lines.append(f"2026-11-27 13:00:{s:02d},000 INFO [rank 4] step {s} loss {'nan' if s >= 12 else '2.5'}")
        lines.append(f"2026-11-27 13:00:{s:02d},100 INFO train: rank 4 step {s} loss {'nan' if s >= 13 else '2.4'}")
    rs = RankScan()
    scan_rank_text(rs, "", "\n".join(lines) + "\n", LineMatcher(load_catalog()), True, "r4.log")
    assert rs.first_nan is not None and rs.first_nan[0] == 13
    assert rs.last_step == 14


def test_step_metrics_read_name_value_pairs_with_units() -> None:
    m = step_metrics(["step 5 loss 2.1 step_time 5.5s compute_ms 700 tokens/s 1000 lr=1e-4"])
    assert m["step_time"] == 5500.0 and m["compute_ms"] == 700.0 and m["tokens/s"] == 1000.0 and "loss" not in m


def test_a_compiled_plans_grouped_replay_equals_its_line_by_line_replay(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Victims' blocks (cascade and library-warning lines only) replay per rule; the result must be
    what the general loop gives, on simulated jobs of every scenario and on the real logs here."""
    from pathlib import Path

    from trainmedic.logs import ranklog
    from trainmedic.logs.reading import read_text
    from trainmedic.sim.job import write_job
    from trainmedic.sim.plan import SimOptions

    for i, fault in enumerate(("silent_hang", "line_fault", "user_exception", "double_fault", "nan")):
        write_job(SimOptions(nodes=4, cards_per_node=4, fault=fault, seed=i, rank_log_kb=2), tmp_path / fault, workers=1)
    files = sorted(p for p in tmp_path.rglob("*.log") if p.parent.name.isdigit())
    real = Path(__file__).resolve().parents[1] / "data" / "diagnose" / "real"
    files += sorted(p for p in real.rglob("*.log") if p.parent.name.isdigit())
    matcher = LineMatcher(load_catalog())

    def scan_all() -> list[RankScan]:
        ranklog._BLOCKS.clear()
        out = []
        for p in files:
            t = read_text(str(p), p.name)
            rs = RankScan()
            scan_rank_text(rs, t.head, t.tail, matcher, t.whole, p.name)
            out.append(rs)
        return out

    grouped = scan_all()
    assert any(plan.simple and plan.cascades for plan in ranklog._BLOCKS.values())
    compile_plan = ranklog._compile
    monkeypatch.setattr(ranklog, "_compile", lambda raw: compile_plan(raw)._replace(simple=False))
    assert scan_all() == grouped
    assert sum(len(rs.hits) for rs in grouped) >= 40  # the comparison saw real hits
