"""`catalog check`: schema, patterns, every example matches its own rule and no other root rule.

Run by `trainmedic catalog check` and by the test suite.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from trainmedic.catalog.loader import CatalogError, load_rules
from trainmedic.catalog.matcher import Matcher
from trainmedic.model import Role


@dataclass
class CheckReport:
    """What `catalog check` found: errors (fail), warnings, and coverage counts."""

    rules: int = 0
    examples: int = 0
    real_examples: int = 0
    errors: list[CatalogError] = field(default_factory=list)
    warnings: list[CatalogError] = field(default_factory=list)
    by_family: Counter[str] = field(default_factory=Counter)
    by_component: Counter[str] = field(default_factory=Counter)
    by_role: Counter[str] = field(default_factory=Counter)
    by_family_component: Counter[tuple[str, str]] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "rules": self.rules,
            "examples": self.examples,
            "real_examples": self.real_examples,
            "errors": [str(e) for e in self.errors],
            "warnings": [str(w) for w in self.warnings],
            "by_family": dict(sorted(self.by_family.items())),
            "by_component": dict(sorted(self.by_component.items())),
            "by_role": dict(sorted(self.by_role.items())),
            "by_family_component": {
                f: {c: n for (ff, c), n in sorted(self.by_family_component.items()) if ff == f}
                for f in sorted(self.by_family)
            },
        }


def check_catalog(paths: list[Path] | None = None) -> CheckReport:
    """Validate the catalog and return a report (never raises on bad rule files)."""
    rules, errors = load_rules(paths)
    report = CheckReport(rules=len(rules), errors=list(errors))
    matcher = Matcher(rules)
    for rule in rules:
        report.by_family[rule.family] += 1
        report.by_component[str(rule.component)] += 1
        report.by_role[str(rule.role)] += 1
        report.by_family_component[(rule.family, str(rule.component))] += 1
        where = (rule.source_file, rule.source_line)
        if not rule.literals:
            report.warnings.append(CatalogError(*where, f"rule {rule.id}: no literal for the prefilter; "
                                                "it runs on every line (add `literals:`)"))
        for ex in rule.examples:
            report.examples += 1
            report.real_examples += int(ex.real)
            matches = matcher.match_text(ex.text)
            naive = matcher.match_naive(ex.text)
            if [(m.rule.id, m.line) for m in matches] != [(m.rule.id, m.line) for m in naive]:
                report.errors.append(CatalogError(*where, f"rule {rule.id}: the prefilter and the naive matcher "
                                                  f"disagree on an example: {ex.text[:120]!r}"))
            own = [m for m in matches if m.rule.id == rule.id and m.line == 1]
            if not own:
                report.errors.append(CatalogError(*where, f"rule {rule.id}: example does not match its own "
                                                  f"rule (or the prefilter misses it): {ex.text[:120]!r}"))
                continue
            for key, want in ex.fields.items():
                got = own[0].fields.get(key)
                if got != want:
                    report.errors.append(CatalogError(*where, f"rule {rule.id}: example field {key}={got!r}, "
                                                      f"expected {want!r}"))
            if rule.role is Role.ROOT:
                for m in matches:
                    if m.rule.id != rule.id and m.rule.role is Role.ROOT and m.rule.fault != rule.fault:
                        report.errors.append(CatalogError(*where, f"rule {rule.id}: example is also claimed by "
                                                          f"root rule {m.rule.id} (shadowing)"))
    return report
