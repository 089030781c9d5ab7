"""Classify an incident: the catalog over the culprit's recent output (and the node's kernel log),
falling back to the KnownFault of the symptom when no catalog line explains it."""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

from trainmedic.catalog import load_catalog
from trainmedic.model import Action, Component, Evidence, KnownFault, Role, Symptom, Verdict

_TRACEBACK_LAST = re.compile(r"^\s*(?:\[rank\d+\]:\s*)?([A-Za-z_][\w.]*(?:Error|Exception|Interrupt)\b.*)$")


def last_exception(lines: Sequence[str]) -> str | None:
    """The `SomeError: message` line that ends the last Python traceback in `lines`, if any."""
    seen_tb = False
    last: str | None = None
    for line in lines:
        if "Traceback (most recent call last)" in line:
            seen_tb = True
            continue
        if seen_tb:
            m = _TRACEBACK_LAST.match(line)
            if m and not line.startswith((" ", "\t")):
                last = m.group(1).strip()
    return last


def read_kernel_log(max_lines: int = 200, path: str = "/dev/kmsg") -> list[str]:
    """Recent kernel log lines when readable without blocking (root, or dmesg access); else []."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return []
    lines: list[str] = []
    try:
        while True:
            try:
                rec = os.read(fd, 8192)
            except BlockingIOError:
                break
            except OSError:
                continue  # EPIPE: records overwritten while reading
            if not rec:
                break
            text = rec.decode(errors="replace")
            lines.append(text.split(";", 1)[-1].rstrip("\n"))
    finally:
        os.close(fd)
    return lines[-max_lines:]


_FALLBACK: dict[Symptom, tuple[KnownFault, Component, str]] = {
    Symptom.HANG: (KnownFault.HANG, Component.UNKNOWN, "A rank stopped making progress and logged nothing"),
    Symptom.CRASH: (KnownFault.CRASH, Component.UNKNOWN, "A rank exited with no line that explains why"),
    Symptom.EXCEPTION: (KnownFault.CRASH, Component.SOFTWARE, "A rank raised a Python exception"),
    Symptom.STRAGGLER: (KnownFault.STRAGGLER, Component.UNKNOWN, "A rank persistently slower than its peers"),
    Symptom.NAN: (KnownFault.NAN, Component.UNKNOWN, "Loss became NaN/Inf, first on one rank"),
}


def classify(
    symptom: Symptom,
    culprit_lines: Sequence[str],
    kernel_lines: Sequence[str] = (),
    detail: str = "",
    same_exception_everywhere: bool = False,
) -> Verdict:
    """One verdict for the incident (without culprit; the caller attaches it)."""
    catalog = load_catalog()
    text = "\n".join(culprit_lines)
    matches = catalog.match_text(text)
    if kernel_lines:
        matches += catalog.match_text("\n".join(kernel_lines), first_line=100_000)
    v = catalog.verdict(matches)
    if v is not None and v.role is Role.ROOT:
        return v
    exc = last_exception(culprit_lines)
    if symptom in (Symptom.CRASH, Symptom.EXCEPTION) and exc and same_exception_everywhere:
        return Verdict(
            fault=str(KnownFault.USER_EXCEPTION),
            title="The same Python exception on every rank",
            component=Component.USER,
            action=Action.CHECK_USER_CODE,
            confidence=0.8,
            evidence=(Evidence(text=exc),),
            explanation="Every rank failed the same way: the training code or its configuration, not hardware.",
        )
    fault, component, title = _FALLBACK.get(symptom, (KnownFault.CRASH, Component.UNKNOWN, symptom.value))
    evidence: list[Evidence] = []
    if exc:
        evidence.append(Evidence(text=exc))
    if detail:
        evidence.append(Evidence(text=detail))
    if v is not None:  # cascade lines only: keep them as context
        evidence.extend(v.evidence[:3])
    return Verdict(
        fault=str(fault),
        title=title,
        component=component,
        action=Action.RESTART_JOB,
        confidence=0.6,
        evidence=tuple(evidence),
        explanation=(
            "No catalog line names a cause in the culprit's output or the kernel log; "
            "the symptom alone sets the class. Restarting from the newest checkpoint."
        ),
    )
