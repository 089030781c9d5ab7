"""The verdict: from evidence on one clock to the culprit card, the fault, the action and how sure.

Order of reasoning, strongest evidence first:
1. root-role lines (catalog) - earliest location wins; the same code bug on most ranks has no culprit;
2. Python exceptions no rule explains - on most ranks: user code; on one: that rank;
3. silence among victims - the rank (or whole node) that logged no cascade while everyone else did;
4. the launcher's own record (first worker that failed, worker that ignored SIGTERM);
5. the first NaN loss; 6. a peer outlier in step metrics (straggler); 7. the rank that stopped first.
"""

from __future__ import annotations

import heapq
from collections import Counter
from dataclasses import dataclass, field

from trainmedic.catalog import Catalog
from trainmedic.diagnose.evidence import Evidence, RootEvidence, card_of, failure_rank, says_timeout
from trainmedic.diagnose.outliers import metric_outlier
from trainmedic.diagnose.scan import OtherScan
from trainmedic.diagnose.views import JobView, NodeView, RankView
from trainmedic.logs.elastic import WorkerFailure
from trainmedic.logs.ranklog import step_metrics
from trainmedic.model import Action, Component, KnownFault, RankLocation, Role, Verdict
from trainmedic.model import Evidence as Ev

WIDESPREAD_SHARE = 0.5


@dataclass(slots=True)
class Judgement:
    verdict: Verdict
    method: str
    first_error_at: float | None = None
    culprit_ranks: set[int] = field(default_factory=set)
    second: Verdict | None = None
    second_at: float | None = None
    notes: list[str] = field(default_factory=list)


_KNOWN = {
    KnownFault.HANG: ("Rank stopped making progress and logged nothing (hung)", Component.ACCELERATOR, Action.RESTART_JOB),
    KnownFault.NODE_LOST: ("Node's logs end at once: node lost (power, kernel panic, network)", Component.HOST, Action.DRAIN_NODE),
    KnownFault.STRAGGLER: ("Rank persistently slower than its peers (straggler)", Component.ACCELERATOR, Action.RESTART_JOB),
    KnownFault.NAN: ("Loss became NaN/Inf, first on this rank", Component.ACCELERATOR, Action.RESTART_JOB),
    KnownFault.USER_EXCEPTION: ("Python exception in the training code", Component.USER, Action.CHECK_USER_CODE),
    KnownFault.CRASH: ("Rank exited with no line that explains why", Component.UNKNOWN, Action.RESTART_JOB),
}


def known_verdict(
    catalog: Catalog, fault: KnownFault, culprit: RankLocation | None, confidence: float, evidence: list[Ev], why: str
) -> Verdict:
    """A verdict for a fault no single line names; a catalog rule with the same fault id lends its
    component and action (the catalog is the source of truth where it has an opinion)."""
    title, component, action = _KNOWN[fault]
    rule = next((r for r in catalog.rules if r.fault == str(fault)), None)
    if rule is not None:
        component, action = rule.component, rule.action
    if fault is KnownFault.USER_EXCEPTION:
        component, action = Component.USER, Action.CHECK_USER_CODE
    return Verdict(
        fault=str(fault), component=component, action=action, confidence=confidence, title=title,
        culprit=culprit, role=Role.ROOT, evidence=tuple(evidence[:10]), explanation=why,
    )


def _loc(job: JobView, v: RankView) -> RankLocation:
    return RankLocation(v.rank, v.node, v.local_rank, card_of(job, v))


def _order(e: RootEvidence) -> tuple[float, float]:
    return (e.at if e.at is not None else float("inf"), e.step if e.step is not None else float("inf"))


def judge(job: JobView, ev: Evidence, others: list[OtherScan], catalog: Catalog) -> Judgement:
    n = len(job.ranks)
    for step in (_by_roots, _by_exceptions, _by_launcher, _by_silence, _by_nan, _by_straggler, _by_stop):
        j = step(job, ev, others, catalog, n)
        if j is not None:
            return j
    return Judgement(
        Verdict(
            fault="unknown", component=Component.UNKNOWN, action=Action.NONE, confidence=0.0,
            title="No fault found in these logs", role=Role.INFO,
            explanation="No catalog line, exception, silence, NaN or outlier singles out a rank or card.",
        ),
        "none",
    )


