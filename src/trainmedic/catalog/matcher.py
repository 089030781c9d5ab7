"""Apply every catalog rule to log text, fast: a literal prefilter runs over the whole text in C,
and only lines that contain some rule's required literal meet that rule's regexes.

Used by `explain`, `diagnose`, the agent's kernel-log watcher and the launcher.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from trainmedic.catalog.rule import Match, Rule


class Matcher:
    """Matches lines against a fixed set of rules. Build once, reuse: construction compiles the prefilter."""

    def __init__(self, rules: Iterable[Rule]):
        self.rules = tuple(rules)
        self._always: list[Rule] = [r for r in self.rules if not r.literals]
        self._by_literal: dict[str, list[Rule]] = {}
        self._by_literal_ci: dict[str, list[Rule]] = {}
        for rule in self.rules:
            ci = any(p.flags & re.IGNORECASE for p in rule.patterns)
            target = self._by_literal_ci if ci else self._by_literal
            for lit in rule.literals:
                target.setdefault(lit, []).append(rule)
        self._scan = self._alternation(self._by_literal, 0)
        self._scan_ci = self._alternation(self._by_literal_ci, re.IGNORECASE)

    @staticmethod
    def _alternation(literals: dict[str, list[Rule]], flags: int) -> re.Pattern[str] | None:
        if not literals:
            return None
        alts = sorted(literals, key=len, reverse=True)
        return re.compile("|".join(re.escape(a) for a in alts), flags)

    def match_line(self, text: str, line: int = 1) -> list[Match]:
        """Every rule that matches this one line."""
        return self.match_text(text, first_line=line)

    def match_text(self, text: str, first_line: int = 1) -> list[Match]:
        """Every rule match in a block of lines, in line order; `line` numbers start at `first_line`."""
        candidates: dict[int, set[int]] = {}
        rule_index = {id(r): i for i, r in enumerate(self.rules)}
        for scan, table, ci in ((self._scan, self._by_literal, False), (self._scan_ci, self._by_literal_ci, True)):
            if scan is None:
                continue
            for m in scan.finditer(text):
                start = text.rfind("\n", 0, m.start()) + 1
                key = m.group(0).lower() if ci else m.group(0)
                bucket = candidates.setdefault(start, set())
                for rule in table.get(key, ()):
                    bucket.add(rule_index[id(rule)])
        if self._always:
            pos = 0
            while pos <= len(text):
                bucket = candidates.setdefault(pos, set())
                bucket.update(rule_index[id(r)] for r in self._always)
                nxt = text.find("\n", pos)
                if nxt < 0:
                    break
                pos = nxt + 1
        out: list[Match] = []
        line_no = first_line
        counted_to = 0
        for start in sorted(candidates):
            line_no += text.count("\n", counted_to, start)
            counted_to = start
            end = text.find("\n", start)
            line_text = text[start : end if end >= 0 else len(text)].rstrip("\r")
            for idx in sorted(candidates[start]):
                rule = self.rules[idx]
                fields = rule.search(line_text)
                if fields is not None:
                    out.append(Match(rule, line_no, line_text, fields))
        return out

    def match_naive(self, text: str, first_line: int = 1) -> list[Match]:
        """Every rule's regex on every line: the slow reference the prefilter must agree with."""
        out: list[Match] = []
        for i, line_text in enumerate(text.split("\n")):
            line_text = line_text.rstrip("\r")
            for rule in self.rules:
                fields = rule.search(line_text)
                if fields is not None:
                    out.append(Match(rule, first_line + i, line_text, fields))
        return out
