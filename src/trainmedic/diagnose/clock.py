"""Clock skew between nodes, from shared markers: every rank of a synchronous job logs step N within
about one step time, so a node whose step-N lines sit 2.7 s after everyone else's runs 2.7 s fast.

Used by the judge to put every node's lines on one time line before asking "who failed first".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    n = len(s)
    return s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2


def node_offsets(samples: Iterable[tuple[str, int, float]]) -> dict[str, float]:
    """Seconds to subtract from each node's timestamps, from (node, step, time) samples.

    The reference for step N is the median time over all ranks that logged step N; a node's offset
    is the median of its samples' distance to those references. Steps seen by one rank only carry
    no information and are skipped. Nodes without samples are absent (offset 0).
    """
    by_step: dict[int, list[float]] = defaultdict(list)
    rows = [(node, step, at) for node, step, at in samples]
    for _, step, at in rows:
        by_step[step].append(at)
    ref = {s: _median(v) for s, v in by_step.items() if len(v) >= 2}
    per_node: dict[str, list[float]] = defaultdict(list)
    for node, step, at in rows:
        r = ref.get(step)
        if r is not None:
            per_node[node].append(at - r)
    return {node: _median(d) for node, d in per_node.items() if d}