def _root_verdict(catalog: Catalog, group: list[RootEvidence], culprit: RankLocation | None) -> Verdict:
    v = catalog.verdict(e.match() for e in group)
    assert v is not None
    evidence = [Ev(e.hit.text, e.hit.file, e.hit.line, e.rule.id, e.at) for e in sorted(group, key=_order)]
    return Verdict(
        fault=v.fault, component=v.component, action=v.action, confidence=v.confidence, title=v.title,
        culprit=culprit, role=Role.ROOT, evidence=tuple(evidence[:10]), explanation=v.explanation,
    )


def _by_roots(job: JobView, ev: Evidence, others: list[OtherScan], catalog: Catalog, n: int) -> Judgement | None:
    if not ev.roots:
        return None
    by_fault_ranks: dict[str, set[int]] = {}
    for e in ev.roots:
        if e.rank is not None and e.source == "rank":
            by_fault_ranks.setdefault(e.rule.fault, set()).add(e.rank)
    widespread = {f for f, rs in by_fault_ranks.items() if len(rs) >= max(2, WIDESPREAD_SHARE * n)}
    if widespread:
        fault = max(widespread, key=lambda f: len(by_fault_ranks[f]))
        if fault == str(KnownFault.NAN):
            # NaN spreads through the all-reduce: each rank's own loss says who led.
            nan = _by_nan(job, ev, others, catalog, n)
            if nan is not None:
                return nan
        group = [e for e in ev.roots if e.rule.fault == fault]
        comp = group[0].rule.component
        first_step = min((e.step for e in group if e.step is not None), default=None)
        at_first = {e.rank for e in group if e.step == first_step}
        if comp in (Component.USER, Component.SOFTWARE) or len(at_first) >= max(2, WIDESPREAD_SHARE * n):
            v = _root_verdict(catalog, group, None)
            share = len(by_fault_ranks[fault]) / max(n, 1)
            v = _replace(v, confidence=min(0.97, 0.6 + 0.35 * share))
            return Judgement(
                v, "same error on most ranks", min((e.at for e in group if e.at is not None), default=None),
                notes=[f"{len(by_fault_ranks[fault])} of {n} ranks report {fault}: a code or configuration problem, no single card"],
            )
        # A hardware-class fault that spread (NaN after the all-reduce): the first step, then time, names it.
        first = min(group, key=lambda e: (e.step if e.step is not None else float("inf"), *_order(e)))
        return _located(job, ev, catalog, first, [e for e in ev.roots if e.where == first.where], "first of many")
    locs: dict[tuple[str, int | str], list[RootEvidence]] = {}
    for e in ev.roots:
        locs.setdefault(e.where, []).append(e)
    ordered = sorted(locs.values(), key=lambda g: min(_order(e) for e in g))
    j = _located(job, ev, catalog, min(ordered[0], key=_order), ordered[0], "earliest root-cause line")
    for g in ordered[1:]:
        if g[0].node == ordered[0][0].node and (g[0].card is None or ordered[0][0].card is None):
            continue  # the same node's host-level line and its card's line are one fault
        first = min(g, key=_order)
        culprit = _culprit_of(job, first)
        j.second = _root_verdict(catalog, g, culprit)
        j.second_at = first.at
        break
    return j


def _culprit_of(job: JobView, e: RootEvidence) -> RankLocation | None:
    if e.rank is not None and e.rank in job.ranks:
        loc = _loc(job, job.ranks[e.rank])
        if e.card is not None and loc.card is not None and e.card.bus_id and not loc.card.bus_id:
            loc = RankLocation(loc.rank, loc.node, loc.local_rank, e.card)
        return loc
    nv = job.nodes.get(e.node)
    if nv is not None and nv.ranks:
        first = min(nv.ranks, key=lambda r: (job.ranks[r].last_step or 0, r))
        v = job.ranks[first]
        return RankLocation(v.rank, v.node, v.local_rank, e.card)
    if e.card is not None:
        return RankLocation(-1, e.node, e.card.index, e.card)
    return None


