"""Catalog accuracy on real data: verdict component vs. the labels of real fault excerpts, false alarms
on benign logs, and alert precision/recall of the kernel-log rules on loghub BGL.

    python benchmarks/catalog_accuracy.py [--rules DIR ...] [--verbose]

Label mapping (excerpt `component` -> trainmedic Component): gpu and npu -> accelerator, hbm -> memory,
nvlink -> interconnect; pcie, network, nic, storage, driver, software, user, unknown map to themselves.
A cascade-only or empty verdict predicts `unknown`.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from pathlib import Path

from catalog_match import SHARED, rule_paths  # the same shared-data lookup and rule union

from trainmedic.catalog import load_catalog
from trainmedic.model import Role

LABEL_MAP = {"gpu": "accelerator", "npu": "accelerator", "hbm": "memory", "nvlink": "interconnect"}
SCORED = ("confirmed", "diagnosed")
BENIGN = [
    "loghub/Linux/Linux_2k.log",
    "loghub/Thunderbird/Thunderbird_2k.log",
    "gpud-testdata/pkg_kmsg_testdata_kmsg.1.log",
    "gpud-testdata/pkg_kmsg_testdata_kmsg.2.peermem.log",
    "gpud-testdata/components_accelerator_nvidia_fabric-manager_testdata_fabricmanager.log",
]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rules", type=Path, nargs="*", default=[], help="extra rule dirs (e.g. a colleague's)")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    paths = rule_paths(args.rules)
    cat = load_catalog(paths)
    print(f"rules: {len(cat)} from {len(paths)} files: {', '.join(str(p) for p in paths)}")

    per_level: dict[str, list[bool]] = defaultdict(list)
    misses = []
    for line in (SHARED / "real-fault-excerpts/open.jsonl").read_text().splitlines():
        rec = json.loads(line)
        want = LABEL_MAP.get(rec["component"], rec["component"])
        verdict = cat.verdict(cat.match_text(rec["text"]))
        got = str(verdict.component) if verdict is not None and verdict.role is Role.ROOT else "unknown"
        ok = got == want
        per_level[rec["label_quality"]].append(ok)
        if not ok:
            misses.append((rec["label_quality"], rec["id"], want, got, verdict.fault if verdict else None))
    print("\nverdict component vs. label, real-fault-excerpts/open.jsonl:")
    for level in ("confirmed", "diagnosed", "hypothesis", "symptom_only"):
        res = per_level.get(level, [])
        if res:
            print(f"  {level:13} {sum(res):3}/{len(res):3} = {100 * sum(res) / len(res):5.1f}%")
    scored = [ok for level in SCORED for ok in per_level.get(level, [])]
    acc = sum(scored) / len(scored) if scored else 0.0
    print(f"  confirmed+diagnosed: {sum(scored)}/{len(scored)} = {100 * acc:.1f}% (target >= 90%)")
    for level, rid, want, got, fault in misses:
        if level in SCORED or args.verbose:
            print(f"    miss [{level}] {rid}: label {want}, verdict {got} ({fault})")

    print("\nfalse alarms on benign logs (root-role matches / root verdict):")
    alarms = 0
    for rel in BENIGN:
        text = (SHARED / rel).read_text(encoding="utf-8", errors="replace")
        ms = cat.match_text(text)
        roots = [m for m in ms if m.rule.role is Role.ROOT]
        alarms += len(roots)
        print(f"  {rel:80} {text.count(chr(10)):5} lines, {len(ms):3} matches, {len(roots)} root")
        for m in roots[:3]:
            print(f"      {m.rule.id}: {m.text[:120]}")

    print("\nloghub BGL alert tags vs. root-role kernel rules (one prediction per line):")
    counts: Counter[str] = Counter()
    fired: Counter[str] = Counter()
    bgl = (SHARED / "loghub/BGL/BGL_2k.log").read_text(encoding="utf-8", errors="replace").splitlines()
    matches = defaultdict(list)
    for m in cat.match_text("\n".join(bgl)):
        if m.rule.role is Role.ROOT and "kernel" in m.rule.seen_in:
            matches[m.line].append(m)
    for i, line in enumerate(bgl, start=1):
        alert = not line.startswith("- ")
        pred = bool(matches.get(i))
        counts[("t" if alert == pred else "f") + ("p" if pred else "n")] += 1
        for m in matches.get(i, []):
            fired[f"{m.rule.id} ({'alert' if alert else 'not alert'})"] += 1
    tp, fp, fn = counts["tp"], counts["fp"], counts["fn"]
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    print(f"  {len(bgl)} lines, {tp + fn} alerts: tp {tp}, fp {fp}, fn {fn}; precision {precision:.2f}, "
          f"recall {recall:.2f}")
    for k, v in fired.most_common(8):
        print(f"    {v:4} {k}")
    print(f"\nsummary: component accuracy {100 * acc:.1f}% on {len(scored)} confirmed+diagnosed excerpts, "
          f"{alarms} root-role false alarm(s) on {len(BENIGN)} benign logs, BGL alert precision "
          f"{precision:.2f} recall {recall:.2f}, {len(cat)} rules")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
