"""Peer-outlier search over per-rank step metrics (Minder-style): in a synchronous job every rank's
wall-clock step time is the same, but the straggler's own numbers (compute time, wait time,
throughput) differ from thousands of peers by many robust deviations.

Used by the judge when no line, silence or NaN names a culprit.
"""

from __future__ import annotations

MIN_Z = 6.0
MIN_COVERAGE = 0.8


def _median(xs: list[float]) -> float:
    s = sorted(xs)
    return s[len(s) // 2]


def metric_outlier(metrics: dict[int, dict[str, float]]) -> tuple[int, str, float, float, float] | None:
    """(rank, metric, value, median, robust z) of the single most extreme rank, or None.

    A metric counts only when most ranks report it, and an outlier only when it is far from the
    others (z >= MIN_Z) and alone (the next most extreme rank on that metric is at most half as far).
    """
    n = len(metrics)
    if n < 4:
        return None
    names: dict[str, int] = {}
    for m in metrics.values():
        for k in m:
            names[k] = names.get(k, 0) + 1
    best: tuple[int, str, float, float, float] | None = None
    for name, count in names.items():
        if count < MIN_COVERAGE * n:
            continue
        vals = {r: m[name] for r, m in metrics.items() if name in m}
        med = _median(list(vals.values()))
        mad = _median([abs(v - med) for v in vals.values()])
        scale = max(1.4826 * mad, 1e-3 * abs(med), 1e-9)
        zs = sorted(((abs(v - med) / scale, r) for r, v in vals.items()), reverse=True)
        z, rank = zs[0]
        runner_up = zs[1][0] if len(zs) > 1 else 0.0
        if z < MIN_Z or runner_up > z / 2:
            continue
        if best is None or z > best[4]:
            best = (rank, name, vals[rank], med, z)
    return best