def _located(
    job: JobView, ev: Evidence, catalog: Catalog, first: RootEvidence, group: list[RootEvidence], method: str
) -> Judgement:
    culprit = _culprit_of(job, first)
    v = _root_verdict(catalog, group, culprit)
    conf = v.confidence + (0.1 if culprit and culprit.card and (culprit.card.bus_id or culprit.card.serial) else 0)
    conf += 0.05 if ev.victims else 0.0
    j = Judgement(_replace(v, confidence=min(0.99, conf)), method, first.at)
    if culprit is not None:
        j.culprit_ranks.add(culprit.rank)
    return j


def _replace(v: Verdict, **kw: object) -> Verdict:
    from dataclasses import replace

    return replace(v, **kw)  # type: ignore[arg-type]


def _by_exceptions(job: JobView, ev: Evidence, others: list[OtherScan], catalog: Catalog, n: int) -> Judgement | None:
    if not ev.exceptions:
        return None
    keys = Counter(e.key for e in ev.exceptions)
    key, count = keys.most_common(1)[0]
    evidence = [Ev(e.text, e.file, e.line, None, e.at) for e in sorted(ev.exceptions, key=lambda e: (e.at or 0, e.rank))]
    if count >= max(2, WIDESPREAD_SHARE * n):
        same = [e for e in ev.exceptions if e.key == key]
        v = known_verdict(
            catalog, KnownFault.USER_EXCEPTION, None, min(0.97, 0.6 + 0.35 * count / max(n, 1)),
            [Ev(e.text, e.file, e.line, None, e.at) for e in same],
            f"{count} of {n} ranks raised the same exception ({key}): the training code or its configuration, "
            "not a card. Fix the code and resubmit; no hardware to drain.",
        )
        return Judgement(v, "same exception on most ranks", min((e.at for e in same if e.at is not None), default=None))
    first = min(ev.exceptions, key=lambda e: (e.at if e.at is not None else float("inf"), e.rank))
    view = job.ranks[first.rank]
    conf = 0.85 if len(ev.exceptions) == 1 else 0.7
    v = known_verdict(
        catalog, KnownFault.USER_EXCEPTION, _loc(job, view), conf, evidence,
        f"Rank {first.rank} raised {first.type or 'an exception'} that no catalog rule explains; the other ranks "
        "failed after it. Read its traceback: a bug or bad input on that rank's path is likelier than hardware.",
    )
    return Judgement(v, "first unexplained exception", first.at, {first.rank})


def _hang_or_crash(ev: Evidence, culprit_at: float | None) -> KnownFault:
    timeouts = 0
    for c in ev.cascade_first.values():
        timeouts += says_timeout(c[1])
        if timeouts * 2 >= len(ev.cascade_first):  # most victims timed out waiting: no need to read on
            return KnownFault.HANG
    first = min((c[0] for c in ev.cascade_first.values() if c[0] is not None), default=None)
    if culprit_at is not None and first is not None and first - culprit_at > 15.0:
        return KnownFault.HANG
    return KnownFault.CRASH


def _victims_evidence(ev: Evidence, limit: int = 3) -> list[Ev]:
    firsts = heapq.nsmallest(
        limit, ev.cascade_first.items(), key=lambda kv: (kv[1][0] if kv[1][0] is not None else float("inf"), kv[0])
    )
    return [Ev(t[1], t[2], t[3], None, t[0]) for _, t in firsts]


