"""Catalog matching line by line with a cache keyed on the line minus its per-rank prefix and
timestamp: 18,432 victims print the same traceback, so the catalog scans each distinct line once.

Used by the rank-log and kernel-log scanners.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from trainmedic.catalog import Catalog, Rule

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
_CACHE_LIMIT = 100_000


@dataclass(slots=True)
class LineMatcher:
    """Wraps a catalog; `match(line)` gives (rule, fields) for every rule that matches the line."""

    catalog: Catalog
    cache: dict[str, tuple[Rule, ...]] = field(default_factory=dict)
    lookups: int = 0
    misses: int = 0

    def match(self, line: str) -> list[tuple[Rule, dict[str, str]]]:
        self.lookups += 1
        key = line[_KEY.match(line).end() :]  # type: ignore[union-attr]  # the pattern matches empty
        rules = self.cache.get(key)
        if rules is None:
            self.misses += 1
            found = self.catalog.match_text(line)
            if len(self.cache) < _CACHE_LIMIT:
                self.cache[key] = tuple({id(m.rule): m.rule for m in found}.values())
            return [(m.rule, m.fields) for m in found]
        out: list[tuple[Rule, dict[str, str]]] = []
        for rule in rules:
            fields = rule.search(line)
            if fields is not None:
                out.append((rule, fields))
        return out
