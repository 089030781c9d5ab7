"""Load and compile the rule files; errors name the file and line.

Called by `catalog.load_catalog()`; `catalog check` reports the same errors.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from trainmedic.catalog.files import RULES_DIR, CatalogError, CatalogLoadError
from trainmedic.catalog.literals import MIN_LITERAL, required_literal, required_literals
from trainmedic.catalog.rule import Escalation, Example, Rule, RulePattern

if TYPE_CHECKING:
    from trainmedic.catalog.schema import RuleSpec

__all__ = ["MIN_LITERAL", "RULES_DIR", "CatalogError", "CatalogLoadError", "load_rules", "required_literal"]


def _parse(text: str) -> tuple[Any, dict[int, int]]:
    """One YAML parse: the data, and each rule's index -> its 1-based line (from the node tree)."""
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)  # libyaml when present: ~10x faster
    try:
        root = loader.get_single_node()
        data = loader.construct_document(root) if root is not None else None
    finally:
        loader.dispose()
    return data, _line_map(root)


def _line_map(root: Any) -> dict[int, int]:
    import yaml

    out: dict[int, int] = {}
    if not isinstance(root, yaml.MappingNode):
        return out
    for key, value in root.value:
        if key.value == "rules" and isinstance(value, yaml.SequenceNode):
            for i, item in enumerate(value.value):
                out[i] = item.start_mark.line + 1
    return out


def compile_rule(spec: RuleSpec, family: str, file: str, line: int) -> tuple[Rule | None, list[CatalogError]]:
    """Turn one validated spec into a compiled Rule, or errors."""
    errors: list[CatalogError] = []
    flags = re.IGNORECASE if spec.ignore_case else 0
    patterns: list[re.Pattern[str]] = []
    for p in spec.patterns:
        try:
            patterns.append(re.compile(p, flags))
        except re.error as exc:
            errors.append(CatalogError(file, line, f"rule {spec.id}: pattern {p!r} does not compile: {exc}"))
    if errors:
        return None, errors
    caseless = spec.ignore_case or any(p.flags & re.IGNORECASE for p in patterns)
    if spec.literals is not None:
        literals = tuple(lit.lower() if caseless else lit for lit in spec.literals)
    else:
        derived = [required_literals(p, caseless) for p in spec.patterns]
        literals = tuple(dict.fromkeys(x for d in derived if d for x in d)) if all(derived) else ()
    if caseless and not all(lit.isascii() for lit in literals):
        literals = ()  # the prefilter folds ASCII case only; such a rule runs on every line instead
    escalation = None
    if spec.escalation is not None:
        escalation = Escalation(spec.escalation.count, spec.escalation.window_h * 3600.0, spec.escalation.action)
    rule = Rule(
        id=spec.id,
        title=spec.title,
        family=family,
        fault=spec.fault or spec.id,
        component=spec.component,
        role=spec.role,
        severity=spec.severity,
        action=spec.action,
        patterns=tuple(RulePattern.of(p) for p in patterns),
        literals=literals,
        codes=tuple(spec.codes),
        explanation=spec.explanation.strip(),
        escalation=escalation,
        references=tuple(spec.references),
        examples=tuple(Example(e.text, e.real, e.source, dict(e.fields)) for e in spec.examples),
        priority=spec.priority,
        seen_in=tuple(spec.seen_in),
        source_file=file,
        source_line=line,
        span=spec.lines,
        caseless=caseless,
    )
    return rule, errors


def load_rules(paths: list[Path] | None = None) -> tuple[list[Rule], list[CatalogError]]:
    """Read every rules file; return the compiled rules and all errors found (never raises)."""
    # YAML and pydantic are needed only here: a compiled catalog from diagnose's cache needs neither,
    # and importing them was a fifth of diagnose's start-up.
    import yaml
    from pydantic import ValidationError

    from trainmedic.catalog.schema import RuleFileSpec
    files = paths if paths is not None else sorted(RULES_DIR.glob("*.yaml"))
    rules: list[Rule] = []
    errors: list[CatalogError] = []
    seen: dict[str, str] = {}
    for path in files:
        name = str(path)
        try:
            data, lines = _parse(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            errors.append(CatalogError(name, 0, f"cannot read: {exc}"))
            continue
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            errors.append(CatalogError(name, (mark.line + 1) if mark else 0, f"invalid YAML: {exc}"))
            continue
        try:
            spec = RuleFileSpec.model_validate(data)
        except ValidationError as exc:
            for err in exc.errors():
                loc = err["loc"]
                line = lines.get(loc[1], 0) if len(loc) > 1 and loc[0] == "rules" and isinstance(loc[1], int) else 0
                where = ".".join(str(x) for x in loc)
                errors.append(CatalogError(name, line, f"{where}: {err['msg']}"))
            continue
        for i, rs in enumerate(spec.rules):
            line = lines.get(i, 0)
            if rs.id in seen:
                errors.append(CatalogError(name, line, f"duplicate rule id {rs.id} (first in {seen[rs.id]})"))
                continue
            seen[rs.id] = f"{name}:{line}"
            rule, errs = compile_rule(rs, spec.family, name, line)
            errors.extend(errs)
            if rule is not None:
                rules.append(rule)
    return rules, errors
