"""Catalog matching speed: the prefilter matcher against every-regex-on-every-line, same input, same run.

Figures are CPU time of this one-threaded process (the machine is shared). The input is ~1M lines of real benign logs (loghub Linux and Thunderbird, gpud's benign kmsg and
fabric-manager captures) repeated, with every rule's example lines sprinkled in. The naive matcher
runs on a prefix (it is slow); both matchers must report the same matches there.

    python benchmarks/catalog_match.py [--lines 1000000] [--naive-lines 100000] [--rules DIR ...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import yaml

from trainmedic.catalog import Catalog, load_catalog
from trainmedic.catalog.loader import RULES_DIR
from trainmedic.catalog.matcher import ENGINES, Matcher


def _shared() -> Path:
    """`shared/data` beside the checkout (or TRAINMEDIC_SHARED_DIR), also from a worktree one level deeper."""
    env = os.environ.get("TRAINMEDIC_SHARED_DIR")
    here = Path(__file__).resolve().parents[1]
    for cand in ([Path(env)] if env else []) + [here.parent / "shared", here.parent.parent / "shared"]:
        if (cand / "data").is_dir():
            return cand / "data"
    raise SystemExit("shared data not found: set TRAINMEDIC_SHARED_DIR to the shared/ folder")


SHARED = _shared()
BENIGN = [
    "loghub/Linux/Linux_2k.log",
    "loghub/Thunderbird/Thunderbird_2k.log",
    "gpud-testdata/pkg_kmsg_testdata_kmsg.1.log",
    "gpud-testdata/components_accelerator_nvidia_fabric-manager_testdata_fabricmanager.log",
]


def rule_paths(extra_dirs: list[Path]) -> list[Path]:
    """The packaged rule files plus those of `extra_dirs` (a colleague's worktree). Where both have a
    file of the same name (the shared seed files), the one with more rules wins: the owner's grew."""
    chosen = {p.name: p for p in sorted(RULES_DIR.glob("*.yaml"))}
    for d in extra_dirs:
        for p in sorted(d.glob("*.yaml")):
            have = chosen.get(p.name)
            if have is None or _count_rules(p) > _count_rules(have):
                chosen[p.name] = p
    return [chosen[n] for n in sorted(chosen)]


def _count_rules(path: Path) -> int:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        return len(data.get("rules") or [])
    except (OSError, ValueError, yaml.YAMLError, AttributeError):
        return 0


def build_corpus(catalog: Catalog, n_lines: int, fault_every: int) -> str:
    benign: list[str] = []
    for rel in BENIGN:
        benign += (SHARED / rel).read_text(encoding="utf-8", errors="replace").splitlines()
    faults = [line for r in catalog.rules for ex in r.examples for line in [ex.text]]
    out: list[str] = []
    i = f = 0
    while len(out) < n_lines:
        out.append(benign[i % len(benign)])
        i += 1
        if i % fault_every == 0:
            out.extend(faults[f % len(faults)].split("\n"))
            f += 1
    return "\n".join(out) + "\n"


def timed(fn, *args):  # type: ignore[no-untyped-def]
    """Result and CPU seconds of this process (the machine is shared: wall time measures the neighbours)."""
    t = time.process_time()
    result = fn(*args)
    return result, time.process_time() - t


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--naive-lines", type=int, default=20_000, help="prefix both matchers run on")
    ap.add_argument("--fault-every", type=int, default=5_000, help="one fault example per this many lines")
    ap.add_argument("--rules", type=Path, nargs="*", default=[], help="extra rule dirs (e.g. a colleague's)")
    args = ap.parse_args()
    catalog = load_catalog(rule_paths(args.rules))
    text = build_corpus(catalog, args.lines, args.fault_every)
    n = text.count("\n")
    print(f"rules: {len(catalog)} ({len([r for r in catalog.rules if not r.literals])} without a literal), "
          f"input: {n:,} lines, {len(text) / 1e6:.1f} MB, engines: {', '.join(ENGINES)}")

    fast_m = Matcher(catalog.rules)
    times = []
    walls = []
    for _ in range(3):
        w = time.perf_counter()
        found, dt = timed(fast_m.match_text, text)
        walls.append(time.perf_counter() - w)
        times.append(dt)
    dt = sorted(times)[1]
    top = n / dt
    print(f"prefilter[{fast_m.engine}] match_text : {top:12,.0f} lines/s per CPU-second (median of 3: {dt:.2f} s "
          f"CPU, {sorted(walls)[1]:.2f} s wall), {len(found):,} matches")
    _, dtb = timed(fast_m.match_bytes, text.encode())
    print(f"prefilter[{fast_m.engine}] match_bytes: {n / dtb:12,.0f} lines/s  ({dtb:.2f} s, no decode of the input)")

    prefix = "\n".join(text.split("\n")[: args.naive_lines]) + "\n"
    pn = prefix.count("\n")
    fast, dtf = timed(fast_m.match_text, prefix)
    naive, dtn = timed(fast_m.match_naive, prefix)
    key = [(m.rule.id, m.line, m.fields) for m in naive]
    same = [(m.rule.id, m.line, m.fields) for m in fast] == key
    print(f"on the first {pn:,} lines: naive (every regex, every line) {pn / dtn:,.0f} lines/s ({dtn:.2f} s, "
          f"{len(naive)} matches); prefilter[{fast_m.engine}] {pn / dtf:,.0f} lines/s")
    for engine in ENGINES[1:]:
        other, dto = timed(Matcher(catalog.rules, engine=engine).match_text, prefix)
        same = same and [(m.rule.id, m.line, m.fields) for m in other] == key
        print(f"  prefilter[{engine}] (fallback without Hyperscan): {pn / dto:,.0f} lines/s")
    print(f"same matches from every matcher on that prefix: {'yes' if same else 'NO'}")
    ratio = top / (pn / dtn)
    print(f"summary: {top:,.0f} lines/s (CPU time) with {len(catalog)} rules ({fast_m.engine} prefilter, one core), "
          f"{ratio:,.0f}x the naive matcher; targets >= 1,000,000 lines/s and >= 20x: "
          f"{'met' if top >= 1_000_000 and ratio >= 20 and same else 'NOT met'}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
