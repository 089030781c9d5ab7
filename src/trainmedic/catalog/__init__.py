"""The fault catalog: rules as data (rules/*.yaml), a fast matcher, and the verdict over matches.

Everyone who classifies text goes through `load_catalog()`:

    cat = load_catalog()
    matches = cat.match_text(log_text)
    verdict = cat.verdict(matches)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from pathlib import Path

from trainmedic.catalog.files import RULES_DIR, CatalogError, CatalogLoadError
from trainmedic.catalog.matcher import Matcher
from trainmedic.catalog.rule import Escalation, Example, Match, Rule, RulePattern
from trainmedic.model import Action, Component, Evidence, Role, Verdict

__all__ = [
    "ROOT_CAUSE_ELSEWHERE",
    "RULES_DIR",
    "Catalog",
    "CatalogError",
    "CatalogLoadError",
    "Escalation",
    "Example",
    "Match",
    "Rule",
    "RulePattern",
    "load_catalog",
]


class Catalog:
    """All rules, indexed, with a shared matcher."""

    def __init__(self, rules: Sequence[Rule]):
        self.rules = tuple(rules)
        self.by_id = {r.id: r for r in self.rules}
        self.matcher = Matcher(self.rules)

    def __len__(self) -> int:
        return len(self.rules)

    def get(self, rule_id: str) -> Rule | None:
        return self.by_id.get(rule_id)

    def roots(self) -> list[Rule]:
        """Rules that can start an incident."""
        return [r for r in self.rules if r.role is Role.ROOT]

    def match_line(self, text: str, line: int = 1) -> list[Match]:
        return self.matcher.match_text(text, first_line=line)

    def match_text(self, text: str, first_line: int = 1) -> list[Match]:
        return self.matcher.match_text(text, first_line=first_line)

    def match_bytes(self, data: bytes, first_line: int = 1) -> list[Match]:
        """Like `match_text` on raw bytes (a log file read as is); bad UTF-8 never stops matching."""
        return self.matcher.match_bytes(data, first_line=first_line)

    def verdict(self, matches: Iterable[Match]) -> Verdict | None:
        """One verdict: the most specific root match; else a cascade-only verdict pointing elsewhere.

        Most specific = highest severity, then rule priority, then earliest line. Confidence grows
        with lines that agree on the fault and shrinks with competing root faults. Returns None when
        nothing but info lines matched.
        """
        ms = list(matches)
        roots = [m for m in ms if m.rule.role is Role.ROOT]
        if roots:
            best = min(roots, key=lambda m: (-m.rule.severity.rank, -m.rule.priority, m.line))
            agreeing = sum(1 for m in roots if m.rule.fault == best.rule.fault)
            others = len({m.rule.fault for m in roots}) - 1
            confidence = min(0.99, 0.75 + 0.05 * min(agreeing - 1, 4) - 0.05 * min(others, 3))
            evidence = tuple(
                Evidence(text=m.text, line=m.line, rule=m.rule.id)
                for m in sorted(roots, key=lambda m: m.line)
                if m.rule.fault == best.rule.fault
            )[:10]
            return Verdict(
                fault=best.rule.fault,
                title=best.rule.title,
                component=best.rule.component,
                action=best.rule.action,
                confidence=confidence,
                role=Role.ROOT,
                evidence=evidence,
                explanation=best.rule.explanation,
            )
        cascades = [m for m in ms if m.rule.role is Role.CASCADE]
        if not cascades:
            return None
        return Verdict(
            fault=ROOT_CAUSE_ELSEWHERE,
            title="Only cascade symptoms here: the root cause is on another rank, card or node",
            component=Component.UNKNOWN,
            action=Action.NONE,
            confidence=0.3,
            role=Role.CASCADE,
            evidence=tuple(Evidence(text=m.text, line=m.line, rule=m.rule.id) for m in cascades[:10]),
            explanation=_where_to_look(cascades),
        )


ROOT_CAUSE_ELSEWHERE = "root_cause_elsewhere"
"""The fault id of a verdict built only from cascade lines."""


def _where_to_look(cascades: list[Match]) -> str:
    """Plain words: these lines are consequences; here is where the cause should be."""
    titles = list(dict.fromkeys(m.rule.title for m in cascades))
    hints: list[str] = []
    causes = sorted({m.fields["cause"] for m in cascades if m.fields.get("cause")})
    buses = sorted({m.fields["bus_id"] for m in cascades if m.fields.get("bus_id")})
    peers = sorted({m.fields["peer"] for m in cascades if m.fields.get("peer")})
    ranks = sorted({m.fields["rank"] for m in cascades if m.fields.get("rank")}, key=lambda r: (len(r), r))
    if causes:
        hints.append(f"the driver names an earlier Xid {', '.join(causes)}: find it in this node's kernel log"
                     + (f" (GPUs {', '.join(buses)} reported the cleanup)" if buses else ""))
    elif buses:
        hints.append(f"the kernel log of this node around these lines for an earlier error on {', '.join(buses)}")
    if peers:
        hints.append(f"the peer(s) {', '.join(peers[:5])}: did that node or process die first?")
    if ranks:
        shown = ", ".join(ranks[:8]) + (" ..." if len(ranks) > 8 else "")
        hints.append(f"the ranks that did NOT report this (these did: {shown}); the one that stopped first is "
                     "the culprit")
    hints.append("the first error in time across all ranks' logs and their nodes' kernel logs (Xid, ECC, "
                 "PCIe, link errors), or run `trainmedic diagnose` over the whole job")
    first = cascades[0].rule.explanation.split("\n\n")[0].strip()
    return (f"{'; '.join(titles[:3])}: {'these are' if len(titles) > 1 else 'this is'} a consequence of a "
            f"failure elsewhere, never the cause. {first}\nLook at: " + "; ".join(hints) + ".")


@lru_cache(maxsize=4)
def _cached(paths: tuple[Path, ...] | None) -> Catalog:
    from trainmedic.catalog.loader import load_rules  # not needed to use a catalog from diagnose's cache

    rules, errors = load_rules(list(paths) if paths is not None else None)
    if errors:
        raise CatalogLoadError(errors)
    return Catalog(rules)


def load_catalog(paths: Sequence[Path] | None = None) -> Catalog:
    """The catalog from the packaged rules (or `paths`); cached. Raises CatalogLoadError on bad files."""
    return _cached(tuple(paths) if paths is not None else None)
