"""Human renderings of a `Diagnosis`: the terminal summary and the Markdown incident report.

Used by `trainmedic diagnose` (plain text, `--report FILE.md`).
"""

from __future__ import annotations

from trainmedic.diagnose.result import Diagnosis, iso
from trainmedic.model import RankLocation, Verdict


def where(loc: RankLocation | None) -> str:
    """"rank 12 on node0001 (local 4), card 4 bus 00000000:9A:00.0 serial 1234 uuid GPU-..."."""
    if loc is None:
        return "no single card (every rank)"
    parts = [f"rank {loc.rank} on {loc.node} (local rank {loc.local_rank})"]
    c = loc.card
    if c is not None:
        ids = [f"bus {c.bus_id}" if c.bus_id else "", f"serial {c.serial}" if c.serial else "", f"uuid {c.uuid}" if c.uuid else ""]
        parts.append(f"card {c.index}" + (" " + " ".join(i for i in ids if i) if any(ids) else ""))
    return ", ".join(parts)


def _victims_line(d: Diagnosis) -> str:
    v = d.victims
    kinds = ", ".join(f"{f['fault']} x{f['ranks']}" for f in v.get("faults", []))
    out = f"{v.get('ranks', 0)} ranks logged cascade errors" + (f" ({kinds})" if kinds else "")
    if v.get("silent_ranks"):
        out += f"; {v['silent_ranks']} ranks silent"
    return out + f"; {v.get('total_ranks', 0)} ranks in all"


def _evidence_lines(v: Verdict, limit: int = 6) -> list[str]:
    out = []
    for e in v.evidence[:limit]:
        loc = f"{e.file}:{e.line}" if e.file and e.line else (e.file or "-")
        out.append(f"  {loc}  {e.text[:200]}")
    return out


def summary(d: Diagnosis) -> str:
    """The plain terminal summary: culprit, fault, action, evidence with file:line, victims, confidence."""
    v = d.verdict
    lines = [
        f"culprit     {where(v.culprit)}",
        f"fault       {v.fault}: {v.title} [{v.component}]",
        f"action      {v.action}",
        f"confidence  {v.confidence:.2f} ({d.method})",
        f"first error {iso(d.first_error_at) or 'unknown'}",
        "evidence",
        *_evidence_lines(v),
        f"victims     {_victims_line(d)}",
    ]
    if v.explanation:
        lines.append(f"why         {v.explanation.strip()}")
    if d.second is not None:
        s = d.second
        lines.append(f"second      {s.fault} at {where(s.culprit)} -> {s.action}")
        lines += _evidence_lines(s, 2)
    if d.unreadable:
        lines.append(f"unreadable  {len(d.unreadable)} files:")
        lines += [f"  {u}" for u in d.unreadable[:10]]
    lines += [f"note        {n}" for n in d.notes]
    st = d.stats
    lines.append(
        f"read        {st.get('files', 0)} files ({st.get('ranks', 0)} ranks, {st.get('nodes', 0)} nodes), "
        f"{st.get('bytes_read', 0) / 1e6:.1f} MB in {st.get('seconds', 0):.2f} s"
    )
    return "\n".join(lines)


def markdown(d: Diagnosis, source: str) -> str:
    """An incident report: verdict, explanation, evidence, timeline, victims, second fault, input problems."""
    v = d.verdict
    out = [
        f"# Incident report: {v.title}",
        "",
        f"Logs: `{source}`  ",
        f"Diagnosed by `trainmedic diagnose` in {d.stats.get('seconds', 0):.2f} s over {d.stats.get('files', 0)} files.",
        "",
        "| | |",
        "|---|---|",
        f"| Culprit | {where(v.culprit)} |",
        f"| Fault | `{v.fault}` ({v.component}) |",
        f"| Action | `{v.action}` |",
        f"| Confidence | {v.confidence:.2f} ({d.method}) |",
        f"| First error | {iso(d.first_error_at) or 'unknown'} |",
        f"| Victims | {_victims_line(d)} |",
        "",
    ]
    if v.explanation:
        out += ["## Why", "", v.explanation.strip(), ""]
    out += ["## Evidence", ""]
    for e in v.evidence:
        loc = f"{e.file}:{e.line}" if e.file and e.line else (e.file or "-")
        out.append(f"- `{loc}`" + (f" (rule `{e.rule}`)" if e.rule else ""))
        out.append(f"  ```\n  {e.text[:400]}\n  ```")
    out += ["", "## Timeline (shared clock, node skew removed)", "", "| Time (UTC) | Event | Where | Source |", "|---|---|---|---|"]
    for ev in d.timeline:
        src = f"`{ev.file}:{ev.line}`" if ev.file and ev.line else (f"`{ev.file}`" if ev.file else "")
        out.append(f"| {iso(ev.at) or '?'} | {ev.what} | {ev.where} | {src} |")
    if d.second is not None:
        s = d.second
        out += ["", "## Second fault", "", f"`{s.fault}` ({s.title}) at {where(s.culprit)}; action `{s.action}`.", ""]
        out += [f"- `{e.file}:{e.line}` {e.text[:300]}" for e in s.evidence[:5]]
    if d.unreadable or d.notes:
        out += ["", "## What could not be read", ""]
        out += [f"- {u}" for u in d.unreadable] + [f"- {n}" for n in d.notes]
    out += ["", "## Cost", "", f"{d.stats.get('bytes_read', 0) / 1e6:.1f} MB read from {d.stats.get('files', 0)} files ({d.stats.get('ranks', 0)} ranks, {d.stats.get('nodes', 0)} nodes).", ""]
    return "\n".join(out)
