"""What the judge needs from one rank's scan that does not depend on the shared clock: which cascade
faults make it a victim, its cascade lines with how long each says it had waited, its root lines,
and what its exception is (a victim's, a root line's, or its own).

The scanner makes a digest as each rank's scan arrives, while the other reader still reads, rather
than the evidence pass making 18,432 of them on one core once reading is over. The evidence pass
then only places them on the shared clock (`evidence._rank_evidence`), and makes a digest itself for
a rank that has none (a scan from elsewhere, or one whose hits changed since).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from trainmedic.catalog import Rule
from trainmedic.logs.linematch import LineMatcher
from trainmedic.logs.ranklog import FALLBACK_CASCADE, MAX_CASCADE_HITS, Hit
from trainmedic.model import Role

if TYPE_CHECKING:
    from trainmedic.diagnose.scan import RankResult

TIMEOUT_WORDS = re.compile(r"time[d ]?\s?out|timeout|watchdog|waited|heartbeat", re.IGNORECASE)
_TIMEOUT_PLAIN = ("timeout", "watchdog", "waited", "heartbeat")
_RAN_FOR = re.compile(r"ran for (\d+) milliseconds")
_ROOT, _CASCADE = Role.ROOT, Role.CASCADE  # read once per line of 18,432 ranks: a module global is cheaper


def says_timeout(text: str) -> bool:
    """Whether `text` matches TIMEOUT_WORDS. Thousands of victims print the same watchdog line, so the
    words the pattern spells plainly are looked for first and the pattern only decides the rest."""
    low = text.lower()
    for word in _TIMEOUT_PLAIN:
        if word in low:
            return True
    return TIMEOUT_WORDS.search(text) is not None


def waited(text: str) -> float | None:
    """Seconds a cascade line says its collective had waited ("ran for N milliseconds"), else None:
    a victim blocked that long before it logged the line."""
    if "ran for" in text and (m := _RAN_FOR.search(text)) is not None:
        return int(m.group(1)) / 1000.0
    return None


def blocked_at(at: float | None, wait: float | None) -> float | None:
    """When a rank that logged a cascade line at `at` blocked (`wait` from `waited`)."""
    return at - wait if at is not None and wait is not None else at


class ExceptionDigest(NamedTuple):
    """A rank's last exception (or error.json), classified by the catalog."""

    victim: bool
    """A victim's exception (a cascade rule or phrase matches it); else the rank's own, unexplained."""
    fault: str
    """For a victim: the cascade fault."""
    type: str
    message: str
    text: str
    wait: float | None


@dataclass(slots=True)
class RankDigest:
    rules: Mapping[str, Rule]
    """The catalog's rules it was made with: a digest answers only for them."""
    kinds: dict[str, int]
    """Cascade fault -> lines, in the order they were first met."""
    cascade: list[tuple[Hit, float | None]]
    """Cascade hits, in order, each with `waited` of its text (None for untimed hits)."""
    roots: list[tuple[Rule, Hit]]
    fallback_wait: float | None
    """`waited` of the fallback cascade line, where that line is what makes the rank a victim."""
    exception: ExceptionDigest | None
    """None also where the catalog has a root rule for the exception (the root hit tells it)."""


def digest(rr: RankResult, rules: Mapping[str, Rule], matcher: LineMatcher) -> RankDigest:
    """The clock-free part of one rank's evidence (`matcher` on the same catalog as `rules`)."""
    scan = rr.scan
    kinds: dict[str, int] = {}
    cascade: list[tuple[Hit, float | None]] = []
    roots: list[tuple[Rule, Hit]] = []
    for h in scan.hits:
        rule = rules.get(h.rule)
        if rule is None:
            continue
        if rule.role is _CASCADE:
            fault = rule.fault
            kinds[fault] = kinds.get(fault, 0) + 1
            cascade.append((h, None if h.at is None else waited(h.text)))
        elif rule.role is _ROOT:
            roots.append((rule, h))
    fallback_wait = None
    if not cascade and scan.fallback_cascade is not None:
        text = scan.fallback_cascade[0]
        kinds["collective_timeout" if says_timeout(text) else "peer_failure"] = 1
        fallback_wait = waited(text)
    for fid, n in scan.cascade_counts.items():
        if n > MAX_CASCADE_HITS and (rule := rules.get(fid)) is not None:
            kinds[rule.fault] = kinds.get(rule.fault, 0) + n - MAX_CASCADE_HITS
    return RankDigest(rules, kinds, cascade, roots, fallback_wait, _exception(rr, matcher))


def _exception(rr: RankResult, matcher: LineMatcher) -> ExceptionDigest | None:
    exc = rr.scan.exception
    err = rr.error_file
    if exc is None and err is None:
        return None
    etype = exc.type if exc is not None else (err.type if err else "")
    msg = exc.message if exc is not None else (err.message if err else "")
    text = exc.text if exc is not None else f"{etype}: {msg}"
    found = matcher.match(text)
    if any(r.role is _CASCADE for r, _ in found) or (not found and FALLBACK_CASCADE.search(text)):
        fault = next((r.fault for r, _ in found if r.role is _CASCADE), "peer_failure")
        return ExceptionDigest(True, fault, etype, msg, text, waited(text))
    if any(r.role is _ROOT for r, _ in found):
        return None
    return ExceptionDigest(False, "", etype, msg, text, None)