def _by_silence(job: JobView, ev: Evidence, others: list[OtherScan], catalog: Catalog, n: int) -> Judgement | None:
    """The culprit of a hang logs nothing while its peers time out; its own groups block first."""
    if not ev.victims or not ev.silent:
        return None
    silent = set(ev.silent)
    by_node: dict[str, list[int]] = {}
    for r in silent:
        by_node.setdefault(job.ranks[r].node, []).append(r)
    whole = [nd for nd, rs in by_node.items() if len(rs) == len(job.nodes[nd].ranks) and len(rs) > 1]
    first_any = min((c[0] for c in ev.cascade_first.values() if c[0] is not None), default=None)
    # A node whose ranks all went quiet was lost only if the node itself went quiet too: its kernel
    # log ends before the victims noticed (a launcher that killed healthy ranks leaves it running).
    any_kernel = any(nv.kernels for nv in job.nodes.values())
    lost = [nd for nd in whole if _node_went_dark(job.nodes[nd], first_any, any_kernel)]
    if len(lost) == 1 and len(job.nodes) > 1:
        return _lost_node(job, ev, catalog, lost[0])
    if whole and len(whole) < len(by_node):
        for nd in whole:
            by_node.pop(nd)
    blocked = [(job.ranks[r], c[0]) for r, c in ev.cascade_first.items() if c[0] is not None]
    # Nodes in the order their first victim gave up: the culprit's own groups wait on it first.
    first_cascade: dict[str, float] = {}
    for vr, at in blocked:
        if vr.node not in first_cascade or at < first_cascade[vr.node]:
            first_cascade[vr.node] = at
    order = sorted(by_node, key=lambda nd: (first_cascade.get(nd, float("inf")), nd))
    # On that node, the culprit is the silent rank whose peers elsewhere (pipeline and data-parallel
    # groups keep the same local slot on every node) blocked first; ranks the launcher killed are not.
    slot_first: dict[int, float] = {}
    for vr, at in blocked:
        if vr.node != order[0]:
            slot_first[vr.local_rank] = min(at, slot_first.get(vr.local_rank, float("inf")))
    cands = sorted(
        by_node[order[0]], key=lambda r: (slot_first.get(job.ranks[r].local_rank, float("inf")), _stop_key(job.ranks[r]))
    )
    v0 = job.ranks[cands[0]]
    fault = _hang_or_crash(ev, v0.last_progress_at or v0.end_at)
    conf = 0.9 if len(cands) == 1 else 0.6
    why = (
        f"Rank {v0.rank} logged nothing after step {v0.last_step} while {len(ev.victims)} other ranks logged "
        f"cascade errors ({'timeouts waiting for it' if fault is KnownFault.HANG else 'its peers lost it'}); "
        f"the first victims were its neighbours on {v0.node}."
    )
    if len(cands) > 1:
        why += f" {len(cands)} ranks on {v0.node} were silent; this one stopped first."
    evidence = [_last_step_evidence(v0, f"rank {v0.rank}: last progress at step {v0.last_step}, then silence")]
    v = known_verdict(catalog, fault, _loc(job, v0), conf, evidence + _victims_evidence(ev), why)
    return Judgement(v, "silent among victims", v0.last_progress_at or v0.end_at, {v0.rank})


def _node_went_dark(nv: NodeView, first_cascade: float | None, any_kernel: bool) -> bool:
    if not nv.kernels:
        return any_kernel or first_cascade is None  # others kept kernel logs; this node left none
    ends = [k.end_at - nv.offset for k in nv.kernels if k.end_at is not None]
    return bool(ends) and first_cascade is not None and max(ends) < first_cascade - 1.0


def _lost_node(job: JobView, ev: Evidence, catalog: Catalog, name: str) -> Judgement:
    node = job.nodes[name]
    ranks = sorted(node.ranks)
    v0 = min((job.ranks[r] for r in ranks), key=_stop_key)
    first_cascade = min((c[0] for c in ev.cascade_first.values() if c[0] is not None), default=None)
    why = f"All {len(ranks)} ranks of {name} went silent while {len(ev.victims)} ranks elsewhere logged cascade errors"
    ends = [k.end_at - node.offset for k in node.kernels if k.end_at is not None]
    if ends and first_cascade is not None and max(ends) < first_cascade:
        why += f"; its kernel log ends {first_cascade - max(ends):.0f} s before the first cascade"
    elif not node.kernels:
        why += "; it left no kernel log"
    evidence = [_last_step_evidence(v0, f"{name}: every rank silent after step {v0.last_step}")]
    v = known_verdict(catalog, KnownFault.NODE_LOST, _loc(job, v0), 0.85, evidence + _victims_evidence(ev), why + ".")
    return Judgement(v, "silent node", v0.last_progress_at or v0.end_at, set(ranks))


