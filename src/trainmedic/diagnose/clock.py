"""Clock skew between nodes, from shared markers: every rank of a synchronous job logs step N within
about one step time, so a node whose step-N lines sit 2.7 s after everyone else's runs 2.7 s fast.

Used by the judge to put every node's lines on one time line before asking "who failed first".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from trainmedic.logs.fast import FAST


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
    per_node: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for node, step, at in samples:
        per_node[node].append((step, at))
    return step_offsets({node: [steps] for node, steps in per_node.items()})


def step_offsets(logs: Mapping[str, Sequence[Sequence[tuple[int, float | None]]]]) -> dict[str, float]:
    """`node_offsets` from each node's logs' (step, time) lists as they come (untimed steps skipped)."""
    got = FAST.step_offsets(logs) if FAST is not None and isinstance(logs, dict) else NotImplemented
    return _py_step_offsets(logs) if got is NotImplemented else got  # type: ignore[no-any-return]


def _py_step_offsets(logs: Mapping[str, Sequence[Sequence[tuple[int, float | None]]]]) -> dict[str, float]:
    by_step: dict[int, list[float]] = defaultdict(list)
    for steps in logs.values():
        for log in steps:
            for step, at in log:
                if at is not None:
                    by_step[step].append(at)
    ref = {s: _median(v) for s, v in by_step.items() if len(v) >= 2}
    out: dict[str, float] = {}
    for node, steps in logs.items():
        d = [at - ref[step] for log in steps for step, at in log if at is not None and step in ref]
        if d:
            out[node] = _median(d)
    return out
