"""Evidence gathered across the job before judging: root-role lines (rank logs, kernel logs, launcher
output) placed on a card and on the shared clock, the Python exceptions ranks died with, and which
ranks are victims (cascade lines) or silent.

Built by the judge from a `views.JobView`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from trainmedic.catalog import Catalog, Match, Rule
from trainmedic.diagnose.scan import OtherScan
from trainmedic.diagnose.views import JobView, RankView
from trainmedic.localize.cardmap import normalize_bus_id
from trainmedic.logs.elastic import WorkerFailure
from trainmedic.logs.fast import FAST
from trainmedic.logs.linematch import LineMatcher
from trainmedic.logs.ranklog import FALLBACK_CASCADE, MAX_CASCADE_HITS, Hit
from trainmedic.model import Card, Role

TIMEOUT_WORDS = re.compile(r"time[d ]?\s?out|timeout|watchdog|waited|heartbeat", re.IGNORECASE)
_TIMEOUT_PLAIN = ("timeout", "watchdog", "waited", "heartbeat")
_DIGITS = re.compile(r"\d+")
_RAN_FOR = re.compile(r"ran for (\d+) milliseconds")
_ROOT, _CASCADE = Role.ROOT, Role.CASCADE  # read once per line of 18,432 ranks: a module global is cheaper


@dataclass(frozen=True, slots=True)
class RootEvidence:
    """A root-role line, placed: the rank (if known), node, card, shared-clock time and step."""

    rule: Rule
    hit: Hit
    node: str
    rank: int | None
    card: Card | None
    at: float | None
    step: int | None
    source: str

    def match(self) -> Match:
        return Match(self.rule, self.hit.line, self.hit.text, dict(self.hit.fields))

    @property
    def where(self) -> tuple[str, int | str]:
        """A location key: one card (or one rank, or the node when nothing finer is known)."""
        if self.card is not None:
            return (self.node, self.card.index)
        if self.rank is not None:
            return (self.node, f"rank{self.rank}")
        return (self.node, "node")


@dataclass(frozen=True, slots=True)
class ExceptionSeen:
    rank: int
    type: str
    message: str
    text: str
    file: str | None
    line: int | None
    in_tail: bool
    at: float | None

    @property
    def key(self) -> str:
        """The exception with numbers blanked: the same bug on every rank gives one key."""
        return _DIGITS.sub("#", f"{self.type}: {self.message}")[:300]


CascadeLine = tuple[float | None, str, str | None, int | None, bool]
"""A cascade line: (time on the shared clock, text, file, line, in_tail)."""


@dataclass(slots=True)
class Evidence:
    roots: list[RootEvidence] = field(default_factory=list)
    exceptions: list[ExceptionSeen] = field(default_factory=list)
    victims: dict[int, dict[str, int]] = field(default_factory=dict)
    """rank -> cascade fault -> lines."""
    cascade_first: dict[int, CascadeLine] = field(default_factory=dict)
    """rank -> (time, text, file, line, in_tail) of its first cascade line."""
    silent: list[int] = field(default_factory=list)
    fatal: dict[int, str] = field(default_factory=dict)
    exits: dict[int, float] = field(default_factory=dict)
    """rank -> when its process exited, from the launchers' records (shared clock)."""