def _last_step_evidence(v: RankView, fallback: str) -> Ev:
    """The culprit's last step line, cited by file:line (or a description when it logged no step)."""
    ls = v.scan.last_step_line
    if ls is None:
        return Ev(fallback, v.scan.files[0] if v.scan.files else None, None, None, v.end_at)
    return Ev(ls[3], ls[0], ls[1], None, v.last_progress_at)


def _stop_key(v: RankView) -> tuple[float, float, float, int]:
    inf = float("inf")
    return (
        v.last_step if v.last_step is not None else -1,
        v.last_progress_at if v.last_progress_at is not None else inf,
        v.end_at if v.end_at is not None else inf,
        v.rank,
    )


def _by_launcher(job: JobView, ev: Evidence, others: list[OtherScan], catalog: Catalog, n: int) -> Judgement | None:
    stuck: list[tuple[int, OtherScan, int, int, str]] = []
    failed: list[tuple[float, int, int, OtherScan, WorkerFailure]] = []
    for o in others:
        fails = o.launcher.failures
        ranks = [failure_rank(job, o, f) for f in fails]
        if o.launcher.unkillable_pids:
            pid_rank = {f.pid: r for f, r in zip(fails, ranks, strict=True) if f.pid is not None}
            for pid, line, text in o.launcher.unkillable_pids:
                r = pid_rank.get(pid)
                if r is not None and r in job.ranks:
                    stuck.append((r, o, pid, line, text))
        offset = job.nodes[o.node].offset if o.node in job.nodes else 0.0
        for f, r in zip(fails, ranks, strict=True):
            # A worker whose own log shows cascade lines died of someone else's failure (NCCL's watchdog
            # abort is SIGABRT); SIGTERM came from the launcher itself. Only the others can be first.
            if f.exitcode in (0, -15) or r is None or r not in job.ranks or r in ev.victims:
                continue
            at = f.at - offset if f.at is not None else float("inf")
            failed.append((at, 0 if f.root_cause else 1, r, o, f))
    if len({s[0] for s in stuck}) == 1:
        r, o, pid, line, text = stuck[0]
        v0 = job.ranks[r]
        v = known_verdict(
            catalog, KnownFault.HANG, _loc(job, v0), 0.8,
            [
                _last_step_evidence(v0, f"rank {r}: last progress at step {v0.last_step}"),
                Ev(text, o.file, line, None, None),
                *_victims_evidence(ev),
            ],
            f"Rank {r} (pid {pid}) made no progress after step {v0.last_step} and did not answer SIGTERM when "
            "the job was torn down: it was stopped or hung.",
        )
        return Judgement(v, "launcher: worker ignored SIGTERM", v0.last_progress_at, {r})
    if not failed:
        return None
    at, _, rank, o, first = min(failed, key=lambda x: (x[0], x[1], x[4].line))
    v0 = job.ranks[rank]
    fault = KnownFault.CRASH if first.exitcode < 0 or not first.error_file else KnownFault.USER_EXCEPTION
    sig = f"signal {-first.exitcode}" if first.exitcode < 0 else f"exit code {first.exitcode}"
    v = known_verdict(
        catalog, fault, _loc(job, v0), 0.8,
        [Ev(first.text, o.file, first.line, None, first.at), *_victims_evidence(ev)],
        f"The launcher saw rank {rank} (local rank {first.local_rank}) fail first with {sig}; its own log "
        "says nothing about why (killed from outside: OOM killer, a signal, a card that took the process down).",
    )
    return Judgement(v, "launcher: first failed worker", None if at == float("inf") else at, {rank})


