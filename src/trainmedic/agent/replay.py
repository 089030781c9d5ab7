"""Replay recorded telemetry and kernel logs through the same detectors the live agent runs.

Reads the simulator's format (manifest.json + telemetry/<node>/*.npy + kmsg/<node>.kmsg; see
`sim.telemetry_io` and docs/agent.md) or, with no manifest, any directory of kernel logs (one file
per node: /dev/kmsg records, `dmesg` or `journalctl -k` text). Called by `trainmedic agent --replay`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from trainmedic.agent.kmsg import KernelWatcher, parse_kmsg_record, strip_text_prefix
from trainmedic.catalog import Catalog, load_catalog
from trainmedic.detect.metrics import METRIC_NAMES, NUM_METRICS
from trainmedic.detect.peer_outlier import PeerOutlierConfig, PeerOutlierDetector
from trainmedic.detect.thresholds import CardHealthDetector, ThresholdConfig
from trainmedic.model import Card, Finding

FORMAT = "trainmedic-telemetry"
SLICE_S = 60
"""Seconds of every node held in memory at once while replaying."""
KERNEL_SUFFIXES = (".kmsg", ".log", ".txt", ".dmesg")


class ReplayError(ValueError):
    """The directory is not a recording this version can read; the message says why and where."""


@dataclass
class ReplayResult:
    """Everything a replay found, in time order, plus what it read."""

    findings: list[Finding] = field(default_factory=list)
    nodes: int = 0
    cards_per_node: int = 0
    seconds: int = 0
    kernel_lines: int = 0
    missing_files: int = 0
    truth: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "nodes": self.nodes,
            "cards_per_node": self.cards_per_node,
            "seconds": self.seconds,
            "kernel_lines": self.kernel_lines,
            "missing_files": self.missing_files,
            "findings": [f.to_dict() for f in self.findings],
            "truth": self.truth,
        }


def _load_manifest(path: Path) -> dict[str, Any]:
    try:
        man = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ReplayError(f"{path}: cannot read the manifest ({exc})") from None
    if man.get("format") != FORMAT or man.get("version") != 1:
        raise ReplayError(f"{path}: format {man.get('format')!r} version {man.get('version')!r}; expected {FORMAT!r} version 1")
    return man


def replay(
    directory: Path,
    peer: bool = True,
    peer_config: PeerOutlierConfig | None = None,
    thresholds: ThresholdConfig | None = None,
    catalog: Catalog | None = None,
    on_finding: Callable[[Finding], None] | None = None,
) -> ReplayResult:
    """Run the detectors over a recording; findings sorted by time. Raises ReplayError on a bad directory."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ReplayError(f"{directory}: not a directory")
    catalog = catalog or load_catalog()
    result = ReplayResult()
    manifest_path = directory / "manifest.json"
    boot_at = None
    cards: dict[str, list[Card]] = {}
    if manifest_path.exists():
        man = _load_manifest(manifest_path)
        boot_at = float(man.get("boot_at", man["start_at"]))
        cards = {name: [Card(**c) for c in row] for name, row in zip(man["nodes"], man["cards"], strict=True)}
        _replay_telemetry(directory, man, cards, peer, peer_config, thresholds, result)
        kernel_files = sorted((directory / "kmsg").glob("*")) if (directory / "kmsg").is_dir() else []
        truth = directory / "truth.json"
        if truth.exists():
            result.truth = json.loads(truth.read_text())
    else:
        kernel_files = sorted(p for p in directory.rglob("*") if p.is_file() and p.suffix in KERNEL_SUFFIXES)
        if not kernel_files:
            raise ReplayError(f"{directory}: no manifest.json and no kernel logs ({', '.join(KERNEL_SUFFIXES)}) to replay")
        result.nodes = len(kernel_files)
    for path in kernel_files:
        node = path.stem
        watcher = KernelWatcher(node, cards.get(node, ()), catalog=catalog, boot_at=boot_at)
        with path.open(errors="replace") as fh:
            for line in fh:
                rec = parse_kmsg_record(line)
                if rec is not None:
                    result.findings += watcher.records([rec])
                elif line.strip() and not line.startswith(" "):
                    result.findings += watcher.match(strip_text_prefix(line), None)
        result.kernel_lines += watcher.lines
    result.findings.sort(key=lambda f: (f.at, f.node or "", f.card_index or 0))
    if on_finding is not None:
        for f in result.findings:
            on_finding(f)
    return result


def _replay_telemetry(directory: Path, man: dict[str, Any], cards: dict[str, list[Card]], peer: bool,
                      peer_config: PeerOutlierConfig | None, thresholds: ThresholdConfig | None, result: ReplayResult) -> None:
    nodes: list[str] = list(man["nodes"])
    k = int(man["cards_per_node"])
    seconds, chunk_s = int(man["seconds"]), int(man["chunk_s"])
    names = list(man["metrics"])
    # Columns by name, so a recording with fewer or reordered metrics still replays.
    take = [(i, METRIC_NAMES.index(n)) for i, n in enumerate(names) if n in METRIC_NAMES]
    card_rows = [cards[n] for n in nodes]
    health = CardHealthDetector(nodes, k, thresholds, cards=card_rows)
    outlier = PeerOutlierDetector(nodes, k, peer_config, cards=card_rows) if peer and len(nodes) >= 2 else None
    result.nodes, result.cards_per_node, result.seconds = len(nodes), k, seconds
    for start in range(0, seconds, chunk_s):
        length = min(chunk_s, seconds - start)
        files: list[np.ndarray | None] = []
        for node in nodes:
            path = directory / "telemetry" / node / f"{start:08d}.npy"
            try:
                files.append(np.load(path, mmap_mode="r"))  # memory-mapped: read slice by slice
            except (OSError, ValueError):
                result.missing_files += 1
                files.append(None)
        for a in range(0, length, SLICE_S):
            b = min(length, a + SLICE_S)
            block = np.full((b - a, len(nodes), k, NUM_METRICS), np.nan, dtype=np.float32)
            for i, mm in enumerate(files):
                if mm is None:
                    continue
                part = np.asarray(mm[a:b])
                for src, dst in take:
                    block[: len(part), i, :, dst] = part[:, :, src]
            for s in range(b - a):
                at = float(man["start_at"]) + start + a + s
                result.findings += health.update(at, block[s])
                if outlier is not None:
                    result.findings += outlier.update(at, block[s])
        del files