def gather(job: JobView, others: list[OtherScan], catalog: Catalog) -> Evidence:
    ev = Evidence()
    matcher = LineMatcher(catalog)
    for o in others:
        offset = job.nodes[o.node].offset if o.node in job.nodes else 0.0
        for f in o.launcher.failures:
            r = failure_rank(job, o, f)
            if r is not None and f.at is not None:
                # Summary entries stamp whole seconds; the glog "failed" line has microseconds.
                t = float(f.at)
                at = t + (0.5 if t == int(t) else 0.0) - offset
                ev.exits[r] = min(at, ev.exits.get(r, at))
    rules = catalog.by_id
    faults = {rid: rule.fault for rid, rule in rules.items() if rule.role is _CASCADE}
    for v in job.ranks.values():
        _rank_evidence(ev, job, v, rules, faults, matcher)
    for nv in job.nodes.values():
        for ks in nv.kernels:
            for h in ks.hits:
                rule = catalog.get(h.rule)
                if rule is None or rule.role is not Role.ROOT:
                    continue
                card = job.cards.by_bus(nv.name, h.fields.get("bus_id")) if h.fields.get("bus_id") else None
                rank = rank_of_card(job, nv.name, card, h.fields.get("bus_id"))
                if card is None and rank is not None:
                    card = card_of(job, job.ranks[rank])
                kat = None if h.at is None else h.at - nv.offset
                if kat is not None and h.at == int(kat + nv.offset):
                    kat += 0.5  # dmesg -T and journal stamps are whole seconds: take the middle
                ev.roots.append(RootEvidence(rule, h, nv.name, rank, card, kat, None, "kernel"))
    for o in others:
        for prefix_rank, h in o.hits:
            rule = catalog.get(h.rule)
            if rule is None or rule.role is not Role.ROOT or prefix_rank not in job.ranks:
                continue
            v = job.ranks[prefix_rank]
            ev.roots.append(RootEvidence(rule, h, v.node, v.rank, card_of(job, v), v.end_at, v.last_step, "launcher"))
    spoke = {r.rank for r in ev.roots if r.source == "rank"} | {e.rank for e in ev.exceptions}
    for v in job.ranks.values():
        if v.rank not in ev.victims and v.rank not in ev.fatal and v.rank not in spoke:
            ev.silent.append(v.rank)
    return ev


def _rank_evidence(
    ev: Evidence, job: JobView, v: RankView, rules: dict[str, Rule], faults: dict[str, str], matcher: LineMatcher
) -> None:
    """One rank's root lines, and the cascade lines that make it a victim (each rank comes here once).
    `faults`: the cascade rules' faults by rule id (18,432 victims' hits are looked up here)."""
    scan = v.result.scan
    got = FAST.cascade_lines(scan.hits, faults, v.offset) if FAST is not None else NotImplemented
    kinds, first, others = _py_cascade_lines(scan.hits, faults, v.offset) if got is NotImplemented else got
    card = None
    for h in others:
        rule = rules.get(h.rule)
        if rule is not None and rule.role is _ROOT:
            card = card or card_of(job, v)
            at = v.t(h.at) if h.at is not None else _untimed(ev, v)
            ev.roots.append(RootEvidence(rule, h, v.node, v.rank, card, at, h.step, "rank"))
    if first is None and scan.fallback_cascade is not None:
        text, line, in_tail, at, file = scan.fallback_cascade
        fault = "collective_timeout" if says_timeout(text) else "peer_failure"
        kinds[fault] = 1
        first = (_blocked_at(v.t(at) if at is not None else v.end_at, text), text, file, line, in_tail)
    for fid, n in scan.cascade_counts.items():
        if n > MAX_CASCADE_HITS and (rule := rules.get(fid)) is not None:
            fault = rule.fault
            kinds[fault] = kinds.get(fault, 0) + n - MAX_CASCADE_HITS
    if kinds:
        ev.victims[v.rank] = kinds
    if first is not None:
        ev.cascade_first[v.rank] = first
    exc = scan.exception
    err = v.result.error_file
    if exc is not None or err is not None:
        etype = exc.type if exc is not None else (err.type if err else "")
        msg = exc.message if exc is not None else (err.message if err else "")
        text = exc.text if exc is not None else f"{etype}: {msg}"
        found = matcher.match(text)
        if any(r.role is Role.CASCADE for r, _ in found) or (not found and FALLBACK_CASCADE.search(text)):
            fault = next((r.fault for r, _ in found if r.role is Role.CASCADE), "peer_failure")
            if v.rank not in ev.victims:
                ev.victims[v.rank] = {fault: 1}
                where = (exc.file, exc.line, exc.in_tail) if exc else (None, None, False)
                ev.cascade_first[v.rank] = (_blocked_at(v.end_at, text), text, *where)
        elif not any(r.role is Role.ROOT for r, _ in found):
            at = v.end_at
            if err is not None and err.at is not None:
                # error.json stamps whole seconds: never earlier than the rank's last logged line
                at = max(v.t(err.at) or 0.0, v.end_at or 0.0)
            ev.exceptions.append(
                ExceptionSeen(
                    v.rank, etype, msg, text.strip(), exc.file if exc else (v.scan.files[-1] if v.scan.files else None),
                    exc.line if exc else None, bool(exc and exc.in_tail), at,
                )
            )
    elif scan.fatal:
        ev.fatal[v.rank] = scan.fatal
    if v.rank not in ev.victims and not scan.hits and scan.lines_after_last_step:
        # Unclassified output after the last step: victims of a catalog that lacks the line.
        pass