def _by_nan(job: JobView, ev: Evidence, others: list[OtherScan], catalog: Catalog, n: int) -> Judgement | None:
    nans = [v for v in job.ranks.values() if v.scan.first_nan is not None]
    if not nans:
        return None
    first = min(nans, key=lambda v: (v.scan.first_nan[0], v.t(v.scan.first_nan[1]) or float("inf"), v.rank))
    step, at, text, line, _ = first.scan.first_nan
    ties = sum(1 for v in nans if v.scan.first_nan[0] == step)
    if ties >= max(2, WIDESPREAD_SHARE * n):
        v = known_verdict(
            catalog, KnownFault.NAN, None, 0.7,
            [Ev(text, first.scan.files[-1] if first.scan.files else None, line, None, first.t(at))],
            f"{ties} of {n} ranks computed a NaN/Inf loss at the same step ({step}): the model, data or "
            "hyper-parameters (learning rate, loss scale), not one card.",
        )
        return Judgement(_replace(v, component=Component.USER, action=Action.CHECK_USER_CODE), "NaN on most ranks at once", first.t(at))
    conf = 0.85 if ties == 1 else max(0.3, 0.85 - 0.1 * ties)
    v = known_verdict(
        catalog, KnownFault.NAN, _loc(job, first), conf, [Ev(text, first.scan.files[-1] if first.scan.files else None, line, None, first.t(at))],
        f"Rank {first.rank} logged a NaN/Inf loss first, at step {step}"
        + (f" ({len(nans) - ties} ranks followed later)" if len(nans) > ties else "")
        + ". A card computing wrong numbers (silent data corruption) is the usual cause when one rank leads.",
    )
    return Judgement(v, "first NaN loss", first.t(at), {first.rank})


def _by_straggler(job: JobView, ev: Evidence, others: list[OtherScan], catalog: Catalog, n: int) -> Judgement | None:
    found = metric_outlier({r: step_metrics(v.scan.step_lines) for r, v in job.ranks.items()})
    if found is None:
        return None
    rank, metric, value, median, z = found
    v0 = job.ranks[rank]
    v = known_verdict(
        catalog, KnownFault.STRAGGLER, _loc(job, v0), min(0.95, 0.55 + z / 50),
        [Ev(f"rank {rank}: {metric} {value:g} vs median {median:g} across {n} ranks (robust z {z:.0f})", v0.scan.files[-1] if v0.scan.files else None, None, None, v0.last_progress_at)],
        f"Rank {rank} stands out from its {n - 1} peers on {metric}; in a synchronous job every rank waits for it.",
    )
    return Judgement(v, "peer outlier in step metrics", v0.last_progress_at, {rank})


def _by_stop(job: JobView, ev: Evidence, others: list[OtherScan], catalog: Catalog, n: int) -> Judgement | None:
    steps = [v for v in job.ranks.values() if v.last_step is not None]
    if len(steps) < 2:
        return None
    top = max(v.last_step or 0 for v in steps)
    behind = [v for v in steps if (v.last_step or 0) < top]
    if not behind or len(behind) > len(steps) // 2:
        return None
    nodes = {v.node for v in behind}
    v0 = min(behind, key=_stop_key)
    if len(nodes) == 1 and len(behind) == len(job.nodes[v0.node].ranks) and len(behind) > 1:
        v = known_verdict(
            catalog, KnownFault.NODE_LOST, _loc(job, v0), 0.7,
            [_last_step_evidence(v0, f"{v0.node}: every rank stops at step {v0.last_step}; others reached {top}")],
            f"All ranks of {v0.node} stopped at step {v0.last_step} while the job went on to step {top}.",
        )
        return Judgement(v, "node stopped first", v0.end_at, set(job.nodes[v0.node].ranks))
    v = known_verdict(
        catalog, KnownFault.HANG, _loc(job, v0), 0.75 if len(behind) == 1 else 0.5,
        [_last_step_evidence(v0, f"rank {v0.rank}: last step {v0.last_step}; others reached {top}")],
        f"Rank {v0.rank} stopped making progress first (step {v0.last_step}, others reached step {top}).",
    )
    return Judgement(v, "stopped first", v0.last_progress_at, {v0.rank})
