"""A labelled suite of simulated incidents: every scenario represented, the rest drawn from the Llama 3
mix, job sizes mixed; each job in its own directory, DIR/index.json (written last) lists them with
their truth. Used by `trainmedic sim suite` and by the diagnosis accuracy benchmark.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trainmedic.catalog import Catalog, load_catalog
from trainmedic.sim.faults import Scenario, draw_mix_entry, resolve
from trainmedic.sim.job import SimWriteError, write_atomic, write_job
from trainmedic.sim.plan import SimInputError, SimOptions

DEFAULT_CARDS = (64, 512, 4096, 18432)
FLOOR_SHARE = 0.05


@dataclass(frozen=True, slots=True)
class Item:
    """One incident to generate."""

    id: str
    scenario: Scenario
    cards: int
    seed: int
    layout: str


def plan_suite(count: int, cards: Sequence[int], seed: int, cards_per_node: int = 8,
               layouts: Sequence[str] = ("torchrun", "torchrun", "torchrun", "slurm")) -> list[Item]:
    """Which incidents to make: each scenario at least max(1, 5% of count), the rest from the Llama 3 mix."""
    if count < 1:
        raise SimInputError(f"--count {count}: need at least 1 incident")
    for c in cards:
        if c < cards_per_node or c % cards_per_node:
            raise SimInputError(f"--cards {c}: must be a positive multiple of {cards_per_node} cards per node")
    rng = random.Random(f"suite:{seed}")
    floor = max(1, round(FLOOR_SHARE * count)) if count >= len(Scenario) else 0
    scenarios: list[Scenario] = []
    if floor:
        for s in Scenario:
            scenarios += [s] * floor
    else:
        scenarios = rng.sample(list(Scenario), count)
    while len(scenarios) < count:
        scenarios.append(draw_mix_entry(rng).scenario)
    scenarios = scenarios[:count]
    rng.shuffle(scenarios)
    width = len(str(count - 1))
    return [
        Item(f"{i:0{width}d}-{s}-{cards[i % len(cards)]}", s, cards[i % len(cards)], rng.randrange(1 << 31),
             layouts[rng.randrange(len(layouts))])
        for i, s in enumerate(scenarios)
    ]


def write_suite(
    out: Path, count: int, *, cards: Sequence[int] = DEFAULT_CARDS, seed: int = 0, rank_log_kb: float = 4.0,
    cards_per_node: int = 8, catalog: Catalog | None = None, workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Generate the suite under `out` (a new or empty directory); index.json is written last."""
    catalog = catalog or load_catalog()
    items = plan_suite(count, cards, seed, cards_per_node)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SimWriteError(f"{out} is not a new or empty directory; pass a new directory to --out")
    out.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, Any]] = []
    total_bytes = total_files = 0
    for n, item in enumerate(items):
        opts = SimOptions(nodes=item.cards // cards_per_node, cards_per_node=cards_per_node, fault=str(item.scenario),
                          seed=item.seed, layout=item.layout, rank_log_kb=rank_log_kb)
        choice = resolve(str(item.scenario), catalog, random.Random(f"suite-choice:{seed}:{item.id}"))
        res = write_job(opts, out / item.id, catalog=catalog, choice=choice, workers=workers)
        total_bytes += res.bytes
        total_files += res.files
        truth = {k: v for k, v in res.truth.items() if k != "clock_skew_s"}
        entries.append({"id": item.id, "path": item.id, "cards": item.cards, "truth": truth})
        if progress is not None:
            progress(n + 1, len(items))
    by_scenario: dict[str, int] = {}
    for e in entries:
        by_scenario[e["truth"]["scenario"]] = by_scenario.get(e["truth"]["scenario"], 0) + 1
    index = {"count": len(entries), "seed": seed, "cards": list(cards), "rank_log_kb": rank_log_kb,
             "by_scenario": by_scenario, "bytes": total_bytes, "files": total_files, "incidents": entries}
    write_atomic(out / "index.json", json.dumps(index, indent=1) + "\n")
    return index
