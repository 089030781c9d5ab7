"""Find the literal strings a regex cannot match without: the keys of the matcher's prefilter.

`required_literals(pattern)` returns a set of alternatives (any one of them must be in every
match), chosen so that its shortest member is as long as possible. Called by `catalog.loader`.
"""

from __future__ import annotations

import re
import re._constants as sre_constants
import re._parser as sre_parse
from typing import Any

MIN_LITERAL = 3

_Alts = tuple[str, ...]


def _score(alts: _Alts | None) -> tuple[int, int]:
    if not alts:
        return (-1, 0)
    return (min(len(a) for a in alts), -len(alts))


def _best(cands: list[_Alts]) -> _Alts | None:
    good = [c for c in cands if c and all(c)]
    return max(good, key=_score) if good else None


def _seq(items: Any) -> _Alts | None:
    """The best any-of literal set for a sequence of regex items."""
    return _best(_sets(items, False))


def _sets(items: Any, merge_groups: bool) -> list[_Alts]:
    """Any-of literal sets of a sequence of regex items, each of which every match contains.
    `merge_groups` reads a capture group of plain characters as part of the text around it."""
    cands: list[_Alts] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            cands.append(("".join(run),))
            run.clear()

    for op, arg in items:
        if op is sre_constants.LITERAL:
            run.append(chr(arg))
            continue
        if (
            merge_groups
            and op is sre_constants.SUBPATTERN
            and not arg[1] & re.IGNORECASE
            and all(o is sre_constants.LITERAL for o, _ in arg[-1])
        ):
            run.extend(chr(a) for _, a in arg[-1])
            continue
        flush()
        if op is sre_constants.SUBPATTERN:
            if arg[1] & re.IGNORECASE:
                continue  # a (?i:...) group: its letters can be either case, no use as a literal
            sub = _seq(arg[-1])
            if sub:
                cands.append(sub)
        elif op is sre_constants.BRANCH:
            alts: list[str] = []
            for branch in arg[1]:
                sub = _seq(branch)
                if not sub:
                    alts = []
                    break
                alts.extend(sub)
            if alts:
                cands.append(tuple(dict.fromkeys(alts)))
        elif op in (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT) and arg[0] >= 1:
            sub = _seq(arg[2])
            if sub:
                cands.append(sub)
    flush()
    return cands


def required_literals(pattern: str, ignore_case: bool = False) -> tuple[str, ...] | None:
    """Literals of which every match of `pattern` contains at least one, or None if none are long enough."""
    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error:
        return None
    if parsed.state.flags & re.IGNORECASE:
        ignore_case = True
    alts = _seq(list(parsed))
    if not alts or min(len(a) for a in alts) < MIN_LITERAL:
        return None
    return tuple(a.lower() for a in alts) if ignore_case else alts


def required_sets(pattern: str, ignore_case: bool = False) -> tuple[_Alts, ...]:
    """Every any-of literal set (of at least MIN_LITERAL characters each) that a match of `pattern`
    must contain; all of them at once, unlike `required_literals`' one best set. A cheap test before
    the regex where many rules share their best literal ("NVRM: Xid (" for 50 Xid codes)."""
    try:
        parsed = sre_parse.parse(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error:
        return ()
    if parsed.state.flags & re.IGNORECASE:
        ignore_case = True
    out = [c for c in _sets(list(parsed), True) if c and min(len(a) for a in c) >= MIN_LITERAL]
    return tuple(tuple(a.lower() for a in c) if ignore_case else c for c in dict.fromkeys(out))


def required_literal(pattern: str, ignore_case: bool = False) -> str | None:
    """The single literal every match must contain (kept for callers of the first version)."""
    alts = required_literals(pattern, ignore_case)
    return alts[0] if alts and len(alts) == 1 else None
