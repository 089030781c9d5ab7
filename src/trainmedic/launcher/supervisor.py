"""The supervisor of `trainmedic run`: watch every rank, and on a fault detect, localize, classify,
stop, record and restart from the newest complete checkpoint.

Runs on node 0 (alone, or as coordinator of several nodes); other nodes are driven through
`NodeLink`s. All time goes through `clock`/`sleep`, and every event goes to `say` and `on_event`.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from trainmedic.detect.crash import CrashDetector
from trainmedic.detect.hang import HangDetector
from trainmedic.detect.nan import NanDetector
from trainmedic.detect.progress import JobProgress, OnlineDetector, RankProgress
from trainmedic.detect.straggler import StragglerDetector
from trainmedic.launcher.classify import last_exception
from trainmedic.launcher.config import RunConfig, script_name
from trainmedic.launcher.evidence import ERROR_LINE, card_text, incident_verdict, is_victim, observed, onset
from trainmedic.launcher.node import NodeAttempt, Obs, RankSpec
from trainmedic.launcher.record import flush_store, record_incident
from trainmedic.launcher.rendezvous import free_port, port_in_use
from trainmedic.localize.wavefront import locate
from trainmedic.model import Action, Card, Finding, Incident, RankLocation, Symptom
from trainmedic.recover import checkpoints
from trainmedic.recover.ladder import CircuitBreaker, Decision, Step, decide
from trainmedic.train import protocol

_ERROR_LINE = re.compile(
    r"Traceback \(most recent call last\)|Error\b|Fatal Python error|Segmentation fault|Aborted"
)
TAIL_LINES = 120


class LaunchError(Exception):
    """A run that cannot start or go on: what failed and what to do (shown without a traceback)."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


class NodeLink(Protocol):
    """One node as the supervisor drives it: this process's own ranks, or a follower launcher's."""

    node_rank: int
    name: str

    def start(self, a: NodeAttempt) -> Any: ...
    def poll(self) -> list[Obs]: ...
    def dump_stacks(self, rank: int) -> bool: ...
    def signal_rank(self, rank: int, sig: int) -> bool: ...
    def stop(self, kill_first: Sequence[int] = (), term_timeout_s: float = 3.0) -> Any: ...
    def close(self) -> None: ...


@dataclass
class IncidentState:
    incident: Incident
    path: Path
    extra: dict[str, Any]
    last_step: int | None
    resume_step: int | None


@dataclass
class RunResult:
    """How the run ended: exit code, attempts, incidents (as written), and why it stopped."""

    rc: int
    attempts: int
    incidents: list[dict[str, Any]] = field(default_factory=list)
    reason: str = ""
    final_step: int | None = None


