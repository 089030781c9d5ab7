"""Catalog matching line by line with a cache keyed on the line minus its per-rank prefix and
timestamp: 18,432 victims print the same traceback, so the catalog scans each distinct line once.

Used by the rank-log and kernel-log scanners.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from trainmedic.catalog import Catalog, Rule
from trainmedic.model import Role

# Leading noise that differs between ranks but not between meanings: rank/CRI prefixes, timestamps,
# glog headers ("E1127 12:23:53.083000 4586 file.cpp:67]"), dmesg stamps, journal host fields.
_KEY = re.compile(
    r"^(?:\d{4}-\d\d-\d\dT[\d:.]+(?:Z|[+-][\d:]+) (?:stdout|stderr) [FP] )?"
    r"(?:\[(?:rank|default)\d+\]:\s?|\d{1,6}: )?"
    r"(?:\[?\d{4}-\d\d-\d\d[ T_][\d:.,]+(?:Z|[+-]\d\d:?\d\d)?\]?\s*(?:\S+\s+kernel:\s*)?"
    r"|\[?[IWEF]\d{4} [\d:.]+\s+\d+\s+\S+\]\s*"
    r"|\[\s*\w{3} \w{3} +\d+ [\d:]+ \d{4}\]\s*"
    r"|\[\s*\d+\.\d+\]\s*"
    r"|\w{3} +\d+ [\d:]+ \S+ kernel:\s*)?"
)
_DIGIT_RUN = re.compile(r"\d+")
_QUANTIFIER = re.compile(r"\{\d*,?\d*\}|\[[^\]]*\]|\\[dDwWsSbB]")
_CACHE_LIMIT = 100_000


_DIGITS = str.maketrans("0123456789", "##########")


@dataclass(slots=True)
class LineMatcher:
    """Wraps a catalog; `match(line)` gives (rule, fields) for every rule that matches the line.

    The cache key is the line without prefix and timestamp, every digit replaced by '#'. Two lines
    with one key differ only in digits, so a rule whose patterns only say "some digits here" meets
    both alike; rules that spell out numbers (Xid 79, CANN 507xxx) are always re-tried on hits.
    """

    catalog: Catalog
    flag: re.Pattern[str] | None = None
    """An extra pattern whose verdict per line is cached along (diagnose's fallback cascade phrases)."""
    cache: dict[str, tuple[tuple[Rule, ...], bool]] = field(default_factory=dict)
    exact: dict[str, tuple[list[tuple[Rule, dict[str, str]]], bool]] = field(default_factory=dict)
    """Lines seen before, digits and all (kernel noise, identical traceback lines): answers as they were."""
    lookups: int = 0
    misses: int = 0
    _numeric: tuple[tuple[Rule, tuple[str, ...]], ...] = ()
    _runs: dict[int, tuple[str, ...]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        numeric = []
        for rule in self.catalog.rules:
            runs = {r for p in rule.patterns for r in _DIGIT_RUN.findall(_QUANTIFIER.sub(" ", p.pattern))}
            if any(len(r) >= 2 or r not in "01" for r in runs):
                numeric.append((rule, tuple(lit.translate(_DIGITS) for lit in rule.literals)))
                self._runs[id(rule)] = tuple(runs)
        self._numeric = tuple(numeric)

    def names_numbers(self, rule: Rule) -> bool:
        """True for a rule whose patterns spell out numbers (so digit-twin lines may differ)."""
        return id(rule) in self._runs

    def key(self, line: str) -> str:
        """The line as the cache sees it: no prefix, no timestamp, digits blanked."""
        return line[_KEY.match(line).end() :].translate(_DIGITS)  # type: ignore[union-attr]  # matches empty

    def match(self, line: str) -> list[tuple[Rule, dict[str, str]]]:
        return self.match_flagged(line)[0]

    def match_flagged(self, line: str) -> tuple[list[tuple[Rule, dict[str, str]]], bool]:
        """The rules that match `line` and whether `flag` matches it (False without a flag)."""
        self.lookups += 1
        body = line[_KEY.match(line).end() :]  # type: ignore[union-attr]  # the pattern matches empty
        seen = self.exact.get(body)
        if seen is not None:
            return seen
        result = self._match(line, body.translate(_DIGITS))
        if len(self.exact) < _CACHE_LIMIT:
            self.exact[body] = result
        return result

    def _match(self, line: str, key: str) -> tuple[list[tuple[Rule, dict[str, str]]], bool]:
        entry = self.cache.get(key)
        if entry is None:
            self.misses += 1
            found = self.catalog.match_text(line)
            flagged = bool(self.flag is not None and not found and self.flag.search(line))
            rules = {id(m.rule): m.rule for m in found}
            for rule, lits in self._numeric:
                if not lits or any(lit in key for lit in lits):
                    rules.setdefault(id(rule), rule)
            if len(self.cache) < _CACHE_LIMIT:
                self.cache[key] = (tuple(rules.values()), flagged)
            return [(m.rule, m.fields) for m in found], flagged
        candidates, flagged = entry
        out: list[tuple[Rule, dict[str, str]]] = []
        for rule in candidates:
            runs = self._runs.get(id(rule))
            if runs is not None:
                if not any(r in line for r in runs):
                    continue  # the number this rule names is not in the line
                found_fields = rule.search(line)
            elif rule.role is Role.ROOT:
                found_fields = rule.search(line)  # roots carry fields (bus id, code) worth the search
            else:
                found_fields = {}  # digit-blind cascade/info rule: matched the twin line, matches this
            if found_fields is not None:
                out.append((rule, found_fields))
        return out, flagged
