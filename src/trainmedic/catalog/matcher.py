"""Apply every catalog rule to log text, fast: one multi-literal scan over the whole buffer in C finds
the few lines that contain some rule's required literal; only those lines meet that rule's regexes.

The scan uses Hyperscan when it is installed (one pass for hundreds of literals) and one `bytes.find`
pass per literal otherwise (same answers, slower). `match_naive` is the reference both must agree with.
Used by `explain`, `diagnose`, the agent's kernel-log watcher and the launcher.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from trainmedic.catalog.rule import Match, Rule

_hs: Any
try:  # optional C engine; the pure-Python fallback gives the same matches
    import hyperscan as _hs
except ImportError:  # pragma: no cover - exercised where the wheel is missing
    _hs = None

ENGINES = ("hyperscan", "find") if _hs is not None else ("find",)
ENGINE_ID = f"hyperscan {getattr(_hs, '__version__', '?')}" if _hs is not None else "find"
"""The default engine and its version: a compiled prefilter pickled under another one is compiled again."""

_Hit = Callable[[int, int], None]

CROWDED = 5
"""A literal that this many rules share gets each of them a second literal set (see `_second_set`)."""


class _HyperscanScan:
    """All literals in one Hyperscan block-mode database; reports (literal id, end offset)."""

    def __init__(self, keys: list[tuple[bytes, bool]], serialized: bytes | None = None):
        """Compiles the database, or restores it from `serialized` (`dumpb` bytes) when given; raises
        `hyperscan.error` for bytes this Hyperscan cannot load (another version or CPU, or damaged)."""
        self._db = _compile_database(keys) if serialized is None else _load_database(serialized)
        self._lock = threading.Lock()

    def dump(self) -> bytes:
        """The compiled database as bytes for `_HyperscanScan(keys, serialized=...)`."""
        assert _hs is not None
        with self._lock:
            return bytes(_hs.dumpb(self._db))

    def scan(self, data: bytes, hit: _Hit) -> None:
        def on_match(key: int, _from: int, to: int, _flags: int, _ctx: Any) -> None:
            hit(key, to - 1)

        with self._lock:  # one scratch space per database
            self._db.scan(data, match_event_handler=on_match)


def _compile_database(keys: list[tuple[bytes, bool]]) -> Any:
    assert _hs is not None
    db = _hs.Database(mode=_hs.HS_MODE_BLOCK)
    exprs = ["".join(f"\\x{b:02x}" for b in lit).encode() for lit, _ in keys]
    flags = [_hs.HS_FLAG_CASELESS if ci else 0 for _, ci in keys]
    db.compile(expressions=exprs, ids=list(range(len(keys))), flags=flags)
    return db


def _load_database(serialized: bytes) -> Any:
    # Hyperscan checks the bytes' magic, version, CPU platform and checksum before it uses them
    assert _hs is not None
    db = _hs.loadb(serialized, _hs.HS_MODE_BLOCK)
    db.scratch = _hs.Scratch(db)  # `loadb` leaves the database without scratch space; `scan` needs one
    return db


class _FindScan:
    """The same scan without Hyperscan: `bytes.find` per distinct literal over the whole buffer (a fast
    C search each; far quicker in CPython than one big `re` alternation). Finds overlapping literals too."""

    def __init__(self, keys: list[tuple[bytes, bool]]):
        self._keys = keys

    def scan(self, data: bytes, hit: _Hit) -> None:
        lower = data.lower() if any(ci for _, ci in self._keys) else data
        for key, (lit, ci) in enumerate(self._keys):
            hay = lower if ci else data
            pos = hay.find(lit)
            while pos >= 0:
                hit(key, pos)
                pos = hay.find(lit, pos + 1)


class Matcher:
    """Matches lines against a fixed set of rules. Build once, reuse: construction compiles the prefilter.

    Pickles with its compiled prefilter (Hyperscan's database as bytes): unpickling restores it in a
    millisecond instead of compiling it again, and compiles afresh when the bytes do not load."""

    def __init__(self, rules: Iterable[Rule], engine: str | None = None):
        self.rules = tuple(rules)
        self.engine = engine or ENGINES[0]
        if self.engine not in ENGINES:
            raise ValueError(f"matcher engine {self.engine!r} is not available here (have {', '.join(ENGINES)})")
        self._index()
        # Second literal sets cost nothing in Hyperscan's one pass, but one more pass each for `find`.
        self._prefilter(self._keys(second_sets=self.engine == "hyperscan"))

    def _index(self) -> None:
        self._always = [i for i, r in enumerate(self.rules) if not r.literals]
        self._back = max((r.span for r in self.rules), default=1) - 1

    def _prefilter(self, keys: list[tuple[bytes, bool]], serialized: bytes | None = None) -> None:
        """The scan over `keys`; Hyperscan's database from `serialized` when those bytes load here."""
        self._scan: _HyperscanScan | _FindScan | None = None
        self.recompiled = False
        """True when pickled Hyperscan bytes did not load here and the database was compiled again."""
        if keys and self.engine == "hyperscan":
            if serialized is not None:
                try:
                    self._scan = _HyperscanScan(keys, serialized)
                except _hs.error:  # another Hyperscan version or CPU, or damaged bytes: compile instead
                    self.recompiled = True
            if self._scan is None:
                try:
                    self._scan = _HyperscanScan(keys)
                except _hs.error:  # a literal Hyperscan rejects, or no SSSE3: same answers from the fallback
                    self.engine = "find"
                    keys = self._keys(second_sets=False)
        if keys and self._scan is None:
            self._scan = _FindScan(keys)
        self._key_list = keys

    def _keys(self, second_sets: bool) -> list[tuple[bytes, bool]]:
        """The prefilter's literals; fills `_key_rules` (per literal: (rule, bit) for each rule that
        needs it) and `_full` (a line is a rule's candidate once it holds a literal of each of the
        rule's sets: all bits set)."""
        key_ids: dict[tuple[bytes, bool], int] = {}
        self._key_rules: list[list[tuple[int, int]]] = []
        self._full: list[int] = []
        sharing = Counter(lit for r in self.rules for lit in set(r.literals))
        for i, rule in enumerate(self.rules):
            crowded = second_sets and any(sharing[lit] >= CROWDED for lit in rule.literals)
            sets = [rule.literals, *(_second_set(rule) if crowded else [])]
            self._full.append((1 << len(sets)) - 1)
            for bit, alts in enumerate(sets):
                for lit in alts:
                    key = (lit.encode("utf-8", "surrogatepass"), rule.caseless)
                    k = key_ids.setdefault(key, len(key_ids))
                    if k == len(self._key_rules):
                        self._key_rules.append([])
                    self._key_rules[k].append((i, 1 << bit))
        return list(key_ids)

    def __reduce__(self) -> tuple[Callable[..., Matcher], tuple[Any, ...]]:
        serialized = self._scan.dump() if isinstance(self._scan, _HyperscanScan) else None
        return (_restore, (self.rules, self.engine, self._key_list, self._key_rules, self._full, serialized))

    def match_line(self, text: str, line: int = 1) -> list[Match]:
        """Every rule that matches this one line."""
        return self.match_text(text, first_line=line)

    def match_text(self, text: str, first_line: int = 1) -> list[Match]:
        """Every rule match in a block of lines, in line order; `line` numbers start at `first_line`."""
        return self._match(text.encode("utf-8", "surrogatepass"), first_line, "surrogatepass")

    def match_bytes(self, data: bytes, first_line: int = 1) -> list[Match]:
        """Like `match_text` on raw bytes; invalid UTF-8 in a matching line is replaced, never fatal."""
        return self._match(data, first_line, "replace")

    def _multiline_by_key(self) -> list[list[tuple[int, int]]]:
        """Per literal: the multi-line rules it belongs to and how many lines above theirs to try."""
        got: list[list[tuple[int, int]]] | None = getattr(self, "_spans", None)
        if got is None:
            rules = self.rules
            got = [[(idx, rules[idx].span - 1) for idx, _ in ids if rules[idx].span > 1] for ids in self._key_rules]
            self._spans = got
        return got

    def _split_by_key(self) -> tuple[list[dict[int, int]], list[list[tuple[int, int]]]]:
        """Per literal: its rules that have one literal set (seeing the literal completes them: a dict
        to merge in one step) and the others, with the bit of the set the literal belongs to."""
        got: tuple[list[dict[int, int]], list[list[tuple[int, int]]]] | None = getattr(self, "_split", None)
        if got is None:
            full = self._full
            whole = [{idx: 1 for idx, bit in ids if full[idx] == 1 and bit == 1} for ids in self._key_rules]
            parts = [[(idx, bit) for idx, bit in ids if not (full[idx] == 1 and bit == 1)] for ids in self._key_rules]
            got = self._split = (whole, parts)
        return got

    def _candidates(self, data: bytes) -> dict[int, dict[int, int]]:
        """Line start offset -> {rule index: bits of its literal sets seen on that line}."""
        cands: dict[int, dict[int, int]] = {}
        last = [-1, -1]  # [start, end) of the line of the previous hit: hits cluster on a line
        whole, parts = self._split_by_key()
        spans = self._multiline_by_key()

        def hit(key: int, pos: int) -> None:
            if last[0] <= pos < last[1]:
                start = last[0]
            else:
                start = data.rfind(b"\n", 0, pos) + 1
                end = data.find(b"\n", pos)
                last[0], last[1] = start, (end if end >= 0 else len(data) + 1)
            bucket = cands.get(start)
            if bucket is None:
                bucket = cands[start] = {}
            bucket.update(whole[key])  # a one-set rule is complete once its literal is seen: bit 1
            for idx, bit in parts[key]:
                bucket[idx] = bucket.get(idx, 0) | bit
            # a multi-line rule's literal may sit on a continuation line: try the lines above too
            # (such rules have one literal set, so one bit is all of them)
            for idx, above in spans[key]:
                s = start
                for _ in range(above):
                    if s == 0:
                        break
                    s = data.rfind(b"\n", 0, s - 1) + 1
                    cands.setdefault(s, {})[idx] = 1

        if self._scan is not None and data:
            self._scan.scan(data, hit)
        if self._always:
            for start in _line_starts(data):
                bucket = cands.setdefault(start, {})
                for idx in self._always:
                    bucket[idx] = self._full[idx]
        return cands

    def _searches(self) -> list[tuple[Callable[[str], Any], ...] | None]:
        """Per rule: its patterns' compiled `search` for a one-line rule (what `Rule.find` runs on one
        line, without the three calls around it), None for a multi-line rule."""
        got: list[tuple[Callable[[str], Any], ...] | None] | None = getattr(self, "_search", None)
        if got is None:
            got = [None if r.span > 1 else tuple(p.compiled.search for p in r.patterns) for r in self.rules]
            self._search = got
        return got

    def _match(self, data: bytes, first_line: int, errors: str) -> list[Match]:
        cands = self._candidates(data)
        out: list[Match] = []
        line_no = first_line
        counted_to = 0
        full = self._full
        rules = self.rules
        searches = self._searches()
        for start in sorted(cands):
            bucket = cands[start]
            if len(bucket) == 1:  # most candidate lines: one rule
                ((idx, bits),) = bucket.items()
                if bits != full[idx]:
                    continue
                rule_ids = [idx]
            else:
                rule_ids = sorted(i for i, bits in bucket.items() if bits == full[i])
                if not rule_ids:
                    continue
            line_no += data.count(b"\n", counted_to, start)
            counted_to = start
            if all(searches[i] is not None for i in rule_ids):  # one-line rules: the line alone
                end = data.find(b"\n", start)
                line = data[start : end if end >= 0 else len(data)].decode("utf-8", errors).rstrip("\r")
                for idx in rule_ids:
                    for search in searches[idx]:  # type: ignore[union-attr]
                        m = search(line)
                        if m is not None:  # as Rule.find
                            out.append(Match(rules[idx], line_no, line, {k: v for k, v in m.groupdict().items() if v is not None}))
                            break
                continue
            lines = _lines_at(data, start, max(rules[i].span for i in rule_ids), errors)
            for idx in rule_ids:
                rule = rules[idx]
                found = rule.find(lines)
                if found is not None:
                    out.append(Match(rule, line_no, found[1], found[0]))
        return out

    def match_naive(self, text: str, first_line: int = 1) -> list[Match]:
        """Every rule's regex on every line: the slow reference the prefilter must agree with."""
        out: list[Match] = []
        lines = [ln.rstrip("\r") for ln in text.split("\n")]
        for i in range(len(lines)):
            window = lines[i : i + self._back + 1]
            for rule in self.rules:
                found = rule.find(window)
                if found is not None:
                    out.append(Match(rule, first_line + i, found[1], found[0]))
        return out


def _restore(
    rules: tuple[Rule, ...],
    engine: str,
    keys: list[tuple[bytes, bool]],
    key_rules: list[list[tuple[int, int]]],
    full: list[int],
    serialized: bytes | None,
) -> Matcher:
    """Unpickles a `Matcher` without recomputing its literals; where the engine it used is missing
    (no Hyperscan on this side), builds the matcher afresh with the engine there is."""
    if engine not in ENGINES:
        return Matcher(rules)
    m = Matcher.__new__(Matcher)
    m.rules, m.engine = rules, engine
    m._index()
    m._key_rules, m._full = key_rules, full
    m._prefilter(keys, serialized)
    return m


def _second_set(rule: Rule) -> list[tuple[str, ...]]:
    """A second literal set the rule's one pattern needs, when it has a distinctive one: "): 79," next
    to the "NVRM: Xid (" that 50 Xid rules share, so an Xid line meets one regex, not 50. Empty for
    multi-pattern and multi-line rules. Only for crowded literals: a common second literal would cost
    more in prefilter hits than it saves."""
    if not rule.literals or len(rule.patterns) != 1 or rule.span != 1:
        return []
    # imported here: only building a matcher needs it, a pickled one arrives with its literal sets
    from trainmedic.catalog.literals import required_sets

    mine = set(rule.literals)
    others = [s for s in required_sets(rule.patterns[0].pattern, rule.caseless) if set(s) != mine]
    others = [s for s in others if min(map(len, s)) >= 4 and (not rule.caseless or all(a.isascii() for a in s))]
    return [max(others, key=lambda s: min(map(len, s)))] if others else []


def _line_starts(data: bytes) -> Iterator[int]:
    pos = 0
    while True:
        yield pos
        nxt = data.find(b"\n", pos)
        if nxt < 0:
            return
        pos = nxt + 1


def _lines_at(data: bytes, start: int, count: int, errors: str) -> list[str]:
    """`count` lines (fewer at the end of data) from offset `start`, decoded, without their CR/LF."""
    out: list[str] = []
    pos = start
    for _ in range(count):
        end = data.find(b"\n", pos)
        chunk = data[pos : end if end >= 0 else len(data)]
        out.append(chunk.decode("utf-8", errors).rstrip("\r"))
        if end < 0:
            break
        pos = end + 1
    return out