class Supervisor:
    """Drives attempts of one job until it finishes, is stopped with a verdict, or runs out of restarts."""

    def __init__(
        self,
        cfg: RunConfig,
        nodes: Sequence[NodeLink],
        slots: dict[int, int],
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        say: Callable[[str], None] = print,
        on_event: Callable[[str, dict[str, Any]], None] | None = None,
        on_tick: Callable[[Supervisor, JobProgress, float], None] | None = None,
        poll_s: float = 0.05,
    ) -> None:
        self.cfg = cfg
        self.nodes = {n.node_rank: n for n in nodes}
        self.slots = slots
        self.clock = clock
        self.sleep = sleep
        self.say = say
        self.on_event = on_event
        self.on_tick = on_tick
        self.poll_s = poll_s
        self.t0 = clock()
        self.final_rc = 1
        self.excluded: set[tuple[int, int]] = set()
        self.breaker = CircuitBreaker()
        self.culprit_counts: collections.Counter[tuple[str, int]] = collections.Counter()
        self.tails: dict[int, collections.deque[str]] = {}
        self.cards: dict[int, Card] = {}
        self.where: dict[int, tuple[int, int, int]] = {}  # rank -> (node_rank, local_rank, slot)
        self.step_re = re.compile(cfg.step_pattern)
        self.results: list[IncidentState] = []
        self.open_incident: IncidentState | None = None
        self.last_ckpt: tuple[int, str] | None = None
        self.job: JobProgress | None = None
        self.attempt = 0
        self.rank_to_node: dict[int, int] = {}
        self.process_states: dict[int, str] = {}
        self.warm_starts = 0
        ckpt = cfg.checkpoint_dir
        self.incident_dir = cfg.incident_dir or (ckpt / "incidents" if ckpt else Path("trainmedic-incidents"))
        self.job_name = cfg.job_name or script_name(cfg.argv)
        self.detectors: list[OnlineDetector] = [
            CrashDetector(),
            NanDetector(),
            HangDetector(
                timeout_s=cfg.hang_timeout_s, floor_s=cfg.hang_floor_s, start_timeout_s=cfg.start_timeout_s
            ),
        ]
        if cfg.straggler:
            self.detectors.append(StragglerDetector())

    # ---- output -------------------------------------------------------------------------------------

    def _say(self, msg: str) -> None:
        self.say(f"[trainmedic] +{self.clock() - self.t0:6.2f}s {msg}")

    def _event(self, kind: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(kind, {"at": self.clock(), **data})

    # ---- planning -----------------------------------------------------------------------------------

    def plan(
        self, attempt: int, master_port: int, resume: checkpoints.Checkpoint | None
    ) -> dict[int, NodeAttempt]:
        """Global ranks for this attempt, contiguous over nodes in order, skipping excluded slots."""
        plans: dict[int, NodeAttempt] = {}
        world = sum(1 for nr, n in self.slots.items() for s in range(n) if (nr, s) not in self.excluded)
        rank = 0
        shrunk = bool(self.excluded)
        for nr in sorted(self.slots):
            active = [s for s in range(self.slots[nr]) if (nr, s) not in self.excluded]
            specs = []
            for local, slot in enumerate(active):
                specs.append(RankSpec(rank, local, slot))
                rank += 1
            plans[nr] = NodeAttempt(
                attempt=attempt,
                master_addr=self.cfg.master_addr,
                master_port=master_port,
                world_size=world,
                node_rank=nr,
                ranks=tuple(specs),
                resume_path=str(resume.path) if resume else None,
                resume_step=resume.step if resume else None,
                visible_slots=tuple(active) if shrunk else None,
            )
        return plans

    def _port(self, attempt: int) -> int:
        if self.cfg.nnodes == 1 and self.cfg.master_port is not None:
            if port_in_use(self.cfg.master_addr, self.cfg.master_port) and attempt == 0:
                raise LaunchError(
                    f"port {self.cfg.master_port} on {self.cfg.master_addr} is already in use",
                    "pick another --master-port, or leave it out to get a free one",
                )
            return self.cfg.master_port
        return free_port(self.cfg.master_addr if self.cfg.nnodes == 1 else "")

    # ---- the run ------------------------------------------------------------------------------------

    def run(self) -> RunResult:
        resume = self._choose_checkpoint(first=True)
        try:
            while True:
                port = self._port(self.attempt)
                plans = self.plan(self.attempt, port, resume)
                world = plans[min(plans)].world_size if plans else 0
                if world == 0:
                    return self._finish(1, "no ranks left to run")
                self._start_attempt(plans)
                outcome = self._watch()
                if isinstance(outcome, RunResult):
                    return outcome
                decision, state = outcome
                if decision.step is Step.STOP:
                    return self._finish(1, decision.reason)
                self.attempt += 1
                assert state is not None
                self.open_incident = state
                resume = self._choose_checkpoint(first=False)
                state.resume_step = resume.step if resume else None
                state.extra["resume_from"] = (
                    {"path": str(resume.path), "step": resume.step} if resume else None
                )
        finally:
            flush_store()
            for n in self.nodes.values():
                try:
                    fin = getattr(n, "finish", None)
                    if fin is not None:
                        fin(self.final_rc)
                    n.close()
                except Exception:  # a broken follower link must not keep ranks alive here
                    pass

    def _start_attempt(self, plans: dict[int, NodeAttempt]) -> None:
        ranks: list[RankProgress] = []
        now = self.clock()
        self.where = {}
        for nr, a in plans.items():
            for spec in a.ranks:
                ranks.append(
                    RankProgress(
                        rank=spec.rank, local_rank=spec.local_rank, node=self.nodes[nr].name, started_at=now
                    )
                )
                self.where[spec.rank] = (nr, spec.local_rank, spec.slot)
                self.rank_to_node[spec.rank] = nr
        self.job = JobProgress(ranks, now)
        self.warm_starts = 0
        self.tails = {r.rank: collections.deque(maxlen=TAIL_LINES) for r in ranks}
        for nr, a in plans.items():
            self.nodes[nr].start(a)
        world = len(ranks)
        self._say(
            f"attempt {self.attempt}: started {world} rank(s) on {len(plans)} node(s), "
            f"MASTER_PORT={plans[min(plans)].master_port}"
            + (f", resuming from {plans[min(plans)].resume_path}" if plans[min(plans)].resume_path else "")
        )
        self._event("started", attempt=self.attempt, world_size=world)
        if self.open_incident is not None:
            self.open_incident.incident = dataclasses.replace(
                self.open_incident.incident,
                timeline={**self.open_incident.incident.timeline, "restarted": now},
            )

    def signal_rank(self, rank: int, sig: int) -> bool:
        """Send a signal to one rank wherever it runs (fault injection from outside)."""
        nr = self.rank_to_node.get(rank)
        return nr is not None and self.nodes[nr].signal_rank(rank, sig)

    def _collect(self) -> None:
        assert self.job is not None
        for n in self.nodes.values():
            for obs in n.poll():
                self._apply(obs)

    def _apply(self, obs: Obs) -> None:
        job = self.job
        assert job is not None
        if obs.kind == "hb":
            hb = protocol.decode(obs.data.encode() if isinstance(obs.data, str) else obs.data)
            if hb is None or hb.attempt != self.attempt:
                return
            job.heartbeat(hb, obs.at)
            for step, path in hb.checkpoints:
                self.last_ckpt = (step, path)
                if self.cfg.checkpoint_dir is not None:
                    checkpoints.record_saved(self.cfg.checkpoint_dir, path, step, obs.at)
        elif obs.kind == "line":
            text = str(obs.data)
            tail = self.tails.get(obs.rank)
            if tail is None:
                return
            tail.append(text)
            if text.startswith("[trainmedic]"):
                return
            if ERROR_LINE.search(text):
                job.error_line(obs.rank, obs.at)
            r = job.ranks.get(obs.rank)
            if r is not None and not r.attached:
                m = self.step_re.search(text)
                if m:
                    with contextlib.suppress(ValueError, IndexError):
                        job.step_line(obs.rank, int(m.group(1)), obs.at)
        elif obs.kind == "exit":
            job.exited(obs.rank, int(obs.data), obs.at)
        elif obs.kind == "started":
            info = obs.data or {}
            r = job.ranks.get(obs.rank)
            if r is not None:
                r.pid = info.get("pid")
            if info.get("warm"):
                self.warm_starts += 1
            card = info.get("card")
            if card:
                self.cards[obs.rank] = Card(**card)

    def _watch(self) -> RunResult | tuple[Decision, IncidentState | None]:
        job = self.job
        assert job is not None
        reported: dict[str, float | None] = {}
        standby = False
        while True:
            self._collect()
            now = self.clock()
            if not standby and job.first_progress_at is not None and self.cfg.max_restarts > 0:
                standby = True  # once training runs, so the imports do not slow this attempt's start
                for n in self.nodes.values():
                    prep = getattr(n, "prepare_standbys", None)
                    if prep is not None:
                        prep()
            if self.on_tick is not None:
                self.on_tick(self, job, now)
            if self.open_incident is not None and job.first_progress_at is not None:
                self._resumed(job)
            if job.all_exited() and all(r.exit_code == 0 for r in job.ranks.values()):
                return self._finish(0, "all ranks exited 0")
            for det in self.detectors:
                f = det.check(job, now)
                if f is None:
                    continue
                if self.cfg.dry_run:
                    key = str(f.symptom)
                    if key in reported and reported[key] == job.last_progress_at:
                        continue
                    reported[key] = job.last_progress_at
                decision, state = self._incident(job, f)
                if self.cfg.dry_run:
                    if job.all_exited():
                        return self._finish(1, "dry run: ranks failed and nothing was restarted")
                    break
                return decision, state
            if self.cfg.dry_run and job.all_exited():
                return self._finish(1, "dry run: ranks exited and nothing was restarted")
            self.sleep(self.poll_s)

    def _resumed(self, job: JobProgress) -> None:
        st = self.open_incident
        assert st is not None and job.first_progress_at is not None
        self.open_incident = None
        first = job.first_step
        resume_step = st.resume_step
        if resume_step is None and first is not None:
            resume_step = first - 1
        lost = (
            max(0, (st.last_step or 0) - resume_step)
            if (st.last_step is not None and resume_step is not None)
            else None
        )
        st.extra.update({"first_new_step": first, "steps_lost": lost, "warm_ranks": self.warm_starts})
        outcome = f"training again at step {first} (attempt {self.attempt}); steps lost: {lost}"
        st.incident = dataclasses.replace(
            st.incident, timeline={**st.incident.timeline, "resumed": job.first_progress_at}, outcome=outcome
        )
        st.path = record_incident(st.incident, self.incident_dir, st.extra, self.cfg.db_url)
        tl = st.incident.timeline
        self._say(
            f"resumed: first new step {first} at +{tl['resumed'] - tl.get('fault', tl['detected']):.2f}s after the fault "
            f"({lost} step(s) lost; {self.warm_starts} rank(s) from warm standbys); incident {st.path}"
        )
        self._event("resumed", incident=st.incident.id, step=first, steps_lost=lost, timeline=tl)

    # ---- incidents ----------------------------------------------------------------------------------

    def _settle(self, seconds: float) -> None:
        end = self.clock() + seconds
        while self.clock() < end:
            self._collect()
            self.sleep(self.poll_s)

    def _incident(self, job: JobProgress, f: Finding) -> tuple[Decision, IncidentState]:
        detected = self.clock()
        symptom = f.symptom
        self._say(f"detected {symptom}: {f.message}")
        self._event("detected", symptom=str(symptom), message=f.message)
        if symptom in (Symptom.CRASH, Symptom.EXCEPTION):
            self._settle(0.5)  # the others' exits and tracebacks, so a fast-dying victim is not blamed
        loc = locate(
            job,
            symptom,
            self.clock(),
            hinted_rank=f.rank,
            silence_s=max(1.0, 8 * self.cfg.heartbeat_s),
            is_victim=lambda rank: is_victim(list(self.tails.get(rank, ()))),
        )
        culprit = loc.rank
        if culprit is not None and symptom in (Symptom.CRASH, Symptom.EXCEPTION, Symptom.HANG):
            # The symptom is the culprit's, not that of the victim that happened to be seen first.
            r = job.ranks.get(culprit)
            raised = (r is not None and r.exception is not None) or last_exception(
                list(self.tails.get(culprit, ()))
            )
            if raised:
                symptom = Symptom.EXCEPTION  # also a rank whose teardown after a traceback never ends
            elif symptom is Symptom.EXCEPTION:
                symptom = Symptom.CRASH
        localized = self.clock()
        location = self._location(culprit)
        where = f"rank {culprit}" + (
            f" (node {location.node}, local rank {location.local_rank}, card {card_text(location)})"
            if location
            else ""
        )
        self._say(f"culprit: {where if culprit is not None else 'not singled out'}: {loc.reason}")
        self._event(
            "localized",
            rank=culprit,
            reason=loc.reason,
            method=loc.method,
            card=location.to_dict() if location else None,
        )
        onset_at = onset(job, symptom, culprit, f)  # before a stack dump's SIGCONT revives a stopped rank
        observed_at = observed(job, symptom, f, detected)
        kill_first: list[int] = []
        if culprit is not None and symptom in (Symptom.HANG, Symptom.STRAGGLER):
            r = job.ranks.get(culprit)
            if r is not None and r.alive:
                link = self.nodes[self.rank_to_node[culprit]]
                state = getattr(link, "process_state", lambda _r: None)(culprit)
                if state is not None:
                    self.process_states[culprit] = state
                if state is not None and state.startswith(("T", "t")):
                    # Stopped by a signal or a debugger: resuming it for a stack dump would let the
                    # job run on for a moment; the state itself is the evidence.
                    self._say(f"rank {culprit} process state: {state}")
                elif r.attached and link.dump_stacks(culprit):
                    self._settle(0.5)
                kill_first.append(culprit)
        verdict = incident_verdict(
            job,
            self.tails,
            symptom,
            culprit,
            f,
            loc,
            self.process_states.get(culprit) if culprit is not None else None,
        )
        verdict = dataclasses.replace(verdict, culprit=location)
        card_key = (
            (location.node, self.where[culprit][2])
            if location is not None and culprit in self.where
            else None
        )
        repeats = self.culprit_counts[card_key] if card_key else 0
        total_cards = sum(self.slots.values())
        decision = decide(
            verdict,
            symptom,
            card_key,
            self.attempt,
            self.cfg.max_restarts,
            self.cfg.allow_shrink,
            repeats,
            self.breaker,
            total_cards,
            self.clock(),
        )
        if card_key:
            self.culprit_counts[card_key] += 1
        self._say(
            f"verdict: {verdict.fault} ({verdict.component}, {verdict.title}); next: {decision.step}: {decision.reason}"
        )
        self._event(
            "verdict",
            fault=verdict.fault,
            component=str(verdict.component),
            action=str(verdict.action),
            decision=str(decision.step),
            reason=decision.reason,
        )
        timeline = {"fault": onset_at, "observed": observed_at, "detected": detected, "localized": localized}
        extra: dict[str, Any] = {
            "attempt": self.attempt,
            "symptom_detail": f.message,
            "localization": {
                "rank": culprit,
                "method": loc.method,
                "reason": loc.reason,
                "others": list(loc.others),
            },
            "decision": {"step": str(decision.step), "reason": decision.reason},
            "last_step_before": job.max_step,
            "last_checkpoint": {"step": self.last_ckpt[0], "path": self.last_ckpt[1]}
            if self.last_ckpt
            else None,
            "culprit_tail": list(self.tails.get(culprit, ()))[-40:] if culprit is not None else [],
        }
        incident = Incident(
            id=f"{self.job_name}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime(detected))}-a{self.attempt}-{symptom}",
            job=self.job_name,
            source="launcher",
            symptom=symptom,
            verdict=verdict,
            timeline=timeline,
            action_taken=Action.NONE
            if self.cfg.dry_run
            else (decision.action if decision.step is not Step.STOP else Action.NONE),
            outcome="dry run: nothing stopped or restarted; would " + str(decision.step)
            if self.cfg.dry_run
            else "",
            findings=(f,),
            dry_run=self.cfg.dry_run,
        )
        state = IncidentState(incident, self.incident_dir, extra, job.max_step, None)
        if self.cfg.dry_run:
            state.path = record_incident(incident, self.incident_dir, extra, self.cfg.db_url)
            self._say(f"dry run: would {decision.step}; incident {state.path}")
            self.results.append(state)
            return decision, state
        stopped = self._stop_all(kill_first)
        timeline["stopped"] = self.clock()
        extra["stop"] = stopped
        self._say(f"stopped all ranks in {timeline['stopped'] - localized:.2f}s ({stopped})")
        self._event("stopped", seconds=timeline["stopped"] - localized)
        if decision.step is Step.STOP:
            state.incident = dataclasses.replace(
                incident, timeline=timeline, outcome=f"job stopped: {decision.reason}"
            )
        else:
            if decision.step is Step.RESTART_WITHOUT_CARD and decision.exclude is not None:
                nr = next(n for n, link in self.nodes.items() if link.name == decision.exclude[0])
                self.excluded.add((nr, decision.exclude[1]))
                self.breaker.record(self.clock())
                extra["excluded_card"] = {"node": decision.exclude[0], "slot": decision.exclude[1]}
            state.incident = dataclasses.replace(incident, timeline=timeline, outcome="restarting")
        state.path = record_incident(state.incident, self.incident_dir, extra, self.cfg.db_url)
        self.results.append(state)
        return decision, state

    def _stop_all(self, kill_first: list[int]) -> dict[str, Any]:
        summary: dict[str, Any] = {}
        for nr, n in self.nodes.items():
            local = [r for r in kill_first if self.rank_to_node.get(r) == nr]
            res = n.stop(local, self.cfg.stop_timeout_s)
            if res is not None and hasattr(res, "killed"):
                summary[str(nr)] = {"terminated": list(res.terminated), "killed": list(res.killed)}
        self._collect()
        return summary

    def _location(self, rank: int | None) -> RankLocation | None:
        if rank is None or rank not in self.where:
            return None
        nr, local, _slot = self.where[rank]
        return RankLocation(rank=rank, node=self.nodes[nr].name, local_rank=local, card=self.cards.get(rank))

    def _choose_checkpoint(self, first: bool) -> checkpoints.Checkpoint | None:
        root = self.cfg.checkpoint_dir
        if root is None:
            return None
        choice = checkpoints.newest_complete(root)
        for c, why in choice.skipped:
            moved = checkpoints.quarantine(c)
            self._say(
                f"checkpoint {c.path.name} is not usable ({why}); moved aside to {moved.name if moved else '?'}"
            )
            self._event("checkpoint_skipped", path=str(c.path), problem=why)
            if self.open_incident is not None:
                self.open_incident.extra.setdefault("checkpoints_skipped", []).append(
                    {"path": str(c.path), "problem": why}
                )
        if choice.checkpoint is not None and not first:
            self._say(
                f"newest complete checkpoint: {choice.checkpoint.path.name} (step {choice.checkpoint.step})"
            )
        return choice.checkpoint

    def _finish(self, rc: int, reason: str) -> RunResult:
        job = self.job
        self.final_rc = rc
        if rc == 0:
            self._say(
                f"job finished: {reason} (attempts: {self.attempt + 1}, incidents: {len(self.results)})"
            )
        else:
            self._say(f"job stopped: {reason}")
        self._event("finished", rc=rc, reason=reason)
        incidents = []
        for st in self.results:
            body = st.incident.to_dict()
            body["launcher"] = st.extra
            body["path"] = str(st.path)
            incidents.append(body)
        return RunResult(rc, self.attempt + 1, incidents, reason, job.max_step if job else None)