def _py_cascade_lines(
    hits: list[Hit], faults: dict[str, str], offset: float
) -> tuple[dict[str, int], CascadeLine | None, list[Hit]]:
    """A rank's cascade hits (their rules in `faults`): lines per fault, and the line that blocked first
    on the shared clock (`offset` off its node's times, less the wait the line reports); then the
    other hits, in order. The reference for the compiled `cascade_lines`."""
    kinds: dict[str, int] = {}
    first: CascadeLine | None = None
    others: list[Hit] = []
    for h in hits:
        fault = faults.get(h.rule)
        if fault is None:
            others.append(h)
            continue
        kinds[fault] = kinds.get(fault, 0) + 1
        at = None if h.at is None else _blocked_at(h.at - offset, h.text)
        if first is None or (at is not None and (first[0] is None or at < first[0])):
            first = (at, h.text, h.file, h.line, h.in_tail)
    return kinds, first, others


def says_timeout(text: str) -> bool:
    """Whether `text` matches TIMEOUT_WORDS. Thousands of victims print the same watchdog line, so the
    words the pattern spells plainly are looked for first and the pattern only decides the rest."""
    low = text.lower()
    for word in _TIMEOUT_PLAIN:
        if word in low:
            return True
    return TIMEOUT_WORDS.search(text) is not None


def _untimed(ev: Evidence, v: RankView) -> float | None:
    """When a line without a timestamp (a traceback's last line) was printed: just before the process
    exited if a launcher saw that, else half a step after the rank's last timestamped line."""
    if v.rank in ev.exits:
        return ev.exits[v.rank] - 0.3
    if v.end_at is None:
        return None
    times = [t for _, t in v.scan.steps if t is not None]
    step_s = (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else 0.0
    return v.end_at + 0.5 * step_s


def failure_rank(job: JobView, o: OtherScan, f: WorkerFailure) -> int | None:
    """The global rank of a launcher's failed worker: its summary says it, else local rank on that node."""
    if f.rank is not None:
        return f.rank
    node = o.node or (f.host if f.host in job.nodes else None)
    nv = job.nodes.get(node) if node else None
    if nv is None:
        if len(job.nodes) > 1:
            return None
        return next((v.rank for v in job.ranks.values() if v.local_rank == f.local_rank), None)
    return next((r for r in nv.ranks if job.ranks[r].local_rank == f.local_rank), None)


def _blocked_at(at: float | None, text: str) -> float | None:
    """When a rank that logged a cascade line at `at` blocked: NCCL says how long it had waited, and
    victims are ordered by when they blocked."""
    if at is not None and "ran for" in text and (m := _RAN_FOR.search(text)) is not None:
        return at - int(m.group(1)) / 1000.0
    return at


def card_of(job: JobView, v: RankView) -> Card:
    ident = v.scan.identity
    return job.cards.locate(v.rank, v.node, v.local_rank, ident.get("visible"), ident.get("bus_id")).card or Card(
        v.node, v.local_rank
    )


def rank_of_card(job: JobView, node: str, card: Card | None, bus: str | None) -> int | None:
    """The rank that drove a card on `node`, by bus id (or index when the inventory gave the card)."""
    nv = job.nodes.get(node)
    if nv is None:
        return None
    want = normalize_bus_id(bus) if bus else None
    for r in nv.ranks:
        c = card_of(job, job.ranks[r])
        if want is not None and normalize_bus_id(c.bus_id) == want:
            return r
        if card is not None and c.index == card.index and (want is None or c.bus_id is None):
            return r
    return None
