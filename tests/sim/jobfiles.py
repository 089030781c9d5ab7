"""Reading a simulated job's files in tests: digests, a rank's directory, a node's kernel log."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under root."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def rank_dir(out: Path, truth: dict[str, Any], rank: int) -> Path:
    k = truth["cards_per_node"]
    return out / "logs" / f"node{rank // k:04d}" / "attempt_0" / str(rank % k)


def kernel_file(out: Path, node: str) -> Path:
    found = list((out / "kernel").glob(f"{node}.*"))
    assert len(found) == 1, found
    return found[0]
