"""Escalation policy replayed on real fault traces: how often "this card/node will fail again within
30 days" was right (precision, recall) and how many healthy devices it would have pulled, against the
baselines (pull every faulty device; pull after a second fault). Traces: InfiniteHBD (400-server LLM
cluster, 230 days) and ORNL Titan (18,688 GPUs, 2013-2019).

Run: python benchmarks/escalation_eval.py [--shared ../shared/data]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from trainmedic.store.escalation import load_policy, policy_from
from trainmedic.store.replay import evaluate
from trainmedic.store.traces import read_infinitehbd, read_titan

VARIANTS: list[tuple[str, dict[str, Any]]] = [
    ("default", {}),
    ("N=1 (one rung per fault)", {"faults_per_step": 1}),
    ("N=3", {"faults_per_step": 3}),
    ("pull at reseat", {"pull_at": "reseat"}),
    ("window 365 d", {"window_days": 365}),
    ("lemon min_score 2", {"lemon": {"min_score": 2.0}}),
    ("lemon min_score 8", {"lemon": {"min_score": 8.0}}),
]


def row(name: str, r: dict[str, Any]) -> str:
    def f(x: float | None) -> str:
        return "-" if x is None else f"{x:.3f}"

    return (
        f"  {name:44} decisions {r['decisions']:6}  failed again {r['failed_again']:5}  pulled {r['pulled']:5}  "
        f"precision {f(r['precision']):>5}  recall {f(r['recall']):>5}  healthy pulled {r['healthy_pulled']:5} "
        f"({r['healthy_devices_pulled']} devices)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    default_shared = Path(os.environ.get("TRAINMEDIC_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared")) / "data"
    ap.add_argument("--shared", type=Path, default=default_shared)
    ap.add_argument("--horizon-days", type=float, default=30.0)
    args = ap.parse_args()
    traces = [read_infinitehbd(args.shared / "infinitehbd-trace"), read_titan(args.shared / "titan-gpu-lifetimes")]
    headline = []
    for trace in traces:
        base = evaluate(trace, load_policy(None, env={}), args.horizon_days)
        print(f"\n{trace.name}: {base['episodes']} fault episodes over {base['days']} days, fleet {trace.fleet_nodes} nodes, "
              f"devices = {trace.devices}s; 'fails again within {args.horizon_days:g} days'")
        for name, r in base["predictors"].items():
            print(row(name, r))
        print("  sensitivity (policy predictors only):")
        for vname, over in VARIANTS[1:]:
            res = evaluate(trace, policy_from(over), args.horizon_days)
            for name, r in res["predictors"].items():
                if name.startswith("policy"):
                    print(row(f"[{vname}] {name[8:]}", r))
        best = max(
            ((n, r) for n, r in base["predictors"].items() if n.startswith("policy") and r["precision"] is not None),
            key=lambda nr: (nr[1]["precision"] or 0) * (nr[1]["recall"] or 0),
            default=None,
        )
        every = next(r for n, r in base["predictors"].items() if n.startswith("baseline: pull every") or n.startswith("baseline: refuse"))
        if best:
            n, r = best
            headline.append(
                f"{trace.name}: {n[8:]} precision {r['precision']:.2f} recall {r['recall']:.2f}, {r['healthy_pulled']} healthy pulls "
                f"vs {every['healthy_pulled']} when pulling every faulty device (base rate {every['precision']:.2f})"
            )
    print("\nSUMMARY escalation replay (default policy): " + "; ".join(headline))


if __name__ == "__main__":
    main()
