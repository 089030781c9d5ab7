"""Accuracy of `trainmedic diagnose` on simulated incidents, one job at a time (generate, diagnose,
delete), scored against each job's truth.json; prints a table per scenario and one summary line.

    python benchmarks/diagnose_suite.py --count 200 --full-share 0.4 --rank-log-kb 2

Sizes: a share of the jobs at 18,432 cards (2,304 nodes x 8), the rest at smaller sizes drawn from
--small. Scenarios rotate so each gets the same number of jobs. The floor for comparison is the
launcher's own answer (torchrun's "first observed failure"), scored the same way, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from trainmedic.catalog import load_catalog
from trainmedic.diagnose import diagnose
from trainmedic.localize.cardmap import normalize_bus_id
from trainmedic.logs.elastic import parse_launcher

SCENARIOS = ["line_fault", "silent_hang", "node_lost", "straggler", "nan", "user_exception", "double_fault", "crash_no_line"]
LINE = {"line_fault", "double_fault", "user_exception"}


def same_card(got: dict | None, want: dict | None, scope: str = "card") -> bool:
    """Same physical card: node plus bus id (or uuid/serial when both sides have one); for a fault
    whose truth is a whole node (node lost), the same node."""
    if want is None or got is None:
        return got is None and want is None
    if got.get("node") != want.get("node"):
        return False
    if scope == "node":
        return True
    gc, wc = got.get("card") or {}, want.get("card") or {}
    for key in ("serial", "uuid"):
        if gc.get(key) and wc.get(key):
            return bool(gc[key] == wc[key])
    gb, wb = normalize_bus_id(gc.get("bus_id")), normalize_bus_id(wc.get("bus_id"))
    if gb and wb:
        return gb == wb
    return bool(got.get("local_rank") == want.get("local_rank"))


def launcher_answer(job: Path) -> int | None:
    """What torchrun itself names: the root-cause rank of the first node whose agent reported one."""
    best: tuple[float, int] | None = None
    # torchrun layout: logs/<node>/torchrun.log (a recursive glob over 23,000 directories took 3 s)
    launchers = sorted(job.glob("logs/*/torchrun.log")) or sorted(job.glob("logs/**/torchrun.log"))
    for f in launchers + sorted(job.glob("logs/*.out")):
        ll = parse_launcher(f.read_text(errors="replace"))
        for w in ll.failures:
            if w.root_cause and w.rank is not None and w.at is not None and (best is None or w.at < best[0]):
                best = (w.at, w.rank)
    return best[1] if best else None


def generate(job: Path, nodes: int, cards: int, scenario: str, seed: int, kb: float, catalog: object) -> bool:
    """`trainmedic sim logs` for one job: in this process when the simulator is importable (the
    catalog is loaded once), else through the CLI."""
    try:
        from trainmedic.sim.job import write_job
        from trainmedic.sim.plan import SimOptions
    except ImportError:
        gen = subprocess.run(
            [sys.executable, "-m", "trainmedic", "sim", "logs", "--nodes", str(nodes), "--cards-per-node", str(cards),
             "--fault", scenario, "--seed", str(seed), "--out", str(job), "--rank-log-kb", str(kb)],
            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1] / "src")),
        )
        if gen.returncode != 0:
            print(f"{job}: sim failed: {gen.stderr.strip()[-300:]}", file=sys.stderr)
        return gen.returncode == 0
    opts = SimOptions(nodes=nodes, cards_per_node=cards, fault=scenario, seed=seed, rank_log_kb=kb)
    write_job(opts, job, catalog=catalog)  # type: ignore[arg-type]
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=200)
    ap.add_argument("--full-share", type=float, default=0.4, help="share of jobs at 2,304 x 8 = 18,432 cards")
    ap.add_argument("--small", default="4x8,16x8,64x8,256x8,32x4", help="other sizes, NODESxCARDS")
    ap.add_argument("--rank-log-kb", type=float, default=2.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--workdir", default="/tmp/diagnose-suite")
    ap.add_argument("--keep-failures", action="store_true", help="keep the jobs diagnose got wrong")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    small = [tuple(int(x) for x in s.split("x")) for s in args.small.split(",")]
    n_full = round(args.count * args.full_share)
    sizes = [rng.choice(small) for _ in range(args.count)]
    # Full-size jobs spread evenly over the scenarios (job i runs scenario i % 8).
    for k in range(n_full):
        sizes[(k * len(SCENARIOS) + k % len(SCENARIOS)) % args.count] = (2304, 8)
    catalog = load_catalog()
    work = Path(args.workdir)
    work.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict[str, object]]] = defaultdict(list)
    t_start = time.time()
    for i in range(args.count):
        scenario = SCENARIOS[i % len(SCENARIOS)]
        nodes, cards = sizes[i]
        job = work / f"job{i:03d}"
        shutil.rmtree(job, ignore_errors=True)
        seed = args.seed * 100_000 + i
        t0 = time.time()
        if not generate(job, nodes, cards, scenario, seed, args.rank_log_kb, catalog):
            continue
        t_gen = time.time() - t0
        truth = json.loads((job / "truth.json").read_text())
        t1 = time.time()
        d = diagnose(job, catalog).to_dict()
        t_diag = time.time() - t1
        v = d["verdict"]
        want = truth["culprit"]
        row = {
            "i": i, "size": nodes * cards, "fault_ok": v["fault"] == truth["fault"],
            "card_ok": same_card(v["culprit"], want, truth.get("culprit_scope", "card")),
            "user_ok": (v["culprit"] is None and v["action"] == "check_user_code") if scenario == "user_exception" else None,
            "second_ok": (
                v["second"] is not None and same_card(v["second"]["culprit"], truth["second"]["culprit"])
            ) if truth.get("second") else None,
            "launcher_ok": (launcher_answer(job) == (want or {}).get("rank")) if want else None,
            "seconds": t_diag, "gen_s": t_gen,
        }
        rows[scenario].append(row)
        bad = not (row["fault_ok"] and row["card_ok"])
        mark = "MISS" if bad else "ok"
        print(
            f"{i:3d} {scenario:15s} {nodes * cards:6d} cards  {mark:4s} got {v['fault']} r{(v['culprit'] or {}).get('rank')} "
            f"want {truth['fault']} r{(want or {}).get('rank')}  ({v['method']}; diag {t_diag:.1f}s gen {t_gen:.1f}s)",
            flush=True,
        )
        if not (bad and args.keep_failures):
            shutil.rmtree(job, ignore_errors=True)
    print()
    print(f"{'scenario':15s} {'jobs':>4s} {'18k':>4s} {'card top-1':>10s} {'fault':>7s} {'user':>6s} {'2nd':>6s} {'torchrun':>8s} {'diag s':>7s}")
    tot = defaultdict(int)
    for sc in SCENARIOS:
        rs = rows.get(sc, [])
        if not rs:
            continue

        def pct(key: str, rs: list[dict[str, object]] = rs) -> str:
            vals = [r[key] for r in rs if r[key] is not None]
            return f"{100 * sum(1 for x in vals if x) / len(vals):5.1f}%" if vals else "    -"

        big = sum(1 for r in rs if r["size"] == 18432)
        med = sorted(float(r["seconds"]) for r in rs)[len(rs) // 2]  # type: ignore[arg-type]
        print(f"{sc:15s} {len(rs):4d} {big:4d} {pct('card_ok'):>10s} {pct('fault_ok'):>7s} {pct('user_ok'):>6s} {pct('second_ok'):>6s} {pct('launcher_ok'):>8s} {med:7.2f}")
        for r in rs:
            tot["n"] += 1
            tot["card"] += bool(r["card_ok"])
            tot["fault"] += bool(r["fault_ok"])
            key = "line" if sc in LINE and sc != "user_exception" else ("silent" if sc in ("silent_hang", "straggler") else "other")
            tot[key + "_n"] += 1
            tot[key] += bool(r["card_ok"])
    n = max(tot["n"], 1)
    print(
        f"\nsummary: {tot['n']} incidents in {time.time() - t_start:.0f} s: culprit card {100 * tot['card'] / n:.1f}% "
        f"(line faults {100 * tot['line'] / max(tot['line_n'], 1):.1f}%, silent hangs+stragglers "
        f"{100 * tot['silent'] / max(tot['silent_n'], 1):.1f}%), fault class {100 * tot['fault'] / n:.1f}%"
    )


if __name__ == "__main__":
    main()
